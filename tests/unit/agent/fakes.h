// In-memory fakes of the data plane, for reconciler tests without root.
//
// FakeWg behaves like WireGuard where it matters for reconciling: an
// allowed IP given to one peer is taken from whichever peer had it (written
// independently of the reconciler, so that one cannot hide a bug
// in the other). Every write is counted and logged in order, with the
// router's and firewall's, in one shared `log`.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/reconciler.h"
#include "dataplane/firewall.h"
#include "dataplane/packet_filter.h"
#include "dataplane/router.h"
#include "dataplane/wg_backend.h"

namespace wgate::testing {

// The order of every write, across fakes: "wg:add:wg-dev", "route:add:...".
using WriteLog = std::vector<std::string>;

class FakeWg : public WgBackend {
 public:
  explicit FakeWg(WriteLog& log) : log_(log) {}
  const char* kind() const override { return "fake"; }
  Result<bool> device_exists(const std::string& name) override { return devices.count(name) > 0; }
  Result<bool> ensure_device(const std::string& name) override {
    auto r = prepare_device(name);
    if (!r) return r.error();
    if (*r == Readiness::foreign) return make_error(name + " is not a WireGuard device");
    return *r == Readiness::created;
  }
  Result<Readiness> prepare_device(const std::string& name) override {
    ++prepares[name];
    if (failing.count(name)) return make_error("wireguard-go for " + name + " exited (exit code 1)");
    if (foreign.count(name)) return Readiness::foreign;
    if (starting.count(name)) return Readiness::starting;
    if (devices.count(name)) return Readiness::ready;
    devices[name].name = name;
    log_.push_back("wg:create:" + name);
    return Readiness::created;
  }
  Status remove_device(const std::string& name) override {
    log_.push_back("wg:remove:" + name);
    devices.erase(name);
    return ok_status();
  }
  Result<WgDeviceState> get_device(const std::string& name) override {
    ++gets;
    auto it = devices.find(name);
    if (it == devices.end()) return make_error("no device " + name);
    return it->second;
  }
  Status set_device(const WgDeviceUpdate& u) override {
    ++sets;
    updates.push_back(u);
    auto it = devices.find(u.name);
    if (it == devices.end()) return make_error("no device " + u.name);
    WgDeviceState& d = it->second;
    if (u.listen_port && refuse_ports) return make_error("listen port: address already in use");
    for (const auto& p : u.peers) log_.push_back(std::string("wg:") + (p.remove ? "remove-peer:" : "peer:") + u.name);
    if (u.private_key || u.listen_port) log_.push_back("wg:settings:" + u.name);
    if (u.private_key) d.private_key = u.private_key;
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
      for (const auto& ip : p.allowed_ips) {
        // WireGuard's allowed IPs form one trie per device: inserting an IP
        // for this peer takes it away from any other peer.
        for (auto& other : d.peers) {
          if (other.public_key == p.public_key) continue;
          auto& ips = other.allowed_ips;
          ips.erase(std::remove(ips.begin(), ips.end(), ip), ips.end());
        }
        if (std::find(peer->allowed_ips.begin(), peer->allowed_ips.end(), ip) == peer->allowed_ips.end()) {
          peer->allowed_ips.push_back(ip);
        }
      }
    }
    return ok_status();
  }

  std::map<std::string, WgDeviceState> devices;
  std::vector<WgDeviceUpdate> updates;
  std::set<std::string> foreign, starting, failing;
  std::map<std::string, int> prepares;
  int gets = 0;
  int sets = 0;
  bool refuse_ports = false;

 private:
  WriteLog& log_;
};

