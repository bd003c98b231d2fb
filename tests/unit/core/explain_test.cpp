#include "core/explain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../test_support.h"
#include "core/compile.h"

#include <fstream>
#include <sstream>

namespace wgate {
namespace {

using ::testing::HasSubstr;
using testing::ip;

WgKey key_of(uint8_t n) {
  std::array<uint8_t, 32> b{};
  b.fill(n);
  return WgKey(b);
}

// The sample config: dev (wg-dev, table 1001) reaches vpc-a 10.1.0.0/16;
// ops (wg-ops, table 1002) reaches vpc-a and vpc-b 10.2.0.0/16.
class ExplainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = testing::sample_config();
    add_user(1, "alice", "10.100.0.4/30", {"dev"});
    add_user(2, "bob", "10.100.0.8/30", {"ops"});
  }
  void add_user(int64_t id, const std::string& name, const std::string& block, std::vector<std::string> groups) {
    state_.users.push_back(User{id, name, name + "@example.com", false, 0});
    state_.current_leases.push_back(Lease{id, id, *Prefix::parse(block), 0, std::nullopt});
    for (auto& g : groups) state_.memberships.push_back(Membership{id, g});
  }
  Key& add_key(int64_t id, int64_t user, const std::string& group, uint32_t slot, const std::string& device,
               UnixTime created = 100, UnixTime expires = 0) {
    const int64_t device_id = user * 10 + slot;
    bool known = false;
    for (const auto& d : state_.devices) known = known || d.id == device_id;
    if (!known) state_.devices.push_back(Device{device_id, user, device, slot, 0, std::nullopt});
    Key key;
    key.id = id;
    key.user_id = user;
    key.device_id = device_id;
    key.group = group;
    key.public_key = key_of(static_cast<uint8_t>(id));
    key.created_at = created;
    key.expires_at = expires;
    state_.keys.push_back(key);
    return state_.keys.back();
  }
  Result<Explanation> ask(const std::string& person, const char* dst, std::optional<std::string> proto = std::nullopt,
                          std::optional<uint16_t> port = std::nullopt, UnixTime now = 1000) {
    ExplainQuery q;
    q.person = person;
    q.destination = ip(dst);
    q.protocol = std::move(proto);
    q.port = port;
    return explain(config_, state_, compile(config_, state_, now), q, now);
  }
  Result<Explanation> ask_device(const char* device, const char* dst, UnixTime now = 1000) {
    ExplainQuery q;
    q.device = ip(device);
    q.destination = ip(dst);
    return explain(config_, state_, compile(config_, state_, now), q, now);
  }
  Config config_;
  State state_;
};

TEST_F(ExplainTest, AllowedThroughTheGroupsNetworkNamesEveryStep) {
  add_key(10, 1, "dev", 0, "laptop", 100, 5000);
  auto e = ask("alice", "10.1.2.3", "tcp", 5432);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_TRUE(e->allowed);
  ASSERT_EQ(e->devices.size(), 1u);
  const auto& d = e->devices[0];
  EXPECT_EQ(d.device, "laptop");
  EXPECT_EQ(d.address, ip("10.100.0.4"));
  EXPECT_EQ(d.interface, "wg-dev");
  EXPECT_EQ(d.key_id, 10);
  std::vector<std::string> names;
  for (const auto& s : d.steps) {
    names.push_back(s.name);
    EXPECT_TRUE(s.passed) << s.name << ": " << s.detail;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"person", "key", "table", "firewall", "l4-rules"}));
  EXPECT_THAT(d.steps[1].detail, HasSubstr("expires"));
  EXPECT_THAT(d.steps[2].detail, HasSubstr("throw route for 10.1.0.0/16 (network vpc-a)"));
  EXPECT_THAT(e->summary, HasSubstr("alice can reach 10.1.2.3 tcp/5432 from laptop"));
}

TEST_F(ExplainTest, AnotherGroupsNetworkIsBlackholedByTheGroupTable) {
  add_key(10, 1, "dev", 0, "laptop");
  auto e = ask("alice", "10.2.0.10");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_FALSE(e->allowed);
  EXPECT_EQ(e->devices[0].deciding, "table");
  EXPECT_THAT(e->devices[0].steps.back().detail, HasSubstr("blackhole default"));
  EXPECT_THAT(e->devices[0].steps.back().detail, HasSubstr("vpc-a 10.1.0.0/16"));
  // bob's group ops reaches vpc-b.
  add_key(11, 2, "ops", 0, "desk");
  auto b = ask("bob", "10.2.0.10");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->allowed);
}

