// Registration of `wgate` subcommands on the CLI11 app. Each register_*
// function adds one family of commands; handlers throw CommandError.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace wgate::cli {

void register_user_commands(CLI::App& app, Context& ctx);
void register_key_commands(CLI::App& app, Context& ctx);
void register_info_commands(CLI::App& app, Context& ctx);
void register_server_commands(CLI::App& app, Context& ctx);
void register_login_commands(CLI::App& app, Context& ctx);
void register_token_commands(CLI::App& app, Context& ctx);
void register_flow_commands(CLI::App& app, Context& ctx);

}  // namespace wgate::cli
