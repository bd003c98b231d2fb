// IPAM: which address block a person gets from the pool, and which address
// each of their devices gets inside it.
//
// A pool is cut into aligned blocks of `per_user` addresses (config
// `pool.per_user`, a power of two): a /30 per person with per_user = 4.
// Servers and security groups identify a person by their block and a device
// by its address; a device's address is the block's n-th address, n being
// the device's slot, so it stays the same across key renewals.
//
// Pure: decides from the complete lease history, so the store can call it
// inside the write transaction that records the new lease, and tests need no
// database.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/cidr.h"
#include "core/model.h"
#include "util/result.h"

namespace wgate {

// The largest per_user wgate accepts.
inline constexpr uint32_t kMaxPerUser = 256;

// The prefix length of one person's block: a /30 for per_user = 4 in IPv4.
// Precondition: per_user is a power of two no larger than the pool.
int block_length(const Prefix& pool, uint32_t per_user);

// Number of blocks of `pool` that may be handed to people. Blocks that hold
// an address the pool reserves are never handed out: for IPv4 pools of /30
// or larger the network and broadcast addresses, for IPv6 pools shorter than
// /127 the first address (the Subnet-Router anycast address, RFC 4291
// 2.6.1). Saturates at 2^63.
uint64_t usable_block_count(const Prefix& pool, uint32_t per_user);

// Does `block` fit the pool as configured: inside it, of block_length(), and
// not a reserved block? A lease that does not fit (the pool or per_user
// changed) must be moved (see choose_block).
bool block_fits(const Prefix& block, const Prefix& pool, uint32_t per_user);

// Chooses the block `user_id` should lease from `pool`.
//
// `history` is every lease ever recorded (current ones have no `until`), of
// any family and block size; leases outside the pool are ignored, leases of
// another size count for every block they overlap. In order of preference:
//   1. the user's current lease, if it fits and nobody else's overlaps it;
//   2. the block holding the address the user held most recently, if it is
//      usable and nobody else's current lease overlaps it (so a person keeps
//      their addresses when per_user grows, where possible);
//   3. the lowest usable block no lease ever overlapped;
//   4. the block whose last lease ended longest ago (lowest on ties).
// Never returns a block that overlaps a current lease of another user. Error:
// no usable block is free (the message names the pool, per_user and size).
// Cost: O(n log n) in the history size, independent of the pool size.
Result<Prefix> choose_block(const Prefix& pool, uint32_t per_user, int64_t user_id, const std::vector<Lease>& history);

// The lowest slot in [0, per_user) that `used` does not hold; nullopt when
// all are taken.
std::optional<uint32_t> first_free_slot(uint32_t per_user, const std::vector<uint32_t>& used);

// The address of the device in `slot` of `block`; nullopt when the slot lies
// outside the block (per_user shrank since the device was made).
std::optional<IpAddress> device_address(const Prefix& block, uint32_t slot);

// The slot `address` takes inside `block`; nullopt when it is not inside.
std::optional<uint32_t> slot_of(const Prefix& block, const IpAddress& address);

}  // namespace wgate
