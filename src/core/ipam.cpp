#include "core/ipam.h"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <tuple>

namespace wgate {

namespace {

// The range of usable offsets from the pool's network address, inclusive.
struct UsableRange {
  uint64_t first = 0;
  uint64_t last = 0;
};

UsableRange usable_range(const Prefix& pool) {
  // size() saturates at 2^63, so `size - 1` never overflows.
  const uint64_t size = pool.size();
  const int host_bits = pool.address().bit_width() - pool.length();
  if (pool.family() == IpFamily::v4) {
    // /31 and /32 have no network or broadcast address (RFC 3021).
    if (host_bits <= 1) return {0, size - 1};
    return {1, size - 2};
  }
  // /127 (RFC 6164) and /128 have no anycast address to avoid.
  if (host_bits <= 1) return {0, size - 1};
  return {1, size - 1};
}

// The offset of `ip` from the pool's network address, if `ip` is one of the
// pool's usable addresses.
std::optional<uint64_t> usable_offset(const Prefix& pool, const UsableRange& range, const IpAddress& ip) {
  if (!pool.contains(ip)) return std::nullopt;
  const IpAddress& base = pool.address();
  const int width = ip.byte_width();
  // Any difference above the low 64 bits puts the address beyond the 2^63
  // addresses we consider.
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
  if (offset < range.first || offset > range.last) return std::nullopt;
  return offset;
}

// What the history says about one address.
struct AddressUse {
  std::optional<int64_t> current_holder;
  UnixTime last_until = std::numeric_limits<UnixTime>::min();
};

}  // namespace

uint64_t usable_address_count(const Prefix& pool) {
  const UsableRange range = usable_range(pool);
  if (range.last < range.first) return 0;
  return range.last - range.first + 1;
}

Result<IpAddress> choose_address(const Prefix& pool, int64_t user_id, const std::vector<Lease>& history) {
  const UsableRange range = usable_range(pool);
  const uint64_t usable = usable_address_count(pool);

  std::map<uint64_t, AddressUse> uses;  // keyed and so sorted by offset
  const Lease* own_latest = nullptr;
  for (const Lease& lease : history) {
    const auto offset = usable_offset(pool, range, lease.address);
    if (!offset) continue;
    AddressUse& use = uses[*offset];
    if (lease.current()) {
      use.current_holder = lease.user_id;
    } else {
      use.last_until = std::max(use.last_until, *lease.until);
    }
    if (lease.user_id == user_id) {
      // A current lease always wins; then the latest start; ids break ties
      // between leases started in the same second.
      auto rank = [](const Lease& l) { return std::make_tuple(l.current(), l.from, l.id); };
      if (own_latest == nullptr || rank(lease) > rank(*own_latest)) own_latest = &lease;
    }
  }

  // 1 and 2: the user's own (latest) address, unless someone else holds it.
  if (own_latest != nullptr) {
    const AddressUse& use = uses[*usable_offset(pool, range, own_latest->address)];
    if (!use.current_holder || *use.current_holder == user_id) return own_latest->address;
  }

  // 3: the lowest never-used address. The used offsets are sorted, so walk
  // them from the start until the first gap.
  if (usable > 0) {
    uint64_t candidate = range.first;
    bool found = true;
    for (const auto& [offset, use] : uses) {
      if (offset != candidate) break;
      if (candidate == range.last) {
        found = false;
        break;
      }
      ++candidate;
    }
    if (found) return pool.nth(candidate);
  }

  // 4: every usable address has been used; reuse the one free longest.
  const uint64_t* best = nullptr;
  UnixTime best_until = 0;
  for (const auto& [offset, use] : uses) {
    if (use.current_holder) continue;
    if (best == nullptr || use.last_until < best_until) {
      best = &offset;
      best_until = use.last_until;
    }
  }
  if (best != nullptr) return pool.nth(*best);

  return make_error("address pool " + pool.to_string() + " is exhausted (" + std::to_string(usable) +
                    " usable address" + (usable == 1 ? "" : "es") + ", all leased)");
}

}  // namespace wgate
