#include "core/compile.h"

#include <gtest/gtest.h>

#include "../test_support.h"

#include "core/plan_text.h"

namespace wgate {
namespace {


WgKey key_of(uint8_t n) {
  std::array<uint8_t, 32> b{};
  b.fill(n);
  return WgKey(b);
}

bool has_route(const Plan& plan, const Route& r) {
  return std::find(plan.routes.begin(), plan.routes.end(), r) != plan.routes.end();
}
Route main_route(const char* prefix, const char* dev) {
  return Route{254, RouteType::unicast, *Prefix::parse(prefix), dev};
}

class CompileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = testing::sample_config();
    add_user(1, "alice", "10.100.0.4/30", {"dev"});
    add_user(2, "bob", "10.100.0.8/30", {"ops"});
    add_user(3, "carol", "10.100.0.12/30", {"dev", "ops"});
  }
  void add_user(int64_t id, const std::string& name, const std::string& block, std::vector<std::string> groups) {
    state_.users.push_back(User{id, name, name + "@example.com", false, 0});
    state_.current_leases.push_back(Lease{id, id, *Prefix::parse(block), 0, std::nullopt});
    for (auto& g : groups) state_.memberships.push_back(Membership{id, g});
  }
  // Device ids are user * 10 + slot.
  int64_t device(int64_t user, uint32_t slot, const std::string& name) {
    int64_t id = user * 10 + slot;
    for (const auto& d : state_.devices) {
      if (d.id == id) return id;
    }
    state_.devices.push_back(Device{id, user, name, slot, 0, std::nullopt});
    return id;
  }
  Key& add_key(int64_t id, int64_t user, const std::string& group, uint8_t k, UnixTime created = 100,
               uint32_t slot = 0, const std::string& device_name = "laptop") {
    Key key;
    key.id = id;
    key.user_id = user;
    key.device_id = device(user, slot, device_name);
    key.group = group;
    key.public_key = key_of(k);
    key.created_at = created;
    state_.keys.push_back(key);
    return state_.keys.back();
  }
  Config config_;
  State state_;
};

TEST_F(CompileTest, GoldenPlan) {
  add_key(10, 1, "dev", 0xAA);
  add_key(11, 2, "ops", 0xBB, 100, 1, "phone");
  Plan plan = compile(config_, state_, 1000);
  EXPECT_EQ(render_plan(plan),
            "interface wg-dev group=dev port=51820 table=1001\n"
            "  reach 10.1.0.0/16\n"
            "  peer qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo= allowed=10.100.0.4/32 user=alice device=laptop key=10\n"
            "interface wg-ops group=ops port=51821 table=1002\n"
            "  reach 10.1.0.0/16\n"
            "  reach 10.2.0.0/16\n"
            "  peer u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7s= allowed=10.100.0.9/32 user=bob device=phone key=11\n"
            "route 10.100.0.4/32 dev wg-dev table main\n"
            "route 10.100.0.9/32 dev wg-ops table main\n"
            "route blackhole 10.100.0.0/24 table main\n"
            "route throw 10.1.0.0/16 table 1001\n"
            "route blackhole default table 1001\n"
            "route throw 10.1.0.0/16 table 1002\n"
            "route throw 10.2.0.0/16 table 1002\n"
            "route blackhole default table 1002\n"
            "rule iif wg-dev lookup 1001 priority 1000\n"
            "rule iif wg-ops lookup 1002 priority 1000\n"
            "firewall interfaces=wg-dev,wg-ops wg-dev->10.1.0.0/16 wg-ops->10.1.0.0/16,10.2.0.0/16 "
            "protected=10.1.0.0/16,10.2.0.0/16 pools=10.100.0.0/24 open_to_users=\n"
            "filter ruleset 1 (group dev): 10.1.0.0/16 all;\n"
            "filter ruleset 2 (group ops): 10.1.0.0/16 all; 10.2.0.0/16 all;\n"
            "filter device 10.100.0.4 ruleset 1\n"
            "filter device 10.100.0.9 ruleset 2\n"
            "ipv4_forwarding=on\n");
}

TEST_F(CompileTest, EmptyStateStillBuildsInterfacesRoutesAndFirewall) {
  Plan plan = compile(config_, State{}, 0);
  ASSERT_EQ(plan.interfaces.size(), 2u);
  EXPECT_TRUE(plan.interfaces[0].peers.empty());
  EXPECT_EQ(plan.routes.size(), 6u);  // 3 throws + 2 blackhole defaults + the pool's blackhole
  EXPECT_TRUE(has_route(plan, Route{254, RouteType::blackhole, *Prefix::parse("10.100.0.0/24"), ""}));
  EXPECT_EQ(plan.rules.size(), 2u);
}

