#include "core/compile.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "core/ipam.h"
#include "core/policy.h"

namespace wgate {
namespace {

constexpr uint32_t kMainTable = 254;

Prefix host_prefix(const IpAddress& a) { return Prefix(a, a.bit_width()); }

Prefix default_prefix(IpFamily family) {
  return Prefix(family == IpFamily::v4 ? IpAddress::v4(0) : *IpAddress::parse("::"), 0);
}

template <class T>
void sort_unique(std::vector<T>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

}  // namespace

Plan compile(const Config& config, const State& state, UnixTime now) {
  Plan plan;

  std::map<int64_t, const User*> users;
  for (const auto& u : state.users) users[u.id] = &u;
  std::map<int64_t, Prefix> block_of_user;
  for (const auto& l : state.current_leases) {
    if (config.pool_v4 && block_fits(l.block, *config.pool_v4, config.per_user)) {
      block_of_user[l.user_id] = l.block;
    } else {
      auto u = users.find(l.user_id);
      plan.warnings.push_back("user '" + (u != users.end() ? u->second->name : std::to_string(l.user_id)) +
                              "' holds " + l.block.to_string() + ", which does not fit the pool (" +
                              (config.pool_v4 ? config.pool_v4->to_string() : std::string("none")) + ", per_user " +
                              std::to_string(config.per_user) + "); `wgate server` moves it when it starts");
    }
  }
  std::set<std::pair<int64_t, std::string>> member;
  for (const auto& m : state.memberships) member.emplace(m.user_id, m.group);
  std::map<int64_t, const Device*> devices;
  for (const auto& d : state.devices) {
    if (d.current()) devices[d.id] = &d;
  }

  // Per device, its newest eligible key (ties broken by the higher key id).
  std::map<int64_t, std::vector<const Key*>> eligible_by_device;
  for (const auto& k : state.keys) {
    auto u = users.find(k.user_id);
    if (u == users.end() || u->second->disabled || !k.active_at(now)) continue;
    if (!config.find_group(k.group) || !member.count({k.user_id, k.group})) continue;
    auto d = devices.find(k.device_id);
    if (d == devices.end() || d->second->user_id != k.user_id) continue;
    eligible_by_device[k.device_id].push_back(&k);
  }

  std::map<std::string, std::vector<PlannedPeer>> peers_by_group;
  // (group, person with policies of their own or "") -> device addresses.
  std::map<std::pair<std::string, std::string>, std::vector<IpAddress>> filter_devices;
  std::vector<std::pair<Prefix, std::string>> device_routes;  // address, group
  for (auto& [device_id, keys] : eligible_by_device) {
    const Device& device = *devices[device_id];
    const std::string& user = users[device.user_id]->name;
    auto block = block_of_user.find(device.user_id);
    if (block == block_of_user.end()) continue;  // warned above, or disabled
    auto address = device_address(block->second, device.slot);
    if (!address) {
      plan.warnings.push_back("device '" + device.name + "' of user '" + user + "' is in slot " +
                              std::to_string(device.slot) + ", outside the user's block " +
                              block->second.to_string() + " (pool.per_user shrank); remove the device or raise per_user");
      continue;
    }
    std::sort(keys.begin(), keys.end(), [](const Key* a, const Key* b) {
      return std::tie(a->created_at, a->id) > std::tie(b->created_at, b->id);
    });
    const Key* winner = keys.front();
    for (size_t i = 1; i < keys.size(); ++i) {
      plan.warnings.push_back("key " + std::to_string(keys[i]->id) + " of " + user + "/" + device.name + " (group '" +
                              keys[i]->group + "') is left out: newer key " + std::to_string(winner->id) +
                              " holds the device's address " + address->to_string());
    }
    peers_by_group[winner->group].push_back(
        PlannedPeer{winner->public_key, host_prefix(*address), winner->id, user, device.name});
    device_routes.emplace_back(host_prefix(*address), winner->group);
    filter_devices[{winner->group, has_person_policies(config, user) ? user : std::string()}].push_back(*address);
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
    sort_unique(iface.reachable);
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

  for (const auto& [address, group] : device_routes) {
    plan.routes.push_back(Route{kMainTable, RouteType::unicast, address, interface_of_group[group]});
  }
  for (const auto* pool : {&config.pool_v4, &config.pool_v6}) {
    if (!*pool) continue;
    plan.routes.push_back(Route{kMainTable, RouteType::blackhole, **pool, ""});
    plan.firewall.user_pools.push_back(**pool);
  }
  for (const auto& net : config.networks) {
    plan.firewall.protected_networks.insert(plan.firewall.protected_networks.end(), net.prefixes.begin(),
                                            net.prefixes.end());
  }
  plan.firewall.open_to_users = config.server.allow_to_gateway;

  // Ruleset ids in (group, person) order, from 1: stable while the set of
  // groups and of people with policies stays, so a pass rewrites no entry.
  uint32_t next_ruleset = 1;
  for (const auto& [key, addresses] : filter_devices) {
    const auto& [group, person] = key;
    const uint32_t id = next_ruleset++;
    DeviceRules rules = rules_for(config, group, person);
    for (const auto& w : rules.not_granted) plan.warnings.push_back("person " + person + ": " + w);
    auto& out = plan.filter.rulesets[id];
    for (const auto& r : rules.rules) out.push_back(r.rule);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    for (const auto& a : addresses) plan.filter.devices[a] = id;
    plan.filter_ruleset_names[id] = "group " + group + (person.empty() ? "" : ", person " + person);
  }

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

std::optional<UnixTime> next_change_after(const State& state, UnixTime now) {
  std::optional<UnixTime> next;
  for (const auto& k : state.keys) {
    if (k.revoked_at || k.expires_at == 0 || k.expires_at <= now) continue;
    if (!next || k.expires_at < *next) next = k.expires_at;
  }
  return next;
}

}  // namespace wgate
