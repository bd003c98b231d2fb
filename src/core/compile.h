// compile(): config + stored intent + time -> Plan. Pure: no I/O, no clock.
//
// The same function answers "what should the kernel look like now" for the
// agent and, later, "can alice reach X, and why not" for `wgate explain`.
#pragma once

#include "core/config.h"
#include "core/model.h"
#include "core/plan.h"

namespace wgate {

// Rules:
//  - one interface per configured group, with its port and table;
//  - a person's devices take the addresses of the person's block (their
//    current lease, when it fits the pool and pool.per_user): device in slot
//    n gets the block's n-th address;
//  - per device, the newest key (created_at, then id) that is active at
//    `now` (not revoked, not expired), whose owner is enabled and a member of
//    the key's group, is the device's peer on that group's interface, with
//    AllowedIPs = the device's address as a host prefix; the device's other
//    active keys are left out (an address can belong to one peer only) with
//    a warning. So one device uses one group at a time, and each of a
//    person's devices may use any group the person belongs to;
//  - main table: each planned device address routed to its interface, and
//    a `blackhole` for the pool, so replies to offline devices never leave
//    by the outer side (the /32s win by length);
//  - per group table: `throw` for every prefix of the group's networks and
//    `blackhole default`; rule `iif <interface> lookup <table>`;
//  - firewall: each interface with its group's prefixes, all network
//    prefixes, the pools;
//  - eBPF filter: each planned device's address -> a ruleset: its group's,
//    or one of its own when the person has [[policy]] entries (core/policy.h
//    says what each allows); a person policy outside the group's networks
//    is not granted, with a warning.
// A lease that does not fit the pool (the pool or per_user changed) is left
// out with a warning; the daemon moves such leases at start.
Plan compile(const Config& config, const State& state, UnixTime now);

// The first moment after `now` at which compile() would give another plan
// for the same state (the next key expiry); nullopt when time alone changes
// nothing. The daemon wakes then, so expiry needs no full pass.
std::optional<UnixTime> next_change_after(const State& state, UnixTime now);

}  // namespace wgate
