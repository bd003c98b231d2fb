// wgate login: a device logs in with the company SSO and gets a key.
#include <unistd.h>

#include <iostream>
#include <thread>

#include "auth/http_client.h"
#include "cli/commands.h"
#include "client/login.h"
#include "client/terminal_qr.h"
#include "core/time_text.h"

namespace wgate::cli {
namespace {

struct LoginCommandOptions {
  client::LoginOptions login;
  std::string group, ttl, ca_file;
};

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "default";
  std::string name(buf);
  // Device names are letters, digits, . _ - (core/names.h).
  for (char& c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) c = '-';
  }
  return name.substr(0, 64);
}

}  // namespace

void register_login_commands(CLI::App& app, Context& ctx) {
  auto& o = ctx.options<LoginCommandOptions>();
  auto* login = app.add_subcommand("login", "Log this device in with your company account and get (or renew) its key");
  login->add_option("--server", o.login.server, "wgate's URL, e.g. https://vpn.example.com")->required();
  login->add_option("--device", o.login.device, "This device's name at wgate (default: the host name)");
  login->add_option("--group", o.group, "The group to connect to, when you are in several");
  login->add_option("--ttl", o.ttl, "A shorter key lifetime than the policy's, e.g. 2h");
  login->add_option("--interface", o.login.interface, "The WireGuard interface name (default wgate)");
  login->add_option("--config-dir", o.login.config_dir, "Where the wg-quick config goes (default /etc/wireguard)");
  login->add_option("--ca-file", o.ca_file, "Trust this CA bundle for the server's certificate");
  login->add_flag("--up", o.login.up, "Bring the tunnel up with wg-quick");
  login->callback([&ctx, &o] {
    client::LoginOptions options = o.login;
    if (options.device.empty()) options.device = host_name();
    if (!o.group.empty()) options.group = o.group;
    if (!o.ttl.empty()) options.ttl = o.ttl;
    auth::HttpOptions http_options;
    if (!o.ca_file.empty()) http_options.ca_file = o.ca_file;
    auto http = get_or_fail(auth::make_curl_http_client(http_options));
    client::LoginUi ui;
    ui.prompt = [&ctx](const client::LoginPrompt& p) {
      // With --json the prompt still goes to the terminal (stderr), so the
      // JSON on stdout stays parseable.
      std::ostream& out = ctx.json ? std::cerr : std::cout;
      out << "To log in, open " << p.verification_uri << " and enter the code " << p.user_code << "\n";
      if (!p.verification_uri_complete.empty()) {
        out << "or open " << p.verification_uri_complete << "\n";
        if (auto qr = client::terminal_qr(p.verification_uri_complete)) out << *qr;
      }
      out << "Waiting for the login (the code expires in " << p.expires_in << " s)...\n" << std::flush;
    };
    ui.status = [&ctx](const std::string& s) { (ctx.json ? std::cerr : std::cout) << s << "\n" << std::flush; };
    ui.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
    auto result = get_or_fail(client::login(*http, options, ui));
    ctx.emit({{"key_id", result.key_id},
              {"device", result.device},
              {"address", result.address},
              {"group", result.group},
              {"expires_at", result.expires_at},
              {"config", result.config_path},
              {"switched_live", result.switched_live},
              {"brought_up", result.brought_up}},
             [&] {
               std::cout << "key " << result.key_id << " for " << result.device << " (" << result.address
                         << "), group " << result.group << ", expires " << format_utc(result.expires_at) << "\n";
               std::cout << "config: " << result.config_path;
               if (result.switched_live) std::cout << " (the running tunnel switched to the new key)";
               if (result.brought_up) std::cout << " (tunnel up)";
               std::cout << "\nRun wgate login again before it expires.\n";
             });
  });
}

}  // namespace wgate::cli
