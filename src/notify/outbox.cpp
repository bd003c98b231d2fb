#include "notify/outbox.h"

namespace wgate::notify {

const char* to_string(DeliveryStatus status) {
  switch (status) {
    case DeliveryStatus::pending: return "pending";
    case DeliveryStatus::delivered: return "delivered";
    case DeliveryStatus::failed: return "failed";
  }
  return "unknown";
}

}  // namespace wgate::notify
