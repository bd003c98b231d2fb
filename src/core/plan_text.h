// A stable, human-readable rendering of a Plan: used by `wgate plan` and as
// the golden form in compile tests.
#pragma once

#include <string>

#include "core/plan.h"

namespace wgate {

std::string route_to_string(const Route& r);
std::string rule_to_string(const Rule& r);
// "udp/53", "tcp/8000-8100", "icmp" (the config's allow_to_gateway syntax).
std::string gateway_service_to_string(const GatewayService& s);
std::string render_plan(const Plan& plan);

}  // namespace wgate
