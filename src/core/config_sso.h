// Loading of the SSO sections of wgate.toml ([oidc], [web], [keys],
// [alerts]); private to the config module (called by parse_config).
#pragma once

#include <toml++/toml.h>

#include "core/config.h"
#include "core/config_toml.h"

namespace wgate {

void load_sso_sections(const toml::table& root, Config& cfg, config_toml::Problems& problems);
// Checks that need the whole config (group names in group_map...).
void cross_check_sso(const Config& cfg, config_toml::Problems& problems);

}  // namespace wgate
