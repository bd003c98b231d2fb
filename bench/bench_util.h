// Helpers shared by the benchmarks (header only; bench/CMakeLists.txt turns
// each bench/*.cpp into its own executable):
//  - timing: a steady clock, medians and percentiles;
//  - the real WgBackend and Router wrapped so that the time a Reconciler
//    pass spends in them can be told apart from its own work;
//  - in-memory fakes of what a benchmark does not measure (the nftables
//    firewall, the ip_forward switch, the interface registry).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/reconciler.h"
#include "dataplane/firewall.h"
#include "dataplane/router.h"
#include "dataplane/wg_backend.h"

namespace wgate::bench {

using Clock = std::chrono::steady_clock;

inline double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Nearest-rank percentile (p in (0, 100]): p99 of 200 samples is the 198th.
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

struct CallTime {
  double ms = 0;
  int calls = 0;
};

template <class F>
auto timed(CallTime& t, F&& f) {
  auto t0 = Clock::now();
  auto r = f();
  t.ms += ms_between(t0, Clock::now());
  ++t.calls;
  return r;
}

// The real backend, with the time spent in it counted: `reads` (probing,
// reading devices back) and `writes` (set_device, remove_device).
class TimedWgBackend final : public WgBackend {
 public:
  explicit TimedWgBackend(WgBackend& inner) : inner_(inner) {}
  CallTime reads, writes;
  void reset() { reads = writes = CallTime{}; }

  const char* kind() const override { return inner_.kind(); }
  Result<bool> device_exists(const std::string& n) override {
    return timed(reads, [&] { return inner_.device_exists(n); });
  }
  Result<bool> ensure_device(const std::string& n) override {
    return timed(reads, [&] { return inner_.ensure_device(n); });
  }
  Result<Readiness> prepare_device(const std::string& n) override {
    return timed(reads, [&] { return inner_.prepare_device(n); });
  }
  Status remove_device(const std::string& n) override {
    return timed(writes, [&] { return inner_.remove_device(n); });
  }
  Result<WgDeviceState> get_device(const std::string& n) override {
    return timed(reads, [&] { return inner_.get_device(n); });
  }
  Status set_device(const WgDeviceUpdate& u) override {
    return timed(writes, [&] { return inner_.set_device(u); });
  }

 private:
  WgBackend& inner_;
};

// The real router, with the time spent in it counted.
class TimedRouter final : public Router {
 public:
  explicit TimedRouter(Router& inner) : inner_(inner) {}
  CallTime calls;
  void reset() { calls = CallTime{}; }

  Result<std::optional<int>> link_index(const std::string& n) override {
    return timed(calls, [&] { return inner_.link_index(n); });
  }
  Result<std::optional<LinkState>> link(const std::string& n) override {
    return timed(calls, [&] { return inner_.link(n); });
  }
  Status set_link_up(const std::string& n) override { return timed(calls, [&] { return inner_.set_link_up(n); }); }
  Status create_wireguard_link(const std::string& n) override {
    return timed(calls, [&] { return inner_.create_wireguard_link(n); });
  }
  Status delete_link(const std::string& n) override { return timed(calls, [&] { return inner_.delete_link(n); }); }
  Result<std::vector<Route>> list_routes() override { return timed(calls, [&] { return inner_.list_routes(); }); }
  Status add_route(const Route& r) override { return timed(calls, [&] { return inner_.add_route(r); }); }
  Status delete_route(const Route& r) override { return timed(calls, [&] { return inner_.delete_route(r); }); }
  Result<std::vector<Rule>> list_rules() override { return timed(calls, [&] { return inner_.list_rules(); }); }
  Status add_rule(const Rule& r) override { return timed(calls, [&] { return inner_.add_rule(r); }); }
  Status delete_rule(const Rule& r) override { return timed(calls, [&] { return inner_.delete_rule(r); }); }

 private:
  Router& inner_;
};

// A firewall, real or fake, with the time spent in it counted.
class TimedFirewall final : public Firewall {
 public:
  explicit TimedFirewall(Firewall& inner) : inner_(inner) {}
  CallTime calls;
  void reset() { calls = CallTime{}; }

  Result<bool> in_sync(const FirewallPlan& plan) override { return timed(calls, [&] { return inner_.in_sync(plan); }); }
  Status apply(const FirewallPlan& plan) override { return timed(calls, [&] { return inner_.apply(plan); }); }
  Status remove() override { return timed(calls, [&] { return inner_.remove(); }); }

 private:
  Firewall& inner_;
};

// nftables is not what peer_apply measures: the firewall is a table in
// memory.
class FakeFirewall final : public Firewall {
 public:
  Result<bool> in_sync(const FirewallPlan& plan) override { return table_ && *table_ == plan; }
  Status apply(const FirewallPlan& plan) override {
    table_ = plan;
    return ok_status();
  }
  Status remove() override {
    table_.reset();
    return ok_status();
  }

 private:
  std::optional<FirewallPlan> table_;
};

// The ip_forward switch in memory: a benchmark never writes sysctls.
class FakeForwarding final : public Forwarding {
 public:
  explicit FakeForwarding(bool on = false) : on_(on) {}
  Result<bool> ipv4_enabled() override { return on_; }
  Status enable_ipv4() override {
    on_ = true;
    return ok_status();
  }

 private:
  bool on_;
};

class FakeRegistry final : public InterfaceRegistry {
 public:
  FakeRegistry() = default;
  explicit FakeRegistry(const std::vector<std::string>& names) : names_(names.begin(), names.end()) {}
  Result<std::vector<std::string>> list() override { return std::vector<std::string>(names_.begin(), names_.end()); }
  Status record(const std::string& name) override {
    names_.insert(name);
    return ok_status();
  }
  Status forget(const std::string& name) override {
    names_.erase(name);
    return ok_status();
  }

 private:
  std::set<std::string> names_;
};

// One reconciler pass, timed, with the shares of the backend, the router
// and the firewall; own() is the reconciler's own work (diffs, sorting,
// the device key file).
struct PassTiming {
  double total = 0;
  CallTime wg_reads, wg_writes, netlink, firewall;
  double own() const { return total - wg_reads.ms - wg_writes.ms - netlink.ms - firewall.ms; }
};

inline PassTiming timed_pass(Reconciler& reconciler, TimedWgBackend& wg, TimedRouter& router, TimedFirewall* fw,
                             const Plan& plan, PassKind kind, ReconcileReport& report) {
  wg.reset();
  router.reset();
  if (fw) fw->reset();
  auto t0 = Clock::now();
  report = reconciler.reconcile(plan, kind);
  PassTiming t;
  t.total = ms_between(t0, Clock::now());
  t.wg_reads = wg.reads;
  t.wg_writes = wg.writes;
  t.netlink = router.calls;
  if (fw) t.firewall = fw->calls;
  return t;
}

}  // namespace wgate::bench
