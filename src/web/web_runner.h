// `wgate web`: the web process. It serves the login endpoints, the
// self-service page and the key API (web_app.h), checks sessions with the
// provider (deprovisioning people it no longer knows) and raises and sends
// key alerts. It is a process of its own, apart from `wgate server`: it
// only writes intent to the store, so a crash here never touches a tunnel.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <memory>
#include <vector>

#include "core/config.h"
#include "notify/dispatcher.h"
#include "notify/notifier.h"
#include "service/views.h"
#include "store/store.h"
#include "util/result.h"

namespace wgate::web {

struct WebRunOptions {
  // How often sessions due for a check and alerts are looked at.
  std::chrono::milliseconds tick{1000};
  // Called with each log line (stderr by default in the CLI).
  std::function<void(const std::string&)> log;
  // Called once the server listens, with its port.
  std::function<void(uint16_t)> on_listening;
  // The data plane's status for the admin API (the CLI builds it; the web
  // module does not link the data plane's code). May be empty.
  std::function<Result<service::StatusView>(Store&)> status;
};

// Runs until `stop` becomes true. Errors: the server cannot start (listen
// address, TLS files), the store cannot be opened, a notifier's config is
// wrong. The identity provider being down is not one: logins then fail
// with the reason, and the process keeps serving.
Status run_web(const Config& config, const std::atomic<bool>& stop, const WebRunOptions& options);

// The alert channels [alerts] configures (webhook, e-mail), for the process
// that sends alerts: `wgate web`, or `wgate server` when there is no web
// part. Errors: a notifier's config is wrong, a password file unreadable.
Result<std::vector<std::unique_ptr<notify::Notifier>>> make_notifiers(const Config& config);
// The same from the [alerts] section alone.
Result<std::vector<std::unique_ptr<notify::Notifier>>> make_notifiers(const AlertConfig& alerts);
// The retry schedule of a process that sends alerts: retry_base_seconds
// times 1, 3, 12, 60, 180, 360 (10 s .. 1 h by default).
notify::DispatchPolicy dispatch_policy(const AlertConfig& alerts);

}  // namespace wgate::web
