#include "notify/alerts.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <type_traits>
#include <utility>

#include "core/config.h"
#include "core/time_text.h"

namespace wgate::notify {

const char* to_string(AlertKind kind) {
  switch (kind) {
    case AlertKind::never_activated: return "never_activated";
    case AlertKind::expiry_reminder: return "expiry_reminder";
    case AlertKind::expired_in_use: return "expired_in_use";
    case AlertKind::device_connected: return "device_connected";
    case AlertKind::device_disconnected: return "device_disconnected";
    case AlertKind::stale_key_knock: return "stale_key_knock";
  }
  return "unknown";
}

std::optional<AlertKind> parse_alert_kind(std::string_view text) {
  for (AlertKind k : {AlertKind::never_activated, AlertKind::expiry_reminder, AlertKind::expired_in_use,
                      AlertKind::device_connected, AlertKind::device_disconnected, AlertKind::stale_key_knock}) {
    if (text == to_string(k)) return k;
  }
  return std::nullopt;
}

namespace {

// The keys the rules may look at, with their owner and device, per the
// eligibility rule in alerts.h.
struct EligibleKey {
  const Key* key;
  const User* user;
  const Device* device;
};

std::vector<EligibleKey> eligible_keys(const State& state) {
  std::map<int64_t, const User*> users;
  for (const auto& u : state.users) users[u.id] = &u;
  std::map<int64_t, const Device*> devices;
  for (const auto& d : state.devices) {
    if (d.current()) devices[d.id] = &d;
  }
  std::set<std::pair<int64_t, std::string>> member;
  for (const auto& m : state.memberships) member.emplace(m.user_id, m.group);
  // Per device, its newest key that was not revoked: the device's renewal.
  std::map<int64_t, const Key*> newest;
  for (const auto& k : state.keys) {
    if (k.revoked_at) continue;
    const Key*& n = newest[k.device_id];
    if (!n || std::tie(k.created_at, k.id) > std::tie(n->created_at, n->id)) n = &k;
  }

  std::vector<EligibleKey> out;
  for (const auto& k : state.keys) {
    if (k.revoked_at) continue;
    auto u = users.find(k.user_id);
    if (u == users.end() || u->second->disabled) continue;
    if (!member.count({k.user_id, k.group})) continue;
    auto d = devices.find(k.device_id);
    if (d == devices.end() || d->second->user_id != k.user_id) continue;
    if (newest[k.device_id] != &k) continue;  // superseded: the device was renewed
    out.push_back(EligibleKey{&k, u->second, d->second});
  }
  return out;
}

nlohmann::json time_or_null(std::optional<UnixTime> t) { return t ? nlohmann::json(*t) : nlohmann::json(nullptr); }

std::string who(const EligibleKey& e) {
  return "key " + std::to_string(e.key->id) + " of " + e.user->name + "/" + e.device->name;
}

std::string key_line(const EligibleKey& e) {
  return "Key " + std::to_string(e.key->id) + " of " + e.user->name + "'s device '" + e.device->name +
         "' (group " + e.key->group + ")";
}

Alert make_alert(AlertKind kind, const EligibleKey& e, UnixTime due_at) {
  const Key& k = *e.key;
  Alert a;
  a.kind = kind;
  a.key_id = k.id;
  a.user_id = k.user_id;
  a.device_id = k.device_id;
  a.user_name = e.user->name;
  a.user_email = e.user->email;
  a.device_name = e.device->name;
  a.group = k.group;
  a.key_created_at = k.created_at;
  a.key_expires_at = k.expires_at;
  a.last_handshake_at = k.last_handshake_at;
  a.due_at = due_at;
  a.dedup_key = std::string(to_string(kind)) + ":" + std::to_string(k.id);
  if (kind == AlertKind::stale_key_knock) {
    a.dedup_key += "@" + std::to_string(due_at / 3600);  // the clock hour
  } else if (kind != AlertKind::never_activated) {
    a.dedup_key += "@" + std::to_string(k.expires_at);
  }

  const std::string created = format_utc(k.created_at);
  const std::string expires = k.expires_at ? format_utc(k.expires_at) : std::string();
  switch (kind) {
    case AlertKind::never_activated:
      a.subject = "wgate: " + who(e) + " was never activated";
      a.text = key_line(e) + " was registered at " + created + " and no handshake has been seen since (checked " +
               format_duration(due_at - k.created_at) +
               " after registration). Set the device up with this key (`wgate config " + std::to_string(k.id) +
               "`), or revoke it if it is not going to be used (`wgate key revoke " + std::to_string(k.id) + "`).";
      break;
    case AlertKind::expiry_reminder:
      a.subject = "wgate: " + who(e) + " expires at " + expires;
      a.text = key_line(e) + " expires at " + expires +
               ". Log in again before then to get a new key; at expiry the device loses access.";
      break;
    case AlertKind::expired_in_use:
      a.subject = "wgate: " + who(e) + " expired while in use: log in again";
      a.text = key_line(e) + " expired at " + expires + " while the device was in use (last handshake " +
               format_utc(k.last_handshake_at.value_or(0)) +
               "). The device has no access now; log in again to get a new key.";
      break;
    case AlertKind::device_connected:
    case AlertKind::device_disconnected:
      break;  // never a key rule: agent/connection_events.cpp writes these
    case AlertKind::stale_key_knock:
      a.subject = "wgate: " + who(e) + (k.revoked_at ? " was revoked" : " expired") +
                  ", the device keeps trying: log in again";
      a.text = key_line(e) + (k.revoked_at ? " was revoked at " + format_utc(*k.revoked_at)
                                           : " expired at " + expires) +
               ", and the device's WireGuard client is still trying to connect with it (seen at " +
               format_utc(due_at) + "). It gets no access with this key; log in again to get a new one.";
      break;
  }
  a.details = {
      {"kind", to_string(kind)},
      {"dedup_key", a.dedup_key},
      {"key_id", k.id},
      {"person", a.user_name},
      {"email", a.user_email},
      {"device", a.device_name},
      {"group", a.group},
      {"created_at", k.created_at},
      {"expires_at", time_or_null(k.expires_at ? std::optional<UnixTime>(k.expires_at) : std::nullopt)},
      {"last_handshake_at", time_or_null(k.last_handshake_at)},
      {"due_at", due_at},
  };
  return a;
}

// The moment each rule fires for a key, whether or not it is past: nullopt
// when the rule can never fire for this key in its current state.
std::optional<UnixTime> never_activated_at(const Key& k, const AlertPolicy& p) {
  if (p.never_activated_after <= 0 || k.last_handshake_at) return std::nullopt;
  const UnixTime at = k.created_at + p.never_activated_after;
  if (k.expires_at != 0 && at >= k.expires_at) return std::nullopt;  // expired first: nothing to activate
  return at;
}

std::optional<UnixTime> reminder_at(const Key& k, const AlertPolicy& p) {
  if (p.expiry_reminder_lead <= 0 || k.expires_at == 0) return std::nullopt;
  const UnixTime at = k.expires_at - p.expiry_reminder_lead;
  if (k.created_at >= at) return std::nullopt;  // its whole life is within the lead
  return at;
}

std::optional<UnixTime> expired_in_use_at(const Key& k, const AlertPolicy& p) {
  if (p.in_use_window <= 0 || k.expires_at == 0 || !k.last_handshake_at) return std::nullopt;
  if (*k.last_handshake_at < k.expires_at - p.in_use_window) return std::nullopt;
  return k.expires_at;
}

}  // namespace

std::vector<Alert> alerts_due(const State& state, const AlertPolicy& policy, UnixTime now) {
  std::vector<Alert> out;
  for (const EligibleKey& e : eligible_keys(state)) {
    const Key& k = *e.key;
    if (auto at = never_activated_at(k, policy); at && *at <= now && k.active_at(now)) {
      out.push_back(make_alert(AlertKind::never_activated, e, *at));
    }
    if (auto at = reminder_at(k, policy); at && *at <= now && now < k.expires_at) {
      out.push_back(make_alert(AlertKind::expiry_reminder, e, *at));
    }
    if (auto at = expired_in_use_at(k, policy); at && *at <= now) {
      const int64_t catch_up = std::max<int64_t>(policy.expired_catch_up, 0);
      if (now < *at + catch_up) out.push_back(make_alert(AlertKind::expired_in_use, e, *at));
    }
  }
  std::sort(out.begin(), out.end(), [](const Alert& a, const Alert& b) {
    return std::tie(a.due_at, a.dedup_key) < std::tie(b.due_at, b.dedup_key);
  });
  return out;
}

std::optional<UnixTime> next_alert_after(const State& state, const AlertPolicy& policy, UnixTime now) {
  std::optional<UnixTime> next;
  auto consider = [&](std::optional<UnixTime> at) {
    if (at && *at > now && (!next || *at < *next)) next = at;
  };
  for (const EligibleKey& e : eligible_keys(state)) {
    consider(never_activated_at(*e.key, policy));
    consider(reminder_at(*e.key, policy));
    if (policy.expired_catch_up > 0) consider(expired_in_use_at(*e.key, policy));
  }
  return next;
}

std::optional<Alert> stale_key_knock_alert(const State& state, int64_t key_id, UnixTime now) {
  const Key* key = nullptr;
  for (const auto& k : state.keys) {
    if (k.id == key_id) key = &k;
  }
  if (!key || key->active_at(now)) return std::nullopt;
  const User* user = nullptr;
  for (const auto& u : state.users) {
    if (u.id == key->user_id) user = &u;
  }
  if (!user || user->disabled) return std::nullopt;
  const Device* device = nullptr;
  for (const auto& d : state.devices) {
    if (d.id == key->device_id && d.current() && d.user_id == key->user_id) device = &d;
  }
  if (!device) return std::nullopt;
  if (std::none_of(state.memberships.begin(), state.memberships.end(),
                   [&](const Membership& m) { return m.user_id == key->user_id && m.group == key->group; })) {
    return std::nullopt;
  }
  for (const auto& k : state.keys) {
    if (k.id != key->id && k.device_id == key->device_id && k.active_at(now)) return std::nullopt;
  }
  Alert a = make_alert(AlertKind::stale_key_knock, EligibleKey{key, user, device}, now);
  a.details["revoked_at"] = time_or_null(key->revoked_at);
  return a;
}

nlohmann::json alert_to_json(const Alert& a) {
  return {
      {"kind", to_string(a.kind)},
      {"key_id", a.key_id},
      {"user_id", a.user_id},
      {"device_id", a.device_id},
      {"user_name", a.user_name},
      {"user_email", a.user_email},
      {"device_name", a.device_name},
      {"group", a.group},
      {"key_created_at", a.key_created_at},
      {"key_expires_at", a.key_expires_at},
      {"last_handshake_at", time_or_null(a.last_handshake_at)},
      {"due_at", a.due_at},
      {"dedup_key", a.dedup_key},
      {"subject", a.subject},
      {"text", a.text},
      {"details", a.details},
  };
}

namespace {

template <class T>
Status read_field(const nlohmann::json& j, const char* name, T& out) {
  auto it = j.find(name);
  if (it == j.end()) return make_error(std::string("alert JSON: missing field '") + name + "'");
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) return make_error(std::string("alert JSON: field '") + name + "' is not a string");
    out = it->template get<std::string>();
  } else {
    if (!it->is_number_integer()) return make_error(std::string("alert JSON: field '") + name + "' is not an integer");
    out = it->template get<T>();
  }
  return ok_status();
}

}  // namespace