TEST_F(CompileTest, LeavesOutRevokedExpiredDisabledAndNonMembers) {
  add_key(10, 1, "dev", 0x01, 100, 0).revoked_at = 500;   // revoked
  add_key(11, 1, "dev", 0x02, 100, 1).expires_at = 1000;  // expires exactly now
  add_key(12, 1, "dev", 0x03, 100, 2).expires_at = 1001;  // still valid
  add_key(13, 2, "dev", 0x04);                            // bob is not in dev
  add_key(14, 3, "ops", 0x05);                            // carol: valid
  state_.users[2].disabled = true;                        // ...but disabled
  Plan plan = compile(config_, state_, 1000);
  ASSERT_EQ(plan.interfaces[0].peers.size(), 1u);
  EXPECT_EQ(plan.interfaces[0].peers[0].key_id, 12);
  EXPECT_TRUE(plan.interfaces[1].peers.empty());
}

TEST_F(CompileTest, NoLeaseNoPeer) {
  add_key(10, 1, "dev", 0x01);
  state_.current_leases.erase(state_.current_leases.begin());
  Plan plan = compile(config_, state_, 1000);
  EXPECT_TRUE(plan.interfaces[0].peers.empty());
}

TEST_F(CompileTest, LeaseThatDoesNotFitThePoolIsNotUsed) {
  add_key(10, 1, "dev", 0x01);
  add_key(11, 2, "ops", 0x02);
  state_.current_leases[0].block = *Prefix::parse("10.99.0.4/30");   // the pool changed since
  state_.current_leases[1].block = *Prefix::parse("10.100.0.9/32");  // per_user changed since
  Plan plan = compile(config_, state_, 1000);
  EXPECT_TRUE(plan.interfaces[0].peers.empty());
  EXPECT_TRUE(plan.interfaces[1].peers.empty());
  ASSERT_EQ(plan.warnings.size(), 2u);
  EXPECT_NE(plan.warnings[0].find("does not fit the pool"), std::string::npos) << plan.warnings[0];
}

TEST_F(CompileTest, EachDeviceOfAPersonGetsItsOwnAddressInTheBlock) {
  add_key(10, 3, "dev", 0x01, 100, 0, "laptop");
  add_key(11, 3, "ops", 0x02, 100, 1, "phone");  // another device may use another of carol's groups
  add_key(12, 3, "dev", 0x03, 100, 3, "tablet");
  Plan plan = compile(config_, state_, 1000);
  ASSERT_EQ(plan.interfaces[0].peers.size(), 2u);
  ASSERT_EQ(plan.interfaces[1].peers.size(), 1u);
  std::set<Prefix> addresses;
  for (const auto& i : plan.interfaces) {
    for (const auto& p : i.peers) addresses.insert(p.allowed_ip);
  }
  EXPECT_EQ(addresses, (std::set<Prefix>{*Prefix::parse("10.100.0.12/32"), *Prefix::parse("10.100.0.13/32"),
                                         *Prefix::parse("10.100.0.15/32")}));
  EXPECT_TRUE(has_route(plan, main_route("10.100.0.12/32", "wg-dev")));
  EXPECT_TRUE(has_route(plan, main_route("10.100.0.13/32", "wg-ops")));
  EXPECT_TRUE(has_route(plan, main_route("10.100.0.15/32", "wg-dev")));
  EXPECT_TRUE(plan.warnings.empty());
}

TEST_F(CompileTest, NewestKeyOfADeviceHoldsItsAddressAndOthersAreLeftOutWithAWarning) {
  add_key(10, 3, "dev", 0x01, 100);
  add_key(11, 3, "ops", 0x02, 200);  // same device (slot 0), newer, on ops
  Plan plan = compile(config_, state_, 1000);
  EXPECT_TRUE(plan.interfaces[0].peers.empty());
  ASSERT_EQ(plan.interfaces[1].peers.size(), 1u);
  EXPECT_EQ(plan.interfaces[1].peers[0].key_id, 11);
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_NE(plan.warnings[0].find("key 10"), std::string::npos);
  EXPECT_TRUE(has_route(plan, main_route("10.100.0.12/32", "wg-ops")));
}

