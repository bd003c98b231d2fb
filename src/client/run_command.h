// Runs a tool the client side needs (wg, wg-quick) and waits for it. Only
// the client (`wgate login`) does this: the gateway itself never shells out.
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace wgate::client {

struct CommandResult {
  int exit_code = 0;   // 128 + signal when killed
  std::string output;  // stdout and stderr together, at most 64 KiB
};

// Runs argv[0] (looked up in PATH) with argv, stdin from /dev/null.
// Error: it could not be started.
Result<CommandResult> run_command(const std::vector<std::string>& argv);

}  // namespace wgate::client
