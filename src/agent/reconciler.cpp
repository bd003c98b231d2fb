#include "agent/reconciler.h"

#include <algorithm>

#include "core/diff.h"
#include "core/plan_text.h"

namespace wgate {
namespace {

constexpr uint32_t kMainTable = 254;
constexpr auto kFirstBackoff = std::chrono::milliseconds(250);
constexpr auto kMaxBackoff = std::chrono::seconds(30);

bool is_device_route(const Route& r) { return r.table == kMainTable && r.type == RouteType::unicast; }

// The plan without the interfaces whose names turned out to be other links:
// no rule, route, firewall trust or peer may refer to them.
Plan without_foreign(const Plan& plan, const std::set<std::string>& foreign) {
  Plan out = plan;
  std::set<uint32_t> tables;
  std::erase_if(out.interfaces, [&](const PlannedInterface& i) {
    if (!foreign.count(i.name)) return false;
    tables.insert(i.table);
    return true;
  });
  std::erase_if(out.firewall.interfaces, [&](const FirewallInterface& i) { return foreign.count(i.name) > 0; });
  std::erase_if(out.rules, [&](const Rule& r) { return foreign.count(r.iif) > 0; });
  std::erase_if(out.routes, [&](const Route& r) {
    return foreign.count(r.device) > 0 || (r.table != kMainTable && tables.count(r.table) > 0);
  });
  return out;
}

// Deletes what `have` has beyond `want`, then adds what it lacks; keeps
// `have` equal to what is now in place, sorted. For the rules (a few per
// group); routes, which grow with the devices, have a merge of their own.
template <class T, class Delete, class Add, class Describe>
void converge(const char* what, const std::vector<T>& want, std::vector<T>& have, Delete del, Add add,
              Describe describe, int& removed, int& added, std::vector<std::string>& errors) {
  std::vector<T> w = want;
  std::sort(w.begin(), w.end());
  w.erase(std::unique(w.begin(), w.end()), w.end());
  std::sort(have.begin(), have.end());
  std::vector<T> surplus, missing;
  std::set_difference(have.begin(), have.end(), w.begin(), w.end(), std::back_inserter(surplus));
  std::set_difference(w.begin(), w.end(), have.begin(), have.end(), std::back_inserter(missing));
  for (const auto& item : surplus) {
    if (auto st = del(item); st) {
      ++removed;
      have.erase(std::find(have.begin(), have.end(), item));
    } else {
      errors.push_back(std::string(what) + " " + describe(item) + ": " + st.error().message);
    }
  }
  for (const auto& item : missing) {
    if (auto st = add(item); st) {
      ++added;
      have.push_back(item);
    } else {
      errors.push_back(std::string(what) + " " + describe(item) + ": " + st.error().message);
    }
  }
  std::sort(have.begin(), have.end());  // the cache stays sorted for lookups
}

}  // namespace

bool ReconcileReport::changed() const {
  return interfaces_created || interfaces_removed || peers_added || peers_removed || device_settings || routes_added ||
         routes_removed || rules_added || rules_removed || links_set_up || firewall_applied || forwarding_enabled || filter_attached;
}

std::string ReconcileReport::summary() const {
  std::string s = "interfaces+" + std::to_string(interfaces_created) + " interfaces-" +
                  std::to_string(interfaces_removed) + " peers+" + std::to_string(peers_added) + " peers-" +
                  std::to_string(peers_removed) + " routes+" + std::to_string(routes_added) + " routes-" +
                  std::to_string(routes_removed) + " rules+" + std::to_string(rules_added) + " rules-" +
                  std::to_string(rules_removed);
  if (device_settings) s += " settings=" + std::to_string(device_settings);
  if (links_set_up) s += " links_up=" + std::to_string(links_set_up);
  if (firewall_applied) s += " firewall";
  if (filter_attached) s += " filter_on=" + std::to_string(filter_attached);
  if (forwarding_enabled) s += " ip_forward";
  if (!errors.empty()) s += " errors=" + std::to_string(errors.size());
  return s;
}

bool Reconciler::backing_off(const std::string& name, Clock::time_point now) const {
  auto it = backoff_.find(name);
  return it != backoff_.end() && now < it->second.until;
}

void Reconciler::fail_interface(const std::string& name, Clock::time_point now, const std::string& what,
                                ReconcileReport& report) {
  Backoff& b = backoff_[name];
  ++b.failures;
  auto delay = kFirstBackoff * (1 << std::min(b.failures - 1, 8));
  b.until = now + std::min<Clock::duration>(delay, kMaxBackoff);
  ready_.erase(name);
  devices_[name].known = false;
  report.errors.push_back(name + ": " + what);
}

void Reconciler::prepare_devices(const Plan& plan, PassKind kind, Clock::time_point now, ReconcileReport& report) {
  foreign_.clear();
  if (!registered_) {
    auto listed = registry_.list();
    if (listed.ok()) {
      registered_ = std::set<std::string>(listed->begin(), listed->end());
    } else {
      report.errors.push_back("listing managed interfaces: " + listed.error().message);
    }
  }
  for (const auto& want : plan.interfaces) {
    const std::string& name = want.name;
    if (backing_off(name, now)) {
      ready_.erase(name);
      continue;
    }
    // An incremental pass trusts a device it knows; a full pass looks again.
    if (kind == PassKind::incremental && ready_.count(name) && devices_[name].known) continue;

    // Recorded before it can be created, so a crash in between never leaves
    // a device nobody knows to remove.
    if (!registered_) continue;  // cannot record it: do not create it either
    if (!registered_->count(name)) {
      if (auto st = registry_.record(name); !st) {
        report.errors.push_back(name + ": recording the interface: " + st.error().message);
        continue;
      }
      registered_->insert(name);
    }
    auto readiness = wg_.prepare_device(name);
    if (!readiness) {
      fail_interface(name, now, readiness.error().message, report);
      continue;
    }
    switch (*readiness) {
      case WgBackend::Readiness::foreign:
        foreign_.insert(name);
        ready_.erase(name);
        devices_.erase(name);
        report.foreign_interfaces.push_back(name);
        report.errors.push_back(name + " (group " + want.group +
                                "): a link of this name exists and is not a WireGuard device of wgate's; refusing to "
                                "bring it up, route or trust it (rename the group's interface)");
        if (registered_ && registered_->count(name) && registry_.forget(name).ok()) registered_->erase(name);
        continue;
      case WgBackend::Readiness::starting:
        ready_.erase(name);
        report.pass_soon = true;
        continue;
      case WgBackend::Readiness::created:
        ++report.interfaces_created;
        devices_[name].known = false;
        break;
      case WgBackend::Readiness::ready:
        break;
    }
    auto link = router_.link(name);
    if (!link) {
      fail_interface(name, now, link.error().message, report);
      continue;
    }
    if (!*link || !(*link)->up) {
      if (auto st = router_.set_link_up(name); !st) {
        fail_interface(name, now, st.error().message, report);
        continue;
      }
      ++report.links_set_up;
    }
    ready_.insert(name);
  }
  // Forget interfaces that are no longer planned (their removal is below).
  for (auto it = ready_.begin(); it != ready_.end();) {
    bool planned = std::any_of(plan.interfaces.begin(), plan.interfaces.end(),
                               [&](const PlannedInterface& i) { return i.name == *it; });
    it = planned ? std::next(it) : ready_.erase(it);
  }
}

bool Reconciler::reconcile_firewall(const FirewallPlan& want, PassKind kind, ReconcileReport& report) {
  const bool trusted = kind == PassKind::incremental && !firewall_dirty_ && firewall_in_place_;
  if (trusted && *firewall_in_place_ == want) return true;
  firewall_dirty_ = false;
  bool apply = trusted;  // a known table with an old plan: replace it, no need to look
  if (!apply) {
    auto in_sync = firewall_.in_sync(want);
    if (!in_sync) {
      firewall_in_place_.reset();
      report.errors.push_back("firewall: " + in_sync.error().message);
      return false;
    }
    apply = !*in_sync;
  }
  if (apply) {
    if (auto st = firewall_.apply(want); !st) {
      firewall_in_place_.reset();
      report.errors.push_back("firewall: " + st.error().message);
      return false;
    }
    report.firewall_applied = true;
  }
  firewall_in_place_ = want;
  return true;
}

void Reconciler::reconcile_tables_and_rules(const Plan& plan, PassKind kind, ReconcileReport& report) {
  if (kind == PassKind::full || !routes_) {
    auto listed = router_.list_routes();
    if (!listed) {
      routes_.reset();
      report.errors.push_back("listing routes: " + listed.error().message);
    } else {
      routes_ = std::move(*listed);
      std::sort(routes_->begin(), routes_->end());
      routes_->erase(std::unique(routes_->begin(), routes_->end()), routes_->end());
    }
  }
  if (kind == PassKind::full || !rules_) {
    auto listed = router_.list_rules();
    if (!listed) {
      rules_.reset();
      report.errors.push_back("listing rules: " + listed.error().message);
    } else {
      rules_ = std::move(*listed);
      std::sort(rules_->begin(), rules_->end());
    }
  }
  if (routes_) {
    // Group tables and the pool blackholes; routes to devices come after
    // their peers (step 5).
    converge_routes(plan, [](const Route& r) { return !is_device_route(r); }, report);
  }
  if (rules_) {
    converge(
        "rule", plan.rules, *rules_, [&](const Rule& r) { return router_.delete_rule(r); },
        [&](const Rule& r) { return router_.add_rule(r); }, rule_to_string, report.rules_removed, report.rules_added,
        report.errors);
  }
}

std::set<std::string> Reconciler::verified_groups(const Plan& plan, bool firewall_ok) const {
  std::set<std::string> verified;
  if (!firewall_ok || !routes_ || !rules_) return verified;
  // The caches are sorted: a few lookups per group, whatever the number of
  // device routes.
  auto has_route = [&](const Route& r) { return std::binary_search(routes_->begin(), routes_->end(), r); };
  auto has_rule = [&](const Rule& r) { return std::binary_search(rules_->begin(), rules_->end(), r); };
  for (const auto& iface : plan.interfaces) {
    bool ok = std::any_of(plan.rules.begin(), plan.rules.end(),
                          [&](const Rule& r) { return r.iif == iface.name && has_rule(r); });
    for (const auto& r : plan.routes) {
      if (r.table == iface.table && !has_route(r)) ok = false;
    }
    if (ok) verified.insert(iface.name);
  }
  return verified;
}

void Reconciler::observe_devices(const Plan& plan, PassKind kind, Clock::time_point now, ReconcileReport& report) {
  for (const auto& want : plan.interfaces) {
    if (!ready_.count(want.name)) continue;
    Device& device = devices_[want.name];
    if (device.known && kind == PassKind::incremental) continue;
    auto observed = wg_.get_device(want.name);
    if (!observed) {
      fail_interface(want.name, now, observed.error().message, report);
      continue;
    }
    backoff_.erase(want.name);
    device.peers = peer_entries(*observed);
    device.private_key = observed->private_key;
    device.listen_port = observed->listen_port;
    device.known = true;
    report.devices[want.name] = std::move(*observed);
  }
}

void Reconciler::apply_peers(const Plan& plan, PassKind kind, const std::set<std::string>& verified,
                             Clock::time_point now, ReconcileReport& report) {
  struct Pending {
    const PlannedInterface* want;
    WgDeviceUpdate settings;
    WgDeviceUpdate additions;
  };
  std::vector<Pending> pending;

  // Removals everywhere first: a revocation never waits behind a setting, a
  // key file or another interface.
  for (const auto& want : plan.interfaces) {
    if (!ready_.count(want.name) || !devices_[want.name].known) continue;
    Device& device = devices_[want.name];
    Pending p{&want, {}, {}};
    p.settings.name = p.additions.name = want.name;
    // The device key is the gateway's identity for every client: adopted
    // from the live device when the file is lost, never rotated. When the
    // file cannot be read, the key is left as it is and removals still go.
    // An incremental pass trusts the key the device has (wgate set or
    // adopted it): no file read per change.
    if (kind == PassKind::full || !device.private_key) {
      auto private_key = keys_.create_or_adopt(want.name, device.private_key);
      if (!private_key) {
        report.errors.push_back(want.name + ": " + private_key.error().message);
      } else if (device.private_key != *private_key) {
        p.settings.private_key = *private_key;
      }
    }
    if (device.listen_port != want.listen_port) p.settings.listen_port = want.listen_port;

    WgDeviceUpdate removals;
    removals.name = want.name;
    for (auto& change : diff_peers(want.peers, device.peers)) {
      (change.remove ? removals : p.additions).peers.push_back(std::move(change));
    }
    if (!removals.peers.empty()) {
      if (auto st = wg_.set_device(removals); !st) {
        fail_interface(want.name, now, "removing peers: " + st.error().message, report);
        continue;
      }
      // diff_peers lists removals in key order, as the cache is sorted.
      std::vector<PeerEntry> kept;
      kept.reserve(device.peers.size() - std::min(device.peers.size(), removals.peers.size()));
      auto r = removals.peers.begin();
      for (const auto& e : device.peers) {
        while (r != removals.peers.end() && r->public_key < e.public_key) ++r;
        if (r == removals.peers.end() || r->public_key != e.public_key) kept.push_back(e);
      }
      device.peers = std::move(kept);
      report.peers_removed += static_cast<int>(removals.peers.size());
    }
    pending.push_back(std::move(p));
  }

  for (auto& p : pending) {
    const std::string& name = p.want->name;
    Device& device = devices_[name];
    if (!p.settings.empty()) {
      if (auto st = wg_.set_device(p.settings); !st) {
        // A failing setting (a port taken by another process) must not
        // hold back the additions; re-read the device next time.
        report.errors.push_back(name + ": " + st.error().message);
        device.known = false;
      } else {
        if (p.settings.private_key) device.private_key = p.settings.private_key;
        if (p.settings.listen_port) device.listen_port = *p.settings.listen_port;
        ++report.device_settings;
      }
    }
    auto in_place = [&] {
      for (const auto& peer : p.want->peers) report.keys_in_place.push_back(peer.key_id);
    };
    if (p.additions.peers.empty()) {
      if (device.known) in_place();
      continue;
    }
    if (!verified.count(name)) {
      report.errors.push_back(name + ": " + std::to_string(p.additions.peers.size()) +
                              " peer(s) held back until the group's table, rule and firewall set are in place");
      continue;
    }
    if (!device.private_key) {
      report.errors.push_back(name + ": peers held back: the device has no private key yet");
      continue;
    }
    if (auto st = wg_.set_device(p.additions); !st) {
      report.errors.push_back(name + ": " + st.error().message);
      device.known = false;
      continue;
    }
    // Removals and additions both went through: the device holds exactly
    // the planned peers now (an address given to one peer is taken from any
    // other, and the plan gives each address to one peer only).
    device.peers = peer_entries(*p.want);
    report.peers_added += static_cast<int>(p.additions.peers.size());
    in_place();
  }
}

void Reconciler::reconcile_device_routes(const Plan& plan, ReconcileReport& report) {
  if (!routes_) return;
  // Routes to an interface that is not ready now (starting, backing off)
  // are left alone on both sides: a pause must not drop them. Usually every
  // interface is ready and this is one cheap test per route.
  std::set<std::string> not_ready;
  for (const auto& i : plan.interfaces) {
    if (!ready_.count(i.name)) not_ready.insert(i.name);
  }
  converge_routes(
      plan,
      [&](const Route& r) { return is_device_route(r) && (not_ready.empty() || !not_ready.count(r.device)); },
      report);
}

void Reconciler::converge_routes(const Plan& plan, const std::function<bool(const Route&)>& in_scope,
                                 ReconcileReport& report) {
  // Both sides sorted (compile() sorts the plan's routes, the cache is kept
  // sorted): one merge finds the difference without copying either side,
  // so a one-route change at 10,000 routes costs a walk, not a sort.
  std::vector<Route> sorted_copy;
  const std::vector<Route>* want = &plan.routes;
  if (!std::is_sorted(want->begin(), want->end())) {
    sorted_copy = plan.routes;
    std::sort(sorted_copy.begin(), sorted_copy.end());
    want = &sorted_copy;
  }
  std::vector<Route> surplus, missing;
  auto w = want->begin();
  auto h = routes_->begin();
  auto skip = [&](auto& it, auto end) {
    while (it != end && !in_scope(*it)) ++it;
  };
  skip(w, want->end());
  skip(h, routes_->end());
  while (w != want->end() || h != routes_->end()) {
    if (h == routes_->end() || (w != want->end() && *w < *h)) {
      if (missing.empty() || missing.back() != *w) missing.push_back(*w);
      ++w;
    } else if (w == want->end() || *h < *w) {
      surplus.push_back(*h++);
    } else {
      ++w;
      ++h;
    }
    skip(w, want->end());
    skip(h, routes_->end());
  }
  for (const auto& r : surplus) {
    if (auto st = router_.delete_route(r); st) {
      ++report.routes_removed;
      auto it = std::lower_bound(routes_->begin(), routes_->end(), r);
      if (it != routes_->end() && *it == r) routes_->erase(it);
    } else {
      report.errors.push_back("route " + route_to_string(r) + ": " + st.error().message);
    }
  }
  for (const auto& r : missing) {
    if (auto st = router_.add_route(r); st) {
      ++report.routes_added;
      routes_->insert(std::lower_bound(routes_->begin(), routes_->end(), r), r);
    } else {
      report.errors.push_back("route " + route_to_string(r) + ": " + st.error().message);
    }
  }
}

void Reconciler::remove_retired_interfaces(const Plan& plan, ReconcileReport& report) {
  if (!registered_) return;
  std::vector<std::string> retired;
  for (const auto& name : *registered_) {
    bool planned = std::any_of(plan.interfaces.begin(), plan.interfaces.end(),
                               [&](const PlannedInterface& i) { return i.name == name; });
    if (!planned && !foreign_.count(name)) retired.push_back(name);
  }
  for (const auto& name : retired) {
    // Only a WireGuard device of ours is removed: the registry says wgate
    // made it, the backend confirms it is still that.
    auto exists = wg_.device_exists(name);
    if (!exists) {
      report.errors.push_back("retired interface " + name + ": " + exists.error().message);
      continue;
    }
    if (filter_ && filtered_.count(name)) {
      if (auto st = filter_->detach(name); !st) report.errors.push_back("filter off " + name + ": " + st.error().message);
      filtered_.erase(name);
    }
    if (*exists) {
      if (auto st = wg_.remove_device(name); !st) {
        report.errors.push_back("removing retired interface " + name + ": " + st.error().message);
        continue;
      }
      ++report.interfaces_removed;
    }
    if (auto st = registry_.forget(name); !st) {
      report.errors.push_back("forgetting retired interface " + name + ": " + st.error().message);
      continue;
    }
    registered_->erase(name);
    devices_.erase(name);
    backoff_.erase(name);
  }
}

void Reconciler::enable_forwarding(const Plan& plan, PassKind kind, bool ready, ReconcileReport& report) {
  if (!plan.ipv4_forwarding || !ready) return;
  if (forwarding_on_ && kind == PassKind::incremental) return;
  auto on = forwarding_.ipv4_enabled();
  if (!on) {
    report.errors.push_back("ip_forward: " + on.error().message);
    return;
  }
  if (!*on) {
    if (auto st = forwarding_.enable_ipv4(); !st) {
      report.errors.push_back("ip_forward: " + st.error().message);
      return;
    }
    report.forwarding_enabled = true;
  }
  forwarding_on_ = true;
}

void Reconciler::reconcile_filter(const Plan& plan, PassKind kind, std::set<std::string>& verified,
                                  ReconcileReport& report) {
  // Devices and rules first: a peer added below is then already known to
  // the filter. A failed apply keeps the old policy in force (retried next
  // pass); peers still go on, as their addresses are denied until then.
  if (auto st = filter_->apply(plan.filter); !st) report.errors.push_back("filter: " + st.error().message);
  for (const auto& iface : plan.interfaces) {
    if (!ready_.count(iface.name)) continue;  // no device yet: nothing to filter, no peers either
    const bool fresh = !filtered_.count(iface.name);
    if (auto st = filter_->attach(iface.name, kind == PassKind::full); !st) {
      report.errors.push_back("filter on " + iface.name + ": " + st.error().message);
      filtered_.erase(iface.name);
      verified.erase(iface.name);  // no new peers on an unfiltered interface
      continue;
    }
    if (fresh) {
      filtered_.insert(iface.name);
      ++report.filter_attached;
    }
  }
}

ReconcileReport Reconciler::reconcile(const Plan& planned, PassKind kind, Clock::time_point now) {
  ReconcileReport report;
  if (kind == PassKind::full) {
    for (auto& [name, device] : devices_) device.known = false;
  }
  prepare_devices(planned, kind, now, report);
  // Filtered only when there is something to filter: copying a plan of
  // 10,000 peers and routes costs more than the rest of a one-peer pass.
  std::optional<Plan> filtered;
  if (!foreign_.empty()) filtered = without_foreign(planned, foreign_);
  const Plan& plan = filtered ? *filtered : planned;
  const bool firewall_ok = reconcile_firewall(plan.firewall, kind, report);
  reconcile_tables_and_rules(plan, kind, report);
  std::set<std::string> verified = verified_groups(plan, firewall_ok);
  if (filter_) reconcile_filter(plan, kind, verified, report);
  observe_devices(plan, kind, now, report);
  apply_peers(plan, kind, verified, now, report);
  reconcile_device_routes(plan, report);
  remove_retired_interfaces(planned, report);
  enable_forwarding(plan, kind, firewall_ok && verified.size() == plan.interfaces.size(), report);
  for (const auto& [name, b] : backoff_) {
    if (now < b.until && b.until - now < std::chrono::seconds(2)) report.pass_soon = true;
  }
  return report;
}

}  // namespace wgate
