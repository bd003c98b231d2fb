// [metrics]: the daemon's Prometheus listener.
#include <gtest/gtest.h>

#include "../test_support.h"
#include "core/config.h"

namespace wgate {
namespace {

const std::string& kBase = testing::kMinimalConfig;

using testing::expect_config_error;

TEST(MetricsConfig, AbsentSectionMeansNoListener) {
  auto r = parse_config(kBase, "test.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->metrics.enabled);
}

TEST(MetricsConfig, ParsesListen) {
  auto r = parse_config(kBase + "[metrics]\nlisten = \"10.0.0.1:9100\"\n", "test.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->metrics.enabled);
  EXPECT_EQ(r->metrics.listen, "10.0.0.1:9100");
  auto v6 = parse_config(kBase + "[metrics]\nlisten = \"[::1]:9586\"\n", "test.toml");
  ASSERT_TRUE(v6.ok()) << v6.error().message;
  EXPECT_EQ(v6->metrics.listen, "[::1]:9586");
}

TEST(MetricsConfig, EmptySectionTakesTheDefaultAddress) {
  auto r = parse_config(kBase + "[metrics]\n", "test.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->metrics.enabled);
  EXPECT_EQ(r->metrics.listen, "127.0.0.1:9586");
}

TEST(MetricsConfig, RejectsBadListen) {
  for (const char* bad : {"9586", ":9586", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:http",
                          "localhost:9586", "::1:9586", "[127.0.0.1]:9586", "[]:9586", "127.0.0.1:95 86"}) {
    SCOPED_TRACE(bad);
    expect_config_error(kBase + "[metrics]\nlisten = \"" + bad + "\"\n", "metrics.listen", "is not address:port");
  }
  expect_config_error(kBase + "[metrics]\nlisten = 9586\n", "metrics.listen", "must be a string");
}

TEST(MetricsConfig, RejectsUnknownKeysAndNonTables) {
  expect_config_error(kBase + "[metrics]\nlisten = \"127.0.0.1:9586\"\npath = \"/m\"\n", "metrics.path", "unknown key");
  expect_config_error("metrics = 1\n" + kBase, "metrics", "must be a table");
}

TEST(MetricsConfig, RejectsTheWebListenAddress) {
  const std::string text = kBase +
                           "[web]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"https://vpn.example.com\"\n"
                           "[metrics]\nlisten = \"127.0.0.1:8080\"\n";
  expect_config_error(text, "metrics.listen", "also web.listen");
}

}  // namespace
}  // namespace wgate
