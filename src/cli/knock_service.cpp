#include "cli/knock_service.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <ctime>
#include <thread>
#include <tuple>

#include "agent/knock_watcher.h"
#include "notify/dispatcher.h"
#include "store/interface_keys.h"
#include "store/store.h"
#include "web/store_outbox.h"
#include "web/web_runner.h"
#ifdef WGATE_HAVE_BPF
#include "dataplane/initiation_capture.h"
#endif

namespace wgate::cli {

#ifdef WGATE_HAVE_BPF
namespace {

class RunningKnockService final : public KnockService {
 public:
  static Result<std::unique_ptr<RunningKnockService>> start(const KnockServiceConfig& config,
                                                            metrics::DaemonMetrics* metrics) {
    auto self = std::make_unique<RunningKnockService>();
    self->metrics_ = metrics;
    WGATE_ASSIGN_OR_RETURN(auto capture, InitiationCapture::open());
    self->capture_ = std::make_unique<InitiationCapture>(std::move(capture));
    WGATE_ASSIGN_OR_RETURN(self->store_, open_sqlite_store(config.store_path, StoreOpen::existing));
    WGATE_ASSIGN_OR_RETURN(self->outbox_store_, open_sqlite_store(config.store_path, StoreOpen::existing));
    self->outbox_ = std::make_unique<web::StoreOutbox>(*self->outbox_store_);
    WGATE_ASSIGN_OR_RETURN(auto notifiers, web::make_notifiers(config.alerts));
    self->dispatcher_ = std::make_unique<notify::Dispatcher>(
        *self->outbox_, std::move(notifiers), web::dispatch_policy(config.alerts), notify::system_dispatch_clock(),
        [](const notify::DispatchEvent& e) {
          spdlog::info("alert {} on {}: {}{}", e.dedup_key, e.channel, notify::to_string(e.type),
                       e.error.empty() ? "" : " (" + e.error + ")");
        });
    // One sender per outbox (due() does not claim rows): with a web part,
    // `wgate web` sends; this process only enqueues.
    if (!config.web_sends_alerts) self->dispatcher_->start();

    const std::map<uint16_t, std::string>& ports = config.ports;
    InterfaceKeys keys(config.state_dir);
    notify::Dispatcher* dispatcher = self->dispatcher_.get();
    self->watcher_ = std::make_unique<KnockWatcher>(
        ports, [keys](const std::string& name) { return keys.load(name); },
        [dispatcher](const notify::Alert& a, UnixTime now) -> Status {
          WGATE_ASSIGN_OR_RETURN(size_t added, dispatcher->raise({a}, now));
          (void)added;
          // At most one line per key and hour (the watcher's notice rule).
          spdlog::info("knock: {}'s device {} retries with stale key {}: notice {}", a.user_name, a.device_name,
                       a.key_id, a.dedup_key);
          return ok_status();
        },
        KnockOptions{}, [metrics](KnockResult r) {
          if (metrics) metrics->count_initiation(r);
        });
    // The notices of the last hour (an earlier instance's): no second one
    // within the hour because of a restart. Without them (a store error),
    // the outbox's dedup key still allows one per key and clock hour.
    const auto now = static_cast<UnixTime>(std::time(nullptr));
    if (auto seen = recent_knock_notices(*self->store_, now - KnockOptions{}.notice_interval)) {
      self->watcher_->remember_notices(*seen);
    } else {
      spdlog::warn("knock: could not read the last hour's notices: {}", seen.error().message);
    }
    WGATE_TRY(self->capture_->set_ports(self->watcher_->ports()));
    auto* raw = self.get();
    self->thread_ = std::thread([raw] {
      run_knock_loop(*raw->capture_, *raw->store_, *raw->watcher_, raw->stop_,
                     [](const std::string& line) { spdlog::warn("{}", line); },
                     [metrics = raw->metrics_](const CaptureCounters& delta) {
                       if (metrics) metrics->add_capture_counters(delta);
                     });
    });
    return self;
  }

  ~RunningKnockService() override {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    if (dispatcher_) dispatcher_->stop();
  }

 private:
  metrics::DaemonMetrics* metrics_ = nullptr;
  std::unique_ptr<InitiationCapture> capture_;
  std::unique_ptr<Store> store_;         // the loop's snapshots
  std::unique_ptr<Store> outbox_store_;  // the outbox's own connection (the dispatcher's thread uses it)
  std::unique_ptr<web::StoreOutbox> outbox_;
  std::unique_ptr<notify::Dispatcher> dispatcher_;
  std::unique_ptr<KnockWatcher> watcher_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace
#endif

std::map<uint16_t, std::string> knock_ports(const Config& config) {
  std::map<uint16_t, std::string> ports;
  for (const auto& g : config.groups) ports[g.port] = g.interface;
  return ports;
}

bool KnockServiceConfig::operator==(const KnockServiceConfig& o) const {
  auto dispatcher_reads = [](const AlertConfig& a) {
    return std::tie(a.webhook_url, a.smtp_url, a.smtp_from, a.smtp_user, a.smtp_password_file, a.smtp_starttls,
                    a.retry_base_seconds);
  };
  return ports == o.ports && store_path == o.store_path && state_dir == o.state_dir &&
         web_sends_alerts == o.web_sends_alerts && dispatcher_reads(alerts) == dispatcher_reads(o.alerts);
}

KnockServiceConfig knock_service_config(const Config& config) {
  KnockServiceConfig c;
  c.ports = knock_ports(config);
  c.store_path = config.server.store_path;
  c.state_dir = config.server.state_dir;
  c.web_sends_alerts = config.web.enabled;
  c.alerts = config.alerts;
  return c;
}

std::unique_ptr<KnockService> start_knock_service(const KnockServiceConfig& config, metrics::DaemonMetrics* metrics) {
#ifdef WGATE_HAVE_BPF
  auto s = RunningKnockService::start(config, metrics);
  if (!s) {
    spdlog::warn("expired-key notices off: {}", s.error().message);
    return nullptr;
  }
  spdlog::info("knock: watching handshake initiations on {} port(s)", config.ports.size());
  return std::move(*s);
#else
  (void)config;
  (void)metrics;
  spdlog::warn("expired-key notices off: this build has no eBPF (no kernel BTF at build time)");
  return nullptr;
#endif
}

}  // namespace wgate::cli
