// plan_preview(): what replacing the running config by another would change,
// from the two plans compiled against the same store state. Pure: no I/O.
// `wgate plan --config NEW` prints it without applying anything.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/plan.h"

namespace wgate {

struct PlanPreview {
  std::vector<std::string> interfaces_added, interfaces_removed, interfaces_changed;  // "wg-dev (group dev, port 51820, table 1001)"
  std::vector<std::string> routes_added, routes_removed;   // ip(8) syntax
  std::vector<std::string> rules_added, rules_removed;
  std::vector<std::string> peers_added, peers_removed;     // "alice/laptop on wg-dev"
  std::vector<std::string> peers_moved;                    // "alice/laptop: wg-dev -> wg-ops"
  std::vector<std::string> filter_rules_added, filter_rules_removed;  // "group dev: 10.1.0.0/16 tcp/22"
  // Per person: what their devices may reach, as "10.1.0.0/16 tcp/22".
  std::map<std::string, std::vector<std::string>> access_gained, access_lost;
  std::vector<std::string> warnings_added;                 // new plan warnings
  bool empty() const;
};

PlanPreview preview_plan_change(const Plan& before, const Plan& after);

}  // namespace wgate
