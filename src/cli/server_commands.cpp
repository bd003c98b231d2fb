// wgate server, wgate check-config
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <ctime>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

#include "agent/daemon.h"
#include "agent/dataplane_set.h"
#include "agent/flow_recorder.h"
#include "cli/commands.h"
#include "cli/knock_service.h"
#include "metrics/daemon_metrics.h"
#include "metrics/metrics_server.h"
#include "service/service.h"
#include "web/web_runner.h"

namespace wgate::cli {
namespace {

std::atomic<bool> g_stop{false};

std::atomic<bool> g_reload{false};

void on_signal(int) { g_stop.store(true); }
void on_hangup(int) { g_reload.store(true); }

}  // namespace

void register_server_commands(CLI::App& app, Context& ctx) {
  auto& resync_ms = ctx.options<int64_t>();
  resync_ms = 0;
  auto* server = app.add_subcommand("server", "Run the gateway daemon (reconcile loop)");
  server->add_option("--resync-ms", resync_ms, "Full observation at least this often, in ms (default: server.resync)");
  server->callback([&ctx, &resync_ms] {
    const Config& cfg = ctx.config();
    Store& store = ctx.store();
    DataplaneSet dp = get_or_fail(make_dataplane(cfg));
    if (auto filter = load_packet_filter()) {
      dp.filter = std::move(*filter);
    } else {
      dp.filter_unavailable = filter.error().message;
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    struct sigaction hup {};
    hup.sa_handler = on_hangup;
    sigaction(SIGHUP, &hup, nullptr);
    signal(SIGPIPE, SIG_IGN);
    DaemonOptions options;
    // SIGHUP re-reads the config file (policies take effect without a
    // restart); a bad file is refused and the running config stays.
    options.reload_requested = &g_reload;
    options.reload_config = [path = ctx.config_path] { return load_config(path); };
    options.resync = resync_ms > 0 ? std::chrono::milliseconds(resync_ms)
                                   : std::chrono::milliseconds(cfg.server.resync_seconds * 1000);
    // [metrics]: the listener runs on its own thread; the loop only
    // publishes a snapshot after each pass.
    std::optional<metrics::DaemonMetrics> daemon_metrics;
    std::unique_ptr<http::HttpServer> metrics_server;
    if (cfg.metrics.enabled) {
      daemon_metrics.emplace(WGATE_VERSION);
      // Logins, alert deliveries, flows: counted by the store whichever
      // process made them; read per scrape on the metrics thread.
      daemon_metrics->set_event_reader(metrics::store_event_reader(cfg.server.store_path));
      metrics_server = get_or_fail(metrics::start_metrics_server(
          cfg.metrics.listen, *daemon_metrics, [](std::string_view e) { spdlog::warn("metrics http: {}", e); }));
      spdlog::info("metrics: listening on {}", cfg.metrics.listen);
      options.on_pass = [&daemon_metrics](const DaemonPass& pass) { daemon_metrics->record(pass); };
      options.on_filter_event_losses = [&daemon_metrics](const FilterEventLosses& losses) {
        daemon_metrics->record_filter_event_losses(losses);
      };
    }
    // The filter's flow events and counters -> flow records and traffic
    // totals in the store (wgate flows, wgate traffic), on the loop's thread.
    FlowRecorder flows(store, cfg);
    options.on_flow_events = [&flows](const std::vector<FlowEvent>& events,
                                      const std::function<std::string(uint32_t)>& interface_name) {
      flows.on_events(events, interface_name, FlowRecorder::Clock::now(), static_cast<UnixTime>(std::time(nullptr)));
    };
    options.on_traffic = [&flows](const std::map<IpAddress, SourceCounters>& counters, uint64_t epoch) {
      flows.on_traffic(counters, epoch, FlowRecorder::Clock::now(), static_cast<UnixTime>(std::time(nullptr)));
    };
    // Handshakes of expired keys -> "log in again" notices (its own thread).
    auto knock = start_knock_service(knock_service_config(cfg), daemon_metrics ? &*daemon_metrics : nullptr);
    // A reload that changes anything the watcher reads (the groups' ports
    // and interfaces, the alert channels, whether `wgate web` sends)
    // restarts it with the new values; the new one remembers the last
    // hour's notices from the outbox, so none is sent twice.
    options.on_config_reloaded = [&knock, &daemon_metrics, &flows,
                                  running = knock_service_config(cfg)](const Config& next) mutable {
      flows.set_config(next);
      KnockServiceConfig wanted = knock_service_config(next);
      if (wanted == running) return;
      running = std::move(wanted);
      spdlog::info("knock: restarting the watcher with the reloaded config");
      knock.reset();
      knock = start_knock_service(running, daemon_metrics ? &*daemon_metrics : nullptr);
    };
    int rc = run_daemon(cfg, store, dp, options, g_stop);
    knock.reset();
    if (metrics_server) metrics_server->stop();
    if (rc != 0) throw CommandError{"server exited with code " + std::to_string(rc)};
  });

  auto* web = app.add_subcommand("web", "Run the web part: SSO login, the self-service page, the key API, alerts");
  web->callback([&ctx] {
    const Config& cfg = ctx.config();
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    web::WebRunOptions options;
    options.log = [](const std::string& line) { spdlog::info("{}", line); };
    options.status = [&cfg](Store& store) -> Result<service::StatusView> {
      WGATE_ASSIGN_OR_RETURN(DataplaneSet dp, make_dataplane(cfg));
      return service::status(store, cfg, *dp.wg);
    };
    auto done = web::run_web(cfg, g_stop, options);
    if (!done) throw CommandError{"web: " + done.error().message};
  });

  auto* init = app.add_subcommand("init", "Create the store and the state directory (the only command that does)");
  init->callback([&ctx] {
    auto report = get_or_fail(service::initialize(ctx.config()));
    ctx.emit({{"store", report.store_path}, {"state_dir", report.state_dir}, {"created", report.created_store}}, [&] {
      std::cout << (report.created_store ? "created store " : "store exists: ") << report.store_path
                << "; state directory " << report.state_dir << "\n";
    });
  });

  auto* check_config = app.add_subcommand("check-config", "Validate the config file and exit");
  check_config->callback([&ctx] {
    const Config& cfg = ctx.config();
    ctx.emit({{"ok", true}, {"groups", cfg.groups.size()}, {"networks", cfg.networks.size()}}, [&] {
      std::cout << ctx.config_path << ": ok (" << cfg.groups.size() << " groups, " << cfg.networks.size()
                << " networks, pool " << cfg.user_pool().to_string() << ", " << cfg.per_user
                << " addresses per person)\n";
    });
  });
}

}  // namespace wgate::cli
