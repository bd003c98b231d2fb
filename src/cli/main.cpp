// wgate: the command line. Wires the subcommands; all logic lives in the
// modules. Errors print as "wgate: <reason>" and exit 1.
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "core/config_ops.h"
#include "log/json_formatter.h"

int main(int argc, char** argv) {
  using namespace wgate::cli;
  Context ctx;
  if (const char* env = std::getenv("WGATE_CONFIG")) ctx.config_path = env;
  CLI::App app{"wgate: WireGuard access server with group segmentation and one address per user"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags (--json, --config) also after the subcommand
  app.add_option("-c,--config", ctx.config_path, "Config file (default /etc/wgate/wgate.toml, or $WGATE_CONFIG)");
  app.add_flag("--json", ctx.json, "Machine-readable output");
  app.add_option_function<std::string>(
         "--log-format",
         [&ctx](const std::string& v) {
           ctx.log_format = wgate::parse_log_format(v);
           wgate::log::use_format(*ctx.log_format);
         },
         "Log lines as text (default) or json (one object per line); wins over [log] format")
      ->check(CLI::IsMember({"text", "json"}));
  register_server_commands(app, ctx);
  register_user_commands(app, ctx);
  register_key_commands(app, ctx);
  register_info_commands(app, ctx);
  register_login_commands(app, ctx);
  register_token_commands(app, ctx);
  register_flow_commands(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const CommandError& e) {
    std::cerr << "wgate: " << e.message << "\n";
    return 1;
  } catch (const std::exception& e) {
    // Not expected (module boundaries return errors as values); still a
    // clear message and exit code rather than std::terminate.
    std::cerr << "wgate: internal error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