TEST_F(ExplainTest, AnExpiredOrRevokedKeyDecidesAtTheKeyStep) {
  add_key(10, 1, "dev", 0, "laptop", 100, 900);
  auto e = ask("alice", "10.1.2.3");
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->allowed);
  EXPECT_EQ(e->devices[0].deciding, "key");
  EXPECT_THAT(e->devices[0].steps.back().detail, HasSubstr("key 10 expired at"));
  // Before expiry the same key works.
  auto before = ask("alice", "10.1.2.3", std::nullopt, std::nullopt, 800);
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->allowed);

  add_key(11, 2, "ops", 0, "desk").revoked_at = 500;
  auto r = ask("bob", "10.1.2.3");
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->devices[0].steps.back().detail, HasSubstr("key 11 was revoked"));
}

TEST_F(ExplainTest, AKeyForAGroupThePersonLeftSaysSo) {
  add_key(10, 1, "ops", 0, "laptop");  // alice is only in dev
  auto e = ask("alice", "10.1.2.3");
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->allowed);
  EXPECT_EQ(e->devices[0].deciding, "key");
  EXPECT_THAT(e->devices[0].steps.back().detail, HasSubstr("not a member"));
}

TEST_F(ExplainTest, ADisabledPersonStopsAtTheFirstStep) {
  add_key(10, 1, "dev", 0, "laptop");
  state_.users[0].disabled = true;
  auto e = ask("alice", "10.1.2.3");
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->allowed);
  EXPECT_EQ(e->devices[0].deciding, "person");
  EXPECT_EQ(e->devices[0].steps.size(), 1u);
}

TEST_F(ExplainTest, EachDeviceIsAnsweredAndADeviceAddressNamesOne) {
  add_key(10, 1, "dev", 0, "laptop");
  add_key(12, 1, "dev", 1, "phone", 100, 900);  // expired
  auto e = ask("alice", "10.1.2.3");
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->devices.size(), 2u);
  EXPECT_TRUE(e->allowed);  // from the laptop
  EXPECT_TRUE(e->devices[0].allowed);
  EXPECT_FALSE(e->devices[1].allowed);
  EXPECT_THAT(e->summary, HasSubstr("from laptop"));

  auto phone = ask_device("10.100.0.5", "10.1.2.3");
  ASSERT_TRUE(phone.ok()) << phone.error().message;
  EXPECT_EQ(phone->person, "alice");
  ASSERT_EQ(phone->devices.size(), 1u);
  EXPECT_EQ(phone->devices[0].device, "phone");
  EXPECT_FALSE(phone->allowed);

  auto laptop = ask_device("10.100.0.4", "10.1.2.3");
  ASSERT_TRUE(laptop.ok());
  EXPECT_EQ(laptop->devices[0].device, "laptop");
  EXPECT_TRUE(laptop->allowed);
}

TEST_F(ExplainTest, BadQuestionsAreErrorsThatSayWhy) {
  EXPECT_THAT(ask("nobody", "10.1.2.3").error().message, HasSubstr("no person named 'nobody'"));
  EXPECT_THAT(ask_device("10.100.0.200", "10.1.2.3").error().message, HasSubstr("is no device's address"));
  EXPECT_THAT(ask("alice", "10.1.2.3", "icmp", 7).error().message, HasSubstr("a port needs tcp or udp"));
  ExplainQuery both;
  both.person = "alice";
  both.device = ip("10.100.0.4");
  both.destination = ip("10.1.2.3");
  EXPECT_THAT(explain(config_, state_, compile(config_, state_, 0), both, 0).error().message,
              HasSubstr("one of the two"));
  ExplainQuery v6;
  v6.person = "alice";
  v6.destination = ip("fd00::1");
  EXPECT_THAT(explain(config_, state_, compile(config_, state_, 0), v6, 0).error().message, HasSubstr("IPv4"));
}

TEST_F(ExplainTest, ProtocolAndPortParse) {
  auto tcp = parse_protocol_port("tcp/5432");
  ASSERT_TRUE(tcp.ok());
  EXPECT_EQ(tcp->first, "tcp");
  EXPECT_EQ(tcp->second, 5432);
  auto icmp = parse_protocol_port("icmp");
  ASSERT_TRUE(icmp.ok());
  EXPECT_FALSE(icmp->second.has_value());
  for (const char* bad : {"sctp/1", "tcp/", "tcp/65536", "tcp/-1", "tcp/1x", "icmp/8", ""}) {
    EXPECT_FALSE(parse_protocol_port(bad).ok()) << bad;
  }
}

TEST_F(ExplainTest, APersonWithoutDevicesIsAnsweredNotAnError) {
  auto e = ask("bob", "10.1.2.3");
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->allowed);
  EXPECT_TRUE(e->devices.empty());
  EXPECT_THAT(e->summary, HasSubstr("bob has no device"));
}

// The sample config with [[policy]] tables appended.
Config sample_with(const std::string& policies) {
  std::ifstream in(std::string(WGATE_TEST_DATA) + "/sample.toml");
  std::stringstream text;
  text << in.rdbuf() << "\n" << policies;
  auto c = parse_config(text.str(), "sample+policies.toml");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : Config{};
}

