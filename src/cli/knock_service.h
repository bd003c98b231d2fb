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
// (from the config's groups): a reload that changes this restarts it.
std::map<uint16_t, std::string> knock_ports(const Config& config);

// Starts it, or returns null after logging why not (no eBPF in this build,
// no root, an old kernel): wgate runs on without the notices. `metrics`
// may be null; it must outlive the service.
std::unique_ptr<KnockService> start_knock_service(const Config& config, metrics::DaemonMetrics* metrics);

}  // namespace wgate::cli
