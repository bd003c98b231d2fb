// Helpers for reading wgate.toml with toml++: the problem list that names
// every error by its key, and typed getters that add a problem instead of
// failing. Private to the config module (config.cpp, config_sso.cpp).
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/plan.h"
#include "util/result.h"

namespace wgate::config_toml {

// Collects every validation problem so a user fixes them all in one pass.
class Problems {
 public:
  void add(const std::string& key, const std::string& reason) { items_.push_back(key + ": " + reason); }
  bool empty() const { return items_.empty(); }
  Error to_error(const std::string& origin) const {
    std::string msg = origin + ": invalid config";
    for (const auto& item : items_) msg += "\n  - " + item;
    return make_error(msg);
  }

 private:
  std::vector<std::string> items_;
};

inline void reject_unknown_keys(const toml::table& table, const std::string& where, const std::set<std::string>& allowed,
                         Problems& problems) {
  for (const auto& [key, value] : table) {
    std::string k(key.str());
    if (!allowed.count(k)) problems.add(where.empty() ? k : where + "." + k, "unknown key");
  }
}

inline std::optional<std::string> get_string(const toml::table& t, const std::string& key, const std::string& where,
                                      Problems& problems) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto s = n->value<std::string>()) return *s;
  problems.add(where + "." + key, "must be a string");
  return std::nullopt;
}

inline std::optional<int64_t> get_int(const toml::table& t, const std::string& key, const std::string& where,
                               Problems& problems) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (n->is_integer()) return n->value<int64_t>();
  problems.add(where + "." + key, "must be an integer");
  return std::nullopt;
}

// A duration ("90s", "15m", "12h", "7d"); a problem when malformed.
std::optional<int64_t> get_duration(const toml::table& t, const std::string& key, const std::string& where,
                                    Problems& problems);

// A list of strings (a single string is taken as a list of one).
std::optional<std::vector<std::string>> get_string_list(const toml::table& t, const std::string& key,
                                                        const std::string& where, Problems& problems);

// A boolean.
std::optional<bool> get_bool(const toml::table& t, const std::string& key, const std::string& where,
                             Problems& problems);

// "tcp/22", "udp/53", "tcp/8000-8100" or "icmp" (server.allow_to_gateway,
// [[policy]] allow); the error says what is wrong with `text` (the caller
// adds the key).
Result<GatewayService> parse_gateway_service(const std::string& text);

}  // namespace wgate::config_toml
