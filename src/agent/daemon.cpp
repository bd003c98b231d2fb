#include "agent/daemon.h"

#include <net/if.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <set>

#include "agent/connection_events.h"
#include "agent/reconciler.h"
#include "core/compile.h"
#include "dataplane/nft_monitor.h"
#include "service/running_config.h"
#include "service/service.h"
#include "util/fd.h"

namespace wgate {
namespace {

using Clock = std::chrono::steady_clock;

const Actor kAgent{"agent"};

UnixTime wall_now() { return static_cast<UnixTime>(std::time(nullptr)); }

// The registry of interfaces the agent created, kept in the store.
class StoreRegistry final : public InterfaceRegistry {
 public:
  explicit StoreRegistry(Store& store) : store_(store) {}
  Result<std::vector<std::string>> list() override { return store_.managed_interfaces(); }
  Status record(const std::string& name) override { return store_.record_interface(name, wall_now(), kAgent); }
  Status forget(const std::string& name) override { return store_.forget_interface(name, wall_now(), kAgent); }

 private:
  Store& store_;
};

// Wakes the loop when another process commits to the store.
class StoreWatch {
 public:
  explicit StoreWatch(const std::vector<std::string>& paths) : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    if (!fd_.valid()) {
      spdlog::warn("inotify unavailable ({}); store changes are polled", std::strerror(errno));
      return;
    }
    for (const auto& p : paths) {
      if (inotify_add_watch(fd_.get(), p.c_str(), IN_MODIFY | IN_CLOSE_WRITE) < 0) {
        spdlog::warn("cannot watch {} ({}); store changes are polled", p, std::strerror(errno));
      }
    }
  }
  int fd() const { return fd_.valid() ? fd_.get() : -1; }
  void drain() {
    char buf[4096];
    while (fd_.valid() && ::read(fd_.get(), buf, sizeof buf) > 0) {
    }
  }

