#include "agent/connection_tracker.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace wgate {

const char* to_string(ConnectionEvent::Type type) {
  return type == ConnectionEvent::Type::connected ? "connected" : "disconnected";
}

std::vector<ConnectionEvent> ConnectionTracker::update(const std::vector<DeviceHandshake>& seen, UnixTime now) {
  std::vector<ConnectionEvent> events;
  auto emit = [&](ConnectionEvent::Type type, int64_t id, const Entry& e, UnixTime at) {
    if (!primed_) return;
    events.push_back({type, id, e.user, e.device, e.key_id, at, e.last_handshake});
  };
  std::set<int64_t> in_view;
  for (const auto& s : seen) {
    in_view.insert(s.device_id);
    Entry& e = devices_[s.device_id];
    e.user = s.user;
    e.device = s.device;
    if (s.last_handshake <= e.last_handshake) continue;
    // A handshake after the device had gone idle is a new connection even
    // when both fall between two updates (a device that came back quickly
    // still left, so it is reported as a disconnect and a connect).
    if (e.connected && s.last_handshake - e.last_handshake > idle_after_) {
      emit(ConnectionEvent::Type::disconnected, s.device_id, e, e.last_handshake + idle_after_);
      e.connected = false;
    }
    e.last_handshake = s.last_handshake;
    e.key_id = s.key_id;
    if (!e.connected && active(e.last_handshake, now)) {
      e.connected = true;
      emit(ConnectionEvent::Type::connected, s.device_id, e, e.last_handshake);
    }
  }
  for (auto it = devices_.begin(); it != devices_.end();) {
    Entry& e = it->second;
    if (e.connected && !active(e.last_handshake, now)) {
      e.connected = false;
      emit(ConnectionEvent::Type::disconnected, it->first, e, e.last_handshake + idle_after_);
    }
    // Forget what is gone and idle (a removed device), so the map does not
    // grow with every device that ever existed.
    if (!e.connected && !in_view.count(it->first)) {
      it = devices_.erase(it);
    } else {
      ++it;
    }
  }
  primed_ = true;
  std::sort(events.begin(), events.end(), [](const ConnectionEvent& a, const ConnectionEvent& b) {
    return std::tie(a.at, a.device_id, a.type) < std::tie(b.at, b.device_id, b.type);
  });
  return events;
}

size_t ConnectionTracker::connected_count() const {
  return static_cast<size_t>(
      std::count_if(devices_.begin(), devices_.end(), [](const auto& kv) { return kv.second.connected; }));
}

}  // namespace wgate
