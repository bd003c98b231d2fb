// wgate whois, explain, status, plan, audit
#include <iostream>

#include "agent/dataplane_set.h"
#include "cli/commands.h"
#include "core/plan_text.h"
#include "core/time_text.h"
#include "service/json.h"
#include "service/running_config.h"

namespace wgate::cli {
namespace {

// On stderr, so --json output stays one document.
void warn_if_not_running(const Config& config) {
  if (auto w = service::running_config_warning(config)) std::cerr << "wgate: warning: " << *w << "\n";
}

struct WhoisOptions {
  std::string address, at;
};

struct ExplainOptions {
  std::string target, destination, protocol_port;
};

}  // namespace

void register_info_commands(CLI::App& app, Context& ctx) {
  auto& whois_opts = ctx.options<WhoisOptions>();
  auto* whois = app.add_subcommand("whois", "Who held an address (now, or at a past time): person and device");
  whois->add_option("address", whois_opts.address, "A device address, e.g. 10.100.0.7")->required();
  whois->add_option("--at", whois_opts.at,
                    "When: Unix seconds or RFC 3339 (2026-11-23T07:00:00Z, 2026-11-23T08:00:00+01:00); default now");
  whois->callback([&ctx, &whois_opts] {
    UnixTime now = ctx.now();
    UnixTime at = whois_opts.at.empty() ? now : get_or_fail(parse_time(whois_opts.at, now));
    auto a = get_or_fail(service::whois(ctx.store(), ctx.config(), whois_opts.address, at));
    ctx.emit(service::to_json(a), [&] {
      if (!a.user) {
        std::cout << a.address.to_string() << " was not leased at " << format_utc(at) << "\n";
        return;
      }
      std::cout << a.address.to_string() << " at " << format_utc(at) << ": " << a.user->name;
      if (!a.user->email.empty()) std::cout << " <" << a.user->email << ">";
      std::string devices;
      for (const auto& d : a.devices) devices += (devices.empty() ? "" : ", ") + d.name;
      std::cout << ", device " << (devices.empty() ? std::string("(none in this slot)") : devices) << " (block "
                << a.block->to_string() << " since " << format_utc(a.lease->from) << ", keys:";
      for (const auto& k : a.keys) std::cout << " " << k.id;
      std::cout << ")\n";
    });
  });

  auto* status = app.add_subcommand("status", "Interfaces, peers, handshakes and bytes, as the data plane sees them");
  status->callback([&ctx] {
    DataplaneSet dp = get_or_fail(make_dataplane(ctx.config()));
    auto s = get_or_fail(service::status(ctx.store(), ctx.config(), *dp.wg));
    UnixTime now = ctx.now();
    ctx.emit(service::to_json(s), [&] {
      std::cout << "backend: " << s.backend << "\n";
      for (const auto& i : s.interfaces) {
        std::cout << "interface " << i.name << " (group " << i.group << "): " << (i.up ? "up" : "DOWN");
        if (!i.error.empty()) std::cout << " (" << i.error << ")";
        std::cout << "\n";
        for (const auto& p : i.peers) {
          int64_t hs = p.peer.last_handshake_sec;
          std::cout << "  peer " << p.peer.public_key.to_base64() << " "
                    << (p.key_id ? p.user + "/" + p.device : std::string("?")) << " "
                    << (p.peer.allowed_ips.empty() ? std::string("-") : p.peer.allowed_ips[0].to_string())
                    << " handshake " << (hs ? std::to_string(now - hs) + "s ago" : std::string("never")) << " rx "
                    << p.peer.rx_bytes << " tx " << p.peer.tx_bytes << "\n";
        }
      }
    });
  });

  auto& plan_next = ctx.options<std::string>();
  auto* plan = app.add_subcommand("plan", "Print the desired state compiled from config and store");
  plan->add_option("--config", plan_next,
                   "Preview: what this config file would change against the config of -c (warned when the daemon "
                   "runs another) and the live store "
                   "(nothing is applied)");
  plan->callback([&ctx, &plan_next] {
    if (!plan_next.empty()) {
      const Config next = get_or_fail(load_config(plan_next));
      auto d = get_or_fail(service::plan_preview(ctx.store(), ctx.config(), next, ctx.now()));
      warn_if_not_running(ctx.config());
      ctx.emit(service::to_json(d), [&] {
        if (d.empty()) {
          std::cout << plan_next << ": no change\n";
          return;
        }
        auto list = [](const char* what, const std::vector<std::string>& items) {
          for (const auto& i : items) std::cout << what << " " << i << "\n";
        };
        list("+ interface", d.interfaces_added);
        list("- interface", d.interfaces_removed);
        list("~ interface", d.interfaces_changed);
        list("+ route", d.routes_added);
        list("- route", d.routes_removed);
        list("+ rule", d.rules_added);
        list("- rule", d.rules_removed);
        list("+ peer", d.peers_added);
        list("- peer", d.peers_removed);
        list("~ peer", d.peers_moved);
        list("+ filter", d.filter_rules_added);
        list("- filter", d.filter_rules_removed);
        for (const auto& [person, items] : d.access_gained) list(("+ access " + person).c_str(), items);
        for (const auto& [person, items] : d.access_lost) list(("- access " + person).c_str(), items);
        list("! warning", d.warnings_added);
      });
      return;
    }
    Plan p = get_or_fail(service::plan(ctx.store(), ctx.config(), ctx.now()));
    warn_if_not_running(ctx.config());
    ctx.emit(service::to_json(p), [&] { std::cout << render_plan(p); });
  });

  auto& explain_opts = ctx.options<ExplainOptions>();
  auto* explain = app.add_subcommand(
      "explain", "Can a person (or a device) reach an address, and which step decides: membership, key, group "
                 "table, firewall, port rules");
  explain->add_option("who", explain_opts.target, "A person's name, or a device address (e.g. 10.100.0.7)")
      ->required();
  explain->add_option("destination", explain_opts.destination, "The address to reach, e.g. 10.1.2.3")->required();
  explain->add_option("proto_port", explain_opts.protocol_port, "tcp/PORT, udp/PORT or icmp (optional)");
  explain->callback([&ctx, &explain_opts] {
    std::optional<std::string> pp;
    if (!explain_opts.protocol_port.empty()) pp = explain_opts.protocol_port;
    auto e = get_or_fail(service::explain(ctx.store(), ctx.config(), explain_opts.target, explain_opts.destination,
                                          pp, ctx.now()));
    warn_if_not_running(ctx.config());
    ctx.emit(service::to_json(e), [&] {
      std::cout << (e.allowed ? "ALLOWED: " : "DENIED: ") << e.summary << "\n";
      for (const auto& d : e.devices) {
        std::cout << "device " << d.device << " (" << (d.address ? d.address->to_string() : std::string("no address"))
                  << "): " << (d.allowed ? "allowed" : "denied at step " + d.deciding) << "\n";
        for (const auto& s : d.steps) {
          std::cout << "  " << (s.passed ? "ok  " : "NO  ") << s.name << ": " << s.detail << "\n";
        }
      }
    });
  });

  auto& audit_limit = ctx.options<size_t>();
  audit_limit = 50;
  auto* audit = app.add_subcommand("audit", "Show the newest audit records, in order");
  audit->add_option("--limit", audit_limit, "How many records");
  audit->callback([&ctx, &audit_limit] {
    auto records = get_or_fail(service::audit_log(ctx.store(), audit_limit));
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : records) arr.push_back(service::to_json(r));
    ctx.emit(arr, [&] {
      for (const auto& r : records) {
        std::cout << format_utc(r.at) << " " << r.actor << " " << r.action << " " << r.subject << " " << r.detail
                  << "\n";
      }
    });
  });
}

}  // namespace wgate::cli
