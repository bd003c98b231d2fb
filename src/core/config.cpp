#include "core/config.h"

#include "core/config_flows.h"
#include "core/config_metrics.h"
#include "core/config_ops.h"
#include "core/config_policy.h"
#include "core/config_sso.h"
#include "core/config_toml.h"

#include "core/ipam.h"
#include "core/names.h"
#include "core/secrets.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace wgate {
namespace config_toml {

namespace {

// One port or an inclusive range "first-last", each 1..65535.
std::optional<std::pair<uint16_t, uint16_t>> parse_port_range(std::string_view text) {
  auto parse_port = [](std::string_view digits) -> std::optional<uint16_t> {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || value < 1 || value > 65535) {
      return std::nullopt;
    }
    return static_cast<uint16_t>(value);
  };
  size_t dash = text.find('-');
  auto first = parse_port(text.substr(0, dash));
  auto last = dash == std::string_view::npos ? first : parse_port(text.substr(dash + 1));
  if (!first || !last || *first > *last) return std::nullopt;
  return std::make_pair(*first, *last);
}

}  // namespace

Result<GatewayService> parse_gateway_service(const std::string& text) {
  const std::string forms = " (use tcp/<port>, udp/<port>, tcp/<first>-<last>, udp/<first>-<last> or icmp)";
  if (text == "icmp") return GatewayService{GatewayService::Protocol::icmp, 0, 0};
  size_t slash = text.find('/');
  std::string proto = text.substr(0, slash);
  if (proto == "icmp") return make_error("'" + text + "': icmp takes no port (it opens echo requests)");
  if (proto != "tcp" && proto != "udp") return make_error("'" + text + "' is not a service" + forms);
  if (slash == std::string::npos) return make_error("'" + text + "' has no port" + forms);
  auto range = parse_port_range(std::string_view(text).substr(slash + 1));
  if (!range) {
    return make_error("'" + text + "': '" + text.substr(slash + 1) +
                      "' is not a port (1..65535) or a range first-last with first <= last");
  }
  return GatewayService{proto == "tcp" ? GatewayService::Protocol::tcp : GatewayService::Protocol::udp,
                        range->first, range->second};
}

}  // namespace config_toml

