#include "core/ipam.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

namespace wgate {
namespace {

using ::testing::HasSubstr;

Prefix pfx(const char* text) { return *Prefix::parse(text); }
IpAddress ip(const char* text) { return *IpAddress::parse(text); }

Lease current(int64_t user, const char* address, UnixTime from = 100) {
  return Lease{0, user, ip(address), from, std::nullopt};
}
Lease ended(int64_t user, const char* address, UnixTime from, UnixTime until) {
  return Lease{0, user, ip(address), from, until};
}

std::string choose(const char* pool, int64_t user, const std::vector<Lease>& history) {
  auto r = choose_address(pfx(pool), user, history);
  if (!r) return "error: " + r.error().message;
  return r->to_string();
}

TEST(IpamTest, EmptyPoolHistoryGivesFirstHostAddress) {
  EXPECT_EQ(choose("10.100.0.0/24", 1, {}), "10.100.0.1");
}

TEST(IpamTest, LowestNeverUsedAddressFirst) {
  // .1 and .3 are taken (one ended, one current); .2 is the lowest never used.
  EXPECT_EQ(choose("10.100.0.0/24", 9, {current(1, "10.100.0.1"), ended(2, "10.100.0.3", 1, 2)}), "10.100.0.2");
}

TEST(IpamTest, KeepsTheUsersCurrentLease) {
  EXPECT_EQ(choose("10.100.0.0/24", 2, {current(1, "10.100.0.1"), current(2, "10.100.0.7")}), "10.100.0.7");
}

TEST(IpamTest, ReusesTheUsersLastAddressWhenFree) {
  // The user held .5 then .9; .9 is the most recent and free again.
  std::vector<Lease> h = {ended(3, "10.100.0.5", 10, 20), ended(3, "10.100.0.9", 30, 40), current(1, "10.100.0.1")};
  EXPECT_EQ(choose("10.100.0.0/24", 3, h), "10.100.0.9");
}

TEST(IpamTest, NeverTakesAnAddressCurrentlyLeasedToSomeoneElse) {
  // User 3's old address went to user 4: user 3 gets a fresh one instead.
  std::vector<Lease> h = {ended(3, "10.100.0.1", 10, 20), current(4, "10.100.0.1", 30)};
  EXPECT_EQ(choose("10.100.0.0/24", 3, h), "10.100.0.2");
}

TEST(IpamTest, ReusesTheAddressReleasedLongestAgo) {
  // /29: usable .1-.6, all used once; .4 and .2 are free, .4 was freed first.
  std::vector<Lease> h = {current(1, "10.0.0.1"),        ended(2, "10.0.0.2", 1, 500), current(3, "10.0.0.3"),
                          ended(4, "10.0.0.4", 1, 200),  current(5, "10.0.0.5"),       current(6, "10.0.0.6"),
                          ended(7, "10.0.0.4", 300, 400)};
  // .4 was last freed at 400, .2 at 500: .4 wins.
  EXPECT_EQ(choose("10.0.0.0/29", 9, h), "10.0.0.4");
}

TEST(IpamTest, ExhaustedPoolNamesPoolAndSize) {
  std::vector<Lease> h = {current(1, "10.100.0.1"), current(2, "10.100.0.2")};
  EXPECT_EQ(choose("10.100.0.0/30", 3, h),
            "error: address pool 10.100.0.0/30 is exhausted (2 usable addresses, all leased)");
}

TEST(IpamTest, SkipsNetworkAndBroadcast) {
  // /30: only .1 and .2; the network (.0) and broadcast (.3) are never
  // offered, even as "never used" addresses.
  EXPECT_EQ(choose("10.100.0.0/30", 1, {}), "10.100.0.1");
  EXPECT_EQ(choose("10.100.0.0/30", 2, {current(1, "10.100.0.1")}), "10.100.0.2");
  EXPECT_THAT(choose("10.100.0.0/30", 3, {current(1, "10.100.0.1"), current(2, "10.100.0.2")}),
              HasSubstr("exhausted"));
  EXPECT_EQ(usable_address_count(pfx("10.100.0.0/30")), 2u);
  EXPECT_EQ(usable_address_count(pfx("10.100.0.0/24")), 254u);
}

TEST(IpamTest, SlashThirtyOneUsesBothAddresses) {
  EXPECT_EQ(usable_address_count(pfx("10.0.0.0/31")), 2u);
  EXPECT_EQ(choose("10.0.0.0/31", 1, {}), "10.0.0.0");
  EXPECT_EQ(choose("10.0.0.0/31", 2, {current(1, "10.0.0.0")}), "10.0.0.1");
  EXPECT_THAT(choose("10.0.0.0/31", 3, {current(1, "10.0.0.0"), current(2, "10.0.0.1")}),
              HasSubstr("10.0.0.0/31 is exhausted (2 usable addresses"));
}

TEST(IpamTest, SlashThirtyTwoIsOneAddress) {
  EXPECT_EQ(choose("10.0.0.7/32", 1, {}), "10.0.0.7");
  EXPECT_EQ(choose("10.0.0.7/32", 1, {current(1, "10.0.0.7")}), "10.0.0.7");
  EXPECT_EQ(choose("10.0.0.7/32", 2, {current(1, "10.0.0.7")}),
            "error: address pool 10.0.0.7/32 is exhausted (1 usable address, all leased)");
}

TEST(IpamTest, IgnoresLeasesOutsideThePool) {
  // A lease from an older, different pool neither blocks nor is reused.
  std::vector<Lease> h = {ended(1, "192.168.0.5", 1, 2), current(2, "192.168.0.1")};
  EXPECT_EQ(choose("10.100.0.0/24", 1, h), "10.100.0.1");
}

TEST(IpamTest, Ipv6SlashSixtyFourIsFast) {
  const Prefix pool = pfx("fd00:1::/64");
  std::vector<Lease> history;
  // 5000 current leases at ::1..::5000 (the anycast ::0 is skipped).
  for (uint64_t i = 1; i <= 5000; ++i) {
    history.push_back(Lease{static_cast<int64_t>(i), static_cast<int64_t>(i), pool.nth(i), 1, std::nullopt});
  }
  auto start = std::chrono::steady_clock::now();
  auto chosen = choose_address(pool, 99999, history);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  EXPECT_EQ(*chosen, pool.nth(5001));
  EXPECT_LT(elapsed, std::chrono::milliseconds(500));
  EXPECT_EQ(choose("fd00:1::/64", 1, {}), "fd00:1::1");
}

TEST(IpamTest, Ipv6HugePoolAndSmallPrefixes) {
  // A /48 is larger than 2^63 addresses: still works, from the start.
  EXPECT_EQ(choose("fd00:2::/48", 1, {current(2, "fd00:2::1")}), "fd00:2::2");
  EXPECT_EQ(choose("fd00::/127", 1, {}), "fd00::");
  EXPECT_EQ(choose("fd00::5/128", 1, {}), "fd00::5");
}

}  // namespace
}  // namespace wgate
