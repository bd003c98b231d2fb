// Loading of wgate.toml's operations sections, [log] and [connections];
// private to the config module (called by parse_config).
#pragma once

#include <toml++/toml.h>

#include "core/config.h"
#include "core/config_toml.h"

namespace wgate {

void load_ops_sections(const toml::table& root, Config& cfg, config_toml::Problems& problems);
// Checks that need the whole config: connection notices need a webhook.
void cross_check_ops(const Config& cfg, config_toml::Problems& problems);

// "text" or "json"; nullopt otherwise. Shared with `--log-format`.
std::optional<LogFormat> parse_log_format(std::string_view text);

}  // namespace wgate