namespace {

using namespace config_toml;


void load_allow_to_gateway(const toml::table& server, Config& cfg, Problems& problems) {
  const toml::node* node = server.get("allow_to_gateway");
  if (!node) return;
  const std::string key = "server.allow_to_gateway";
  const toml::array* arr = node->as_array();
  if (!arr) return problems.add(key, "must be a list like [\"udp/53\", \"tcp/22\", \"icmp\"]");
  for (size_t i = 0; i < arr->size(); ++i) {
    const std::string where = key + "[" + std::to_string(i) + "]";
    auto text = arr->get(i)->value<std::string>();
    if (!text) {
      problems.add(where, "must be a string like \"tcp/22\"");
      continue;
    }
    auto service = parse_gateway_service(*text);
    if (!service) {
      problems.add(where, service.error().message);
      continue;
    }
    cfg.server.allow_to_gateway.push_back(*service);
  }
}

void load_server(const toml::table& root, Config& cfg, Problems& problems) {
  const toml::node* node = root.get("server");
  if (!node) return;
  const toml::table* t = node->as_table();
  if (!t) return problems.add("server", "must be a table");
  reject_unknown_keys(*t, "server",
                      {"endpoint", "store", "state_dir", "backend", "rule_priority", "client_keepalive", "resync",
                       "allow_to_gateway"},
                      problems);
  if (auto v = get_string(*t, "endpoint", "server", problems)) cfg.server.endpoint = *v;
  if (auto v = get_string(*t, "store", "server", problems)) cfg.server.store_path = *v;
  if (auto v = get_string(*t, "state_dir", "server", problems)) cfg.server.state_dir = *v;
  if (auto v = get_string(*t, "backend", "server", problems)) {
    if (*v == "auto") {
      cfg.server.backend = BackendChoice::automatic;
    } else if (*v == "kernel") {
      cfg.server.backend = BackendChoice::kernel;
    } else if (*v == "userspace") {
      cfg.server.backend = BackendChoice::userspace;
    } else {
      problems.add("server.backend", "'" + *v + "' is not one of auto, kernel, userspace");
    }
  }
  if (auto v = get_int(*t, "rule_priority", "server", problems)) {
    if (*v < 1 || *v > 32765) {
      problems.add("server.rule_priority", "must be 1..32765 (32766/32767 are the main/default rules)");
    } else {
      cfg.server.rule_priority = static_cast<uint32_t>(*v);
    }
  }
  if (auto v = get_int(*t, "client_keepalive", "server", problems)) {
    if (*v < 0 || *v > 65535) {
      problems.add("server.client_keepalive", "must be 0..65535 seconds");
    } else {
      cfg.server.client_keepalive = static_cast<uint16_t>(*v);
    }
  }
  if (auto v = get_string(*t, "resync", "server", problems)) {
    auto secs = parse_duration(*v);
    if (!secs) {
      problems.add("server.resync", secs.error().message);
    } else if (*secs < 1 || *secs > 3600) {
      problems.add("server.resync", "'" + *v + "' must be from 1s to 1h (how often the daemon re-reads everything)");
    } else {
      cfg.server.resync_seconds = *secs;
    }
  }
  load_allow_to_gateway(*t, cfg, problems);
}

void load_pool(const toml::table& root, Config& cfg, Problems& problems) {
  const toml::node* node = root.get("pool");
  const toml::table* t = node ? node->as_table() : nullptr;
  if (!t) return problems.add("pool", "required: a table with ipv4 = \"<cidr>\" (the user address pool)");
  reject_unknown_keys(*t, "pool", {"ipv4", "ipv6", "per_user"}, problems);
  bool per_user_valid = true;
  if (auto v = get_int(*t, "per_user", "pool", problems)) {
    if (*v < 1 || *v > kMaxPerUser || std::popcount(static_cast<uint64_t>(*v)) != 1) {
      problems.add("pool.per_user", std::to_string(*v) + " is not a power of two from 1 to " +
                                        std::to_string(kMaxPerUser) + " (addresses per person, one per device)");
      per_user_valid = false;
    } else {
      cfg.per_user = static_cast<uint32_t>(*v);
    }
  } else if (t->get("per_user")) {
    per_user_valid = false;  // not an integer, already reported
  }
  if (t->get("ipv6")) {
    // Accepting it would leave IPv6 without rules, tables or firewall: say
    // so rather than run half a dual-stack gateway.
    problems.add("pool.ipv6", "IPv6 is not supported yet: remove pool.ipv6 (wgate routes and filters IPv4 only)");
  }
  auto text = get_string(*t, "ipv4", "pool", problems);
  if (!text) {
    if (!t->get("ipv4")) problems.add("pool.ipv4", "required: the IPv4 prefix people's addresses come from");
    return;
  }
  auto prefix = Prefix::parse(*text);
  if (!prefix) return problems.add("pool.ipv4", prefix.error().message);
  if (!prefix->address().is_v4()) return problems.add("pool.ipv4", "'" + *text + "' is not an ipv4 prefix");
  if (prefix->length() > 30) return problems.add("pool.ipv4", "'" + *text + "' is too small for a user pool (use /30 or larger)");
  // Whether the pool holds a block is only known for a valid per_user; a
  // wrong one is reported once, under its own key.
  if (per_user_valid && (prefix->size() < cfg.per_user || usable_block_count(*prefix, cfg.per_user) == 0)) {
    return problems.add("pool.ipv4", "'" + *text + "' holds no usable block of " + std::to_string(cfg.per_user) +
                                         " addresses (pool.per_user); use a larger pool");
  }
  cfg.pool_v4 = *prefix;
}

void load_networks(const toml::table& root, Config& cfg, Problems& problems) {
  const toml::node* node = root.get("networks");
  if (!node) return;
  const toml::table* t = node->as_table();
  if (!t) return problems.add("networks", "must be a table of name = [\"cidr\", ...]");
  for (const auto& [key, value] : *t) {
    std::string where = "networks." + std::string(key.str());
    NetworkConfig net{std::string(key.str()), {}};
    const toml::array* arr = value.as_array();
    if (!arr) {
      // Accept a single string for convenience.
      if (auto s = value.value<std::string>()) {
        auto p = Prefix::parse(*s);
        if (p && !p->address().is_v4()) {
          problems.add(where, "'" + *s + "' is IPv6, which is not supported yet");
        } else if (p) {
          net.prefixes.push_back(*p);
        } else {
          problems.add(where, p.error().message);
        }
      } else {
        problems.add(where, "must be a CIDR string or a list of them");
      }
    } else {
      for (size_t i = 0; i < arr->size(); ++i) {
        auto s = arr->get(i)->value<std::string>();
        if (!s) {
          problems.add(where + "[" + std::to_string(i) + "]", "must be a string");
          continue;
        }
        auto p = Prefix::parse(*s);
        if (!p) {
          problems.add(where + "[" + std::to_string(i) + "]", p.error().message);
          continue;
        }
        if (!p->address().is_v4()) {
          problems.add(where + "[" + std::to_string(i) + "]", "'" + *s + "' is IPv6, which is not supported yet");
          continue;
        }
        net.prefixes.push_back(*p);
      }
      if (arr->empty()) problems.add(where, "has no prefixes");
    }
    cfg.networks.push_back(std::move(net));
  }
}

void load_groups(const toml::table& root, Config& cfg, Problems& problems) {
  const toml::node* node = root.get("groups");
  if (!node) return problems.add("groups", "required: at least one [groups.<name>] table");
  const toml::table* t = node->as_table();
  if (!t) return problems.add("groups", "must be a table of [groups.<name>] tables");
  for (const auto& [key, value] : *t) {
    std::string where = "groups." + std::string(key.str());
    const toml::table* g = value.as_table();
    if (!g) {
      problems.add(where, "must be a table");
      continue;
    }
    reject_unknown_keys(*g, where, {"networks", "interface", "port", "table", "key_ttl"}, problems);
    GroupConfig group;
    group.name = std::string(key.str());
    if (const toml::node* nets = g->get("networks")) {
      if (const toml::array* arr = nets->as_array()) {
        for (size_t i = 0; i < arr->size(); ++i) {
          if (auto s = arr->get(i)->value<std::string>()) {
            group.networks.push_back(*s);
          } else {
            problems.add(where + ".networks[" + std::to_string(i) + "]", "must be a network name (string)");
          }
        }
      } else {
        problems.add(where + ".networks", "must be a list of network names");
      }
    }
    group.interface = get_string(*g, "interface", where, problems).value_or("");
    if (group.interface.empty()) {
      problems.add(where + ".interface", "required (the WireGuard interface name)");
    } else if (auto st = check_interface_name(group.interface); !st) {
      problems.add(where + ".interface", st.error().message);
    }
    auto port = get_int(*g, "port", where, problems);
    if (!port) {
      if (!g->get("port")) problems.add(where + ".port", "required (the UDP listen port)");
    } else if (*port < 1 || *port > 65535) {
      problems.add(where + ".port", std::to_string(*port) + " is not a UDP port (1..65535)");
    } else {
      group.port = static_cast<uint16_t>(*port);
    }
    auto table = get_int(*g, "table", where, problems);
    if (!table) {
      if (!g->get("table")) problems.add(where + ".table", "required (the routing table id)");
    } else if (*table == 253 || *table == 254 || *table == 255) {
      problems.add(where + ".table", std::to_string(*table) + " is a reserved table (253 default, 254 main, 255 local)");
    } else if (*table < 1 || *table > 0xFFFFFFFFLL) {
      problems.add(where + ".table", std::to_string(*table) + " is not a table id (1..4294967295)");
    } else {
      group.table = static_cast<uint32_t>(*table);
    }
    if (auto ttl = get_string(*g, "key_ttl", where, problems)) {
      auto secs = parse_duration(*ttl);
      if (!secs) {
        problems.add(where + ".key_ttl", secs.error().message);
      } else {
        group.key_ttl_seconds = *secs;
      }
    }
    cfg.groups.push_back(std::move(group));
  }
}

void cross_check(Config& cfg, Problems& problems) {
  for (const auto& net : cfg.networks) {
    for (const auto& p : net.prefixes) {
      for (const auto* pool : {&cfg.pool_v4, &cfg.pool_v6}) {
        if (*pool && (*pool)->overlaps(p)) {
          problems.add(std::string("pool.") + ((*pool)->address().is_v4() ? "ipv4" : "ipv6"),
                       (*pool)->to_string() + " overlaps network '" + net.name + "' (" + p.to_string() +
                           "); user addresses must not be inside any network");
        }
      }
    }
  }
  std::map<std::string, std::string> interfaces;
  std::map<uint16_t, std::string> ports;
  std::map<uint32_t, std::string> tables;
  for (const auto& g : cfg.groups) {
    std::string where = "groups." + g.name;
    for (const auto& n : g.networks) {
      if (!cfg.find_network(n)) problems.add(where + ".networks", "unknown network '" + n + "'");
    }
    if (!g.interface.empty()) {
      auto [it, fresh] = interfaces.emplace(g.interface, g.name);
      if (!fresh) problems.add(where + ".interface", "'" + g.interface + "' is already used by group '" + it->second + "'");
    }
    if (g.port) {
      auto [it, fresh] = ports.emplace(g.port, g.name);
      if (!fresh) problems.add(where + ".port", std::to_string(g.port) + " is already used by group '" + it->second + "'");
    }
    if (g.table) {
      auto [it, fresh] = tables.emplace(g.table, g.name);
      if (!fresh) {
        problems.add(where + ".table", std::to_string(g.table) + " is already used by group '" + it->second + "'");
      }
    }
  }
}

}  // namespace