TEST_F(ExplainTest, AGroupWithoutPoliciesPassesEveryPortAndSaysSo) {
  add_key(10, 1, "dev", 0, "laptop");
  auto e = ask("alice", "10.1.2.3", "udp", 9999);
  ASSERT_TRUE(e.ok()) << e.error().message;
  ASSERT_TRUE(e->allowed);
  const auto& d = e->devices[0];
  EXPECT_EQ(d.deciding, "l4-rules");
  EXPECT_THAT(d.steps.back().detail, HasSubstr("group dev has no policies: all protocols and ports to 10.1.0.0/16"));
  EXPECT_EQ(d.rule, "group dev has no policies");
}

TEST_F(ExplainTest, PortRulesNameThePolicyThatAllowsOrSayNoneDoes) {
  config_ = sample_with("[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [\"tcp/22\", \"icmp\"]\n");
  add_key(10, 1, "dev", 0, "laptop");
  auto ok = ask("alice", "10.1.2.3", "tcp", 22);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_TRUE(ok->allowed);
  EXPECT_EQ(ok->devices[0].rule, "policy #1 (group dev -> vpc-a: tcp/22, icmp)");
  EXPECT_THAT(ok->devices[0].steps.back().detail, HasSubstr("allows tcp/22 to 10.1.0.0/16"));

  auto no = ask("alice", "10.1.2.3", "tcp", 5432);
  ASSERT_TRUE(no.ok());
  EXPECT_FALSE(no->allowed);
  EXPECT_EQ(no->devices[0].deciding, "l4-rules");
  EXPECT_THAT(no->devices[0].steps.back().detail, HasSubstr("no rule allows tcp/5432 to 10.1.2.3"));
  EXPECT_THAT(no->devices[0].steps.back().detail, HasSubstr("only tcp/22, icmp is allowed"));
  // The filter passes traffic to the gateway itself (the input guard's
  // business); explain cannot tell the gateway's addresses, so it says so.
  EXPECT_THAT(no->devices[0].steps.back().detail,
              HasSubstr("If 10.1.2.3 is an address of the gateway itself, the filter leaves it to the input guard, "
                        "which opens to users only: none (server.allow_to_gateway)"));
  EXPECT_THAT(no->summary, HasSubstr("no rule allows tcp/5432 to 10.1.2.3"));
  EXPECT_TRUE(no->devices[0].rule.empty());

  auto icmp = ask("alice", "10.1.2.3", "icmp");
  ASSERT_TRUE(icmp.ok());
  EXPECT_TRUE(icmp->allowed);
  auto udp = ask("alice", "10.1.2.3", "udp", 22);
  ASSERT_TRUE(udp.ok());
  EXPECT_FALSE(udp->allowed);
}

TEST_F(ExplainTest, APersonRuleOutsideTheGroupsNetworksIsNotGrantedAndSaysWhy) {
  config_ = sample_with(
      "[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [\"tcp/22\"]\n"
      "[[policy]]\nperson = \"alice\"\nto = \"10.1.7.0/24\"\nallow = [\"tcp/5432\"]\n"
      "[[policy]]\nperson = \"alice\"\nto = \"vpc-b\"\nallow = [\"tcp/80\"]\n");
  add_key(10, 1, "dev", 0, "laptop");
  auto own = ask("alice", "10.1.7.9", "tcp", 5432);
  ASSERT_TRUE(own.ok());
  EXPECT_TRUE(own->allowed);
  EXPECT_EQ(own->devices[0].rule, "policy #2 (person alice -> 10.1.7.0/24: tcp/5432)");
  auto elsewhere = ask("alice", "10.1.8.9", "tcp", 5432);
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_FALSE(elsewhere->allowed);
  // vpc-b: dev's table already stops it, and the answer names the rule.
  auto b = ask("alice", "10.2.0.5", "tcp", 80);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->allowed);
  EXPECT_EQ(b->devices[0].deciding, "table");
  bool warned = false;
  for (const auto& w : compile(config_, state_, 1000).warnings) warned = warned || w.find("policy #3") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST_F(ExplainTest, WithoutTheFilterPortRulesAreNotEnforcedAndTheAnswerSaysSo) {
  config_ = sample_with("[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [\"tcp/22\"]\n");
  add_key(10, 1, "dev", 0, "laptop");
  ExplainQuery q;
  q.person = "alice";
  q.destination = ip("10.1.2.3");
  q.protocol = "tcp";
  q.port = 5432;
  q.filter_built = false;
  auto e = explain(config_, state_, compile(config_, state_, 1000), q, 1000);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->allowed);
  EXPECT_THAT(e->devices[0].steps.back().detail, HasSubstr("built without the eBPF filter"));
}

}  // namespace
}  // namespace wgate
