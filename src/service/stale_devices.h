// Stale devices: current devices with no handshake for a long time (or,
// never seen, created long ago). Listed for admins (`wgate device list
// --stale`) and, when [connections] disable_stale_after is set, cut off by
// the daemon: their live keys are revoked (audited), the device and its
// address stay, so the person gets back in with a new key or a login.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/model.h"
#include "store/store.h"
#include "util/result.h"

namespace wgate::service {

struct StaleDevice {
  Device device;
  std::string user;
  std::optional<UnixTime> last_handshake;  // newest of any of its keys; none: never seen
  UnixTime silent_since = 0;               // last_handshake, else the device's creation
  std::vector<int64_t> live_keys;          // not revoked, not expired at `now`
};

// Pure: the current devices of `state` silent for at least `older_than`
// seconds at `now`, oldest silence first (then user, device).
std::vector<StaleDevice> find_stale_devices(const State& state, int64_t older_than, UnixTime now);

// `older_than` defaults to [connections] stale_after.
Result<std::vector<StaleDevice>> stale_devices(Store& store, const Config& config, UnixTime now,
                                               std::optional<int64_t> older_than = std::nullopt);

// Revokes the live keys of every device silent for at least
// [connections] disable_stale_after (nothing when unset), each revocation
// audited (key.revoke), plus one "device.disable_stale" record per device
// naming its silence. Returns the devices cut off now (those with live
// keys); a device already without live keys is left alone, so calling this
// again changes nothing.
Result<std::vector<StaleDevice>> disable_stale_devices(Store& store, const Config& config, UnixTime now,
                                                       const Actor& actor);

}  // namespace wgate::service
