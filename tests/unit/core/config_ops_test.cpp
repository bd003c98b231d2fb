// [log] and [connections].
#include <gtest/gtest.h>

#include "../test_support.h"
#include "core/config.h"
#include "core/config_ops.h"

namespace wgate {
namespace {

const std::string& kBase = testing::kMinimalConfig;

void expect_error(const std::string& extra, const std::string& key, const std::string& reason) {
  testing::expect_config_error(kBase + extra, key, reason);
}

TEST(OpsConfig, Defaults) {
  auto r = parse_config(kBase, "test.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->log.format, LogFormat::text);
  EXPECT_EQ(r->connections.idle_after_seconds, 180);  // > 120 s rekey + jitter
  EXPECT_GT(r->connections.idle_after_seconds, 120);
  EXPECT_EQ(r->connections.stale_after_seconds, 30 * 86400);
  EXPECT_FALSE(r->connections.disable_stale_after_seconds.has_value());
  EXPECT_FALSE(r->connections.notify);
}

TEST(OpsConfig, ParsesEverything) {
  auto r = parse_config(kBase + R"(
[alerts]
webhook_url = "https://hooks.example.com/x"
[log]
format = "json"
[connections]
idle_after = "4m"
notify = true
stale_after = "14d"
disable_stale_after = "60d"
)",
                        "test.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->log.format, LogFormat::json);
  EXPECT_EQ(r->connections.idle_after_seconds, 240);
  EXPECT_TRUE(r->connections.notify);
  EXPECT_EQ(r->connections.stale_after_seconds, 14 * 86400);
  EXPECT_EQ(r->connections.disable_stale_after_seconds, 60 * 86400);
}

TEST(OpsConfig, RefusesBadValuesNamingTheKey) {
  expect_error("[log]\nformat = \"xml\"\n", "log.format", "not \"text\" or \"json\"");
  expect_error("[log]\nlevel = \"debug\"\n", "log.level", "unknown key");
  expect_error("[connections]\nidle_after = \"2m\"\n", "connections.idle_after", "longer than 2m");
  expect_error("[connections]\nidle_after = \"soon\"\n", "connections.idle_after", "not a duration");
  expect_error("[connections]\nnotify = true\n", "connections.notify", "webhook_url");
  expect_error("[connections]\nnotify = \"yes\"\n", "connections.notify", "true or false");
  expect_error("[connections]\ndisable_stale_after = \"90s\"\n", "connections.disable_stale_after", "at least 1d");
  expect_error("[connections]\nstale_after = \"30d\"\ndisable_stale_after = \"7d\"\n",
               "connections.disable_stale_after", "shorter than connections.stale_after");
  expect_error("[connections]\nidle = \"3m\"\n", "connections.idle", "unknown key");
  auto r = parse_config("log = 1\n" + kBase, "test.toml");  // top level, before any table
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("log: must be a table"), std::string::npos) << r.error().message;
}

TEST(OpsConfig, ParseLogFormat) {
  EXPECT_EQ(parse_log_format("json"), LogFormat::json);
  EXPECT_EQ(parse_log_format("text"), LogFormat::text);
  EXPECT_FALSE(parse_log_format("JSON").has_value());
}

}  // namespace
}  // namespace wgate
