// In-memory fakes of the data plane, for reconciler tests without root.
#pragma once

#include <algorithm>
#include <map>
#include <set>

#include "dataplane/firewall.h"
#include "dataplane/router.h"
#include "dataplane/wg_backend.h"

namespace wgate::testing {

class FakeWg : public WgBackend {
 public:
  const char* kind() const override { return "fake"; }
  Result<bool> device_exists(const std::string& name) override { return devices.count(name) > 0; }
  Result<bool> ensure_device(const std::string& name) override {
    if (devices.count(name)) return false;
    devices[name].name = name;
    return true;
  }
  Status remove_device(const std::string& name) override {
    devices.erase(name);
    return ok_status();
  }
  Result<WgDeviceState> get_device(const std::string& name) override {
    ++gets;
    auto it = devices.find(name);
    if (it == devices.end()) return make_error("no device " + name);
    return it->second;
  }
  // Applies an update with the kernel's semantics.
  Status set_device(const WgDeviceUpdate& u) override {
    ++sets;
    updates.push_back(u);
    auto it = devices.find(u.name);
    if (it == devices.end()) return make_error("no device " + u.name);
    WgDeviceState& d = it->second;
    if (u.private_key) d.private_key = u.private_key;
    if (u.listen_port && refuse_ports) return make_error("listen port: address already in use");
    if (u.listen_port) d.listen_port = *u.listen_port;
    if (u.replace_peers) d.peers.clear();
    for (const auto& p : u.peers) {
      auto peer = std::find_if(d.peers.begin(), d.peers.end(),
                               [&](const WgPeerState& s) { return s.public_key == p.public_key; });
      if (p.remove) {
        if (peer != d.peers.end()) d.peers.erase(peer);
        continue;
      }
      if (peer == d.peers.end()) {
        d.peers.push_back(WgPeerState{});
        peer = d.peers.end() - 1;
        peer->public_key = p.public_key;
      }
      if (p.replace_allowed_ips) peer->allowed_ips.clear();
      peer->allowed_ips.insert(peer->allowed_ips.end(), p.allowed_ips.begin(), p.allowed_ips.end());
    }
    return ok_status();
  }

  std::map<std::string, WgDeviceState> devices;
  std::vector<WgDeviceUpdate> updates;
  int gets = 0;
  int sets = 0;
  bool refuse_ports = false;
};

class FakeRouter : public Router {
 public:
  Result<std::optional<int>> link_index(const std::string& name) override {
    if (!links.count(name)) return std::optional<int>();
    return std::optional<int>(1);
  }
  Status set_link_up(const std::string& name) override {
    links.insert(name);
    return ok_status();
  }
  Status create_wireguard_link(const std::string& name) override {
    links.insert(name);
    return ok_status();
  }
  Status delete_link(const std::string& name) override {
    links.erase(name);
    return ok_status();
  }
  Result<std::vector<Route>> list_routes() override { return std::vector<Route>(routes.begin(), routes.end()); }
  Status add_route(const Route& r) override {
    ++route_writes;
    if (r.type == RouteType::unicast && !links.count(r.device)) return make_error("no device " + r.device);
    routes.insert(r);
    return ok_status();
  }
  Status delete_route(const Route& r) override {
    ++route_writes;
    routes.erase(r);
    return ok_status();
  }
  Result<std::vector<Rule>> list_rules() override { return std::vector<Rule>(rules.begin(), rules.end()); }
  Status add_rule(const Rule& r) override {
    rules.insert(r);
    return ok_status();
  }
  Status delete_rule(const Rule& r) override {
    rules.erase(r);
    return ok_status();
  }

  std::set<std::string> links;
  std::set<Route> routes;
  std::set<Rule> rules;
  int route_writes = 0;
};

class FakeFirewall : public Firewall {
 public:
  Result<bool> in_sync(const FirewallPlan& plan) override { return applied && *applied == plan; }
  Status apply(const FirewallPlan& plan) override {
    ++applies;
    applied = plan;
    return ok_status();
  }
  Status remove() override {
    applied.reset();
    return ok_status();
  }
  std::optional<FirewallPlan> applied;
  int applies = 0;
};

class FakeForwarding : public Forwarding {
 public:
  Result<bool> ipv4_enabled() override { return enabled; }
  Status enable_ipv4() override {
    enabled = true;
    return ok_status();
  }
  bool enabled = false;
};

}  // namespace wgate::testing
