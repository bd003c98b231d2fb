// [flows]: how long the eBPF filter's flow records are kept.
#include "core/config_flows.h"

#include <string>

namespace wgate {
namespace {

// Bounds that keep a typo from turning retention off: an hour is the least
// anyone investigating an access wants; a billion rows (~150 GB of SQLite)
// is beyond what the embedded store should hold.
constexpr int64_t kMinRetentionSeconds = 3600;
constexpr int64_t kMaxRetentionSeconds = 10 * 366 * 86400;
constexpr int64_t kMinRecords = 1000;
constexpr int64_t kMaxRecords = 1'000'000'000;

}  // namespace

void load_flows_section(const toml::table& root, Config& cfg, config_toml::Problems& problems) {
  const toml::node* node = root.get("flows");
  if (!node) return;
  const toml::table* t = node->as_table();
  if (!t) return problems.add("flows", "must be a table");
  config_toml::reject_unknown_keys(*t, "flows", {"retention", "max_records"}, problems);
  FlowsConfig& f = cfg.flows;
  if (auto v = config_toml::get_duration(*t, "retention", "flows", problems)) {
    if (*v < kMinRetentionSeconds || *v > kMaxRetentionSeconds) {
      problems.add("flows.retention", "'" + format_duration(*v) + "' is outside 1h .. 3660d");
    } else {
      f.retention_seconds = *v;
    }
  }
  if (auto v = config_toml::get_int(*t, "max_records", "flows", problems)) {
    if (*v < kMinRecords || *v > kMaxRecords) {
      problems.add("flows.max_records", std::to_string(*v) + " is outside " + std::to_string(kMinRecords) + " .. " +
                                            std::to_string(kMaxRecords));
    } else {
      f.max_records = *v;
    }
  }
}

}  // namespace wgate
