#include "web/web_runner.h"

#include <chrono>
#include <ctime>
#include <thread>

#include "http/server.h"
#include "notify/alerts.h"
#include "notify/dispatcher.h"
#include "notify/smtp.h"
#include "notify/webhook.h"
#include "service/sso.h"
#include "store/store.h"
#include "web/lazy_provider.h"
#include "web/oidc_adapter.h"
#include "web/store_outbox.h"
#include "web/web_app.h"

namespace wgate::web {
namespace {

UnixTime wall_now() { return static_cast<UnixTime>(std::time(nullptr)); }

notify::AlertPolicy alert_policy(const Config& config) {
  notify::AlertPolicy p;
  p.never_activated_after = config.alerts.never_activated_after_seconds;
  p.expiry_reminder_lead = config.alerts.expiry_reminder_seconds;
  p.in_use_window = config.alerts.in_use_window_seconds;
  return p;
}

Result<std::unique_ptr<Store>> open_store(const Config& config) {
  return open_sqlite_store(config.server.store_path, StoreOpen::existing);
}

}  // namespace

Result<std::vector<std::unique_ptr<notify::Notifier>>> make_notifiers(const Config& config) {
  return make_notifiers(config.alerts);
}

notify::DispatchPolicy dispatch_policy(const AlertConfig& alerts) {
  notify::DispatchPolicy policy;
  policy.backoff.clear();
  for (int64_t factor : {1, 3, 12, 60, 180, 360}) policy.backoff.push_back(alerts.retry_base_seconds * factor);
  return policy;
}

Result<std::vector<std::unique_ptr<notify::Notifier>>> make_notifiers(const AlertConfig& a) {
  std::vector<std::unique_ptr<notify::Notifier>> out;
  if (!a.webhook_url.empty()) {
    notify::WebhookConfig w;
    w.url = a.webhook_url;
    WGATE_ASSIGN_OR_RETURN(auto n, notify::make_webhook_notifier(w));
    out.push_back(std::move(n));
  }
  if (!a.smtp_url.empty()) {
    notify::SmtpConfig s;
    s.url = a.smtp_url;
    s.starttls = a.smtp_starttls;
    s.from = a.smtp_from;
    s.username = a.smtp_user;
    if (!a.smtp_password_file.empty()) {
      WGATE_ASSIGN_OR_RETURN(s.password, read_secret_file(a.smtp_password_file));
    }
    WGATE_ASSIGN_OR_RETURN(auto n, notify::make_smtp_notifier(s));
    out.push_back(std::move(n));
  }
  return out;
}

Status run_web(const Config& config, const std::atomic<bool>& stop, const WebRunOptions& options) {
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  if (!config.oidc.enabled) return make_error("[oidc] is not configured: the web part needs an identity provider");
  if (!config.web.enabled) return make_error("[web] is not configured");

  LazyIdentityProvider idp(
      config.oidc.issuer, [&config] { return make_oidc_identity_provider(config); }, std::chrono::seconds(2));

  // The background part: its own store connection.
  WGATE_ASSIGN_OR_RETURN(auto background_store, open_store(config));
  // The outbox has a connection of its own: the dispatcher's worker and
  // this loop share it, serialized by StoreOutbox.
  WGATE_ASSIGN_OR_RETURN(auto outbox_store, open_store(config));
  StoreOutbox outbox(*outbox_store);
  WGATE_ASSIGN_OR_RETURN(auto notifiers, make_notifiers(config));
  notify::Dispatcher dispatcher(outbox, std::move(notifiers), dispatch_policy(config.alerts), notify::system_dispatch_clock(),
                                [log](const notify::DispatchEvent& e) {
                                  log(std::string("alert ") + e.dedup_key + " on " + e.channel + ": " +
                                      notify::to_string(e.type) + (e.error.empty() ? "" : " (" + e.error + ")"));
                                });

  WebAppDeps deps;
  deps.config = &config;
  deps.idp = &idp;
  deps.open_store = [&config] { return open_store(config); };
  deps.now = wall_now;
  deps.log = log;
  deps.status = options.status;
  WGATE_ASSIGN_OR_RETURN(auto router, make_web_router(deps));

  http::ServerOptions server_options;
  server_options.listen = config.web.listen;
  server_options.threads = 4;  // a slow provider answer holds one thread, not the page
  server_options.behind_tls_proxy = config.web.behind_tls_proxy;
  server_options.json_error_prefix = "/api/";
  if (!config.web.tls_cert_file.empty()) {
    server_options.tls = http::TlsOptions{config.web.tls_cert_file, config.web.tls_key_file};
  }
  server_options.on_error = [log](std::string_view e) { log("http: " + std::string(e)); };
  WGATE_ASSIGN_OR_RETURN(auto server, http::HttpServer::start(server_options, std::move(router)));
  log("web: listening on " + config.web.listen + " (port " + std::to_string(server->port()) + ")");
  if (options.on_listening) options.on_listening(server->port());
  dispatcher.start();

  const auto policy = alert_policy(config);
  while (!stop.load()) {
    const UnixTime now = wall_now();
    // Sessions due for a check with the provider: people it no longer
    // knows lose every key; changed groups follow.
    auto report = service::check_sessions(*background_store, config, idp, now);
    if (!report) {
      log("session check: " + report.error().message);
    } else if (report->deprovisioned || report->groups_changed) {
      log("session check: " + std::to_string(report->checked) + " checked, " + std::to_string(report->deprovisioned) +
          " deprovisioned, " + std::to_string(report->groups_changed) + " moved");
    }
    // Alerts: computed from the stored state, enqueued once (the outbox
    // dedups), sent by the dispatcher's thread.
    {
      std::optional<State> state;
      {
        auto snap = background_store->snapshot();
        if (!snap) {
          log("alerts: " + snap.error().message);
        } else {
          state = std::move(*snap);
        }
      }
      if (state) {
        auto raised = dispatcher.raise(notify::alerts_due(*state, policy, now), now);
        if (!raised) log("alerts: " + raised.error().message);
      }
      // The daemon enqueues notices too (stale_key_knock, from the
      // handshakes it sees) and cannot wake this process: look at the outbox
      // every tick (one indexed read) rather than every idle_recheck (60 s).
      dispatcher.wake();
    }
    for (auto waited = std::chrono::milliseconds(0); waited < options.tick && !stop.load();
         waited += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  server->stop();
  dispatcher.stop();
  return Status{};
}

}  // namespace wgate::web
