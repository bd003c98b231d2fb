#include "service/stale_devices.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

namespace wgate::service {

std::vector<StaleDevice> find_stale_devices(const State& state, int64_t older_than, UnixTime now) {
  std::map<int64_t, const User*> users;
  for (const auto& u : state.users) users[u.id] = &u;
  std::map<int64_t, StaleDevice> by_device;
  for (const auto& d : state.devices) {
    if (!d.current()) continue;
    auto u = users.find(d.user_id);
    StaleDevice s;
    s.device = d;
    s.user = u == users.end() ? std::string() : u->second->name;
    by_device.emplace(d.id, std::move(s));
  }
  for (const auto& k : state.keys) {
    auto it = by_device.find(k.device_id);
    if (it == by_device.end()) continue;
    StaleDevice& s = it->second;
    if (k.last_handshake_at && (!s.last_handshake || *s.last_handshake < *k.last_handshake_at)) {
      s.last_handshake = k.last_handshake_at;
    }
    if (k.active_at(now)) s.live_keys.push_back(k.id);
  }
  std::vector<StaleDevice> out;
  for (auto& [id, s] : by_device) {
    s.silent_since = s.last_handshake.value_or(s.device.created_at);
    if (now - s.silent_since >= older_than) out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const StaleDevice& a, const StaleDevice& b) {
    return std::tie(a.silent_since, a.user, a.device.name) < std::tie(b.silent_since, b.user, b.device.name);
  });
  return out;
}

Result<std::vector<StaleDevice>> stale_devices(Store& store, const Config& config, UnixTime now,
                                               std::optional<int64_t> older_than) {
  const int64_t limit = older_than.value_or(config.connections.stale_after_seconds);
  if (limit < 0) return make_error("--older-than must not be negative");
  WGATE_ASSIGN_OR_RETURN(State state, store.snapshot());
  return find_stale_devices(state, limit, now);
}

Result<std::vector<StaleDevice>> disable_stale_devices(Store& store, const Config& config, UnixTime now,
                                                       const Actor& actor) {
  std::vector<StaleDevice> cut;
  if (!config.connections.disable_stale_after_seconds) return cut;
  WGATE_ASSIGN_OR_RETURN(State state, store.snapshot());
  for (auto& s : find_stale_devices(state, *config.connections.disable_stale_after_seconds, now)) {
    if (s.live_keys.empty()) continue;
    for (int64_t key : s.live_keys) WGATE_TRY(store.revoke_key(key, now, actor));
    nlohmann::json detail = {{"device_id", s.device.id},
                             {"keys", s.live_keys},
                             {"silent_since", s.silent_since},
                             {"last_handshake", s.last_handshake ? nlohmann::json(*s.last_handshake) : nlohmann::json()},
                             {"disable_stale_after", *config.connections.disable_stale_after_seconds}};
    WGATE_TRY(store.append_audit(now, actor, "device.disable_stale", s.user + "/" + s.device.name, detail.dump()));
    cut.push_back(std::move(s));
  }
  return cut;
}

}  // namespace wgate::service
