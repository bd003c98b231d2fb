#include "core/ipam.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <map>
#include <tuple>

namespace wgate {

namespace {

constexpr uint64_t kSaturated = uint64_t{1} << 63;

int host_bits(const Prefix& pool) { return pool.address().bit_width() - pool.length(); }
int block_bits(uint32_t per_user) { return std::countr_zero(per_user); }

uint64_t block_count(const Prefix& pool, uint32_t per_user) {
  const int bits = host_bits(pool) - block_bits(per_user);
  if (bits < 0) return 0;
  return bits >= 63 ? kSaturated : uint64_t{1} << bits;
}

// The usable block indexes, inclusive; empty when last < first.
struct UsableRange {
  uint64_t first = 0;
  uint64_t last = 0;
  bool empty() const { return last < first; }
  bool contains(uint64_t i) const { return first <= i && i <= last; }
};

UsableRange usable_range(const Prefix& pool, uint32_t per_user) {
  const uint64_t n = block_count(pool, per_user);
  if (n == 0) return {1, 0};
  if (host_bits(pool) <= 1) return {0, n - 1};  // /31, /32 (RFC 3021), /127 (RFC 6164), /128
  if (pool.family() == IpFamily::v4) {
    // Blocks holding the network or the broadcast address stay unused.
    if (n < 3) return {1, 0};
    return {1, n - 2};
  }
  return {1, n - 1};  // the block holding the Subnet-Router anycast address
}

// The offset of `ip` from the pool's network address, if `ip` is in the pool
// and within the first 2^63 addresses we consider.
std::optional<uint64_t> offset_in(const Prefix& pool, const IpAddress& ip) {
  if (!pool.contains(ip)) return std::nullopt;
  const IpAddress& base = pool.address();
  const int width = ip.byte_width();
  for (int i = 0; i < width - 8; ++i) {
    if (ip.bytes()[i] != base.bytes()[i]) return std::nullopt;
  }
  uint64_t ip_low = 0;
  uint64_t base_low = 0;
  for (int i = std::max(0, width - 8); i < width; ++i) {
    ip_low = (ip_low << 8) | ip.bytes()[i];
    base_low = (base_low << 8) | base.bytes()[i];
  }
  // The base has no host bits set, so this never borrows.
  const uint64_t offset = ip_low - base_low;
  if (offset >= kSaturated) return std::nullopt;
  return offset;
}

// The block indexes a lease overlaps, inclusive; nullopt when it does not
// overlap the pool's considered range.
std::optional<std::pair<uint64_t, uint64_t>> covered_blocks(const Prefix& pool, uint32_t per_user,
                                                            const Prefix& lease) {
  if (lease.family() != pool.family() || !lease.overlaps(pool)) return std::nullopt;
  if (lease.contains(pool)) return std::make_pair(uint64_t{0}, block_count(pool, per_user) - 1);
  auto offset = offset_in(pool, lease.address());
  if (!offset) return std::nullopt;
  const uint64_t first = *offset / per_user;
  const uint64_t size = lease.size();
  const uint64_t last = size > kSaturated - *offset ? block_count(pool, per_user) - 1 : (*offset + size - 1) / per_user;
  return std::make_pair(first, last);
}

Prefix nth_block(const Prefix& pool, uint32_t per_user, uint64_t index) {
  return Prefix(pool.nth(index * per_user), block_length(pool, per_user));
}

}  // namespace

int block_length(const Prefix& pool, uint32_t per_user) {
  return pool.address().bit_width() - block_bits(per_user);
}

uint64_t usable_block_count(const Prefix& pool, uint32_t per_user) {
  const UsableRange range = usable_range(pool, per_user);
  return range.empty() ? 0 : range.last - range.first + 1;
}

bool block_fits(const Prefix& block, const Prefix& pool, uint32_t per_user) {
  if (block.family() != pool.family() || !pool.contains(block) || block.length() != block_length(pool, per_user)) {
    return false;
  }
  auto offset = offset_in(pool, block.address());
  return offset && usable_range(pool, per_user).contains(*offset / per_user);
}

Result<Prefix> choose_block(const Prefix& pool, uint32_t per_user, int64_t user_id, const std::vector<Lease>& history) {
  const UsableRange range = usable_range(pool, per_user);

  // Per touched block: who holds it now (other than user_id), and when its
  // last lease ended. Keyed and so sorted by block index.
  struct BlockUse {
    bool held_by_other = false;
    bool held = false;
    UnixTime last_until = std::numeric_limits<UnixTime>::min();
  };
  std::map<uint64_t, BlockUse> uses;
  std::vector<std::pair<uint64_t, uint64_t>> ever_used;
  const Lease* own_latest = nullptr;
  for (const Lease& lease : history) {
    auto covered = covered_blocks(pool, per_user, lease.block);
    if (!covered) continue;
    ever_used.push_back(*covered);
    for (uint64_t i = covered->first; i <= covered->second && i <= range.last; ++i) {
      if (i < range.first) continue;
      BlockUse& use = uses[i];
      if (lease.current()) {
        use.held = true;
        if (lease.user_id != user_id) use.held_by_other = true;
      } else {
        use.last_until = std::max(use.last_until, *lease.until);
      }
    }
    if (lease.user_id == user_id) {
      // A current lease always wins; then the latest start; ids break ties
      // between leases started in the same second.
      auto rank = [](const Lease& l) { return std::make_tuple(l.current(), l.from, l.id); };
      if (own_latest == nullptr || rank(lease) > rank(*own_latest)) own_latest = &lease;
    }
  }
  auto free_for_user = [&](uint64_t index) {
    auto it = uses.find(index);
    return range.contains(index) && (it == uses.end() || !it->second.held_by_other);
  };

  // 1 and 2: the user's own (latest) block, or the block around it.
  if (own_latest != nullptr) {
    if (own_latest->current() && block_fits(own_latest->block, pool, per_user)) {
      auto index = *offset_in(pool, own_latest->block.address()) / per_user;
      if (free_for_user(index)) return own_latest->block;
    }
    if (auto offset = offset_in(pool, own_latest->block.address())) {
      if (free_for_user(*offset / per_user)) return nth_block(pool, per_user, *offset / per_user);
    }
  }
  if (range.empty()) {
    return make_error("address pool " + pool.to_string() + " holds no usable block of " + std::to_string(per_user) +
                      " addresses (pool.per_user)");
  }

  // 3: the lowest never-used block: walk the used ranges in order until the
  // first gap.
  std::sort(ever_used.begin(), ever_used.end());
  uint64_t candidate = range.first;
  for (const auto& [first, last] : ever_used) {
    if (first > candidate) break;
    if (last >= candidate) {
      if (last >= range.last) {
        candidate = range.last + 1;
        break;
      }
      candidate = last + 1;
    }
  }
  if (candidate <= range.last) return nth_block(pool, per_user, candidate);

  // 4: every usable block has been used; reuse the one free longest.
  std::optional<uint64_t> best;
  UnixTime best_until = 0;
  for (const auto& [index, use] : uses) {
    if (use.held) continue;
    if (!best || use.last_until < best_until) {
      best = index;
      best_until = use.last_until;
    }
  }
  if (best) return nth_block(pool, per_user, *best);

  const uint64_t usable = usable_block_count(pool, per_user);
  return make_error("address pool " + pool.to_string() + " is exhausted (" + std::to_string(usable) + " block" +
                    (usable == 1 ? "" : "s") + " of " + std::to_string(per_user) + " addresses, all leased)");
}

std::optional<uint32_t> first_free_slot(uint32_t per_user, const std::vector<uint32_t>& used) {
  std::vector<uint32_t> sorted = used;
  std::sort(sorted.begin(), sorted.end());
  uint32_t candidate = 0;
  for (uint32_t s : sorted) {
    if (s == candidate) ++candidate;
    if (s > candidate) break;
  }
  if (candidate >= per_user) return std::nullopt;
  return candidate;
}

std::optional<IpAddress> device_address(const Prefix& block, uint32_t slot) {
  if (slot >= block.size()) return std::nullopt;
  return block.nth(slot);
}

std::optional<uint32_t> slot_of(const Prefix& block, const IpAddress& address) {
  auto offset = offset_in(block, address);
  if (!offset || *offset > std::numeric_limits<uint32_t>::max()) return std::nullopt;
  return static_cast<uint32_t>(*offset);
}

}  // namespace wgate
