// A ready-made alert for tests that do not derive one from a State.
#pragma once

#include <cstdint>
#include <string>

#include "notify/alerts.h"

namespace wgate::notify::testing {

// An alert about key `key_id` of alice's laptop (alice@example.com, group dev).
inline Alert sample_alert(int64_t key_id, AlertKind kind = AlertKind::never_activated) {
  Alert a;
  a.kind = kind;
  a.key_id = key_id;
  a.user_id = 1;
  a.device_id = 10;
  a.user_name = "alice";
  a.user_email = "alice@example.com";
  a.device_name = "laptop";
  a.group = "dev";
  a.key_created_at = 1000;
  a.key_expires_at = kind == AlertKind::never_activated ? 0 : 900000;
  if (kind == AlertKind::expired_in_use) a.last_handshake_at = 899990;
  a.due_at = 2000;
  a.dedup_key = std::string(to_string(kind)) + ":" + std::to_string(key_id);
  a.subject = "wgate: key " + std::to_string(key_id) + " of alice/laptop";
  a.text = "Key " + std::to_string(key_id) + " of alice's device 'laptop' needs attention.";
  a.details = {{"person", "alice"}, {"device", "laptop"}, {"key_id", key_id}};
  return a;
}

}  // namespace wgate::notify::testing