 private:
  UniqueFd fd_;
};

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

// Records the keys that reached the data plane for the first time.
void record_applied(Store& store, const State& state, const ReconcileReport& report) {
  if (report.keys_in_place.empty()) return;
  // Usually every live key was seen long ago: then there is nothing to do.
  const UnixTime now = wall_now();
  if (std::none_of(state.keys.begin(), state.keys.end(),
                   [&](const Key& k) { return !k.applied_at && k.active_at(now); })) {
    return;
  }
  std::vector<int64_t> fresh;
  std::set<int64_t> in_place(report.keys_in_place.begin(), report.keys_in_place.end());
  for (const auto& k : state.keys) {
    if (!k.applied_at && in_place.count(k.id)) fresh.push_back(k.id);
  }
  if (fresh.empty()) return;
  if (auto st = store.mark_keys_applied(fresh, now); !st) spdlog::warn("recording applied keys: {}", st.error().message);
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

// Why a new config cannot replace the running one without a restart (""
// when it can): the store, the key directory and the backend are opened once.
std::string needs_restart(const Config& running, const Config& next) {
  if (next.server.store_path != running.server.store_path) return "server.store changed";
  if (next.server.state_dir != running.server.state_dir) return "server.state_dir changed";
  if (next.server.backend != running.server.backend) return "server.backend changed";
  if (next.metrics.enabled != running.metrics.enabled || next.metrics.listen != running.metrics.listen) {
    return "[metrics] changed";
  }
  // ConnectionEvents' tracker reads the threshold once, at start.
  if (next.connections.idle_after_seconds != running.connections.idle_after_seconds) {
    return "[connections] idle_after changed";
  }
  return "";
}

std::string interface_name_of(uint32_t ifindex) {
  char buf[IF_NAMESIZE] = {};
  return if_indextoname(ifindex, buf) ? std::string(buf) : std::string();
}

// Hands the filter's events (and, when `with_counters`, its counters) to the
// hooks. Failures are logged: observations are never worth stopping for.
void observe_filter(const DataplaneSet& dataplane, const DaemonOptions& options, bool with_counters) {
  if (!dataplane.filter) return;
  if (options.on_flow_events) {
    auto events = dataplane.filter->drain_events();
    if (!events) {
      spdlog::warn("filter events: {}", events.error().message);
    } else {
      options.on_flow_events(*events, interface_name_of);
    }
  }
  if (options.on_filter_event_losses) {
    auto losses = dataplane.filter->event_losses();
    if (!losses) {
      spdlog::warn("filter event losses: {}", losses.error().message);
    } else {
      options.on_filter_event_losses(*losses);
    }
  }
  if (with_counters && options.on_traffic) {
    auto counters = dataplane.filter->counters();
    if (!counters) {
      spdlog::warn("filter counters: {}", counters.error().message);
    } else {
      options.on_traffic(*counters, dataplane.filter->epoch());
    }
  }
}

// Tells explain and plan (CLI, admin API) which config is enforced.
void record_running(const Config& config) {
  if (auto st = service::record_running_config(config, wall_now()); !st) {
    spdlog::warn("recording the running config's digest: {}", st.error().message);
  }
}

void relocate(Store& store, const Config& config) {
  if (auto moves = service::relocate_leases(store, config, wall_now(), kAgent); !moves) {
    spdlog::error("moving address blocks to the configured pool: {}", moves.error().message);
  } else {
    for (const auto& m : *moves) spdlog::info("moved {}'s address block {} -> {}", m.user, m.from.to_string(), m.to.to_string());
  }
}

}  // namespace

int run_daemon(const Config& initial_config, Store& store, DataplaneSet& dataplane, const DaemonOptions& options,
               const std::atomic<bool>& stop) {
  Config config = initial_config;  // replaced by a valid SIGHUP reload
  InterfaceKeys keys(config.server.state_dir);
  StoreRegistry registry(store);
  Reconciler reconciler(*dataplane.wg, *dataplane.router, *dataplane.firewall, *dataplane.forwarding, keys, registry);
  reconciler.set_filter(dataplane.filter.get());
  spdlog::info("wgate server: backend={} groups={} policies={} store={}", dataplane.wg->kind(), config.groups.size(),
               config.policies.size(), config.server.store_path);
  if (dataplane.filter) {
    spdlog::info("eBPF filter loaded: per-person port rules are enforced on every wgate interface");
  } else {
    spdlog::warn("eBPF filter not loaded ({}): per-person port rules are NOT enforced; groups still reach only "
                 "their networks (tables and nftables guard)",
                 dataplane.filter_unavailable.empty() ? std::string("none given") : dataplane.filter_unavailable);
  }

  record_running(config);

  // A changed pool or per_user leaves leases that no longer fit: move them
  // now, before anything is planned from them.
  relocate(store, config);

  ConnectionEvents connections(config, store);  // [connections]: connect/disconnect audit, stale devices
  StoreWatch watch(store.change_signal_paths());
  // nftables events: someone touching wgate's table (`nft flush ruleset`,
  // a dormant flag) is answered within milliseconds, not at the next full
  // pass.
  std::optional<NftMonitor> nft_events;
  auto open_monitor = [&] {
    auto m = NftMonitor::open();
    if (m) {
      nft_events.emplace(std::move(*m));
    } else {
      nft_events.reset();
      spdlog::warn("nftables events unavailable ({}); the firewall is checked every full pass", m.error().message);
    }
  };
  open_monitor();
  std::optional<uint64_t> last_token;
  auto next_full = Clock::time_point{};
  // time_point::max(): no key expires. (Not an optional: GCC 12 at -O2 warns
  // that a set optional<time_point> "may be used uninitialized".)
  constexpr auto kNever = Clock::time_point::max();
  auto next_expiry = kNever;
  bool soon = false;
  std::set<std::string> last_errors, last_warnings;
  auto next_traffic = Clock::now() + options.traffic_every;
  while (!stop.load()) {
    if (options.reload_requested && options.reload_requested->exchange(false) && options.reload_config) {
      auto next = options.reload_config();
      if (!next) {
        spdlog::error("config reload refused, the running config stays: {}", next.error().message);
      } else if (auto why = needs_restart(config, *next); !why.empty()) {
        spdlog::error("config reload refused, the running config stays: {} (restart wgate server for that)", why);
      } else {
        config = std::move(*next);
        spdlog::info("config reloaded: groups={} networks={} policies={}", config.groups.size(), config.networks.size(),
                     config.policies.size());
        const std::string detail = "{\"groups\":" + std::to_string(config.groups.size()) +
                                   ",\"policies\":" + std::to_string(config.policies.size()) + "}";
        if (auto st = store.append_audit(wall_now(), kAgent, "config.reload", "config", detail);
            !st) {
          spdlog::warn("auditing the config reload: {}", st.error().message);
        }
        record_running(config);
        relocate(store, config);
        if (options.on_config_reloaded) options.on_config_reloaded(config);
        next_full = Clock::time_point{};  // a full pass with it, now
      }
    }
    auto now = Clock::now();
    const bool full_due = now >= next_full;
    bool store_changed = false;
    auto token = store.change_token();
    if (!token) {
      spdlog::error("store: {}", token.error().message);
      if (options.on_pass) {
        DaemonPass failed;
        failed.store_error = token.error().message;
        options.on_pass(failed);
      }
    } else if (!last_token || *token != *last_token) {
      store_changed = true;
    }
    const bool expiry_due = now >= next_expiry;
    if (token && (full_due || store_changed || soon || expiry_due)) {
      // The token read BEFORE the snapshot is the one remembered: a commit
      // landing during this pass then triggers the next one. (Our own
      // handshake writes cause at most one extra pass.)
      last_token = *token;
      const PassKind kind = full_due ? PassKind::full : PassKind::incremental;
      auto state = store.snapshot();
      if (!state) {
        spdlog::error("reading store: {}", state.error().message);
        if (options.on_pass) {
          DaemonPass failed;
          failed.kind = kind;
          failed.store_error = state.error().message;
          options.on_pass(failed);
        }
      } else {
        const UnixTime wall = wall_now();
        Plan plan = compile(config, *state, wall);
        // Wake when the next key expires (to the second: the steady clock
        // and the wall clock tick together closely enough for that).
        next_expiry = kNever;
        if (auto at = next_change_after(*state, wall)) next_expiry = Clock::now() + std::chrono::seconds(*at - wall);
        log_changes(plan.warnings, last_warnings, "plan");
        ReconcileReport report = reconciler.reconcile(plan, kind, Clock::now());
        if (report.changed()) spdlog::info("reconciled ({}): {}", kind == PassKind::full ? "full" : "incremental", report.summary());
        log_changes(report.errors, last_errors, "reconcile");
        record_handshakes(store, *state, report);
        record_applied(store, *state, report);
        if (kind == PassKind::full) connections.after_full_pass(*state, report.devices, wall);
        if (auto n = store.audit_expired_keys(wall); !n) spdlog::warn("auditing expired keys: {}", n.error().message);
        soon = report.pass_soon;
        if (options.on_pass) {
          // Moved, not copied: at 10,000 peers a copy of the state and the
          // plan would cost an incremental pass more than its own work.
          DaemonPass pass;
          pass.kind = kind;
          pass.took = Clock::now() - now;
          pass.wall = wall;
          pass.errors = report.errors;
          if (kind == PassKind::full) {
            pass.observed = std::make_shared<const std::map<std::string, WgDeviceState>>(std::move(report.devices));
          }
          pass.state = std::make_shared<const State>(std::move(*state));
          pass.plan = std::make_shared<const Plan>(std::move(plan));
          options.on_pass(pass);
        }
      }
      if (full_due) {
        // The next full pass is due `resync` after this one ENDS, and never
        // sooner than four times this pass's length: a full pass that takes
        // longer than resync (100,000 peers: ~1.6 s) must not run back to
        // back and starve the incremental passes that carry changes.
        const auto took = Clock::now() - now;
        next_full = Clock::now() + std::max<Clock::duration>(options.resync, 4 * took);
      }
    }

    observe_filter(dataplane, options, Clock::now() >= next_traffic);
    if (Clock::now() >= next_traffic) next_traffic = Clock::now() + options.traffic_every;

    // Sleep until the next full pass, a store change, or a quick retry.
    now = Clock::now();
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_full - now);
    wait = std::min(wait, options.poll);
    if (next_expiry != kNever) {
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(next_expiry - now));
    }
    if (soon) wait = std::min(wait, std::chrono::milliseconds(100));
    if (wait.count() < 0) wait = std::chrono::milliseconds(0);
    pollfd fds[2] = {{watch.fd(), POLLIN, 0}, {nft_events ? nft_events->fd() : -1, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(wait.count()));
    if (n > 0 && (fds[0].revents & POLLIN)) watch.drain();
    if (n > 0 && nft_events && (fds[1].revents & (POLLIN | POLLERR))) {
      auto ours = nft_events->drain();
      if (!ours || *ours) {
        reconciler.mark_firewall_dirty();
        soon = true;
      }
      if (!ours) {
        spdlog::warn("nftables events: {}; reopening", ours.error().message);
        open_monitor();
      }
    }
  }
  observe_filter(dataplane, options, true);  // the last counts this process will read
  if (dataplane.filter) {
    // Tunnels stay up while no daemon runs (a restart, an upgrade), so their
    // port rules must too: the filter stays on with the last policy until
    // the next daemon replaces it in one step.
    dataplane.filter->leave_attached();
    spdlog::info("wgate server: stopping; tunnels and the eBPF filter (with the last policy) stay up");
  } else {
    spdlog::info("wgate server: stopping; tunnels stay up");
  }
  return 0;
}

}  // namespace wgate
