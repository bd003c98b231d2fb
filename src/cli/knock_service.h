// The daemon's knock watcher, wired: the eBPF capture of handshake
// initiations, its own store connection, the alert outbox and, when no web
// part is configured to send alerts, a Dispatcher of its own; a thread runs
// run_knock_loop() (agent/knock_watcher.h). Kept out of agent/daemon.cpp:
// the reconcile loop neither waits for it nor knows it exists.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/config.h"
#include "metrics/daemon_metrics.h"

namespace wgate::cli {

class KnockService {
 public:
  virtual ~KnockService() = default;  // stops the thread, then the dispatcher
};

// The WireGuard ports the watcher listens on, each with its interface
// (from the config's groups).
std::map<uint16_t, std::string> knock_ports(const Config& config);

// Everything of the config the service reads; it is started from this
// alone, so comparing two of them tells whether a reload must restart it
// (the SIGHUP handler does). An [alerts] channel or [web] change must: the
// dispatcher's channels and who sends are fixed when it starts.
struct KnockServiceConfig {
  std::map<uint16_t, std::string> ports;  // knock_ports()
  std::string store_path;
  std::string state_dir;                  // the interface keys
  bool web_sends_alerts = false;          // [web] configured: `wgate web` sends, this service only enqueues
  // [alerts]: the service's own dispatcher uses its channels (webhook,
  // SMTP) and retry base (the same backoff as `wgate web`'s); only those
  // take part in ==, so a change of the reminder timings restarts nothing.
  // The password file is compared by name: a new password in the same
  // file needs a restart.
  AlertConfig alerts;
  bool operator==(const KnockServiceConfig& other) const;
};
KnockServiceConfig knock_service_config(const Config& config);

// Starts it, or returns null after logging why not (no eBPF in this build,
// no root, an old kernel): wgate runs on without the notices. `metrics`
// may be null; it must outlive the service. It remembers the notices of
// the last hour from the store's outbox, so a restart sends no second one
// within the hour.
std::unique_ptr<KnockService> start_knock_service(const KnockServiceConfig& config, metrics::DaemonMetrics* metrics);

}  // namespace wgate::cli
