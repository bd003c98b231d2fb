// Sample values shared by the unit tests: the sample config
// (tests/data/sample.toml) and parsers that fail the test on bad literals.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "core/cidr.h"
#include "core/config.h"

namespace wgate::testing {

inline Prefix pfx(std::string_view text) {
  auto p = Prefix::parse(text);
  EXPECT_TRUE(p.ok()) << text;
  return p.ok() ? *p : Prefix();
}

inline IpAddress ip(std::string_view text) {
  auto a = IpAddress::parse(text);
  EXPECT_TRUE(a.ok()) << text;
  return a.ok() ? *a : IpAddress();
}

// tests/data/sample.toml, parsed: groups dev (wg-dev, 51820, table 1001:
// vpc-a) and ops (wg-ops, 51821, table 1002: vpc-a, vpc-b), pool
// 10.100.0.0/24 with per_user 4.
inline Config sample_config() {
  const std::string path = std::string(WGATE_TEST_DATA) + "/sample.toml";
  auto c = load_config(path);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : Config{};
}

// The smallest valid config: one group (dev: wg-dev, port 51820, table
// 1001, network vpc-a = 10.1.0.0/16), pool 10.100.0.0/24. Tests of one
// config section append theirs to it.
inline const std::string kMinimalConfig = R"(
[server]
endpoint = "vpn.example.com"
[pool]
ipv4 = "10.100.0.0/24"
[networks]
vpc-a = ["10.1.0.0/16"]
[groups.dev]
networks = ["vpc-a"]
interface = "wg-dev"
port = 51820
table = 1001
)";

// Two groups without a [server] section: dev (wg-dev, 51820, table 1001:
// vpc-a = 10.1.0.0/16) and ops (wg-ops, 51821, table 1002: vpc-a and
// vpc-b = 10.2.0.0/16 + 10.3.0.0/16), pool 10.100.0.0/24. The policy
// tests append [[policy]] tables to it.
inline const std::string kTwoGroupsConfig = R"(
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

[groups.ops]
networks = ["vpc-a", "vpc-b"]
interface = "wg-ops"
port = 51821
table = 1002
)";

// `text` must be refused with an error that names `key` and says `reason`.
inline void expect_config_error(const std::string& text, const std::string& key, const std::string& reason) {
  auto r = parse_config(text, "test.toml");
  ASSERT_FALSE(r.ok()) << "expected an error for " << key;
  EXPECT_NE(r.error().message.find(key), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(reason), std::string::npos) << r.error().message;
}

}  // namespace wgate::testing
