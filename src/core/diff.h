// diff: the minimal change from what is observed to what is planned.
//
// Pure functions; the agent applies their output. One peer added to a
// 10,000-peer interface yields a one-peer update, never a resync.
#pragma once

#include <optional>
#include <vector>

#include "core/netstate.h"
#include "core/plan.h"

namespace wgate {

// The update that turns `have` into `want` (with `private_key` as the
// device key; nullopt leaves the key as it is, e.g. when the key file cannot
// be read: removals must still go out). Removals come before additions so
// that an address moving from a revoked key to a new one never sits on two
// peers. A converged device yields an empty update.
WgDeviceUpdate diff_device(const PlannedInterface& want, const WgDeviceState& have,
                           const std::optional<WgKey>& private_key);

// Applies `update` to `state` as WireGuard does: peers removed, added or
// updated in order, and an allowed IP given to one peer is taken from any
// other peer that had it (an address routes to one peer only). Used to keep
// the last observed state current without reading the device back.
void apply_update(WgDeviceState& state, const WgDeviceUpdate& update);

// Splits an update into the order the agent applies it: peer removals, then
// device settings (key, port), then peer additions; empty steps are left out.
std::vector<WgDeviceUpdate> split_for_apply(const WgDeviceUpdate& update);

template <class T>
struct SetDiff {
  std::vector<T> to_remove;
  std::vector<T> to_add;
  bool empty() const { return to_remove.empty() && to_add.empty(); }
};

// Both inputs need not be sorted; outputs are sorted.
SetDiff<Route> diff_routes(std::vector<Route> want, std::vector<Route> have);
SetDiff<Rule> diff_rules(std::vector<Rule> want, std::vector<Rule> have);

}  // namespace wgate
