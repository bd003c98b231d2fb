// Router: links, routes and policy rules over rtnetlink (libmnl).
//
// Every route and rule wgate creates carries wgate's own route protocol
// number (kWgateRouteProtocol), so listing returns only what wgate owns and
// never touches anybody else's routes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/netstate.h"
#include "util/result.h"

namespace wgate {

// Route/rule protocol number that marks wgate's own entries ("proto 0x77").
inline constexpr uint8_t kWgateRouteProtocol = 0x77;

class Router {
 public:
  virtual ~Router() = default;

  // ifindex of a link in this namespace, or nullopt when absent.
  virtual Result<std::optional<int>> link_index(const std::string& name) = 0;
  // A link as the kernel reports it: whether it is administratively up (so
  // the reconciler writes only when something must change) and its kind
  // ("wireguard", "veth", "tun"...; empty for kindless links such as
  // physical NICs). nullopt when there is no link of that name.
  struct LinkState {
    int index = 0;
    bool up = false;
    std::string kind;
  };
  virtual Result<std::optional<LinkState>> link(const std::string& name) = 0;
  virtual Status set_link_up(const std::string& name) = 0;
  // Creates a link of kind "wireguard" (kernel backend only).
  virtual Status create_wireguard_link(const std::string& name) = 0;
  virtual Status delete_link(const std::string& name) = 0;

  // Routes with wgate's protocol, in every table (IPv4 and IPv6).
  virtual Result<std::vector<Route>> list_routes() = 0;
  virtual Status add_route(const Route& route) = 0;
  virtual Status delete_route(const Route& route) = 0;

  // Rules with wgate's protocol.
  virtual Result<std::vector<Rule>> list_rules() = 0;
  virtual Status add_rule(const Rule& rule) = 0;
  virtual Status delete_rule(const Rule& rule) = 0;
};

}  // namespace wgate
