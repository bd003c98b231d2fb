// Loading of wgate.toml's [metrics] section; private to the config module
// (called by parse_config).
#pragma once

#include <toml++/toml.h>

#include "core/config.h"
#include "core/config_toml.h"

namespace wgate {

void load_metrics_section(const toml::table& root, Config& cfg, config_toml::Problems& problems);
// Checks that need the whole config: the listener must not collide with [web]'s.
void cross_check_metrics(const Config& cfg, config_toml::Problems& problems);

}  // namespace wgate
