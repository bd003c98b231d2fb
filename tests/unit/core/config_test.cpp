#include "core/config.h"

#include <gtest/gtest.h>

namespace wgate {
namespace {

const char* kValid = R"(
[server]
endpoint = "vpn.example.com"
store = "/tmp/x.db"
backend = "userspace"

[pool]
ipv4 = "10.100.0.0/24"

[networks]
vpc-a = ["10.1.0.0/16"]
vpc-b = ["10.2.0.0/16", "10.3.0.0/16"]

[groups.dev]
networks = ["vpc-a"]
interface = "wg-dev"
port = 51820
table = 1001
key_ttl = "12h"

[groups.ops]
networks = ["vpc-a", "vpc-b"]
interface = "wg-ops"
port = 51821
table = 1002
)";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

// Expects parse failure whose message names `key` and contains `reason`.
void expect_error(const std::string& text, const std::string& key, const std::string& reason) {
  auto r = parse_config(text, "test.toml");
  ASSERT_FALSE(r.ok()) << "expected an error for " << key;
  EXPECT_NE(r.error().message.find(key), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(reason), std::string::npos) << r.error().message;
}

TEST(Config, ParsesValidConfig) {
  auto r = parse_config(kValid, "test.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Config& c = *r;
  EXPECT_EQ(c.server.endpoint, "vpn.example.com");
  EXPECT_EQ(c.server.backend, BackendChoice::userspace);
  EXPECT_EQ(c.user_pool().to_string(), "10.100.0.0/24");
  EXPECT_EQ(c.per_user, 4u);  // the default: a /30 per person
  EXPECT_FALSE(c.pool_v6);
  ASSERT_EQ(c.networks.size(), 2u);
  EXPECT_EQ(c.networks[1].prefixes.size(), 2u);
  ASSERT_EQ(c.groups.size(), 2u);
  const GroupConfig* dev = c.find_group("dev");
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->interface, "wg-dev");
  EXPECT_EQ(dev->port, 51820);
  EXPECT_EQ(dev->table, 1001u);
  EXPECT_EQ(dev->key_ttl_seconds, 12 * 3600);
  EXPECT_EQ(c.find_group("ops")->key_ttl_seconds, 0);
}

TEST(Config, TomlSyntaxErrorNamesLine) {
  auto r = parse_config("[pool\nipv4=1", "broken.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("broken.toml:1:"), std::string::npos) << r.error().message;
}

TEST(Config, PoolOverlappingNetwork) {
  expect_error(replace(kValid, "10.100.0.0/24", "10.1.128.0/24"), "pool.ipv4", "overlaps network 'vpc-a'");
  expect_error(replace(kValid, "10.100.0.0/24", "10.0.0.0/8"), "pool.ipv4", "overlaps network");
}

TEST(Config, UnknownNetworkInGroup) {
  expect_error(replace(kValid, "networks = [\"vpc-a\"]", "networks = [\"vpc-z\"]"), "groups.dev.networks",
               "unknown network 'vpc-z'");
}

TEST(Config, DuplicatePortTableInterface) {
  expect_error(replace(kValid, "port = 51821", "port = 51820"), "groups.ops.port", "already used by group 'dev'");
  expect_error(replace(kValid, "table = 1002", "table = 1001"), "groups.ops.table", "already used by group 'dev'");
  expect_error(replace(kValid, "interface = \"wg-ops\"", "interface = \"wg-dev\""), "groups.ops.interface",
               "already used by group 'dev'");
}

TEST(Config, BadCidr) {
  expect_error(replace(kValid, "10.2.0.0/16", "10.2.0.0/33"), "networks.vpc-b[0]", "prefix length");
  expect_error(replace(kValid, "10.3.0.0/16", "10.3.0.1/16"), "networks.vpc-b[1]", "host bits");
  expect_error(replace(kValid, "10.100.0.0/24", "10.100.0/24"), "pool.ipv4", "not a CIDR");
}

TEST(Config, ReservedTables) {
  for (const char* t : {"253", "254", "255"}) {
    expect_error(replace(kValid, "table = 1001", std::string("table = ") + t), "groups.dev.table", "reserved table");
  }
  expect_error(replace(kValid, "table = 1001", "table = 0"), "groups.dev.table", "not a table id");
}

TEST(Config, BadPortInterfaceBackendTtl) {
  expect_error(replace(kValid, "port = 51820", "port = 70000"), "groups.dev.port", "not a UDP port");
  expect_error(replace(kValid, "interface = \"wg-dev\"", "interface = \"this-name-is-too-long\""),
               "groups.dev.interface", "not a valid interface name");
  expect_error(replace(kValid, "backend = \"userspace\"", "backend = \"ebpf\""), "server.backend", "not one of");
  expect_error(replace(kValid, "key_ttl = \"12h\"", "key_ttl = \"soon\""), "groups.dev.key_ttl", "not a duration");
}

TEST(Config, MissingRequiredAndUnknownKeys) {
  expect_error(replace(kValid, "port = 51820\n", ""), "groups.dev.port", "required");
  expect_error(replace(kValid, "[pool]\nipv4 = \"10.100.0.0/24\"", ""), "pool", "required");
  expect_error(replace(kValid, "key_ttl = \"12h\"", "key_tll = \"12h\""), "groups.dev.key_tll", "unknown key");
}

TEST(Config, ReportsEveryProblemAtOnce) {
  std::string text = replace(replace(kValid, "port = 51821", "port = 51820"), "table = 1002", "table = 254");
  auto r = parse_config(text, "t.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("groups.ops.port"), std::string::npos);
  EXPECT_NE(r.error().message.find("groups.ops.table"), std::string::npos);
}

std::string with_pool(const std::string& pool_lines) {
  return replace(kValid, "[pool]\nipv4 = \"10.100.0.0/24\"", "[pool]\n" + pool_lines);
}

TEST(Config, PerUser) {
  for (int n : {1, 2, 4, 8, 64}) {
    auto r = parse_config(with_pool("ipv4 = \"10.100.0.0/24\"\nper_user = " + std::to_string(n)), "t.toml");
    ASSERT_TRUE(r.ok()) << n << ": " << r.error().message;
    EXPECT_EQ(r->per_user, static_cast<uint32_t>(n));
  }
  auto large = parse_config(with_pool("ipv4 = \"10.100.0.0/22\"\nper_user = 256"), "t.toml");
  ASSERT_TRUE(large.ok()) << large.error().message;
  EXPECT_EQ(large->per_user, 256u);
}

TEST(Config, PerUserErrors) {
  for (const char* bad : {"0", "3", "6", "-4", "512", "4294967296"}) {
    expect_error(with_pool(std::string("ipv4 = \"10.100.0.0/24\"\nper_user = ") + bad), "pool.per_user",
                 std::string(bad) + " is not a power of two from 1 to 256");
  }
  expect_error(with_pool("ipv4 = \"10.100.0.0/24\"\nper_user = \"4\""), "pool.per_user", "must be an integer");
  expect_error(with_pool("ipv4 = \"10.100.0.0/24\"\nper_user = 4.0"), "pool.per_user", "must be an integer");
}

TEST(Config, PoolMustHoldAUsableBlock) {
  // A /29 cut in /30s is two blocks, one holding the network address and
  // one the broadcast address.
  expect_error(with_pool("ipv4 = \"10.100.0.0/29\"\nper_user = 4"), "pool.ipv4",
               "'10.100.0.0/29' holds no usable block of 4 addresses (pool.per_user)");
  expect_error(with_pool("ipv4 = \"10.100.0.0/24\"\nper_user = 256"), "pool.ipv4",
               "holds no usable block of 256 addresses");
  expect_error(with_pool("ipv4 = \"10.100.0.0/30\""), "pool.ipv4", "holds no usable block of 4 addresses");
  auto small = parse_config(with_pool("ipv4 = \"10.100.0.0/30\"\nper_user = 1"), "t.toml");
  ASSERT_TRUE(small.ok()) << small.error().message;
  expect_error(with_pool("ipv4 = \"10.100.0.0/31\"\nper_user = 1"), "pool.ipv4", "too small for a user pool");
}

TEST(Config, BadPerUserIsNotReportedAsAPoolProblem) {
  // Only the key that is wrong is named: per_user, not the pool.
  for (const char* bad : {"3", "\"8\""}) {
    auto r = parse_config(with_pool(std::string("ipv4 = \"10.100.0.0/29\"\nper_user = ") + bad), "t.toml");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("pool.per_user"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("pool.ipv4"), std::string::npos) << r.error().message;
  }
}

TEST(Config, Ipv6IsRejectedClearly) {
  expect_error(with_pool("ipv4 = \"10.100.0.0/24\"\nipv6 = \"fd00:1::/64\""), "pool.ipv6",
               "IPv6 is not supported yet");
  expect_error(with_pool("ipv4 = \"fd00:1::/64\""), "pool.ipv4", "'fd00:1::/64' is not an ipv4 prefix");
  expect_error(with_pool("ipv6 = \"fd00:1::/64\""), "pool.ipv4", "required");
  expect_error(replace(kValid, "\"10.3.0.0/16\"]", "\"fd00:3::/48\"]"), "networks.vpc-b[1]",
               "'fd00:3::/48' is IPv6, which is not supported yet");
  expect_error(replace(kValid, "vpc-a = [\"10.1.0.0/16\"]", "vpc-a = \"fd00:1::/48\""), "networks.vpc-a",
               "is IPv6, which is not supported yet");
}

TEST(Config, AllowToGatewayParsesEachForm) {
  auto r = parse_config(replace(kValid, "backend = \"userspace\"",
                                "backend = \"userspace\"\n"
                                "allow_to_gateway = [\"udp/53\", \"tcp/22\", \"tcp/8000-8100\", \"icmp\", "
                                "\"udp/1-65535\", \"tcp/22\"]"),
                        "t.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  using P = GatewayService::Protocol;
  // File order, duplicates kept: compile() sorts and deduplicates.
  EXPECT_EQ(r->server.allow_to_gateway,
            (std::vector<GatewayService>{{P::udp, 53, 53}, {P::tcp, 22, 22}, {P::tcp, 8000, 8100}, {P::icmp, 0, 0},
                                         {P::udp, 1, 65535}, {P::tcp, 22, 22}}));
  auto none = parse_config(kValid, "t.toml");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->server.allow_to_gateway.empty()) << "nothing is open by default";
}

TEST(Config, AllowToGatewayNamesEachBadEntry) {
  auto with = [](const std::string& list) {
    return replace(kValid, "backend = \"userspace\"", "backend = \"userspace\"\nallow_to_gateway = " + list);
  };
  const std::string key = "server.allow_to_gateway";
  expect_error(with("\"udp/53\""), key, "must be a list");
  expect_error(with("[\"udp/53\", 22]"), key + "[1]", "must be a string");
  expect_error(with("[\"ssh\"]"), key + "[0]", "'ssh' is not a service");
  expect_error(with("[\"sctp/9\"]"), key + "[0]", "'sctp/9' is not a service");
  expect_error(with("[\"TCP/22\"]"), key + "[0]", "'TCP/22' is not a service");
  expect_error(with("[\"tcp\"]"), key + "[0]", "'tcp' has no port");
  expect_error(with("[\"tcp/\"]"), key + "[0]", "'tcp/': '' is not a port");
  expect_error(with("[\"tcp/0\"]"), key + "[0]", "'tcp/0': '0' is not a port");
  expect_error(with("[\"udp/65536\"]"), key + "[0]", "'udp/65536': '65536' is not a port");
  expect_error(with("[\"tcp/22x\"]"), key + "[0]", "'tcp/22x'");
  expect_error(with("[\"tcp/ 22\"]"), key + "[0]", "'tcp/ 22'");
  expect_error(with("[\"tcp/-22\"]"), key + "[0]", "'tcp/-22'");
  expect_error(with("[\"tcp/100-90\"]"), key + "[0]", "first <= last");
  expect_error(with("[\"tcp/1-2-3\"]"), key + "[0]", "'tcp/1-2-3'");
  expect_error(with("[\"icmp/8\"]"), key + "[0]", "icmp takes no port");
  // Every bad entry is reported, each under its own index.
  auto r = parse_config(with("[\"tcp/22\", \"bogus\", \"udp/0\"]"), "t.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(key + "[1]: 'bogus'"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(key + "[2]: 'udp/0'"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find(key + "[0]"), std::string::npos) << r.error().message;
}

TEST(Config, Durations) {
  EXPECT_EQ(*parse_duration("90s"), 90);
  EXPECT_EQ(*parse_duration("15m"), 900);
  EXPECT_EQ(*parse_duration("7d"), 7 * 86400);
  EXPECT_EQ(*parse_duration("120"), 120);
  EXPECT_FALSE(parse_duration("-5m").ok());
  EXPECT_FALSE(parse_duration("h").ok());
  EXPECT_FALSE(parse_duration("99999999d").ok());
  EXPECT_EQ(format_duration(43200), "12h");
}

TEST(Config, WebLoginRateLimit) {
  const std::string web = std::string(kValid) + "\n[web]\npublic_url = \"https://vpn.example.com\"\n";
  auto defaults = parse_config(web, "test.toml");
  ASSERT_TRUE(defaults.ok()) << defaults.error().message;
  EXPECT_EQ(defaults->web.login_burst, 30u);
  EXPECT_EQ(defaults->web.login_rate, 2u);
  auto set = parse_config(web + "login_burst = 500\nlogin_rate = 50\n", "test.toml");
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->web.login_burst, 500u);
  EXPECT_EQ(set->web.login_rate, 50u);
  expect_error(web + "login_burst = 0\n", "web.login_burst", "from 1 to");
  expect_error(web + "login_rate = -3\n", "web.login_rate", "from 1 to");
  expect_error(web + "login_rate = \"fast\"\n", "login_rate", "");
}

TEST(Config, WebLiveInterval) {
  const std::string web = std::string(kValid) + "\n[web]\npublic_url = \"https://vpn.example.com\"\n";
  auto defaults = parse_config(web, "test.toml");
  ASSERT_TRUE(defaults.ok()) << defaults.error().message;
  EXPECT_EQ(defaults->web.live_interval_seconds, 2);
  auto set = parse_config(web + "live_interval = \"5s\"\n", "test.toml");
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->web.live_interval_seconds, 5);
  expect_error(web + "live_interval = \"0s\"\n", "web.live_interval", "from 1s to 60s");
  expect_error(web + "live_interval = \"2m\"\n", "web.live_interval", "from 1s to 60s");
  expect_error(web + "live_interval = \"soon\"\n", "live_interval", "");
}

}  // namespace
}  // namespace wgate
