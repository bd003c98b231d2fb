// [flows]: retention of the eBPF filter's flow records.
#include <gtest/gtest.h>

#include "../test_support.h"
#include "core/config.h"

namespace wgate {
namespace {

const std::string& kBase = testing::kMinimalConfig;

using testing::expect_config_error;

TEST(FlowsConfig, AbsentSectionStillBoundsRecords) {
  auto r = parse_config(kBase, "test.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->flows.retention_seconds, 30 * 86400);
  EXPECT_EQ(r->flows.max_records, 1'000'000);
}

TEST(FlowsConfig, ParsesRetentionAndMaxRecords) {
  auto r = parse_config(kBase + "[flows]\nretention = \"7d\"\nmax_records = 5000\n", "test.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->flows.retention_seconds, 7 * 86400);
  EXPECT_EQ(r->flows.max_records, 5000);
}

TEST(FlowsConfig, RefusesBadValuesNamingTheKey) {
  expect_config_error(kBase + "[flows]\nretention = \"soon\"\n", "flows.retention", "is not a duration");
  expect_config_error(kBase + "[flows]\nretention = \"10m\"\n", "flows.retention", "outside 1h");
  expect_config_error(kBase + "[flows]\nretention = 30\n", "flows.retention", "must be a string");
  expect_config_error(kBase + "[flows]\nmax_records = 0\n", "flows.max_records", "0 is outside 1000");
  expect_config_error(kBase + "[flows]\nmax_records = \"many\"\n", "flows.max_records", "must be an integer");
  expect_config_error(kBase + "[flows]\nkeep = 1\n", "flows.keep", "unknown key");
  expect_config_error("flows = 1\n" + kBase, "flows", "must be a table");
}

}  // namespace
}  // namespace wgate
