// Config: wgate.toml, loaded and validated.
//
// Example (see examples/wgate.toml):
//
//   [server]
//   endpoint  = "vpn.example.com"   # what clients dial; host or IP
//   store     = "/var/lib/wgate/wgate.db"
//   state_dir = "/var/lib/wgate"    # interface private keys (0600)
//   backend   = "auto"              # auto | kernel | userspace
//   resync    = "2s"                # full observation of the data plane this often
//   allow_to_gateway = ["udp/53", "tcp/22", "tcp/8000-8100", "icmp"]
//
//   [pool]
//   ipv4     = "10.100.0.0/24"
//   per_user = 4                    # addresses per person: a /30 each, one per device
//
//   [networks]
//   vpc-a = ["10.1.0.0/16"]
//
//   [groups.dev]
//   networks  = ["vpc-a"]
//   interface = "wg-dev"
//   port      = 51820
//   table     = 1001
//   key_ttl   = "12h"
//
// Validation collects every problem, each naming its key and the reason.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/cidr.h"
#include "core/plan.h"
#include "util/result.h"

namespace wgate {

enum class BackendChoice { automatic, kernel, userspace };

struct NetworkConfig {
  std::string name;
  std::vector<Prefix> prefixes;
};

struct GroupConfig {
  std::string name;
  std::vector<std::string> networks;  // names from [networks]
  std::string interface;
  uint16_t port = 0;
  uint32_t table = 0;
  int64_t key_ttl_seconds = 0;        // 0: keys never expire unless --ttl
};

struct ServerConfig {
  std::string endpoint;               // host clients dial
  std::string store_path = "/var/lib/wgate/wgate.db";
  std::string state_dir = "/var/lib/wgate";
  BackendChoice backend = BackendChoice::automatic;
  uint32_t rule_priority = 1000;      // priority of every `ip rule iif ...`
  uint16_t client_keepalive = 25;     // PersistentKeepalive in client configs
  // How often the daemon observes the whole data plane (devices, routes,
  // rules, firewall) to find drift; store changes and key expiry are
  // applied at once, without waiting for it.
  int64_t resync_seconds = 2;
  // Services on the gateway itself that users may reach through their
  // tunnels: "tcp/22", "udp/53", "tcp/8000-8100" (inclusive range) or "icmp"
  // (echo request, v4 and v6). Empty (the default): users reach nothing on
  // the gateway. In file order, duplicates kept; compile() sorts them.
  std::vector<GatewayService> allow_to_gateway;
};

struct Config {
  ServerConfig server;
  std::optional<Prefix> pool_v4;
  std::optional<Prefix> pool_v6;        // rejected by validation today (IPv6 is not supported yet)
  uint32_t per_user = 4;                // addresses per person (a power of two): their devices' slots
  std::vector<NetworkConfig> networks;  // sorted by name
  std::vector<GroupConfig> groups;      // sorted by name

  const GroupConfig* find_group(std::string_view name) const;
  const NetworkConfig* find_network(std::string_view name) const;
  // The pool of the family users get addresses from (IPv4 today).
  const Prefix& user_pool() const { return *pool_v4; }
};

// Parses and validates TOML text. `origin` names the source in errors.
Result<Config> parse_config(std::string_view toml_text, const std::string& origin);
Result<Config> load_config(const std::string& path);

// Parses "90s", "15m", "12h", "7d", or a plain number of seconds.
Result<int64_t> parse_duration(std::string_view text);
std::string format_duration(int64_t seconds);

}  // namespace wgate
