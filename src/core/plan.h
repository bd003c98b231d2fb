// Plan: the desired data-plane state, compiled from config + stored intent.
//
// Pure data. compile() (core/compile.h) builds it; the agent diffs it against
// what it observes and applies the difference. Holds no secrets: interface
// private keys are loaded by the agent, not planned.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bpf/filter_plan.h"
#include "core/cidr.h"
#include "core/netstate.h"
#include "core/wg_key.h"

namespace wgate {

struct PlannedPeer {
  WgKey public_key;
  Prefix allowed_ip;  // the device's address as a host prefix (/32, /128)
  int64_t key_id = 0;
  std::string user;
  std::string device;
  bool operator==(const PlannedPeer&) const = default;
};

struct PlannedInterface {
  std::string name;
  std::string group;
  uint16_t listen_port = 0;
  uint32_t table = 0;
  std::vector<Prefix> reachable;     // the group's networks: one `throw` route each
  std::vector<PlannedPeer> peers;    // sorted by public key
  bool operator==(const PlannedInterface&) const = default;
};

// A service on the gateway itself that users may reach through their
// tunnels (config `server.allow_to_gateway`, e.g. "udp/53"); everything else
// addressed to the gateway from a wgate interface is dropped.
struct GatewayService {
  enum class Protocol : uint8_t { tcp, udp, icmp };
  Protocol protocol = Protocol::tcp;
  uint16_t first_port = 0;  // tcp/udp: inclusive port range; icmp: unused (0)
  uint16_t last_port = 0;
  auto operator<=>(const GatewayService&) const = default;
};

// One wgate interface as the firewall sees it: forwarded traffic that comes
// in on `name` may only go to `reachable` (its group's networks). This is the
// second, independent line behind the group's routing table and `ip rule`.
struct FirewallInterface {
  std::string name;
  std::vector<Prefix> reachable;  // sorted, unique
  auto operator<=>(const FirewallInterface&) const = default;
};

// The firewall that closes the back door: only wgate interfaces may forward
// into protected networks, each only into its own group's networks; only
// the protected side may send to user addresses; users reach nothing on the
// gateway itself but `open_to_users`.
struct FirewallPlan {
  std::vector<FirewallInterface> interfaces;  // every wgate interface, sorted by name
  std::vector<Prefix> protected_networks;     // every configured network
  std::vector<Prefix> user_pools;
  std::vector<GatewayService> open_to_users;  // sorted, unique
  bool operator==(const FirewallPlan&) const = default;
};

struct Plan {
  std::vector<PlannedInterface> interfaces;  // sorted by name
  std::vector<Route> routes;                 // every wgate route, sorted
  std::vector<Rule> rules;                   // every wgate rule, sorted
  FirewallPlan firewall;
  // The eBPF filter in front of tables and guard: each planned device's
  // address -> its ruleset (its group's, or its own when the person has
  // policies), and what each ruleset allows (core/policy.h).
  bpf::FilterPlan filter;
  std::map<uint32_t, std::string> filter_ruleset_names;  // id -> "group dev", "group dev, person alice"
  bool ipv4_forwarding = true;
  std::vector<std::string> warnings;         // e.g. a user's keys on two groups
  bool operator==(const Plan&) const = default;
};

}  // namespace wgate
