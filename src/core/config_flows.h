// Loading of wgate.toml's [flows] section; private to the config module
// (called by parse_config).
#pragma once

#include <toml++/toml.h>

#include "core/config.h"
#include "core/config_toml.h"

namespace wgate {

void load_flows_section(const toml::table& root, Config& cfg, config_toml::Problems& problems);

}  // namespace wgate
