// Which config the daemon runs. `wgate explain`, `wgate plan` and the admin
// API answer from the config file they read; the daemon runs the one it
// loaded at start or at its last good SIGHUP. After an edit without SIGHUP,
// or a reload the daemon refused, the two differ, and an answer from the
// file would describe rules that are not enforced. The daemon records the
// SHA-256 of what it runs in its state directory; the readers compare.
//
// A file in state_dir, not a store row: it describes this gateway's process,
// not shared data (several gateways on one store each run their own config).
#pragma once

#include <optional>
#include <string>

#include "core/config.h"
#include "core/model.h"
#include "util/result.h"

namespace wgate::service {

// What the daemon wrote when it (re)loaded its config.
struct RunningConfig {
  std::string sha256;
  UnixTime loaded_at = 0;
};

// The file's path: <state_dir>/running-config.
std::string running_config_path(const Config& config);

// Called by the daemon at start and after each config it accepts on SIGHUP.
// Written atomically (a reader sees the old record or the new one), 0644:
// it holds a digest, nothing secret.
Status record_running_config(const Config& config, UnixTime now);

// The daemon's record, or nothing when no daemon has written one (never
// started with this state_dir). An unreadable or malformed file is an error
// naming it.
Result<std::optional<RunningConfig>> read_running_config(const Config& config);

// A one-line warning when `config` (as read from its file) is not what the
// daemon runs; nothing when they agree or no daemon has recorded one. Never
// fails: a record that cannot be read is reported in the warning.
std::optional<std::string> running_config_warning(const Config& config);

}  // namespace wgate::service