class FakeRouter : public Router {
 public:
  explicit FakeRouter(WriteLog& log) : log_(log) {}
  Result<std::optional<int>> link_index(const std::string& name) override {
    if (!links.count(name)) return std::optional<int>();
    return std::optional<int>(1);
  }
  Result<std::optional<LinkState>> link(const std::string& name) override {
    // Devices the fake WireGuard made are links; up once set up.
    return std::optional<LinkState>(LinkState{1, links.count(name) > 0, "wireguard"});
  }
  Status set_link_up(const std::string& name) override {
    ++link_writes;
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
  Result<std::vector<Route>> list_routes() override {
    ++lists;
    return std::vector<Route>(routes.begin(), routes.end());
  }
  Status add_route(const Route& r) override {
    ++route_writes;
    if (r.type == RouteType::unicast && !links.count(r.device)) return make_error("no device " + r.device);
    log_.push_back("route:add:" + r.destination.to_string() + ":" + std::to_string(r.table));
    routes.insert(r);
    return ok_status();
  }
  Status delete_route(const Route& r) override {
    ++route_writes;
    log_.push_back("route:del:" + r.destination.to_string() + ":" + std::to_string(r.table));
    routes.erase(r);
    return ok_status();
  }
  Result<std::vector<Rule>> list_rules() override {
    ++lists;
    return std::vector<Rule>(rules.begin(), rules.end());
  }
  Status add_rule(const Rule& r) override {
    ++rule_writes;
    if (refuse_rules_for.count(r.iif)) return make_error("rule for " + r.iif + ": operation not permitted");
    log_.push_back("rule:add:" + r.iif);
    rules.insert(r);
    return ok_status();
  }
  Status delete_rule(const Rule& r) override {
    ++rule_writes;
    log_.push_back("rule:del:" + r.iif);
    rules.erase(r);
    return ok_status();
  }

  std::set<std::string> links;  // links that are up
  std::set<Route> routes;
  std::set<Rule> rules;
  std::set<std::string> refuse_rules_for;
  int route_writes = 0;
  int rule_writes = 0;
  int link_writes = 0;
  int lists = 0;

 private:
  WriteLog& log_;
};

class FakeFirewall : public Firewall {
 public:
  explicit FakeFirewall(WriteLog& log) : log_(log) {}
  Result<bool> in_sync(const FirewallPlan& plan) override {
    ++checks;
    return applied && *applied == plan;
  }
  Status apply(const FirewallPlan& plan) override {
    ++applies;
    log_.push_back("firewall:apply");
    applied = plan;
    return ok_status();
  }
  Status remove() override {
    applied.reset();
    return ok_status();
  }
  std::optional<FirewallPlan> applied;
  int applies = 0;
  int checks = 0;

 private:
  WriteLog& log_;
};

class FakeForwarding : public Forwarding {
 public:
  explicit FakeForwarding(WriteLog& log) : log_(log) {}
  Result<bool> ipv4_enabled() override { return enabled; }
  Status enable_ipv4() override {
    log_.push_back("forwarding:on");
    enabled = true;
    return ok_status();
  }
  bool enabled = false;

 private:
  WriteLog& log_;
};

class FakeRegistry : public InterfaceRegistry {
 public:
  Result<std::vector<std::string>> list() override { return std::vector<std::string>(names.begin(), names.end()); }
  Status record(const std::string& name) override {
    names.insert(name);
    return ok_status();
  }
  Status forget(const std::string& name) override {
    names.erase(name);
    return ok_status();
  }
  std::set<std::string> names;
};

// The L4 filter: remembers the applied plan and where it sits; `removed`
// plays someone deleting the tc filter behind wgate's back.
class FakeFilter : public PacketFilter {
 public:
  explicit FakeFilter(WriteLog& log) : log_(log) {}
  Status apply(const bpf::FilterPlan& plan) override {
    if (fail_apply) return make_error("map full");
    if (applied && *applied == plan) return ok_status();
    applied = plan;
    log_.push_back("filter:apply");
    return ok_status();
  }
  Status attach(const std::string& name, bool verify) override {
    if (failing.count(name)) return make_error("no clsact");
    if (on.count(name) && !(verify && removed.count(name))) return ok_status();
    removed.erase(name);
    on.insert(name);
    log_.push_back("filter:attach:" + name);
    return ok_status();
  }
  Status detach(const std::string& name) override {
    on.erase(name);
    log_.push_back("filter:detach:" + name);
    return ok_status();
  }
  void leave_attached() override {
    left_attached = true;
    log_.push_back("filter:leave_attached");
  }
  Result<std::vector<FlowEvent>> drain_events() override { return std::vector<FlowEvent>{}; }
  Result<std::map<IpAddress, SourceCounters>> counters() const override {
    return std::map<IpAddress, SourceCounters>{};
  }
  uint64_t epoch() const override { return 1; }
  Result<FilterEventLosses> event_losses() const override { return losses; }

  std::optional<bpf::FilterPlan> applied;
  std::set<std::string> on, failing, removed;
  bool fail_apply = false;
  bool left_attached = false;
  FilterEventLosses losses;

 private:
  WriteLog& log_;
};

}  // namespace wgate::testing
