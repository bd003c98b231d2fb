#include "core/ipam.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

namespace wgate {
namespace {

using ::testing::HasSubstr;

Prefix pfx(const char* text) { return *Prefix::parse(text); }
IpAddress ip(const char* text) { return *IpAddress::parse(text); }

// `block` is "a.b.c.d/n", or a bare address for an old one-address lease.
Lease current(int64_t user, const char* block, UnixTime from = 100, int64_t id = 0) {
  return Lease{id, user, pfx(block), from, std::nullopt};
}
Lease ended(int64_t user, const char* block, UnixTime from, UnixTime until, int64_t id = 0) {
  return Lease{id, user, pfx(block), from, until};
}

std::string choose(const char* pool, uint32_t per_user, int64_t user, const std::vector<Lease>& history) {
  auto r = choose_block(pfx(pool), per_user, user, history);
  if (!r) return "error: " + r.error().message;
  return r->to_string();
}

// Current leases of users 1000+i for the blocks `first`..`last` of `pool`.
std::vector<Lease> holders(const char* pool, uint32_t per_user, uint64_t first, uint64_t last) {
  const Prefix p = pfx(pool);
  std::vector<Lease> out;
  for (uint64_t i = first; i <= last; ++i) {
    out.push_back(Lease{static_cast<int64_t>(i), static_cast<int64_t>(1000 + i),
                        Prefix(p.nth(i * per_user), block_length(p, per_user)), 1, std::nullopt});
  }
  return out;
}

TEST(IpamTest, BlockLengthAndUsableBlocks) {
  EXPECT_EQ(block_length(pfx("10.100.0.0/24"), 1), 32);
  EXPECT_EQ(block_length(pfx("10.100.0.0/24"), 4), 30);
  EXPECT_EQ(block_length(pfx("10.100.0.0/24"), 256), 24);
  EXPECT_EQ(block_length(pfx("fd00::/64"), 4), 126);

  // The blocks holding the network and the broadcast address are left out.
  EXPECT_EQ(usable_block_count(pfx("10.100.0.0/24"), 1), 254u);
  EXPECT_EQ(usable_block_count(pfx("10.100.0.0/24"), 2), 126u);
  EXPECT_EQ(usable_block_count(pfx("10.100.0.0/24"), 4), 62u);
  EXPECT_EQ(usable_block_count(pfx("10.100.0.0/28"), 4), 2u);
  EXPECT_EQ(usable_block_count(pfx("10.100.0.0/30"), 1), 2u);
  // Two blocks, one holding each reserved address: nothing usable.
  EXPECT_EQ(usable_block_count(pfx("10.100.0.0/29"), 4), 0u);
  EXPECT_EQ(usable_block_count(pfx("10.100.0.0/30"), 2), 0u);
  EXPECT_EQ(usable_block_count(pfx("10.100.0.0/24"), 256), 0u);
  EXPECT_EQ(usable_block_count(pfx("10.100.0.0/22"), 256), 2u);
  // A block larger than the pool.
  EXPECT_EQ(usable_block_count(pfx("10.100.0.0/30"), 8), 0u);
  // /31 and /32 have no network or broadcast address (RFC 3021).
  EXPECT_EQ(usable_block_count(pfx("10.0.0.0/31"), 1), 2u);
  EXPECT_EQ(usable_block_count(pfx("10.0.0.0/31"), 2), 1u);
  EXPECT_EQ(usable_block_count(pfx("10.0.0.7/32"), 1), 1u);
  // IPv6: only the block holding the Subnet-Router anycast address.
  EXPECT_EQ(usable_block_count(pfx("fd00::/120"), 4), 63u);
}

TEST(IpamTest, EmptyHistoryGivesTheLowestUsableBlock) {
  EXPECT_EQ(choose("10.100.0.0/24", 4, 1, {}), "10.100.0.4/30");
  EXPECT_EQ(choose("10.100.0.0/24", 1, 1, {}), "10.100.0.1/32");
  EXPECT_EQ(choose("10.100.0.0/22", 256, 1, {}), "10.100.1.0/24");
  EXPECT_EQ(choose("fd00:1::/64", 4, 1, {}), "fd00:1::4/126");
}

// Rule 1: the user's current lease, if it fits and nobody else's overlaps it.
TEST(IpamTest, KeepsTheUsersCurrentBlock) {
  // Lower blocks are free, and the user's older lease is lower still.
  std::vector<Lease> h = {ended(2, "10.100.0.4/30", 10, 20), current(1, "10.100.0.8/30"),
                          current(2, "10.100.0.40/30", 30)};
  EXPECT_EQ(choose("10.100.0.0/24", 4, 2, h), "10.100.0.40/30");
}

TEST(IpamTest, ACurrentLeaseBeatsALaterEndedOneAndIdsBreakTies) {
  // The current lease wins even though the ended one started later.
  EXPECT_EQ(choose("10.100.0.0/24", 4, 2, {current(2, "10.100.0.40/30", 100), ended(2, "10.100.0.8/30", 200, 300)}),
            "10.100.0.40/30");
  // Two ended leases started in the same second: the higher id is the later.
  EXPECT_EQ(choose("10.100.0.0/24", 4, 2,
                   {ended(2, "10.100.0.8/30", 100, 150, 7), ended(2, "10.100.0.40/30", 100, 150, 6)}),
            "10.100.0.8/30");
  EXPECT_EQ(choose("10.100.0.0/24", 4, 2,
                   {ended(2, "10.100.0.8/30", 100, 150, 5), ended(2, "10.100.0.40/30", 100, 150, 6)}),
            "10.100.0.40/30");
}

TEST(IpamTest, DoesNotKeepACurrentBlockSomeoneElseOverlaps) {
  // Inconsistent data (user 2's old /32 lies in user 1's block): user 1
  // moves to the lowest never-used block rather than share.
  std::vector<Lease> h = {current(1, "10.100.0.8/30"), current(2, "10.100.0.9")};
  EXPECT_EQ(choose("10.100.0.0/24", 4, 1, h), "10.100.0.4/30");
}

// Rule 2: the block holding the address the user held most recently.
TEST(IpamTest, ReturnsToTheUsersLastBlockWhenFree) {
  std::vector<Lease> h = {ended(3, "10.100.0.20/30", 10, 20), ended(3, "10.100.0.40/30", 30, 40),
                          current(1, "10.100.0.4/30")};
  EXPECT_EQ(choose("10.100.0.0/24", 4, 3, h), "10.100.0.40/30");
  // Someone held it in between, but not now: still the user's.
  h.push_back(ended(5, "10.100.0.40/30", 50, 60));
  EXPECT_EQ(choose("10.100.0.0/24", 4, 3, h), "10.100.0.40/30");
}

TEST(IpamTest, PerUserGrowthKeepsTheBlockAroundTheOldAddress) {
  // An old one-address lease (per_user was 1) becomes the /30 holding it.
  EXPECT_EQ(choose("10.100.0.0/24", 4, 1, {current(1, "10.100.0.9")}), "10.100.0.8/30");
  EXPECT_EQ(choose("10.100.0.0/24", 4, 1, {ended(1, "10.100.0.9", 10, 20)}), "10.100.0.8/30");
  // per_user shrinking from 8 to 4: the first half of the old block.
  EXPECT_EQ(choose("10.100.0.0/24", 4, 1, {current(1, "10.100.0.16/29")}), "10.100.0.16/30");
}

TEST(IpamTest, DoesNotReturnToABlockAnotherUserHolds) {
  // Another user holds the very block now.
  EXPECT_EQ(choose("10.100.0.0/24", 4, 3, {ended(3, "10.100.0.8/30", 10, 20), current(4, "10.100.0.8/30", 30)}),
            "10.100.0.4/30");
  // Another user's old one-address lease lies inside it.
  EXPECT_EQ(choose("10.100.0.0/24", 4, 3, {current(3, "10.100.0.9"), current(4, "10.100.0.10")}), "10.100.0.4/30");
  // ... but one that ended does not keep the user out.
  EXPECT_EQ(choose("10.100.0.0/24", 4, 3, {current(3, "10.100.0.9"), ended(4, "10.100.0.10", 1, 2)}),
            "10.100.0.8/30");
}

TEST(IpamTest, DoesNotReturnToAReservedBlock) {
  // The user's old address .1 now lies in the block of the network address.
  EXPECT_EQ(choose("10.100.0.0/24", 4, 1, {current(1, "10.100.0.1")}), "10.100.0.4/30");
  // .254 lies in the block of the broadcast address.
  EXPECT_EQ(choose("10.100.0.0/24", 4, 1, {current(1, "10.100.0.254")}), "10.100.0.4/30");
}

// Rule 3: the lowest usable block no lease ever overlapped.
TEST(IpamTest, LowestNeverUsedBlock) {
  // .4/30 is current, .8/30 ended, .12/30 never used.
  EXPECT_EQ(choose("10.100.0.0/24", 4, 9, {current(1, "10.100.0.4/30"), ended(2, "10.100.0.8/30", 1, 2)}),
            "10.100.0.12/30");
  // A gap below a used block is found.
  EXPECT_EQ(choose("10.100.0.0/24", 4, 9, {current(1, "10.100.0.8/30"), current(2, "10.100.0.4/30")}),
            "10.100.0.12/30");
  EXPECT_EQ(choose("10.100.0.0/24", 4, 9, {current(1, "10.100.0.12/30"), current(2, "10.100.0.4/30")}),
            "10.100.0.8/30");
}

TEST(IpamTest, MixedSizeHistoryOldSingleAddressesThenBlocks) {
  // per_user was 1: users 1-3 held .1, .2, .5 (one has left). Then per_user
  // became 4: each old address counts for the /30 it lies in, so block 0
  // (reserved anyway) and block 1 (.4/30, holding .5) count as used.
  std::vector<Lease> h = {current(1, "10.100.0.1"), ended(2, "10.100.0.2", 1, 5), current(3, "10.100.0.5")};
  EXPECT_EQ(choose("10.100.0.0/24", 4, 9, h), "10.100.0.8/30");
  // A block that both an old address and a new block touched.
  h.push_back(current(4, "10.100.0.8/30"));
  h.push_back(ended(5, "10.100.0.13", 1, 5));
  EXPECT_EQ(choose("10.100.0.0/24", 4, 9, h), "10.100.0.16/30");
  // And back from blocks to single addresses: every address of a /30 counts.
  EXPECT_EQ(choose("10.100.0.0/24", 1, 9, {current(1, "10.100.0.4/30"), current(2, "10.100.0.1")}),
            "10.100.0.2/32");
  EXPECT_EQ(choose("10.100.0.0/24", 1, 9,
                   {current(1, "10.100.0.4/30"), current(2, "10.100.0.1"), current(3, "10.100.0.2"),
                    current(4, "10.100.0.3")}),
            "10.100.0.8/32");
}

// Rule 4: every usable block was used once; the one freed longest ago.
TEST(IpamTest, ReusesTheBlockFreedLongestAgo) {
  // /28 with per_user 4: usable blocks .4/30 and .8/30.
  EXPECT_EQ(choose("10.100.0.0/28", 4, 9, {ended(1, "10.100.0.4/30", 1, 500), ended(2, "10.100.0.8/30", 1, 200)}),
            "10.100.0.8/30");
  EXPECT_EQ(choose("10.100.0.0/28", 4, 9, {ended(1, "10.100.0.4/30", 1, 200), ended(2, "10.100.0.8/30", 1, 500)}),
            "10.100.0.4/30");
  // Ties: the lowest.
  EXPECT_EQ(choose("10.100.0.0/28", 4, 9, {ended(1, "10.100.0.8/30", 1, 300), ended(2, "10.100.0.4/30", 1, 300)}),
            "10.100.0.4/30");
  // A block's last lease counts, of whatever size: .4/30 held .5 until 100
  // and .6 until 600; .8/30 was freed at 300.
  EXPECT_EQ(choose("10.100.0.0/28", 4, 9,
                   {ended(1, "10.100.0.5", 1, 100), ended(2, "10.100.0.6", 1, 600), ended(3, "10.100.0.8/30", 1, 300)}),
            "10.100.0.8/30");
  // A block someone holds now is never reused, however long ago another
  // lease in it ended.
  EXPECT_EQ(choose("10.100.0.0/28", 4, 9,
                   {ended(1, "10.100.0.4/30", 1, 100), current(2, "10.100.0.6"), ended(3, "10.100.0.8/30", 1, 900)}),
            "10.100.0.8/30");
}

TEST(IpamTest, ExhaustedPoolNamesPoolPerUserAndSize) {
  EXPECT_EQ(choose("10.100.0.0/28", 4, 9, {current(1, "10.100.0.4/30"), current(2, "10.100.0.8/30")}),
            "error: address pool 10.100.0.0/28 is exhausted (2 blocks of 4 addresses, all leased)");
  EXPECT_EQ(choose("10.0.0.0/31", 2, 9, {current(1, "10.0.0.0/31")}),
            "error: address pool 10.0.0.0/31 is exhausted (1 block of 2 addresses, all leased)");
  // Old single-address leases of others in both usable blocks: exhausted too.
  EXPECT_EQ(choose("10.100.0.0/28", 4, 9, {current(1, "10.100.0.5"), current(2, "10.100.0.10")}),
            "error: address pool 10.100.0.0/28 is exhausted (2 blocks of 4 addresses, all leased)");
  // No usable block at all.
  EXPECT_EQ(choose("10.100.0.0/29", 4, 9, {}),
            "error: address pool 10.100.0.0/29 holds no usable block of 4 addresses (pool.per_user)");
}

TEST(IpamTest, NeverHandsOutTheReservedBlocks) {
  // Every usable /30 of the /24 (indexes 1..62) is held: the blocks holding
  // .0 and .255 stay unused, even as "never used" blocks.
  auto h = holders("10.100.0.0/24", 4, 1, 62);
  EXPECT_THAT(choose("10.100.0.0/24", 4, 9, h), HasSubstr("is exhausted (62 blocks of 4 addresses"));
  h.pop_back();  // .248/30 is free again
  EXPECT_EQ(choose("10.100.0.0/24", 4, 9, h), "10.100.0.248/30");
  // The same with one address each: .0 and .255 are never handed out.
  auto singles = holders("10.100.0.0/24", 1, 1, 254);
  EXPECT_THAT(choose("10.100.0.0/24", 1, 9, singles), HasSubstr("exhausted (254 blocks of 1 addresses"));
  // /31 and /32 pools use every address.
  EXPECT_EQ(choose("10.0.0.0/31", 1, 1, {}), "10.0.0.0/32");
  EXPECT_EQ(choose("10.0.0.0/31", 1, 2, {current(1, "10.0.0.0")}), "10.0.0.1/32");
  EXPECT_EQ(choose("10.0.0.7/32", 1, 1, {}), "10.0.0.7/32");
  EXPECT_EQ(choose("10.0.0.7/32", 1, 2, {current(1, "10.0.0.7")}),
            "error: address pool 10.0.0.7/32 is exhausted (1 block of 1 addresses, all leased)");
}

TEST(IpamTest, IgnoresLeasesOutsideThePool) {
  // Leases from an older pool (and of another family) neither block nor are
  // returned to.
  std::vector<Lease> h = {ended(1, "192.168.0.4/30", 1, 2), current(2, "192.168.0.8/30"), current(3, "fd00::4/126")};
  EXPECT_EQ(choose("10.100.0.0/24", 4, 1, h), "10.100.0.4/30");
  EXPECT_EQ(choose("10.100.0.0/24", 4, 2, h), "10.100.0.4/30");
  // A lease in the old pool does not hide the user's older lease in this one.
  h.push_back(ended(2, "10.100.0.40/30", 1, 2));
  EXPECT_EQ(choose("10.100.0.0/24", 4, 2, h), "10.100.0.40/30");
}

TEST(IpamTest, BlockFits) {
  const Prefix pool = pfx("10.100.0.0/24");
  EXPECT_TRUE(block_fits(pfx("10.100.0.8/30"), pool, 4));
  EXPECT_TRUE(block_fits(pfx("10.100.0.248/30"), pool, 4));
  EXPECT_FALSE(block_fits(pfx("10.100.0.8/29"), pool, 4));   // per_user changed
  EXPECT_FALSE(block_fits(pfx("10.100.0.9/32"), pool, 4));   // an old single address
  EXPECT_FALSE(block_fits(pfx("10.200.0.8/30"), pool, 4));   // the pool changed
  EXPECT_FALSE(block_fits(pfx("10.100.0.0/30"), pool, 4));   // network address
  EXPECT_FALSE(block_fits(pfx("10.100.0.252/30"), pool, 4)); // broadcast address
  EXPECT_FALSE(block_fits(pfx("10.100.0.0/23"), pool, 4));   // larger than the pool
  EXPECT_FALSE(block_fits(pfx("fd00::8/126"), pool, 4));
  EXPECT_TRUE(block_fits(pfx("10.100.0.1/32"), pool, 1));
  EXPECT_FALSE(block_fits(pfx("10.100.0.0/32"), pool, 1));
  EXPECT_FALSE(block_fits(pfx("10.100.0.255/32"), pool, 1));
  EXPECT_TRUE(block_fits(pfx("10.0.0.0/32"), pfx("10.0.0.0/31"), 1));
}

TEST(IpamTest, FirstFreeSlot) {
  EXPECT_EQ(first_free_slot(4, {}), 0u);
  EXPECT_EQ(first_free_slot(4, {0, 1, 3}), 2u);
  EXPECT_EQ(first_free_slot(4, {3, 1, 0}), 2u);  // any order
  EXPECT_EQ(first_free_slot(4, {1, 2}), 0u);
  EXPECT_EQ(first_free_slot(4, {0, 0, 1}), 2u);  // duplicates
  EXPECT_EQ(first_free_slot(4, {0, 1, 2, 3}), std::nullopt);
  EXPECT_EQ(first_free_slot(4, {0, 1, 2, 3, 4}), std::nullopt);
  EXPECT_EQ(first_free_slot(1, {}), 0u);
  EXPECT_EQ(first_free_slot(1, {0}), std::nullopt);
  // Slots beyond per_user (per_user shrank) do not take a free one.
  EXPECT_EQ(first_free_slot(2, {0, 5}), 1u);
}

TEST(IpamTest, DeviceAddressAndSlotOf) {
  const Prefix block = pfx("10.100.0.8/30");
  EXPECT_EQ(device_address(block, 0), ip("10.100.0.8"));
  EXPECT_EQ(device_address(block, 1), ip("10.100.0.9"));
  EXPECT_EQ(device_address(block, 3), ip("10.100.0.11"));
  EXPECT_EQ(device_address(block, 4), std::nullopt);  // outside the block
  EXPECT_EQ(device_address(pfx("10.100.0.9/32"), 0), ip("10.100.0.9"));
  EXPECT_EQ(device_address(pfx("10.100.0.9/32"), 1), std::nullopt);
  EXPECT_EQ(device_address(pfx("fd00::4/126"), 2), ip("fd00::6"));

  EXPECT_EQ(slot_of(block, ip("10.100.0.8")), 0u);
  EXPECT_EQ(slot_of(block, ip("10.100.0.10")), 2u);
  EXPECT_EQ(slot_of(block, ip("10.100.0.11")), 3u);
  EXPECT_EQ(slot_of(block, ip("10.100.0.12")), std::nullopt);
  EXPECT_EQ(slot_of(block, ip("10.100.0.7")), std::nullopt);
  EXPECT_EQ(slot_of(block, ip("fd00::8")), std::nullopt);
  EXPECT_EQ(slot_of(pfx("10.100.0.9/32"), ip("10.100.0.9")), 0u);
  // They agree on every slot.
  for (uint32_t s = 0; s < 4; ++s) EXPECT_EQ(slot_of(block, *device_address(block, s)), s);
}

TEST(IpamTest, Ipv6LargePoolIsFast) {
  const Prefix pool = pfx("fd00:1::/64");
  // 5000 current /126 blocks at indexes 1..5000 (block 0 holds the anycast
  // address).
  std::vector<Lease> history;
  for (uint64_t i = 1; i <= 5000; ++i) {
    history.push_back(Lease{static_cast<int64_t>(i), static_cast<int64_t>(i), Prefix(pool.nth(i * 4), 126), 1,
                            std::nullopt});
  }
  auto start = std::chrono::steady_clock::now();
  auto chosen = choose_block(pool, 4, 99999, history);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  EXPECT_EQ(*chosen, Prefix(pool.nth(5001 * 4), 126));
  EXPECT_LT(elapsed, std::chrono::milliseconds(500));
  // A pool larger than 2^63 addresses still works, from the start.
  EXPECT_EQ(choose("fd00:2::/48", 4, 1, {current(2, "fd00:2::4/126")}), "fd00:2::8/126");
}

}  // namespace
}  // namespace wgate
