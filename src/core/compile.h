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
//  - one peer per key that is active at `now` (not revoked, not expired),
//    whose owner is enabled, a member of the key's group, and holds a current
//    lease; AllowedIPs = the owner's address as a host prefix;
//  - a user's address is routed (main table) to the interface of the group
//    their newest active key belongs to; active keys of that user on other
//    groups are left out (a /32 can only route one way) with a warning;
//  - per group table: `throw` for every prefix of the group's networks and
//    `blackhole default`; rule `iif <interface> lookup <table>`;
//  - firewall: all interfaces, all network prefixes, the pools.
Plan compile(const Config& config, const State& state, UnixTime now);

}  // namespace wgate
