// A stable, human-readable rendering of a Plan: used by `wgate plan` and as
// the golden form in compile tests.
#pragma once

#include <string>

#include "core/plan.h"

namespace wgate {

std::string route_to_string(const Route& r);
std::string rule_to_string(const Rule& r);
std::string render_plan(const Plan& plan);

}  // namespace wgate
