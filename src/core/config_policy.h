// Loading of wgate.toml's [[policy]] tables (per-group and per-person port
// rules); private to the config module (called by parse_config once the
// networks and groups are loaded).
#pragma once

#include <toml++/toml.h>

#include "core/config.h"
#include "core/config_toml.h"

namespace wgate {

void load_policies(const toml::table& root, Config& cfg, config_toml::Problems& problems);

}  // namespace wgate
