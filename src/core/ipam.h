// IPAM: which address a user gets from the pool.
//
// Pure: decides from the complete lease history, so the store can call it
// inside the write transaction that records the new lease, and tests need no
// database.
#pragma once

#include <cstdint>
#include <vector>

#include "core/cidr.h"
#include "core/model.h"
#include "util/result.h"

namespace wgate {

// Number of addresses of `pool` that may be handed to users. IPv4 prefixes
// shorter than /31 lose the network and broadcast addresses; IPv6 prefixes
// shorter than /127 lose the first address (the Subnet-Router anycast
// address, RFC 4291 2.6.1). Pools bigger than 2^63 addresses are treated as
// their first 2^63 addresses.
uint64_t usable_address_count(const Prefix& pool);

// Chooses the address `user_id` should lease from `pool`.
//
// `history` is every lease ever recorded (current ones have no `until`), of
// any family; leases outside the pool are ignored. In order of preference:
//   1. the user's current lease in the pool, if any;
//   2. the address the user held most recently, if nobody else holds it now;
//   3. the lowest usable address never leased to anyone;
//   4. the address whose last lease ended longest ago (lowest on ties).
// Never returns an address currently leased to another user. Error: every
// usable address is currently leased (the message names the pool and its
// size). Cost: O(n log n) in the history size, independent of the pool size.
Result<IpAddress> choose_address(const Prefix& pool, int64_t user_id, const std::vector<Lease>& history);

}  // namespace wgate
