#include "agent/reconciler.h"

#include <algorithm>

#include "core/diff.h"
#include "core/plan_text.h"

namespace wgate {

std::string ReconcileReport::summary() const {
  std::string s = "interfaces+" + std::to_string(interfaces_created) + " interfaces-" +
                  std::to_string(interfaces_removed) + " peers+" + std::to_string(peers_added) +
                  " peers-" + std::to_string(peers_removed) + " routes+" + std::to_string(routes_added) + " routes-" +
                  std::to_string(routes_removed) + " rules+" + std::to_string(rules_added) + " rules-" +
                  std::to_string(rules_removed);
  if (firewall_applied) s += " firewall";
  if (forwarding_enabled) s += " ip_forward";
  if (!errors.empty()) s += " errors=" + std::to_string(errors.size());
  return s;
}

void Reconciler::reconcile_interface(const PlannedInterface& want, ReconcileReport& report) {
  auto fail = [&](const Error& e) { report.errors.push_back(want.name + ": " + e.message); };
  auto created = wg_.ensure_device(want.name);
  if (!created) return fail(created.error());
  if (*created) ++report.interfaces_created;
  if (auto st = router_.set_link_up(want.name); !st) return fail(st.error());
  auto have = wg_.get_device(want.name);
  if (!have) return fail(have.error());
  // The device key is the gateway's identity for every client: when the key
  // file is missing but the live device has a key, adopt it, never rotate.
  auto private_key = keys_.create_or_adopt(want.name, have->private_key);
  if (!private_key) return fail(private_key.error());
  WgDeviceUpdate update = diff_device(want, *have, *private_key);
  if (!update.empty()) {
    // Removals, device settings and additions go separately, so that a
    // failing setting (a port taken by another process) cannot hold back a
    // revocation. Each failure is reported; the next pass retries.
    for (const auto& step : split_for_apply(update)) {
      if (auto st = wg_.set_device(step); !st) {
        fail(st.error());
        continue;
      }
      for (const auto& p : step.peers) ++(p.remove ? report.peers_removed : report.peers_added);
    }
    // Re-read so that status and handshake bookkeeping see what is there.
    have = wg_.get_device(want.name);
    if (!have) return fail(have.error());
  }
  report.devices[want.name] = std::move(*have);
}

void Reconciler::remove_retired_interfaces(const Plan& plan, ReconcileReport& report) {
  // An interface wgate once managed (it has a key in the state directory)
  // whose group is gone from the config: its peers must not stay reachable.
  for (const std::string& name : std::vector<std::string>{}) {  // TODO(reconciler rewrite)
    bool planned = std::any_of(plan.interfaces.begin(), plan.interfaces.end(),
                               [&](const PlannedInterface& i) { return i.name == name; });
    if (planned) continue;
    auto exists = wg_.device_exists(name);
    if (!exists) {
      report.errors.push_back(name + ": " + exists.error().message);
    } else if (*exists) {
      if (auto st = wg_.remove_device(name); st) {
        ++report.interfaces_removed;
      } else {
        report.errors.push_back("removing retired interface " + name + ": " + st.error().message);
      }
    }
  }
}

namespace {

// Lists what exists, diffs it against `want`, deletes the surplus and adds
// what is missing; counts and errors go into the report. Shared by routes
// and rules, which differ only in their types and Router calls.
template <class T, class List, class Diff, class Delete, class Add, class Describe>
void reconcile_set(const char* what, const std::vector<T>& want, List list, Diff diff, Delete del, Add add,
                   Describe describe, int& removed, int& added, std::vector<std::string>& errors) {
  auto have = list();
  if (!have) {
    errors.push_back(std::string("listing ") + what + "s: " + have.error().message);
    return;
  }
  auto d = diff(want, *have);
  for (const auto& item : d.to_remove) {
    if (auto st = del(item); st) {
      ++removed;
    } else {
      errors.push_back(std::string(what) + " " + describe(item) + ": " + st.error().message);
    }
  }
  for (const auto& item : d.to_add) {
    if (auto st = add(item); st) {
      ++added;
    } else {
      errors.push_back(std::string(what) + " " + describe(item) + ": " + st.error().message);
    }
  }
}

}  // namespace

void Reconciler::reconcile_routes_and_rules(const Plan& plan, ReconcileReport& report) {
  // A route or rule naming an interface that failed to come up fails too;
  // both are retried on the next pass.
  reconcile_set(
      "route", plan.routes, [&] { return router_.list_routes(); }, diff_routes,
      [&](const Route& r) { return router_.delete_route(r); }, [&](const Route& r) { return router_.add_route(r); },
      route_to_string, report.routes_removed, report.routes_added, report.errors);
  reconcile_set(
      "rule", plan.rules, [&] { return router_.list_rules(); }, diff_rules,
      [&](const Rule& r) { return router_.delete_rule(r); }, [&](const Rule& r) { return router_.add_rule(r); },
      rule_to_string, report.rules_removed, report.rules_added, report.errors);
}

Result<ReconcileReport> Reconciler::reconcile(const Plan& plan) {
  ReconcileReport report;
  // The firewall goes first: forwarding must never be on without it.
  auto in_sync = firewall_.in_sync(plan.firewall);
  if (!in_sync) {
    report.errors.push_back("firewall: " + in_sync.error().message);
  } else if (!*in_sync) {
    if (auto st = firewall_.apply(plan.firewall); st) {
      report.firewall_applied = true;
    } else {
      report.errors.push_back("firewall: " + st.error().message);
    }
  }
  for (const auto& iface : plan.interfaces) reconcile_interface(iface, report);
  remove_retired_interfaces(plan, report);
  reconcile_routes_and_rules(plan, report);

  bool firewall_ok = in_sync.ok() && (*in_sync || report.firewall_applied);
  if (plan.ipv4_forwarding && firewall_ok) {
    auto on = forwarding_.ipv4_enabled();
    if (!on) {
      report.errors.push_back("ip_forward: " + on.error().message);
    } else if (!*on) {
      if (auto st = forwarding_.enable_ipv4(); st) {
        report.forwarding_enabled = true;
      } else {
        report.errors.push_back("ip_forward: " + st.error().message);
      }
    }
  }
  return report;
}

}  // namespace wgate
