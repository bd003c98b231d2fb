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

// What the reconciler needs to know of one peer of a device: its key and,
// when it has exactly one allowed IP, that IP (`single`). Anything else (no
// IP, several) is not what wgate plans, so it will be rewritten.
struct PeerEntry {
  WgKey public_key;
  Prefix allowed_ip;
  bool single = false;
  auto operator<=>(const PeerEntry&) const = default;
};

// The peers of an observed device, sorted by key (one entry per key).
std::vector<PeerEntry> peer_entries(const WgDeviceState& observed);
// The peers a plan puts on an interface, sorted by key: what the device
// holds once the plan is applied.
std::vector<PeerEntry> peer_entries(const PlannedInterface& planned);

// The peer changes that turn `have` into `want`: removals first, then
// additions and fixes (REPLACE_ALLOWEDIPS with the one planned IP).
// Removals come before additions so that an address moving from a revoked
// key to a new one never sits on two peers. Both inputs sorted by key;
// linear in their sizes (a one-peer change at 10,000 peers costs a merge of
// two sorted arrays, no allocation per unchanged peer).
std::vector<WgPeerUpdate> diff_peers(const std::vector<PlannedPeer>& want, const std::vector<PeerEntry>& have);

// The update that turns `have` into `want` (with `private_key` as the
// device key; nullopt leaves the key as it is, e.g. when the key file cannot
// be read: removals must still go out). A converged device yields an empty
// update.
WgDeviceUpdate diff_device(const PlannedInterface& want, const WgDeviceState& have,
                           const std::optional<WgKey>& private_key);

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
