#include "core/compile.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace wgate {
namespace {

constexpr uint32_t kMainTable = 254;

Prefix host_prefix(const IpAddress& a) { return Prefix(a, a.bit_width()); }

Prefix default_prefix(IpFamily family) {
  return Prefix(family == IpFamily::v4 ? IpAddress::v4(0) : *IpAddress::parse("::"), 0);
}

}  // namespace

Plan compile(const Config& config, const State& state, UnixTime now) {
  Plan plan;

  std::map<int64_t, const User*> users;
  for (const auto& u : state.users) users[u.id] = &u;
  // A lease outside the configured pools (the pool was changed) is not
  // used: the firewall only lets protected networks reach the pools, and a
  // pool may now overlap a network. The user needs a new lease.
  std::map<int64_t, IpAddress> address_of;
  for (const auto& l : state.current_leases) {
    bool in_pool = (config.pool_v4 && config.pool_v4->contains(l.address)) ||
                   (config.pool_v6 && config.pool_v6->contains(l.address));
    if (in_pool) {
      address_of[l.user_id] = l.address;
    } else {
      plan.warnings.push_back("user id " + std::to_string(l.user_id) + " holds " + l.address.to_string() +
                              ", outside the configured pool; disable and enable the user to lease a new address");
    }
  }
  std::set<std::pair<int64_t, std::string>> member;
  for (const auto& m : state.memberships) member.emplace(m.user_id, m.group);

  // Eligible keys, then the group each user's address routes to: the group of
  // the newest eligible key (ties broken by the higher key id).
  std::vector<const Key*> eligible;
  std::map<int64_t, const Key*> newest_key_of_user;
  for (const auto& k : state.keys) {
    auto u = users.find(k.user_id);
    if (u == users.end() || u->second->disabled || !k.active_at(now)) continue;
    if (!config.find_group(k.group) || !member.count({k.user_id, k.group})) continue;
    if (!address_of.count(k.user_id)) continue;
    eligible.push_back(&k);
    const Key*& newest = newest_key_of_user[k.user_id];
    if (!newest || std::tie(k.created_at, k.id) > std::tie(newest->created_at, newest->id)) newest = &k;
  }

  std::map<std::string, std::vector<PlannedPeer>> peers_by_group;
  for (const Key* k : eligible) {
    const Key* newest = newest_key_of_user[k->user_id];
    const std::string& user = users[k->user_id]->name;
    if (newest->group != k->group) {
      plan.warnings.push_back("key " + std::to_string(k->id) + " of user '" + user + "' (group '" + k->group +
                              "') is left out: the user's newest key is on group '" + newest->group +
                              "', and one address routes to one interface");
      continue;
    }
    peers_by_group[k->group].push_back(PlannedPeer{k->public_key, host_prefix(address_of[k->user_id]), k->id, user});
  }

  std::map<std::string, std::string> interface_of_group;
  for (const auto& g : config.groups) {
    PlannedInterface iface;
    iface.name = g.interface;
    iface.group = g.name;
    iface.listen_port = g.port;
    iface.table = g.table;
    for (const auto& net_name : g.networks) {
      if (const NetworkConfig* net = config.find_network(net_name)) {
        iface.reachable.insert(iface.reachable.end(), net->prefixes.begin(), net->prefixes.end());
      }
    }
    std::sort(iface.reachable.begin(), iface.reachable.end());
    iface.reachable.erase(std::unique(iface.reachable.begin(), iface.reachable.end()), iface.reachable.end());
    iface.peers = std::move(peers_by_group[g.name]);
    std::sort(iface.peers.begin(), iface.peers.end(),
              [](const PlannedPeer& a, const PlannedPeer& b) { return a.public_key < b.public_key; });
    interface_of_group[g.name] = g.interface;

    for (const auto& p : iface.reachable) {
      plan.routes.push_back(Route{g.table, RouteType::throw_route, p, ""});
    }
    plan.routes.push_back(Route{g.table, RouteType::blackhole, default_prefix(IpFamily::v4), ""});
    plan.rules.push_back(Rule{config.server.rule_priority, g.interface, g.table, IpFamily::v4});
    plan.firewall.interfaces.push_back(FirewallInterface{g.interface, iface.reachable});
    plan.interfaces.push_back(std::move(iface));
  }

  for (const auto& [user_id, key] : newest_key_of_user) {
    plan.routes.push_back(
        Route{kMainTable, RouteType::unicast, host_prefix(address_of[user_id]), interface_of_group[key->group]});
  }

  for (const auto& net : config.networks) {
    plan.firewall.protected_networks.insert(plan.firewall.protected_networks.end(), net.prefixes.begin(),
                                            net.prefixes.end());
  }
  if (config.pool_v4) plan.firewall.user_pools.push_back(*config.pool_v4);
  if (config.pool_v6) plan.firewall.user_pools.push_back(*config.pool_v6);
  plan.firewall.open_to_users = config.server.allow_to_gateway;

  auto sort_unique = [](auto& v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  };
  std::sort(plan.interfaces.begin(), plan.interfaces.end(),
            [](const PlannedInterface& a, const PlannedInterface& b) { return a.name < b.name; });
  sort_unique(plan.routes);
  sort_unique(plan.rules);
  sort_unique(plan.firewall.interfaces);
  sort_unique(plan.firewall.protected_networks);
  sort_unique(plan.firewall.user_pools);
  sort_unique(plan.firewall.open_to_users);
  return plan;
}

}  // namespace wgate
