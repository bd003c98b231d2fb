// Reconciler: brings the data plane to a Plan with the fewest writes.
//
// Safe to run any number of times: a pass over an unchanged plan and data
// plane writes nothing. It never removes a peer, route or rule that the Plan
// still wants, so a restart keeps every valid tunnel up; whatever the Plan
// does not want (a key revoked while wgate was down) is removed.
//
// Order of a pass, and why:
//   1. devices: create or adopt each planned interface (recorded in the
//      registry before it is created); a name that is some other link (eth0,
//      another VPN's tun0) is refused and left out of everything below;
//   2. firewall (nftables guard), then each group's table and `ip rule`:
//      a group whose table, rule and firewall set are not verified gets no
//      new peers, and forwarding is not switched on;
//   3. peer removals on every interface (revoked, expired, disabled) before
//      any setting or addition anywhere, so no failing setting, key file or
//      neighbour holds a revocation back;
//   4. device settings (key, port), then peer additions;
//   5. main-table routes to devices, interfaces of retired groups, and
//      ip_forward last.
// A failing interface backs off on its own (exponentially, up to 30 s),
// while the others carry on.
//
// Passes come in two kinds. A full pass observes everything (devices, routes,
// rules, firewall); an incremental pass trusts what the reconciler last
// observed and applied, and only writes the difference: that is what makes a
// one-peer change at 10,000 peers cost about what `wg set` costs. The daemon
// runs incremental passes on store changes and full passes periodically, so
// drift (someone else's edits) is still corrected. Not thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/diff.h"
#include "core/plan.h"
#include "dataplane/firewall.h"
#include "dataplane/packet_filter.h"
#include "dataplane/router.h"
#include "dataplane/wg_backend.h"
#include "store/interface_keys.h"
#include "util/result.h"

namespace wgate {

// Where the reconciler records the interfaces it manages, so that the
// interface of a group removed from the config is found and removed (the
// store in the daemon, a fake in tests).
class InterfaceRegistry {
 public:
  virtual ~InterfaceRegistry() = default;
  virtual Result<std::vector<std::string>> list() = 0;
  virtual Status record(const std::string& name) = 0;
  virtual Status forget(const std::string& name) = 0;
};

struct ReconcileReport {
  int interfaces_created = 0;
  int interfaces_removed = 0;  // of groups no longer in the config
  int peers_added = 0;         // includes peers whose allowed IPs were fixed
  int peers_removed = 0;
  int device_settings = 0;     // private key or port written
  int routes_added = 0;
  int routes_removed = 0;
  int rules_added = 0;
  int rules_removed = 0;
  int links_set_up = 0;
  bool firewall_applied = false;
  int filter_attached = 0;     // interfaces the L4 filter was (re)attached to
  bool forwarding_enabled = false;
  // Observed devices (full passes only), for handshake bookkeeping.
  std::map<std::string, WgDeviceState> devices;
  // Interfaces refused because the name is some other link.
  std::vector<std::string> foreign_interfaces;
  // Something is under way (a device starting, a back-off ending): the
  // caller should run another pass soon rather than wait for the next one.
  bool pass_soon = false;
  // Keys whose peers are in their devices as planned after this pass (the
  // daemon records when each was first seen there: the CLI waits for that
  // before it switches to a new key).
  std::vector<int64_t> keys_in_place;
  // Non-fatal per-object failures; the next pass retries them.
  std::vector<std::string> errors;

  // True when the pass wrote anything to the data plane.
  bool changed() const;
  std::string summary() const;
};

enum class PassKind {
  full,         // observe everything, then fix it
  incremental,  // apply the plan against what was last observed and applied
};

class Reconciler {
 public:
  using Clock = std::chrono::steady_clock;

  Reconciler(WgBackend& wg, Router& router, Firewall& firewall, Forwarding& forwarding, InterfaceKeys& keys,
             InterfaceRegistry& registry)
      : wg_(wg), router_(router), firewall_(firewall), forwarding_(forwarding), keys_(keys), registry_(registry) {}

