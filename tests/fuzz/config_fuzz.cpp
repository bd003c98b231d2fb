// libFuzzer target: arbitrary text as wgate.toml. The config is outside
// input; parse_config must answer every input with a Config or an Error,
// and an accepted Config must satisfy the invariants compile() relies on.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>

#include "core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = wgate::parse_config(text, "fuzz.toml");
  if (!cfg.ok()) {
    if (cfg.error().message.empty()) std::abort();
    return 0;
  }
  if (!cfg->pool_v4) std::abort();
  std::set<std::string> interfaces;
  std::set<uint32_t> tables;
  for (const auto& g : cfg->groups) {
    if (g.port == 0 || g.table == 0 || g.table == 254 || g.interface.empty()) std::abort();
    if (!interfaces.insert(g.interface).second || !tables.insert(g.table).second) std::abort();
    for (const auto& n : g.networks) {
      if (!cfg->find_network(n)) std::abort();
    }
  }
  for (const auto& n : cfg->networks) {
    for (const auto& p : n.prefixes) {
      if (cfg->pool_v4->overlaps(p)) std::abort();
    }
  }
  return 0;
}
