#include "metrics/daemon_metrics.h"

#include <algorithm>
#include <tuple>

#include "service/service.h"

namespace wgate::metrics {
namespace {

// From a 1 ms incremental pass to a 10 s full pass at 100,000 peers
// (measured ~1.6 s): the buckets around 2 s (resync) tell whether full
// passes keep up.
const std::vector<double> kDurationBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                             0.25,  0.5,    1,     2.5,  5,     10};

constexpr KeyState kAllStates[] = {KeyState::active, KeyState::never_used, KeyState::expired, KeyState::revoked,
                                   KeyState::superseded};

Sample sample(Labels labels, double value) { return Sample{std::move(labels), value}; }

}  // namespace

const char* state_label(KeyState state) {
  switch (state) {
    case KeyState::active: return "active";
    case KeyState::never_used: return "never_used";
    case KeyState::expired: return "expired";
    case KeyState::revoked: return "revoked";
    case KeyState::superseded: return "superseded";
  }
  return "unknown";
}

void DurationHistogram::observe(double seconds) {
  if (counts.size() != bounds.size()) counts.assign(bounds.size(), 0);
  auto it = std::lower_bound(bounds.begin(), bounds.end(), seconds);  // le: bound >= value
  if (it != bounds.end()) ++counts[static_cast<std::size_t>(it - bounds.begin())];
  sum += seconds;
  ++count;
}

std::vector<Family> to_families(const DaemonSnapshot& s) {
  std::vector<Family> out;
  out.push_back({"wgate_build_info", "wgate's version; always 1.", MetricType::gauge,
                 {sample({{"version", s.version}}, 1)}, {}});

  Family rx{"wgate_device_receive_bytes_total", "Bytes the gateway received from the device's current key (resets when its peer is re-added).",
            MetricType::counter, {}, {}};
  Family tx{"wgate_device_transmit_bytes_total", "Bytes the gateway sent to the device's current key (resets when its peer is re-added).",
            MetricType::counter, {}, {}};
  Family hs{"wgate_device_last_handshake_seconds", "Unix time of the device key's last handshake; 0 when none.",
            MetricType::gauge, {}, {}};
  for (const auto& d : s.devices) {
    Labels l = {{"person", d.person},
                {"device", d.device},
                {"group", d.group},
                {"interface", d.interface},
                {"key", std::to_string(d.key_id)}};
    rx.samples.push_back(sample(l, static_cast<double>(d.rx_bytes)));
    tx.samples.push_back(sample(l, static_cast<double>(d.tx_bytes)));
    hs.samples.push_back(sample(std::move(l), static_cast<double>(d.last_handshake)));
  }
  out.push_back(std::move(rx));
  out.push_back(std::move(tx));
  out.push_back(std::move(hs));

  Family up{"wgate_interface_up", "1 when the group's WireGuard interface answered the last full pass.",
            MetricType::gauge, {}, {}};
  Family peers{"wgate_interface_peers", "Peers on the interface as last observed.", MetricType::gauge, {}, {}};
  for (const auto& i : s.interfaces) {
    up.samples.push_back(sample({{"interface", i.interface}, {"group", i.group}}, i.up ? 1 : 0));
    peers.samples.push_back(sample({{"interface", i.interface}}, static_cast<double>(i.peers)));
  }
  out.push_back(std::move(up));
  out.push_back(std::move(peers));

  Family keys{"wgate_keys", "Keys by state, as `wgate key list` shows them.", MetricType::gauge, {}, {}};
  for (KeyState st : kAllStates) {
    auto it = s.keys.find(st);
    keys.samples.push_back(sample({{"state", state_label(st)}}, it == s.keys.end() ? 0 : static_cast<double>(it->second)));
  }
  out.push_back(std::move(keys));

  Family dur{"wgate_reconcile_duration_seconds", "Length of reconcile passes: store read, compile, apply, bookkeeping.",
             MetricType::histogram, {}, {}};
  {
    HistogramSample h;
    uint64_t cumulative = 0;
    for (std::size_t i = 0; i < s.reconcile_duration.bounds.size(); ++i) {
      if (i < s.reconcile_duration.counts.size()) cumulative += s.reconcile_duration.counts[i];
      h.buckets.emplace_back(s.reconcile_duration.bounds[i], cumulative);
    }
    h.sum = s.reconcile_duration.sum;
    h.count = s.reconcile_duration.count;
    dur.histograms.push_back(std::move(h));
  }
  out.push_back(std::move(dur));
  out.push_back({"wgate_reconcile_last_duration_seconds", "Length of the newest reconcile pass.", MetricType::gauge,
                 {sample({}, s.last_reconcile_seconds)}, {}});
  out.push_back({"wgate_reconcile_passes_total", "Reconcile passes by kind (full: observe everything; incremental: apply a store change).",
                 MetricType::counter,
                 {sample({{"kind", "full"}}, static_cast<double>(s.full_passes)),
                  sample({{"kind", "incremental"}}, static_cast<double>(s.incremental_passes))},
                 {}});
  out.push_back({"wgate_reconcile_errors_total", "Per-object failures in reconcile passes (retried next pass) and failed store reads.",
                 MetricType::counter, {sample({}, static_cast<double>(s.reconcile_errors))}, {}});
  out.push_back({"wgate_ready", "1 once a full pass succeeded and the store is readable (as /readyz).", MetricType::gauge,
                 {sample({}, s.ready ? 1 : 0)}, {}});
  return out;
}

