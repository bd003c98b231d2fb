// [[policy]] -> the eBPF filter's plan (compile) and the rules behind it
// (core/policy.h).
#include "core/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../test_support.h"
#include "core/compile.h"
#include "core/explain.h"

namespace wgate {
namespace {

using ::testing::HasSubstr;
using testing::ip;
using testing::pfx;

const std::string& kBase = testing::kTwoGroupsConfig;

Config config_with(const std::string& policies) {
  auto c = parse_config(kBase + policies, "t.toml");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : Config{};
}

WgKey key_of(uint8_t n) {
  std::array<uint8_t, 32> b{};
  b.fill(n);
  return WgKey(b);
}

// alice (dev) 10.100.0.4, bob (dev) 10.100.0.8, carol (ops) 10.100.0.12:
// one device each, slot 0.
State people() {
  State s;
  const char* names[] = {"alice", "bob", "carol"};
  const char* groups[] = {"dev", "dev", "ops"};
  for (int64_t i = 1; i <= 3; ++i) {
    s.users.push_back(User{i, names[i - 1], "", false, 0});
    s.current_leases.push_back(Lease{i, i, Prefix(IpAddress::v4(0x0a640000u + 4u * static_cast<uint32_t>(i)), 30), 0, std::nullopt});
    s.memberships.push_back(Membership{i, groups[i - 1]});
    s.devices.push_back(Device{i * 10, i, "laptop", 0, 0, std::nullopt});
    Key k;
    k.id = i;
    k.user_id = i;
    k.device_id = i * 10;
    k.group = groups[i - 1];
    k.public_key = key_of(static_cast<uint8_t>(i));
    k.created_at = 1;
    s.keys.push_back(k);
  }
  return s;
}

bpf::FilterRule rule(const char* dst, uint8_t proto, uint16_t lo = 0, uint16_t hi = 65535) {
  return bpf::FilterRule{pfx(dst), proto, lo, hi};
}

TEST(Policy, GroupsWithoutPoliciesKeepEveryPortToTheirNetworks) {
  Plan plan = compile(config_with(""), people(), 100);
  // dev's members share one ruleset, ops's another.
  ASSERT_EQ(plan.filter.devices.size(), 3u);
  const uint32_t dev = plan.filter.devices.at(ip("10.100.0.4"));
  EXPECT_EQ(plan.filter.devices.at(ip("10.100.0.8")), dev);
  const uint32_t ops = plan.filter.devices.at(ip("10.100.0.12"));
  EXPECT_NE(dev, ops);
  EXPECT_EQ(plan.filter.rulesets.at(dev), (std::vector<bpf::FilterRule>{rule("10.1.0.0/16", 0)}));
  EXPECT_EQ(plan.filter.rulesets.at(ops), (std::vector<bpf::FilterRule>{rule("10.1.0.0/16", 0), rule("10.2.0.0/16", 0),
                                                                        rule("10.3.0.0/16", 0)}));
  EXPECT_EQ(plan.filter_ruleset_names.at(dev), "group dev");
}

TEST(Policy, AGroupWithPoliciesGetsOnlyThose) {
  Plan plan = compile(config_with(R"(
[[policy]]
group = "ops"
to = "vpc-b"
allow = ["tcp/22", "udp/53", "icmp"]
[[policy]]
group = "ops"
to = "10.1.5.0/24"
allow = ["tcp/443"]
)"),
                      people(), 100);
  const uint32_t ops = plan.filter.devices.at(ip("10.100.0.12"));
  EXPECT_EQ(plan.filter.rulesets.at(ops),
            (std::vector<bpf::FilterRule>{rule("10.1.5.0/24", 6, 443, 443), rule("10.2.0.0/16", 1),
                                          rule("10.2.0.0/16", 6, 22, 22), rule("10.2.0.0/16", 17, 53, 53),
                                          rule("10.3.0.0/16", 1), rule("10.3.0.0/16", 6, 22, 22),
                                          rule("10.3.0.0/16", 17, 53, 53)}));
  // dev has no policies: unchanged.
  EXPECT_EQ(plan.filter.rulesets.at(plan.filter.devices.at(ip("10.100.0.4"))),
            (std::vector<bpf::FilterRule>{rule("10.1.0.0/16", 0)}));
}

TEST(Policy, APersonsPoliciesAddWithinTheGroupsNetworksOnly) {
  const Config config = config_with(R"(
[[policy]]
group = "dev"
to = "vpc-a"
allow = ["tcp/22"]
[[policy]]
person = "alice"
to = "10.1.2.0/24"
allow = ["tcp/5432"]
[[policy]]
person = "alice"
to = "vpc-b"
allow = ["tcp/80"]
)");
  Plan plan = compile(config, people(), 100);
  const uint32_t alice = plan.filter.devices.at(ip("10.100.0.4"));
  const uint32_t bob = plan.filter.devices.at(ip("10.100.0.8"));
  EXPECT_NE(alice, bob);  // alice has a ruleset of her own
  EXPECT_EQ(plan.filter.rulesets.at(bob), (std::vector<bpf::FilterRule>{rule("10.1.0.0/16", 6, 22, 22)}));
  // vpc-b is not routed by dev: not granted, and said so.
  EXPECT_EQ(plan.filter.rulesets.at(alice),
            (std::vector<bpf::FilterRule>{rule("10.1.0.0/16", 6, 22, 22), rule("10.1.2.0/24", 6, 5432, 5432)}));
  EXPECT_EQ(plan.filter_ruleset_names.at(alice), "group dev, person alice");
  bool warned = false;
  for (const auto& w : plan.warnings) {
    if (w.find("policy #3 (person alice -> vpc-b: tcp/80)") != std::string::npos &&
        w.find("group dev does not route vpc-b") != std::string::npos) {
      warned = true;
    }
  }
  EXPECT_TRUE(warned) << "no warning for the policy that is not granted";
}

TEST(Policy, APersonPolicyOnAnotherGroupIsGrantedThere) {
  State s = people();
  s.memberships.push_back(Membership{1, "ops"});
  s.keys[0].group = "ops";  // alice's laptop now uses ops, which routes vpc-b
  const Config config = config_with("[[policy]]\nperson = \"alice\"\nto = \"vpc-b\"\nallow = [\"tcp/80\"]\n");
  Plan plan = compile(config, s, 100);
  const auto& rules = plan.filter.rulesets.at(plan.filter.devices.at(ip("10.100.0.4")));
  // ops has no policies (every port to its networks) plus alice's rule.
  EXPECT_NE(std::find(rules.begin(), rules.end(), rule("10.2.0.0/16", 6, 80, 80)), rules.end());
  EXPECT_NE(std::find(rules.begin(), rules.end(), rule("10.2.0.0/16", 0)), rules.end());
  for (const auto& w : plan.warnings) EXPECT_THAT(w, ::testing::Not(HasSubstr("not granted")));
}

TEST(Policy, MatchingRuleNamesThePolicy) {
  const Config config = config_with(R"(
[[policy]]
group = "ops"
to = "vpc-b"
allow = ["tcp/8000-8100", "icmp"]
)");
  DeviceRules rules = rules_for(config, "ops", "carol");
  EXPECT_TRUE(rules.group_has_policies);
  const SourcedRule* r = matching_rule(rules.rules, ip("10.3.9.9"), 6, 8050);
  ASSERT_NE(r, nullptr);
  ASSERT_NE(r->policy, nullptr);
  EXPECT_EQ(r->policy->number, 1u);
  EXPECT_EQ(filter_rule_service(r->rule), "tcp/8000-8100");
  EXPECT_EQ(matching_rule(rules.rules, ip("10.3.9.9"), 6, 8101), nullptr);
  EXPECT_EQ(matching_rule(rules.rules, ip("10.3.9.9"), 17, 8050), nullptr);
  EXPECT_NE(matching_rule(rules.rules, ip("10.3.9.9"), 1, std::nullopt), nullptr);
  EXPECT_EQ(matching_rule(rules.rules, ip("10.1.0.1"), 1, std::nullopt), nullptr);  // vpc-a: no policy there
}


// alice's policies on top of dev's need 18 separate TCP ranges to vpc-a; the
// filter holds 16. She gets dev's rules only (never a ruleset that fails to
// load for everyone), the plan warns, and explain says the same.
TEST(Policy, APersonWhosePoliciesDoNotFitTheFilterGetsTheGroupsRules) {
  std::string group_ports, person_ports;
  for (int i = 0; i < 10; ++i) group_ports += std::string(i ? ", " : "") + "\"tcp/" + std::to_string(1000 + 2 * i) + "\"";
  for (int i = 0; i < 8; ++i) person_ports += std::string(i ? ", " : "") + "\"tcp/" + std::to_string(2000 + 2 * i) + "\"";
  const Config config = config_with("[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [" + group_ports +
                                    "]\n[[policy]]\nperson = \"alice\"\nto = \"vpc-a\"\nallow = [" + person_ports + "]\n");
  const State state = people();
  Plan plan = compile(config, state, 100);
  const auto& alice = plan.filter.rulesets.at(plan.filter.devices.at(ip("10.100.0.4")));
  const auto& bob = plan.filter.rulesets.at(plan.filter.devices.at(ip("10.100.0.8")));
  EXPECT_EQ(alice, bob);
  EXPECT_EQ(alice.size(), 10u);
  EXPECT_TRUE(bpf::compile_filter_plan(plan.filter).ok());
  bool warned = false;
  for (const auto& w : plan.warnings)
    warned = warned || (w.find("person alice") != std::string::npos && w.find("do not fit the filter") != std::string::npos &&
                        w.find("18 separate TCP port ranges") != std::string::npos);
  EXPECT_TRUE(warned) << "no warning that alice's policies were dropped";

  ExplainQuery q;
  q.person = "alice";
  q.destination = ip("10.1.2.3");
  q.protocol = "tcp";
  q.port = 2000;
  auto e = explain(config, state, plan, q, 100);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_FALSE(e->allowed);
  ASSERT_FALSE(e->devices.empty());
  EXPECT_THAT(e->devices[0].steps.back().detail, HasSubstr("alice's own policies are not granted"));
  q.port = 1000;
  e = explain(config, state, plan, q, 100);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_TRUE(e->allowed);
}

// With a few ports less it fits, and she gets her own.
TEST(Policy, APersonWhosePoliciesFitGetsThemOnTopOfTheGroups) {
  const Config config = config_with(
      "[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [\"tcp/22\"]\n[[policy]]\nperson = \"alice\"\nto = "
      "\"vpc-a\"\nallow = [\"tcp/2000\", \"tcp/2002\"]\n");
  Plan plan = compile(config, people(), 100);
  EXPECT_EQ(plan.filter.rulesets.at(plan.filter.devices.at(ip("10.100.0.4"))).size(), 3u);
  for (const auto& w : plan.warnings) EXPECT_THAT(w, ::testing::Not(HasSubstr("do not fit")));
}

}  // namespace
}  // namespace wgate