  // One pass at time `now` (for back-off). Errors on single objects are
  // collected in the report and do not stop the pass.
  ReconcileReport reconcile(const Plan& plan, PassKind kind, Clock::time_point now);
  ReconcileReport reconcile(const Plan& plan, PassKind kind = PassKind::full) {
    return reconcile(plan, kind, Clock::now());
  }

  // The L4 filter (the eBPF one) to keep in line with plan.filter, or null
  // (none: port rules are not enforced). With a filter, an interface gets no
  // new peers until the filter sits on it, and the filter's devices are
  // written before the peers (a new device is denied, never unfiltered).
  void set_filter(PacketFilter* filter) { filter_ = filter; }

  // The firewall may have changed under us (an nftables event): the next
  // pass of either kind checks it.
  void mark_firewall_dirty() { firewall_dirty_ = true; }

 private:
  struct Backoff {
    int failures = 0;
    Clock::time_point until{};
  };
  // What the reconciler knows of one device between passes: as last
  // observed, with its own successful writes applied.
  struct Device {
    std::vector<PeerEntry> peers;  // sorted by key
    std::optional<WgKey> private_key;
    uint16_t listen_port = 0;
    bool known = false;            // trustworthy: an incremental pass diffs against it
  };

  void prepare_devices(const Plan& plan, PassKind kind, Clock::time_point now, ReconcileReport& report);
  bool reconcile_firewall(const FirewallPlan& want, PassKind kind, ReconcileReport& report);
  void reconcile_tables_and_rules(const Plan& plan, PassKind kind, ReconcileReport& report);
  std::set<std::string> verified_groups(const Plan& plan, bool firewall_ok) const;
  void observe_devices(const Plan& plan, PassKind kind, Clock::time_point now, ReconcileReport& report);
  void apply_peers(const Plan& plan, PassKind kind, const std::set<std::string>& verified, Clock::time_point now,
                   ReconcileReport& report);
  void reconcile_device_routes(const Plan& plan, ReconcileReport& report);
  // Applies plan.filter and attaches the filter to every ready interface;
  // drops from `verified` the interfaces it is not on.
  void reconcile_filter(const Plan& plan, PassKind kind, std::set<std::string>& verified, ReconcileReport& report);
  // Converges the cached routes that `in_scope` selects toward the plan's;
  // the others are left as they are. Needs routes_.
  void converge_routes(const Plan& plan, const std::function<bool(const Route&)>& in_scope, ReconcileReport& report);
  void remove_retired_interfaces(const Plan& plan, ReconcileReport& report);
  void enable_forwarding(const Plan& plan, PassKind kind, bool ready, ReconcileReport& report);

  bool backing_off(const std::string& name, Clock::time_point now) const;
  void fail_interface(const std::string& name, Clock::time_point now, const std::string& what,
                      ReconcileReport& report);

  WgBackend& wg_;
  Router& router_;
  Firewall& firewall_;
  Forwarding& forwarding_;
  InterfaceKeys& keys_;
  InterfaceRegistry& registry_;
  PacketFilter* filter_ = nullptr;
  std::set<std::string> filtered_;  // interfaces the filter was attached to

  // What the reconciler knows of the data plane between passes.
  std::map<std::string, Device> devices_;
  std::set<std::string> ready_;     // planned interfaces that answered this pass
  std::set<std::string> foreign_;   // planned names that are some other link
  std::optional<std::set<std::string>> registered_;
  std::optional<std::vector<Route>> routes_;
  std::optional<std::vector<Rule>> rules_;
  std::optional<FirewallPlan> firewall_in_place_;
  bool firewall_dirty_ = true;
  bool forwarding_on_ = false;
  std::map<std::string, Backoff> backoff_;
};

}  // namespace wgate