TEST_F(CompileTest, ARenewalKeepsTheDevicesAddress) {
  add_key(10, 1, "dev", 0x01, 100, 2);
  Plan before = compile(config_, state_, 1000);
  state_.keys[0].revoked_at = 1500;
  add_key(11, 1, "dev", 0x02, 1500, 2);
  Plan after = compile(config_, state_, 2000);
  ASSERT_EQ(before.interfaces[0].peers.size(), 1u);
  ASSERT_EQ(after.interfaces[0].peers.size(), 1u);
  EXPECT_EQ(after.interfaces[0].peers[0].key_id, 11);
  EXPECT_EQ(before.interfaces[0].peers[0].allowed_ip, after.interfaces[0].peers[0].allowed_ip);
}

TEST_F(CompileTest, DeviceSlotOutsideAShrunkBlockIsLeftOutWithAWarning) {
  add_key(10, 1, "dev", 0x01, 100, 3);
  config_.per_user = 2;
  state_.current_leases[0].block = *Prefix::parse("10.100.0.4/31");
  Plan plan = compile(config_, state_, 1000);
  EXPECT_TRUE(plan.interfaces[0].peers.empty());
  // (bob's and carol's /30s no longer fit either: two more warnings.)
  ASSERT_EQ(plan.warnings.size(), 3u);
  EXPECT_EQ(std::count_if(plan.warnings.begin(), plan.warnings.end(),
                          [](const std::string& w) { return w.find("slot 3") != std::string::npos; }),
            1);
}

TEST_F(CompileTest, PlannedAddressesAreUniquePerInterface) {
  // Whatever the keys, no two peers of one interface share an allowed IP
  // (WireGuard would move it between them on every pass).
  for (int i = 0; i < 12; ++i) {
    add_key(100 + i, 1 + i % 3, i % 2 ? "dev" : "ops", static_cast<uint8_t>(i + 1), 100 + i, i % 4);
  }
  Plan plan = compile(config_, state_, 1000);
  for (const auto& iface : plan.interfaces) {
    std::set<Prefix> seen;
    for (const auto& p : iface.peers) EXPECT_TRUE(seen.insert(p.allowed_ip).second) << p.allowed_ip.to_string();
  }
}

TEST_F(CompileTest, NextChangeIsTheNextExpiryOfAnUnrevokedKey) {
  EXPECT_FALSE(next_change_after(state_, 1000));
  add_key(10, 1, "dev", 0x01).expires_at = 5000;
  add_key(11, 1, "dev", 0x02, 100, 1).expires_at = 3000;
  add_key(12, 1, "dev", 0x03, 100, 2).expires_at = 2000;
  state_.keys.back().revoked_at = 1500;  // revoked: its expiry changes nothing
  add_key(13, 1, "dev", 0x04, 100, 3).expires_at = 900;  // already past
  EXPECT_EQ(next_change_after(state_, 1000), 3000);
  EXPECT_EQ(next_change_after(state_, 3000), 5000);
  EXPECT_FALSE(next_change_after(state_, 5000));
}

TEST_F(CompileTest, IsDeterministicWhateverTheInputOrder) {
  add_key(10, 1, "dev", 0x09);
  add_key(11, 1, "dev", 0x03, 100, 1);
  add_key(12, 2, "ops", 0x05);
  Plan a = compile(config_, state_, 1000);
  std::reverse(state_.keys.begin(), state_.keys.end());
  std::reverse(state_.users.begin(), state_.users.end());
  std::reverse(state_.devices.begin(), state_.devices.end());
  Plan b = compile(config_, state_, 1000);
  EXPECT_EQ(a, b);
}

TEST_F(CompileTest, FirewallOpensTheConfiguredGatewayServicesSortedAndUnique) {
  EXPECT_TRUE(compile(config_, state_, 0).firewall.open_to_users.empty());
  using P = GatewayService::Protocol;
  config_.server.allow_to_gateway = {{P::udp, 53, 53}, {P::icmp, 0, 0}, {P::tcp, 22, 22}, {P::udp, 53, 53}};
  EXPECT_EQ(compile(config_, state_, 0).firewall.open_to_users,
            (std::vector<GatewayService>{{P::tcp, 22, 22}, {P::udp, 53, 53}, {P::icmp, 0, 0}}));
}

}  // namespace
}  // namespace wgate
