#include "core/compile.h"

#include <gtest/gtest.h>

#include "core/plan_text.h"

namespace wgate {
namespace {

const char* kConfig = R"(
[pool]
ipv4 = "10.100.0.0/24"
[networks]
vpc-a = ["10.1.0.0/16"]
vpc-b = ["10.2.0.0/16"]
[groups.dev]
networks = ["vpc-a"]
interface = "wg-dev"
port = 51820
table = 1001
[groups.ops]
networks = ["vpc-a", "vpc-b"]
interface = "wg-ops"
port = 51821
table = 1002
)";

WgKey key_of(uint8_t n) {
  std::array<uint8_t, 32> b{};
  b.fill(n);
  return WgKey(b);
}

class CompileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = parse_config(kConfig, "t");
    ASSERT_TRUE(c.ok()) << c.error().message;
    config_ = *c;
    add_user(1, "alice", "10.100.0.1", {"dev"});
    add_user(2, "bob", "10.100.0.2", {"ops"});
    add_user(3, "carol", "10.100.0.3", {"dev", "ops"});
  }
  void add_user(int64_t id, const std::string& name, const std::string& ip, std::vector<std::string> groups) {
    state_.users.push_back(User{id, name, name + "@example.com", false, 0});
    state_.current_leases.push_back(Lease{id, id, *IpAddress::parse(ip), 0, std::nullopt});
    for (auto& g : groups) state_.memberships.push_back(Membership{id, g});
  }
  Key& add_key(int64_t id, int64_t user, const std::string& group, uint8_t k, UnixTime created = 100) {
    Key key;
    key.id = id;
    key.user_id = user;
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
  add_key(11, 2, "ops", 0xBB);
  Plan plan = compile(config_, state_, 1000);
  EXPECT_EQ(render_plan(plan),
            "interface wg-dev group=dev port=51820 table=1001\n"
            "  reach 10.1.0.0/16\n"
            "  peer qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo= allowed=10.100.0.1/32 user=alice key=10\n"
            "interface wg-ops group=ops port=51821 table=1002\n"
            "  reach 10.1.0.0/16\n"
            "  reach 10.2.0.0/16\n"
            "  peer u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7s= allowed=10.100.0.2/32 user=bob key=11\n"
            "route 10.100.0.1/32 dev wg-dev table main\n"
            "route 10.100.0.2/32 dev wg-ops table main\n"
            "route throw 10.1.0.0/16 table 1001\n"
            "route blackhole default table 1001\n"
            "route throw 10.1.0.0/16 table 1002\n"
            "route throw 10.2.0.0/16 table 1002\n"
            "route blackhole default table 1002\n"
            "rule 1000: iif wg-dev lookup 1001\n"
            "rule 1000: iif wg-ops lookup 1002\n"
            "firewall interfaces=wg-dev,wg-ops protected=10.1.0.0/16,10.2.0.0/16 pools=10.100.0.0/24\n"
            "ipv4_forwarding=on\n");
}

TEST_F(CompileTest, EmptyStateStillBuildsInterfacesRoutesAndFirewall) {
  Plan plan = compile(config_, State{}, 0);
  ASSERT_EQ(plan.interfaces.size(), 2u);
  EXPECT_TRUE(plan.interfaces[0].peers.empty());
  EXPECT_EQ(plan.routes.size(), 5u);  // 3 throws + 2 blackholes
  EXPECT_EQ(plan.rules.size(), 2u);
}

TEST_F(CompileTest, LeavesOutRevokedExpiredDisabledAndNonMembers) {
  add_key(10, 1, "dev", 0x01).revoked_at = 500;          // revoked
  add_key(11, 1, "dev", 0x02).expires_at = 1000;         // expires exactly now
  add_key(12, 1, "dev", 0x03).expires_at = 1001;         // still valid
  add_key(13, 2, "dev", 0x04);                           // bob is not in dev
  add_key(14, 3, "ops", 0x05);                           // carol: valid
  state_.users[2].disabled = true;                       // ...but disabled
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

TEST_F(CompileTest, LeaseOutsideThePoolIsNotUsed) {
  add_key(10, 1, "dev", 0x01);
  state_.current_leases[0].address = *IpAddress::parse("10.99.0.1");  // pool changed since
  Plan plan = compile(config_, state_, 1000);
  EXPECT_TRUE(plan.interfaces[0].peers.empty());
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_NE(plan.warnings[0].find("outside the configured pool"), std::string::npos);
}

TEST_F(CompileTest, SeveralKeysOfOneUserShareTheUsersAddress) {
  add_key(10, 1, "dev", 0x01);
  add_key(11, 1, "dev", 0x02);
  Plan plan = compile(config_, state_, 1000);
  ASSERT_EQ(plan.interfaces[0].peers.size(), 2u);
  EXPECT_EQ(plan.interfaces[0].peers[0].allowed_ip, plan.interfaces[0].peers[1].allowed_ip);
}

TEST_F(CompileTest, UserOnTwoGroupsRoutesToNewestKeyAndWarns) {
  add_key(10, 3, "dev", 0x01, 100);
  add_key(11, 3, "ops", 0x02, 200);
  Plan plan = compile(config_, state_, 1000);
  EXPECT_TRUE(plan.interfaces[0].peers.empty());
  ASSERT_EQ(plan.interfaces[1].peers.size(), 1u);
  EXPECT_EQ(plan.interfaces[1].peers[0].key_id, 11);
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_NE(plan.warnings[0].find("key 10"), std::string::npos);
  Route expected{254, RouteType::unicast, *Prefix::parse("10.100.0.3/32"), "wg-ops"};
  EXPECT_NE(std::find(plan.routes.begin(), plan.routes.end(), expected), plan.routes.end());
}

TEST_F(CompileTest, IsDeterministicWhateverTheInputOrder) {
  add_key(10, 1, "dev", 0x09);
  add_key(11, 1, "dev", 0x03);
  add_key(12, 2, "ops", 0x05);
  Plan a = compile(config_, state_, 1000);
  std::reverse(state_.keys.begin(), state_.keys.end());
  std::reverse(state_.users.begin(), state_.users.end());
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
