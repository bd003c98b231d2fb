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

}  // namespace wgate::testing