Result<Alert> alert_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return make_error("alert JSON: not an object");
  Alert a;
  std::string kind;
  WGATE_TRY(read_field(j, "kind", kind));
  auto k = parse_alert_kind(kind);
  if (!k) return make_error("alert JSON: unknown kind '" + kind + "'");
  a.kind = *k;
  WGATE_TRY(read_field(j, "key_id", a.key_id));
  WGATE_TRY(read_field(j, "user_id", a.user_id));
  WGATE_TRY(read_field(j, "device_id", a.device_id));
  WGATE_TRY(read_field(j, "user_name", a.user_name));
  WGATE_TRY(read_field(j, "user_email", a.user_email));
  WGATE_TRY(read_field(j, "device_name", a.device_name));
  WGATE_TRY(read_field(j, "group", a.group));
  WGATE_TRY(read_field(j, "key_created_at", a.key_created_at));
  WGATE_TRY(read_field(j, "key_expires_at", a.key_expires_at));
  auto hs = j.find("last_handshake_at");
  if (hs != j.end() && !hs->is_null()) {
    if (!hs->is_number_integer()) return make_error("alert JSON: field 'last_handshake_at' is not an integer");
    a.last_handshake_at = hs->get<UnixTime>();
  }
  WGATE_TRY(read_field(j, "due_at", a.due_at));
  WGATE_TRY(read_field(j, "dedup_key", a.dedup_key));
  WGATE_TRY(read_field(j, "subject", a.subject));
  WGATE_TRY(read_field(j, "text", a.text));
  auto d = j.find("details");
  if (d != j.end()) a.details = *d;
  return a;
}

}  // namespace wgate::notify