Result<std::string> render_snapshot(const DaemonSnapshot& snapshot) { return render(to_families(snapshot)); }

DaemonMetrics::DaemonMetrics(std::string version) {
  next_.version = std::move(version);
  next_.reconcile_duration.bounds = kDurationBounds;
  next_.reconcile_duration.counts.assign(kDurationBounds.size(), 0);
  for (KeyState st : kAllStates) next_.keys[st] = 0;
  next_.not_ready = "no full reconcile pass yet";
  publish({}, {});
}

void DaemonMetrics::record(const DaemonPass& pass) {
  // The series are built fresh each pass and moved into the published
  // snapshot, so that publishing copies no per-device strings (10,000
  // devices would be 50,000 of them per pass).
  std::vector<DeviceSeries> devices;
  std::vector<InterfaceSeries> interfaces;
  if (!pass.state || !pass.plan || !pass.report) {
    // Nothing was reconciled: the store could not be read. The last pass's
    // series stay (rare: copied).
    store_error_ = pass.store_error.empty() ? "store unreadable" : pass.store_error;
    ++next_.reconcile_errors;
    auto last = snapshot();
    devices = last->devices;
    interfaces = last->interfaces;
  } else {
    store_error_.clear();
    const ReconcileReport& report = *pass.report;
    (pass.kind == PassKind::full ? next_.full_passes : next_.incremental_passes) += 1;
    next_.reconcile_errors += report.errors.size();
    const double took = std::chrono::duration<double>(pass.took).count();
    next_.reconcile_duration.observe(took);
    next_.last_reconcile_seconds = took;
    if (pass.kind == PassKind::full) {
      observed_.clear();
      for (const auto& [name, dev] : report.devices) {
        Observed& o = observed_[name];
        o.peer_count = dev.peers.size();
        o.peers.reserve(dev.peers.size());
        for (const auto& p : dev.peers) {
          o.peers.push_back({p.public_key, p.rx_bytes, p.tx_bytes, p.last_handshake_sec});
        }
        std::sort(o.peers.begin(), o.peers.end(),
                  [](const PeerCounters& a, const PeerCounters& b) { return a.key < b.key; });
      }
      if (report.errors.empty()) clean_full_pass_ = true;
    }

    for (auto& [st, n] : next_.keys) n = 0;
    for (const auto& [st, n] : service::count_key_states(pass.state->keys, pass.wall)) next_.keys[st] = n;

    for (const auto& want : pass.plan->interfaces) {
      auto dev = observed_.find(want.name);
      InterfaceSeries is{want.name, want.group, dev != observed_.end(), 0};
      if (dev != observed_.end()) {
        is.peers = dev->second.peer_count;
        // Planned peers joined with the observed ones: a peer the plan no
        // longer wants has no series, even before the next full pass
        // observes it gone.
        const auto& seen = dev->second.peers;
        for (const auto& peer : want.peers) {
          auto p = std::lower_bound(seen.begin(), seen.end(), peer.public_key,
                                    [](const PeerCounters& c, const WgKey& k) { return c.key < k; });
          if (p == seen.end() || p->key != peer.public_key) continue;
          devices.push_back(
              {peer.user, peer.device, want.group, want.name, peer.key_id, p->rx_bytes, p->tx_bytes, p->last_handshake});
        }
      }
      interfaces.push_back(std::move(is));
    }
    std::sort(devices.begin(), devices.end(), [](const DeviceSeries& a, const DeviceSeries& b) {
      return std::tie(a.interface, a.key_id) < std::tie(b.interface, b.key_id);
    });
  }
  if (!store_error_.empty()) {
    next_.ready = false;
    next_.not_ready = "store: " + store_error_;
  } else if (!clean_full_pass_) {
    next_.ready = false;
    next_.not_ready = "no full reconcile pass without errors yet";
    if (pass.report && !pass.report->errors.empty()) next_.not_ready += " (" + pass.report->errors.front() + ")";
  } else {
    next_.ready = true;
    next_.not_ready.clear();
  }
  publish(std::move(devices), std::move(interfaces));
}

void DaemonMetrics::publish(std::vector<DeviceSeries> devices, std::vector<InterfaceSeries> interfaces) {
  // next_ holds no series: this copy is of counters and a few strings.
  auto fresh = std::make_shared<DaemonSnapshot>(next_);
  fresh->devices = std::move(devices);
  fresh->interfaces = std::move(interfaces);
  std::lock_guard<std::mutex> lock(mu_);
  published_ = std::move(fresh);
}

std::shared_ptr<const DaemonSnapshot> DaemonMetrics::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return published_;
}

}  // namespace wgate::metrics