const GroupConfig* Config::find_group(std::string_view name) const {
  for (const auto& g : groups) {
    if (g.name == name) return &g;
  }
  return nullptr;
}

const NetworkConfig* Config::find_network(std::string_view name) const {
  for (const auto& n : networks) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

Result<Config> parse_config(std::string_view toml_text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << origin << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    return make_error(msg.str());
  }
  Config cfg;
  Problems problems;
  reject_unknown_keys(root, "", {"server", "pool", "networks", "groups", "oidc", "web", "keys", "alerts", "metrics", "log",
                                 "connections", "policy", "flows"},
                    problems);
  load_server(root, cfg, problems);
  load_sso_sections(root, cfg, problems);
  load_metrics_section(root, cfg, problems);
  load_ops_sections(root, cfg, problems);
  load_flows_section(root, cfg, problems);
  load_pool(root, cfg, problems);
  load_networks(root, cfg, problems);
  load_groups(root, cfg, problems);
  auto by_name = [](const auto& a, const auto& b) { return a.name < b.name; };
  std::sort(cfg.networks.begin(), cfg.networks.end(), by_name);
  std::sort(cfg.groups.begin(), cfg.groups.end(), by_name);
  cross_check(cfg, problems);
  cross_check_sso(cfg, problems);
  cross_check_metrics(cfg, problems);
  cross_check_ops(cfg, problems);
  load_policies(root, cfg, problems);  // needs the networks and groups, sorted
  if (!problems.empty()) return problems.to_error(origin);
  cfg.source_sha256 = sha256_hex(toml_text);
  return cfg;
}

Result<Config> load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return errno_error(errno, "reading config " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_config(buf.str(), path);
}

Result<int64_t> parse_duration(std::string_view text) {
  if (text.empty()) return make_error("empty duration");
  int64_t unit = 1;
  std::string_view digits = text;
  switch (text.back()) {
    case 's': unit = 1; digits.remove_suffix(1); break;
    case 'm': unit = 60; digits.remove_suffix(1); break;
    case 'h': unit = 3600; digits.remove_suffix(1); break;
    case 'd': unit = 86400; digits.remove_suffix(1); break;
    default: break;
  }
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || value < 0 ||
      value > int64_t{3650} * 86400 / unit) {
    return make_error("'" + std::string(text) + "' is not a duration (e.g. 90s, 15m, 12h, 7d)");
  }
  return value * unit;
}

std::string format_duration(int64_t seconds) {
  if (seconds != 0 && seconds % 86400 == 0) return std::to_string(seconds / 86400) + "d";
  if (seconds != 0 && seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
  if (seconds != 0 && seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

}  // namespace wgate
