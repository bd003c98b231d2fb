// Value types that describe data-plane state, desired or observed:
// WireGuard devices and peers, routes and policy rules.
//
// Pure data, shared by compile/diff (core) and the backends (dataplane), so
// that diffing is testable without root.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/cidr.h"
#include "core/wg_key.h"

namespace wgate {

struct WgPeerState {
  WgKey public_key;
  std::vector<Prefix> allowed_ips;
  std::string endpoint;              // "ip:port" or "[ip6]:port"; empty if none
  uint16_t persistent_keepalive = 0;
  int64_t last_handshake_sec = 0;    // 0: never
  int64_t last_handshake_nsec = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
};

struct WgDeviceState {
  std::string name;
  int ifindex = 0;
  std::optional<WgKey> private_key;
  std::optional<WgKey> public_key;
  uint16_t listen_port = 0;
  uint32_t fwmark = 0;
  std::vector<WgPeerState> peers;
};

// One peer change inside a WgDeviceUpdate.
struct WgPeerUpdate {
  WgKey public_key;
  bool remove = false;               // REMOVE_ME
  bool replace_allowed_ips = false;  // REPLACE_ALLOWEDIPS
  std::vector<Prefix> allowed_ips;   // added (or the full set with replace)
  std::optional<std::string> endpoint;
  std::optional<uint16_t> persistent_keepalive;
};

// A minimal change to one WireGuard device. Empty optionals and an empty peer
// list leave the device as it is.
struct WgDeviceUpdate {
  std::string name;
  std::optional<WgKey> private_key;
  std::optional<uint16_t> listen_port;
  std::optional<uint32_t> fwmark;
  bool replace_peers = false;        // REPLACE_PEERS: drop every peer not listed
  std::vector<WgPeerUpdate> peers;

  bool empty() const {
    return !private_key && !listen_port && !fwmark && !replace_peers && peers.empty();
  }
};

enum class RouteType : uint8_t { unicast, throw_route, blackhole };

// A route owned by wgate (marked with wgate's route protocol number).
struct Route {
  uint32_t table = 254;  // RT_TABLE_MAIN
  RouteType type = RouteType::unicast;
  Prefix destination;
  std::string device;    // output interface, for unicast routes
  auto operator<=>(const Route&) const = default;
};

// A policy rule owned by wgate: `iif <device> lookup <table>` at `priority`.
struct Rule {
  uint32_t priority = 0;
  std::string iif;
  uint32_t table = 0;
  IpFamily family = IpFamily::v4;
  auto operator<=>(const Rule&) const = default;
};

}  // namespace wgate
