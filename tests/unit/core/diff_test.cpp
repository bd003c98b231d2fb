#include "core/diff.h"

#include <gtest/gtest.h>

namespace wgate {
namespace {

WgKey key_of(uint16_t n) {
  std::array<uint8_t, 32> b{};
  b[0] = static_cast<uint8_t>(n >> 8);
  b[1] = static_cast<uint8_t>(n);
  return WgKey(b);
}

Prefix host(uint32_t n) { return Prefix(IpAddress::v4(0x0a640000 + n), 32); }

PlannedInterface planned(int peers) {
  PlannedInterface p;
  p.name = "wg-dev";
  p.listen_port = 51820;
  for (int i = 0; i < peers; ++i) p.peers.push_back(PlannedPeer{key_of(i), host(i + 1), i, "u", "d"});
  return p;
}

WgDeviceState observed_from(const PlannedInterface& p, const WgKey& priv) {
  WgDeviceState s;
  s.name = p.name;
  s.private_key = priv;
  s.listen_port = p.listen_port;
  for (const auto& peer : p.peers) {
    WgPeerState ps;
    ps.public_key = peer.public_key;
    ps.allowed_ips = {peer.allowed_ip};
    ps.last_handshake_sec = 12345;
    s.peers.push_back(ps);
  }
  return s;
}

TEST(DiffDevice, FreshDeviceGetsKeyPortAndEveryPeer) {
  WgKey priv = key_of(999);
  auto u = diff_device(planned(3), WgDeviceState{}, priv);
  ASSERT_TRUE(u.private_key.has_value());
  EXPECT_EQ(*u.private_key, priv);
  EXPECT_EQ(u.listen_port, 51820);
  ASSERT_EQ(u.peers.size(), 3u);
  for (const auto& p : u.peers) {
    EXPECT_FALSE(p.remove);
    EXPECT_TRUE(p.replace_allowed_ips);
    EXPECT_EQ(p.allowed_ips.size(), 1u);
  }
  EXPECT_FALSE(u.replace_peers);  // never a resync
}

TEST(DiffDevice, InSyncDeviceNeedsNothing) {
  WgKey priv = key_of(999);
  auto want = planned(100);
  auto u = diff_device(want, observed_from(want, priv), priv);
  EXPECT_TRUE(u.empty());
}

TEST(DiffDevice, OnePeerAddedToTenThousandIsOneUpdate) {
  WgKey priv = key_of(999);
  auto want = planned(10001);
  auto have = observed_from(planned(10000), priv);
  auto u = diff_device(want, have, priv);
  ASSERT_EQ(u.peers.size(), 1u);
  EXPECT_EQ(u.peers[0].public_key, key_of(10000));
  EXPECT_FALSE(u.private_key.has_value());
  EXPECT_FALSE(u.listen_port.has_value());
}

TEST(DiffDevice, RemovesUnknownPeersBeforeAddingAndFixesAllowedIps) {
  WgKey priv = key_of(999);
  auto want = planned(2);
  auto have = observed_from(want, priv);
  have.peers[1].allowed_ips = {host(77)};          // wrong address
  WgPeerState stray;
  stray.public_key = key_of(500);                    // revoked while we were down
  stray.allowed_ips = {host(1)};
  have.peers.push_back(stray);
  auto u = diff_device(want, have, priv);
  ASSERT_EQ(u.peers.size(), 2u);
  EXPECT_TRUE(u.peers[0].remove);
  EXPECT_EQ(u.peers[0].public_key, key_of(500));
  EXPECT_FALSE(u.peers[1].remove);
  EXPECT_EQ(u.peers[1].public_key, key_of(1));
  EXPECT_TRUE(u.peers[1].replace_allowed_ips);
  EXPECT_EQ(u.peers[1].allowed_ips, std::vector<Prefix>{host(2)});
}

TEST(DiffDevice, WrongKeyOrPortIsFixedWithoutTouchingPeers) {
  WgKey priv = key_of(999);
  auto want = planned(2);
  auto have = observed_from(want, key_of(1000));
  have.listen_port = 1;
  auto u = diff_device(want, have, priv);
  EXPECT_TRUE(u.private_key.has_value());
  EXPECT_EQ(u.listen_port, 51820);
  EXPECT_TRUE(u.peers.empty());
}

TEST(SplitForApply, RemovalsThenSettingsThenAdditions) {
  WgDeviceUpdate u;
  u.name = "wg-dev";
  u.listen_port = 51820;
  WgPeerUpdate add;
  add.public_key = key_of(1);
  WgPeerUpdate rm;
  rm.public_key = key_of(2);
  rm.remove = true;
  u.peers = {add, rm};
  auto steps = split_for_apply(u);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_TRUE(steps[0].peers.size() == 1 && steps[0].peers[0].remove && !steps[0].listen_port);
  EXPECT_TRUE(steps[1].peers.empty() && steps[1].listen_port == 51820);
  EXPECT_TRUE(steps[2].peers.size() == 1 && !steps[2].peers[0].remove && !steps[2].listen_port);
  for (const auto& s : steps) EXPECT_EQ(s.name, "wg-dev");
  WgDeviceUpdate only_add;
  only_add.peers = {add};
  EXPECT_EQ(split_for_apply(only_add).size(), 1u);
  EXPECT_TRUE(split_for_apply(WgDeviceUpdate{}).empty());
}

TEST(DiffDevice, WithoutAPrivateKeyRemovalsStillGoAndTheKeyIsLeftAlone) {
  WgKey priv = key_of(900);
  PlannedInterface want = planned(1);
  WgDeviceState have = observed_from(planned(2), priv);
  auto u = diff_device(want, have, std::nullopt);
  EXPECT_FALSE(u.private_key);
  ASSERT_EQ(u.peers.size(), 1u);
  EXPECT_TRUE(u.peers[0].remove);
}

TEST(DiffPeers, APlanAppliedDiffsEmptyAndDiffsAreLinearMerges) {
  WgKey priv = key_of(900);
  for (int have_n : {0, 3, 7}) {
    for (int want_n : {0, 2, 7, 9}) {
      PlannedInterface want = planned(want_n);
      auto changes = diff_peers(want.peers, peer_entries(observed_from(planned(have_n), priv)));
      size_t removals = static_cast<size_t>(std::max(0, have_n - want_n));
      size_t additions = static_cast<size_t>(std::max(0, want_n - have_n));
      ASSERT_EQ(changes.size(), removals + additions) << have_n << " -> " << want_n;
      for (size_t i = 0; i < changes.size(); ++i) EXPECT_EQ(changes[i].remove, i < removals);
      EXPECT_TRUE(diff_peers(want.peers, peer_entries(want)).empty());
    }
  }
}

TEST(DiffPeers, APeerWithAnyOtherAllowedIpsIsRewritten) {
  PlannedInterface want = planned(3);
  WgDeviceState have = observed_from(want, key_of(900));
  have.peers[0].allowed_ips.clear();                           // none
  have.peers[1].allowed_ips.push_back(host(77));               // one too many
  auto changes = diff_peers(want.peers, peer_entries(have));
  ASSERT_EQ(changes.size(), 2u);
  for (const auto& c : changes) {
    EXPECT_FALSE(c.remove);
    EXPECT_TRUE(c.replace_allowed_ips);
    EXPECT_EQ(c.allowed_ips.size(), 1u);
  }
}

TEST(DiffPeers, UnsortedInputGivesTheSameAnswer) {
  PlannedInterface want = planned(5);
  auto sorted = diff_peers(want.peers, {});
  std::reverse(want.peers.begin(), want.peers.end());
  auto unsorted = diff_peers(want.peers, {});
  ASSERT_EQ(sorted.size(), unsorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) EXPECT_EQ(sorted[i].public_key, unsorted[i].public_key);
}

TEST(DiffRoutes, AddsAndRemovesOnlyTheDifference) {
  Route a{1001, RouteType::throw_route, *Prefix::parse("10.1.0.0/16"), ""};
  Route b{1001, RouteType::blackhole, *Prefix::parse("0.0.0.0/0"), ""};
  Route c{254, RouteType::unicast, *Prefix::parse("10.100.0.1/32"), "wg-dev"};
  Route c_moved{254, RouteType::unicast, *Prefix::parse("10.100.0.1/32"), "wg-ops"};
  auto d = diff_routes({a, b, c_moved}, {c, b, a});
  EXPECT_EQ(d.to_remove, std::vector<Route>{c});
  EXPECT_EQ(d.to_add, std::vector<Route>{c_moved});
  EXPECT_TRUE(diff_routes({a, b}, {b, a}).empty());
}

TEST(DiffRules, AddsAndRemovesOnlyTheDifference) {
  Rule r1{1000, "wg-dev", 1001, IpFamily::v4};
  Rule r2{1000, "wg-ops", 1002, IpFamily::v4};
  Rule stale{1000, "wg-old", 1003, IpFamily::v4};
  auto d = diff_rules({r1, r2}, {r1, stale});
  EXPECT_EQ(d.to_remove, std::vector<Rule>{stale});
  EXPECT_EQ(d.to_add, std::vector<Rule>{r2});
}

}  // namespace
}  // namespace wgate
