// Reconciler: observes the data plane, diffs it against a Plan and applies
// the minimal change.
//
// Safe to run any number of times: a converged system produces no writes.
// It never removes a peer, route or rule that the Plan still wants, so a
// restart keeps every valid tunnel up; whatever the Plan does not want
// (a key revoked while wgate was down) is removed.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "store/interface_keys.h"
#include "core/plan.h"
#include "dataplane/firewall.h"
#include "dataplane/router.h"
#include "dataplane/wg_backend.h"
#include "util/result.h"

namespace wgate {

struct ReconcileReport {
  int interfaces_created = 0;
  int interfaces_removed = 0;  // of groups no longer in the config
  int peers_added = 0;       // includes peers whose allowed IPs were fixed
  int peers_removed = 0;
  int routes_added = 0;
  int routes_removed = 0;
  int rules_added = 0;
  int rules_removed = 0;
  bool firewall_applied = false;
  bool forwarding_enabled = false;
  // Observed devices, for handshake bookkeeping and status.
  std::map<std::string, WgDeviceState> devices;
  // Non-fatal per-object failures; the next pass retries them.
  std::vector<std::string> errors;

  bool changed() const {
    return interfaces_created || interfaces_removed || peers_added || peers_removed || routes_added || routes_removed || rules_added ||
           rules_removed || firewall_applied || forwarding_enabled;
  }
  std::string summary() const;
};

class Reconciler {
 public:
  Reconciler(WgBackend& wg, Router& router, Firewall& firewall, Forwarding& forwarding, InterfaceKeys& keys)
      : wg_(wg), router_(router), firewall_(firewall), forwarding_(forwarding), keys_(keys) {}

  // One pass. Errors on single objects are collected in the report and do
  // not stop the pass; an error return means nothing could be observed.
  Result<ReconcileReport> reconcile(const Plan& plan);

 private:
  void reconcile_interface(const PlannedInterface& want, ReconcileReport& report);
  void remove_retired_interfaces(const Plan& plan, ReconcileReport& report);
  void reconcile_routes_and_rules(const Plan& plan, ReconcileReport& report);

  WgBackend& wg_;
  Router& router_;
  Firewall& firewall_;
  Forwarding& forwarding_;
  InterfaceKeys& keys_;
};

}  // namespace wgate
