// ConnectionTracker: "connected" / "disconnected" events per device, derived
// from the newest handshake of each device. Pure: no I/O, no clock (the
// caller passes `now`), so tests drive it with a fake clock.
//
// The rule: a device is connected at `now` when its newest handshake is at
// most `idle_after` seconds old. WireGuard re-handshakes every 2 minutes
// while traffic flows (REKEY_AFTER_TIME) and not at all when idle, so a
// device that stops sending is disconnected `idle_after` after its last
// handshake; `idle_after` must exceed 2 minutes plus jitter (the config
// refuses <= 2m; the default is 3m).
//
// Event times are what happened, not when the tracker noticed: a connect is
// stamped with the handshake that started it, a disconnect with
// last handshake + idle_after. So a daemon that observes every 2 s, or one
// that was busy for a minute, writes the same times.
//
// The first update() only learns the state (no events): after a daemon
// restart, devices already connected are not announced again, and none
// that went idle while it was down gets a disconnect stamped with the
// restart. From then on every transition is reported exactly once.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/model.h"

namespace wgate {

// A device and the newest handshake seen of any of its keys (0: none).
struct DeviceHandshake {
  int64_t device_id = 0;
  std::string user;
  std::string device;
  int64_t key_id = 0;  // the key of that handshake
  UnixTime last_handshake = 0;
};

struct ConnectionEvent {
  enum class Type { connected, disconnected };
  Type type = Type::connected;
  int64_t device_id = 0;
  std::string user;
  std::string device;
  int64_t key_id = 0;
  UnixTime at = 0;              // see the header comment
  UnixTime last_handshake = 0;  // the newest handshake known for the device
};
const char* to_string(ConnectionEvent::Type type);

class ConnectionTracker {
 public:
  explicit ConnectionTracker(int64_t idle_after_seconds) : idle_after_(idle_after_seconds) {}

  // Takes what was observed now (devices may be missing: a device whose
  // peer is gone keeps its last known handshake and goes idle in time) and
  // returns the transitions since the last call, ordered by (at, device_id).
  // Handshake times never move back: an older value than known is ignored.
  std::vector<ConnectionEvent> update(const std::vector<DeviceHandshake>& seen, UnixTime now);

  // Devices connected after the last update().
  size_t connected_count() const;

 private:
  struct Entry {
    std::string user;
    std::string device;
    int64_t key_id = 0;
    UnixTime last_handshake = 0;
    bool connected = false;
  };
  bool active(UnixTime last_handshake, UnixTime now) const {
    return last_handshake > 0 && now - last_handshake <= idle_after_;
  }

  int64_t idle_after_;
  bool primed_ = false;
  std::map<int64_t, Entry> devices_;  // by device id
};

}  // namespace wgate
