// [[policy]]: parsing and the errors that name each problem's key.
#include <gtest/gtest.h>

#include "../test_support.h"
#include "core/config.h"

namespace wgate {
namespace {

const std::string& kBase = testing::kTwoGroupsConfig;

Result<Config> with(const std::string& policies) { return parse_config(kBase + policies, "t.toml"); }

void expect_error(const std::string& policies, const std::string& key, const std::string& reason) {
  auto r = with(policies);
  ASSERT_FALSE(r.ok()) << "expected an error for " << key;
  EXPECT_NE(r.error().message.find(key), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(reason), std::string::npos) << r.error().message;
}

TEST(ConfigPolicy, NoPoliciesIsValid) {
  auto r = with("");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->policies.empty());
}

TEST(ConfigPolicy, ParsesGroupAndPersonPoliciesInFileOrder) {
  auto r = with(R"(
[[policy]]
group = "ops"
to = "vpc-b"
allow = ["tcp/22", "tcp/8000-8100", "udp/53", "icmp"]

[[policy]]
person = "alice"
to = "10.1.2.0/24"
allow = ["tcp/5432"]
)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->policies.size(), 2u);
  const auto& g = r->policies[0];
  EXPECT_EQ(g.number, 1u);
  EXPECT_EQ(g.group, "ops");
  EXPECT_EQ(g.network, "vpc-b");
  ASSERT_EQ(g.destinations.size(), 2u);
  EXPECT_EQ(g.destinations[1].to_string(), "10.3.0.0/16");
  ASSERT_EQ(g.allow.size(), 4u);
  EXPECT_EQ(g.allow[1].protocol, GatewayService::Protocol::tcp);
  EXPECT_EQ(g.allow[1].first_port, 8000);
  EXPECT_EQ(g.allow[1].last_port, 8100);
  EXPECT_EQ(g.allow[3].protocol, GatewayService::Protocol::icmp);
  EXPECT_EQ(g.describe(), "policy #1 (group ops -> vpc-b: tcp/22, tcp/8000-8100, udp/53, icmp)");
  const auto& p = r->policies[1];
  EXPECT_EQ(p.person, "alice");
  EXPECT_EQ(p.network, "vpc-a");
  ASSERT_EQ(p.destinations.size(), 1u);
  EXPECT_EQ(p.destinations[0].to_string(), "10.1.2.0/24");
}

TEST(ConfigPolicy, ErrorsNameTheKey) {
  expect_error("[[policy]]\nto = \"vpc-a\"\nallow = [\"tcp/22\"]\n", "policy[0]", "exactly one of group");
  expect_error("[[policy]]\ngroup = \"dev\"\nperson = \"a\"\nto = \"vpc-a\"\nallow = [\"tcp/22\"]\n", "policy[0]",
               "exactly one of group");
  expect_error("[[policy]]\ngroup = \"qa\"\nto = \"vpc-a\"\nallow = [\"tcp/22\"]\n", "policy[0].group",
               "unknown group 'qa'");
  expect_error("[[policy]]\nperson = \"bad name!\"\nto = \"vpc-a\"\nallow = [\"tcp/22\"]\n", "policy[0].person", "");
  expect_error("[[policy]]\ngroup = \"dev\"\nallow = [\"tcp/22\"]\n", "policy[0].to", "required");
  expect_error("[[policy]]\ngroup = \"dev\"\nto = \"vpc-z\"\nallow = [\"tcp/22\"]\n", "policy[0].to",
               "neither a network name");
  expect_error("[[policy]]\ngroup = \"dev\"\nto = \"vpc-b\"\nallow = [\"tcp/22\"]\n", "policy[0].to",
               "group 'dev' does not route network 'vpc-b'");
  expect_error("[[policy]]\ngroup = \"dev\"\nto = \"10.2.0.0/24\"\nallow = [\"tcp/22\"]\n", "policy[0].to",
               "lies in no network of the group");
  expect_error("[[policy]]\nperson = \"alice\"\nto = \"192.168.0.0/24\"\nallow = [\"tcp/22\"]\n", "policy[0].to",
               "lies in no network of [networks]");
  expect_error("[[policy]]\ngroup = \"dev\"\nto = \"10.1.0.1/8\"\nallow = [\"tcp/22\"]\n", "policy[0].to", "");
  expect_error("[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\n", "policy[0].allow", "required");
  expect_error("[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = []\n", "policy[0].allow", "non-empty");
  expect_error("[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [\"tcp/0\"]\n", "policy[0].allow[0]",
               "is not a port");
  expect_error("[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [\"tcp/22\", \"sctp/1\"]\n", "policy[0].allow[1]",
               "is not a service");
  expect_error("[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [\"icmp/8\"]\n", "policy[0].allow[0]",
               "icmp takes no port");
  expect_error("[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [22]\n", "policy[0].allow[0]", "must be a string");
  expect_error("[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [\"tcp/22\"]\nports = 1\n", "policy[0].ports",
               "unknown key");
  auto not_array = parse_config("policy = \"x\"\n" + kBase, "t.toml");
  ASSERT_FALSE(not_array.ok());
  EXPECT_NE(not_array.error().message.find("policy: must be an array of tables: write each as [[policy]]"),
            std::string::npos)
      << not_array.error().message;
}

TEST(ConfigPolicy, EveryBadPolicyIsReportedAtOnce) {
  auto r = with("[[policy]]\ngroup = \"qa\"\nto = \"vpc-a\"\nallow = [\"tcp/22\"]\n"
                "[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [\"tcp/99999\"]\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("policy[0].group"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("policy[1].allow[0]"), std::string::npos) << r.error().message;
}


// The filter holds 16 separate TCP (and UDP) port ranges per prefix: a
// group whose own policies need more is refused when the config is read,
// not discovered by the daemon failing every pass.
std::string ports(const char* proto, int from, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) out += std::string(i ? ", " : "") + "\"" + proto + "/" + std::to_string(from + 2 * i) + "\"";
  return out;
}

TEST(ConfigPolicy, AGroupNeedingMorePortRangesThanTheFilterHoldsIsRefused) {
  expect_error("[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [" + ports("tcp", 1000, 17) + "]\n", "policy",
               "the policies of group 'dev' do not fit the filter: 10.1.0.0/16: 17 separate TCP port ranges");
  // Spread over two policies, and in UDP, the same.
  expect_error("[[policy]]\ngroup = \"ops\"\nto = \"vpc-b\"\nallow = [" + ports("udp", 1, 9) +
                   "]\n[[policy]]\ngroup = \"ops\"\nto = \"10.2.0.0/24\"\nallow = [" + ports("udp", 101, 8) + "]\n",
               "policy", "group 'ops' do not fit the filter: 10.2.0.0/24: 17 separate UDP port ranges");
  // 16 fit; ranges that merge count once.
  EXPECT_TRUE(with("[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [" + ports("tcp", 1000, 16) + "]\n").ok());
  EXPECT_TRUE(with("[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [" + ports("tcp", 1000, 16) +
                   ", \"tcp/1001\", \"tcp/1000-1031\"]\n")
                  .ok());
}

}  // namespace
}  // namespace wgate
