// ConnectionEvents: the daemon's bookkeeping of connections after each full
// pass. Turns the observed handshakes into connect/disconnect events
// (ConnectionTracker) and writes each one to the audit log
// ("device.connect" / "device.disconnect", actor "agent", subject
// "<person>/<device>"), and, with [connections] notify, to the webhook
// channel of the alert outbox (delivered by `wgate web`'s dispatcher, which
// looks at the outbox at least once a minute). Once an hour it also cuts
// off devices stale for [connections] disable_stale_after
// (service/stale_devices.h).
//
// Failures are logged and never stop the daemon: a missed audit record is
// retried by nobody (the event is in the log line instead).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "agent/connection_tracker.h"
#include "core/config.h"
#include "core/model.h"
#include "core/netstate.h"
#include "store/store.h"

namespace wgate {

// Per current device of `state`, its newest handshake: the store's
// (key.last_handshake_at) or the one observed in `observed`, whichever is
// newer. Pure.
std::vector<DeviceHandshake> device_handshakes(const State& state,
                                               const std::map<std::string, WgDeviceState>& observed);

class ConnectionEvents {
 public:
  // `config` and `store` must outlive this object.
  ConnectionEvents(const Config& config, Store& store);

  // After a full pass: `state` is the snapshot the pass compiled,
  // `observed` the devices it read. Returns the events written.
  std::vector<ConnectionEvent> after_full_pass(const State& state,
                                               const std::map<std::string, WgDeviceState>& observed, UnixTime now);

 private:
  void write(const ConnectionEvent& e, const State& state, UnixTime now);

  const Config& config_;
  Store& store_;
  ConnectionTracker tracker_;
  std::optional<UnixTime> last_stale_check_;
};

}  // namespace wgate
