// alerts_due(): stored intent + time -> the key alerts that are due. Pure: no
// I/O, no clock (the caller passes `now`), like compile().
//
// Three rules, each about one key (core/model.h):
//  - never_activated: a key with no handshake `never_activated_after`
//    seconds after it was created (the person registered it but never set
//    the device up, or set it up wrong). Goes to the owner and the audit log.
//  - expiry_reminder: a key that expires within `expiry_reminder_lead`
//    seconds ("log in again before ...").
//  - expired_in_use: a key that expired while its device was in use: its
//    last handshake was at most `in_use_window` seconds before the expiry
//    ("log in again").
//
// A key is considered only while it is *eligible*: not revoked, its owner
// exists and is enabled and is a member of the key's group, its device is
// current (not removed) and belongs to the owner, and the key is not
// *superseded*: no newer key (created_at, then id) of the same device exists
// that is not revoked, i.e. the device was renewed. A revoked renewal does
// not count (the device still needs one).
//
// Each alert carries a stable `dedup_key`, the same on every call for the
// same event, so the outbox (outbox.h) can store it once and send it once:
// an alert that stays due (a key still unused) is returned by every call.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/model.h"
#include "util/result.h"

namespace wgate::notify {

enum class AlertKind {
  never_activated,
  expiry_reminder,
  expired_in_use,
  // Connection events (agent/connection_events.h): not raised by
  // alerts_due(); the daemon enqueues them on the webhook channel when
  // [connections] notify is on.
  device_connected,
  device_disconnected,
  // The device's WireGuard client is still trying to connect with a key
  // that expired or was revoked (stale_key_knock_alert(), below).
  stale_key_knock,
};
const char* to_string(AlertKind kind);
std::optional<AlertKind> parse_alert_kind(std::string_view text);

// When each rule fires. Durations in seconds; a value <= 0 switches its rule
// off.
struct AlertPolicy {
  // never_activated is due from created_at + this, while the key is active
  // (not expired) and has never had a handshake.
  int64_t never_activated_after = 24 * 3600;
  // expiry_reminder is due from expires_at - this until expires_at, for keys
  // that expire, and only when the key was created before that moment: a key
  // whose whole life is shorter than the lead (short-lived keys from SSO)
  // gets no reminder at creation, the person has just seen its expiry.
  int64_t expiry_reminder_lead = 24 * 3600;
  // expired_in_use is due from expires_at when the last handshake was at or
  // after expires_at - this.
  int64_t in_use_window = 3600;
  // expired_in_use is due only until expires_at + this: after a long outage
  // or when alerts are switched on over an old store, keys that expired long
  // ago do not flood everyone with stale "log in again" notices.
  int64_t expired_catch_up = 7 * 24 * 3600;
};

// One alert about one key. `subject` and `text` are plain text (UTF-8,
// no markup); senders escape them for their medium.
struct Alert {
  AlertKind kind = AlertKind::never_activated;
  int64_t key_id = 0;
  int64_t user_id = 0;
  int64_t device_id = 0;
  std::string user_name;
  std::string user_email;  // the owner's; may be empty
  std::string device_name;
  std::string group;
  UnixTime key_created_at = 0;
  UnixTime key_expires_at = 0;  // 0: never
  std::optional<UnixTime> last_handshake_at;
  UnixTime due_at = 0;  // the moment the rule fired (not when it was noticed)
  // "never_activated:<key_id>", "expiry_reminder:<key_id>@<expires_at>",
  // "expired_in_use:<key_id>@<expires_at>" (the expiry is part of the event:
  // were a key's expiry ever extended, its new expiry is a new event).
  std::string dedup_key;
  std::string subject;
  std::string text;
  // The structured fields, as webhooks and the audit log carry them:
  // kind, dedup_key, key_id, person, email, device, group, and the times
  // (Unix seconds, null when absent): created_at, expires_at,
  // last_handshake_at, due_at.
  nlohmann::json details;
};

// The alerts due at `now`, sorted by (due_at, dedup_key). At most one per
// key and rule. Every call returns every alert that is still due; the
// caller dedups by dedup_key (the outbox does).
std::vector<Alert> alerts_due(const State& state, const AlertPolicy& policy, UnixTime now);

// The first moment after `now` at which alerts_due() could return an alert
// it does not return at `now` (a key reaching its never-activated age, its
// reminder lead or its expiry), for the same state; nullopt when time alone
// brings none. Handshakes and other changes of state are the caller's to
// notice.
std::optional<UnixTime> next_alert_after(const State& state, const AlertPolicy& policy, UnixTime now);

// stale_key_knock: the key `key_id` was just seen knocking (a handshake
// initiation with it arrived, agent/knock_watcher.h) at `now`, but it is
// expired or revoked: tell the owner to log in again. nullopt (no notice)
// when the key is still active, unknown, or when a notice would not help:
// the owner is gone, disabled or no longer a member of the key's group, the
// device was removed or is not the owner's, or the device already has
// another key that is active at `now` (the person did log in again; the
// old configuration runs somewhere else and a "log in again" would be
// wrong). dedup_key "stale_key_knock:<key_id>@<now / 3600>": one notice per
// key and clock hour at most, whatever the caller remembers.
std::optional<Alert> stale_key_knock_alert(const State& state, int64_t key_id, UnixTime now);

// The JSON form an outbox stores (every field above), and back. Errors name
// the missing or mistyped field.
nlohmann::json alert_to_json(const Alert& alert);
Result<Alert> alert_from_json(const nlohmann::json& json);

}  // namespace wgate::notify
