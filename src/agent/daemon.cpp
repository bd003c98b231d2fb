#include "agent/daemon.h"

#include <spdlog/spdlog.h>

#include <ctime>
#include <map>
#include <set>
#include <thread>

#include "agent/reconciler.h"
#include "core/compile.h"

namespace wgate {
namespace {

// Writes back the newest handshake per key, so that `key list` and later the
// never-activated-key alerts can see it.
void record_handshakes(Store& store, const State& state, const ReconcileReport& report) {
  std::map<WgKey, const Key*> key_by_public;
  for (const auto& k : state.keys) key_by_public[k.public_key] = &k;
  std::vector<std::pair<int64_t, UnixTime>> updates;
  for (const auto& [name, device] : report.devices) {
    for (const auto& peer : device.peers) {
      auto it = key_by_public.find(peer.public_key);
      if (it == key_by_public.end() || peer.last_handshake_sec == 0) continue;
      if (it->second->last_handshake_at.value_or(0) < peer.last_handshake_sec) {
        updates.emplace_back(it->second->id, peer.last_handshake_sec);
      }
    }
  }
  if (updates.empty()) return;
  if (auto st = store.record_handshakes(updates); !st) spdlog::warn("recording handshakes: {}", st.error().message);
}

// Logs messages that appeared since the last pass and says when they clear,
// so a persistent problem is reported once, not every two seconds.
void log_changes(const std::vector<std::string>& now, std::set<std::string>& before, const char* what) {
  std::set<std::string> current(now.begin(), now.end());
  for (const auto& m : current) {
    if (!before.count(m)) spdlog::warn("{}: {}", what, m);
  }
  for (const auto& m : before) {
    if (!current.count(m)) spdlog::info("{}: resolved: {}", what, m);
  }
  before = std::move(current);
}

}  // namespace

int run_daemon(const Config& config, Store& store, DataplaneSet& dataplane, const DaemonOptions& options,
               const std::atomic<bool>& stop) {
  InterfaceKeys keys(config.server.state_dir);
  Reconciler reconciler(*dataplane.wg, *dataplane.router, *dataplane.firewall, *dataplane.forwarding, keys);
  spdlog::info("wgate server: backend={} groups={} store={}", dataplane.wg->kind(), config.groups.size(),
               config.server.store_path);

  std::optional<uint64_t> last_token;
  auto last_pass = std::chrono::steady_clock::time_point{};
  std::set<std::string> last_errors, last_warnings;
  while (!stop.load()) {
    auto token = store.change_token();
    auto now = std::chrono::steady_clock::now();
    bool due = now - last_pass >= options.resync;
    if (!token) {
      spdlog::error("store: {}", token.error().message);
    } else if (!last_token || *token != *last_token || due) {
      // The token read BEFORE the snapshot is the one remembered: a commit
      // landing during this pass then triggers the next one. (Our own
      // handshake writes cause at most one extra pass.)
      last_token = *token;
      last_pass = now;
      auto state = store.snapshot();
      if (!state) {
        spdlog::error("reading store: {}", state.error().message);
      } else {
        Plan plan = compile(config, *state, static_cast<UnixTime>(std::time(nullptr)));
        log_changes(plan.warnings, last_warnings, "plan");
        auto report = reconciler.reconcile(plan);
        if (!report) {
          spdlog::error("reconcile: {}", report.error().message);
        } else {
          if (report->changed()) spdlog::info("reconciled: {}", report->summary());
          log_changes(report->errors, last_errors, "reconcile");
          record_handshakes(store, *state, *report);
        }
      }
    }
    std::this_thread::sleep_for(options.poll);
  }
  spdlog::info("wgate server: stopping; tunnels stay up");
  return 0;
}

}  // namespace wgate
