// A stable, human-readable rendering of a Plan: used by `wgate plan` and as
// the golden form in compile tests.
#pragma once

#include <string>

#include "core/plan.h"

namespace wgate {

// The one rendering of routes and rules, in ip(8) syntax so an operator can
// paste it: "throw 10.1.0.0/16 table 1001", "blackhole default table 1001",
// "10.100.0.4/32 dev wg-dev table main", "iif wg-dev lookup 1001 priority
// 1000". Used by `wgate plan`, reconcile errors and netlink errors alike.
std::string route_to_string(const Route& r);
std::string rule_to_string(const Rule& r);
// "udp/53", "tcp/8000-8100", "icmp" (the config's allow_to_gateway syntax).
std::string gateway_service_to_string(const GatewayService& s);
std::string render_plan(const Plan& plan);

}  // namespace wgate
