#include "core/model.h"

namespace wgate {

const char* to_string(KeyState state) {
  switch (state) {
    case KeyState::revoked: return "revoked";
    case KeyState::expired: return "expired";
    case KeyState::never_used: return "never-used";
    case KeyState::active: return "active";
    case KeyState::superseded: return "superseded";
  }
  return "unknown";
}

}  // namespace wgate
