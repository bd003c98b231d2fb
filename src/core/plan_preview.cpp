#include "core/plan_preview.h"

#include <algorithm>
#include <set>

#include "core/plan_text.h"
#include "core/policy.h"

namespace wgate {
namespace {

template <class T>
void set_diff(const std::set<T>& before, const std::set<T>& after, std::vector<T>& added, std::vector<T>& removed) {
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(added));
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(), std::back_inserter(removed));
}

std::string describe(const PlannedInterface& i) {
  return i.name + " (group " + i.group + ", port " + std::to_string(i.listen_port) + ", table " +
         std::to_string(i.table) + ")";
}

// "group dev: 10.1.0.0/16 tcp/22" for every rule of every ruleset.
std::set<std::string> filter_rules(const Plan& plan) {
  std::set<std::string> out;
  for (const auto& [id, rules] : plan.filter.rulesets) {
    auto name = plan.filter_ruleset_names.find(id);
    const std::string owner = name != plan.filter_ruleset_names.end() ? name->second : "ruleset " + std::to_string(id);
    for (const auto& r : rules) out.insert(owner + ": " + r.dst.to_string() + " " + filter_rule_service(r));
  }
  return out;
}

// Person -> what any of their planned devices may reach ("prefix service").
std::map<std::string, std::set<std::string>> access(const Plan& plan) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& i : plan.interfaces) {
    for (const auto& p : i.peers) {
      auto& mine = out[p.user];
      auto ruleset = plan.filter.devices.find(p.allowed_ip.address());
      if (ruleset == plan.filter.devices.end()) continue;
      auto rules = plan.filter.rulesets.find(ruleset->second);
      if (rules == plan.filter.rulesets.end()) continue;
      for (const auto& r : rules->second) mine.insert(r.dst.to_string() + " " + filter_rule_service(r));
    }
  }
  return out;
}

}  // namespace

bool PlanPreview::empty() const {
  return interfaces_added.empty() && interfaces_removed.empty() && interfaces_changed.empty() && routes_added.empty() &&
         routes_removed.empty() && rules_added.empty() && rules_removed.empty() && peers_added.empty() &&
         peers_removed.empty() && peers_moved.empty() && filter_rules_added.empty() && filter_rules_removed.empty() &&
         access_gained.empty() && access_lost.empty() && warnings_added.empty();
}

PlanPreview preview_plan_change(const Plan& before, const Plan& after) {
  PlanPreview out;
  std::map<std::string, const PlannedInterface*> old_ifaces, new_ifaces;
  for (const auto& i : before.interfaces) old_ifaces[i.name] = &i;
  for (const auto& i : after.interfaces) new_ifaces[i.name] = &i;
  for (const auto& [name, i] : new_ifaces) {
    auto o = old_ifaces.find(name);
    if (o == old_ifaces.end()) {
      out.interfaces_added.push_back(describe(*i));
    } else if (o->second->listen_port != i->listen_port || o->second->table != i->table ||
               o->second->group != i->group || o->second->reachable != i->reachable) {
      out.interfaces_changed.push_back(describe(*o->second) + " -> " + describe(*i));
    }
  }
  for (const auto& [name, i] : old_ifaces) {
    if (!new_ifaces.count(name)) out.interfaces_removed.push_back(describe(*i));
  }

  std::set<std::string> old_routes, new_routes, old_rules, new_rules;
  for (const auto& r : before.routes) old_routes.insert(route_to_string(r));
  for (const auto& r : after.routes) new_routes.insert(route_to_string(r));
  for (const auto& r : before.rules) old_rules.insert(rule_to_string(r));
  for (const auto& r : after.rules) new_rules.insert(rule_to_string(r));
  set_diff(old_routes, new_routes, out.routes_added, out.routes_removed);
  set_diff(old_rules, new_rules, out.rules_added, out.rules_removed);

  // Peers by key: on another interface is a move, not a removal and an addition.
  std::map<WgKey, std::pair<std::string, const PlannedPeer*>> old_peers, new_peers;
  for (const auto& i : before.interfaces) {
    for (const auto& p : i.peers) old_peers[p.public_key] = {i.name, &p};
  }
  for (const auto& i : after.interfaces) {
    for (const auto& p : i.peers) new_peers[p.public_key] = {i.name, &p};
  }
  for (const auto& [key, np] : new_peers) {
    const std::string who = np.second->user + "/" + np.second->device;
    auto o = old_peers.find(key);
    if (o == old_peers.end()) {
      out.peers_added.push_back(who + " on " + np.first);
    } else if (o->second.first != np.first) {
      out.peers_moved.push_back(who + ": " + o->second.first + " -> " + np.first);
    }
  }
  for (const auto& [key, op] : old_peers) {
    if (!new_peers.count(key)) out.peers_removed.push_back(op.second->user + "/" + op.second->device + " on " + op.first);
  }

  set_diff(filter_rules(before), filter_rules(after), out.filter_rules_added, out.filter_rules_removed);
  const auto old_access = access(before);
  const auto new_access = access(after);
  std::set<std::string> people;
  for (const auto& [p, _] : old_access) people.insert(p);
  for (const auto& [p, _] : new_access) people.insert(p);
  const std::set<std::string> none;
  for (const auto& p : people) {
    auto o = old_access.find(p);
    auto n = new_access.find(p);
    std::vector<std::string> gained, lost;
    set_diff(o != old_access.end() ? o->second : none, n != new_access.end() ? n->second : none, gained, lost);
    if (!gained.empty()) out.access_gained[p] = gained;
    if (!lost.empty()) out.access_lost[p] = lost;
  }
  std::set<std::string> old_warnings(before.warnings.begin(), before.warnings.end());
  for (const auto& w : after.warnings) {
    if (!old_warnings.count(w)) out.warnings_added.push_back(w);
  }
  return out;
}

}  // namespace wgate
