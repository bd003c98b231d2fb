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
  const Series series = series_of(s);
  std::vector<Family> out;
  out.push_back({"wgate_build_info", "wgate's version; always 1.", MetricType::gauge,
                 {sample({{"version", s.version}}, 1)}, {}});

  Family rx{"wgate_device_receive_bytes_total", "Bytes the gateway received from the device's current key (resets when its peer is re-added).",
            MetricType::counter, {}, {}};
  Family tx{"wgate_device_transmit_bytes_total", "Bytes the gateway sent to the device's current key (resets when its peer is re-added).",
            MetricType::counter, {}, {}};
  Family hs{"wgate_device_last_handshake_seconds", "Unix time of the device key's last handshake; 0 when none.",
            MetricType::gauge, {}, {}};
  for (const auto& d : series.devices) {
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
  for (const auto& i : series.interfaces) {
    up.samples.push_back(sample({{"interface", i.interface}, {"group", i.group}}, i.up ? 1 : 0));
    peers.samples.push_back(sample({{"interface", i.interface}}, static_cast<double>(i.peers)));
  }
  out.push_back(std::move(up));
  out.push_back(std::move(peers));

  Family keys{"wgate_keys", "Keys by state, as `wgate key list` shows them.", MetricType::gauge, {}, {}};
  for (KeyState st : kAllStates) {
    auto it = series.keys.find(st);
    keys.samples.push_back(
        sample({{"state", state_label(st)}}, it == series.keys.end() ? 0 : static_cast<double>(it->second)));
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
  {
    Family knocks{"wgate_handshake_initiations_total",
                  "WireGuard handshake initiations to wgate's ports, by what the knock watcher found: the key's state "
                  "(valid, expired_key, revoked_key, unknown_key), why it could not tell, or why a stale key's initiation "
                  "is no knock (stale_timestamp, replayed: recorded earlier and sent again).",
                  MetricType::counter, {}, {}};
    for (size_t i = 0; i < kKnockResults; ++i) {
      knocks.samples.push_back(sample({{"result", to_string(static_cast<KnockResult>(i))}},
                                      static_cast<double>(s.initiations[i])));
    }
    out.push_back(std::move(knocks));
    Family capture{"wgate_handshake_capture_total",
                   "Handshake initiations to wgate's ports seen by the eBPF capture: copied to the knock watcher, or "
                   "left out over the per-source or the all-sources budget, or with the ring full.",
                   MetricType::counter, {}, {}};
    const char* outcomes[] = {"copied", "source_limited", "global_limited", "ring_full"};
    for (size_t i = 0; i < s.captured.size(); ++i) {
      capture.samples.push_back(sample({{"outcome", outcomes[i]}}, static_cast<double>(s.captured[i])));
    }
    out.push_back(std::move(capture));
  }
  if (s.filter_event_losses) {
    // Events the eBPF filter did not put in its ring buffer: over a source's
    // per-second budget, or the ring was full (the daemon fell behind).
    const FilterEventLosses& l = *s.filter_event_losses;
    out.push_back({"wgate_flow_events_lost_total",
                   "Flow events the eBPF filter did not report since it was loaded, by verdict (allowed: a new flow; "
                   "denied: a denial) and reason (rate_limited: over the source's events per second; ring_full: the "
                   "ring buffer was full). The packets themselves were filtered and counted as usual.",
                   MetricType::counter,
                   {sample({{"verdict", "allowed"}, {"reason", "rate_limited"}}, static_cast<double>(l.flow_rate_limited)),
                    sample({{"verdict", "allowed"}, {"reason", "ring_full"}}, static_cast<double>(l.flow_ring_full)),
                    sample({{"verdict", "denied"}, {"reason", "rate_limited"}}, static_cast<double>(l.deny_rate_limited)),
                    sample({{"verdict", "denied"}, {"reason", "ring_full"}}, static_cast<double>(l.deny_ring_full))},
                   {}});
  }
  out.push_back({"wgate_ready", "1 once a full pass succeeded and the store is readable (as /readyz).", MetricType::gauge,
                 {sample({}, s.ready ? 1 : 0)}, {}});
  if (s.events) {
    for (auto& f : event_families(*s.events)) out.push_back(std::move(f));
  }
  return out;
}

Result<std::string> render_snapshot(const DaemonSnapshot& snapshot) { return render(to_families(snapshot)); }

Series series_of(const DaemonSnapshot& s) {
  Series out;
  for (KeyState st : kAllStates) out.keys[st] = 0;
  if (s.state) {
    for (const auto& [st, n] : service::count_key_states(s.state->keys, s.wall)) out.keys[st] = n;
  }
  if (!s.plan) return out;
  for (const auto& want : s.plan->interfaces) {
    const WgDeviceState* dev = nullptr;
    if (s.observed) {
      if (auto it = s.observed->find(want.name); it != s.observed->end()) dev = &it->second;
    }
    InterfaceSeries is{want.name, want.group, dev != nullptr, dev ? dev->peers.size() : 0};
    out.interfaces.push_back(std::move(is));
    if (!dev) continue;
    // Planned peers joined with the observed ones: a peer the plan no
    // longer wants has no series, even before the next full pass observes
    // it gone; a peer that is not wgate's has none either.
    std::vector<const WgPeerState*> seen;
    seen.reserve(dev->peers.size());
    for (const auto& p : dev->peers) seen.push_back(&p);
    auto by_key = [](const WgPeerState* a, const WgPeerState* b) { return a->public_key < b->public_key; };
    std::sort(seen.begin(), seen.end(), by_key);
    for (const auto& peer : want.peers) {
      auto p = std::lower_bound(seen.begin(), seen.end(), peer.public_key,
                                [](const WgPeerState* c, const WgKey& k) { return c->public_key < k; });
      if (p == seen.end() || (*p)->public_key != peer.public_key) continue;
      out.devices.push_back({peer.user, peer.device, want.group, want.name, peer.key_id, (*p)->rx_bytes,
                             (*p)->tx_bytes, (*p)->last_handshake_sec});
    }
  }
  std::sort(out.devices.begin(), out.devices.end(), [](const DeviceSeries& a, const DeviceSeries& b) {
    return std::tie(a.interface, a.key_id) < std::tie(b.interface, b.key_id);
  });
  return out;
}

DaemonMetrics::DaemonMetrics(std::string version) {
  next_.version = std::move(version);
  next_.reconcile_duration.bounds = kDurationBounds;
  next_.reconcile_duration.counts.assign(kDurationBounds.size(), 0);
  next_.not_ready = "no full reconcile pass yet";
  publish();
}

void DaemonMetrics::record(const DaemonPass& pass) {
  if (!pass.state || !pass.plan) {
    // Nothing was reconciled: the store could not be read. The last pass's
    // series stay.
    store_error_ = pass.store_error.empty() ? "store unreadable" : pass.store_error;
    ++next_.reconcile_errors;
  } else {
    store_error_.clear();
    (pass.kind == PassKind::full ? next_.full_passes : next_.incremental_passes) += 1;
    next_.reconcile_errors += pass.errors.size();
    const double took = std::chrono::duration<double>(pass.took).count();
    next_.reconcile_duration.observe(took);
    next_.last_reconcile_seconds = took;
    next_.wall = pass.wall;
    next_.state = pass.state;
    next_.plan = pass.plan;
    if (pass.kind == PassKind::full) {
      next_.observed = pass.observed;
      if (pass.errors.empty()) clean_full_pass_ = true;
    }
  }
  if (!store_error_.empty()) {
    next_.ready = false;
    next_.not_ready = "store: " + store_error_;
  } else if (!clean_full_pass_) {
    next_.ready = false;
    next_.not_ready = "no full reconcile pass without errors yet";
    if (!pass.errors.empty()) next_.not_ready += " (" + pass.errors.front() + ")";
  } else {
    next_.ready = true;
    next_.not_ready.clear();
  }
  publish();
}

void DaemonMetrics::publish() {
  // Counters, a few strings and three shared pointers: no per-peer copy.
  auto fresh = std::make_shared<const DaemonSnapshot>(next_);
  std::lock_guard<std::mutex> lock(mu_);
  published_ = std::move(fresh);
}

std::shared_ptr<const DaemonSnapshot> DaemonMetrics::snapshot() const {
  std::shared_ptr<const DaemonSnapshot> base;
  {
    std::lock_guard<std::mutex> lock(mu_);
    base = published_;
  }
  // The counters move between passes: a copy per scrape (pointers and a
  // few numbers), not per initiation.
  auto out = std::make_shared<DaemonSnapshot>(*base);
  for (size_t i = 0; i < kKnockResults; ++i) out->initiations[i] = initiations_[i].load(std::memory_order_relaxed);
  for (size_t i = 0; i < captured_.size(); ++i) out->captured[i] = captured_[i].load(std::memory_order_relaxed);
  return out;
}

void DaemonMetrics::set_event_reader(EventReader reader) {
  std::lock_guard<std::mutex> lock(scrape_mu_);
  event_reader_ = std::move(reader);
}

std::shared_ptr<const DaemonSnapshot> DaemonMetrics::scrape() const {
  auto base = snapshot();
  std::lock_guard<std::mutex> lock(scrape_mu_);
  if (!event_reader_) return base;
  if (auto rows = event_reader_()) {
    events_.rows = std::move(*rows);
    events_.available = true;
  } else {
    ++events_.read_errors;  // the counters stay as last read: they must never go down
  }
  auto out = std::make_shared<DaemonSnapshot>(*base);
  out->events = std::make_shared<const EventCounters>(events_);
  return out;
}

void DaemonMetrics::add_capture_counters(const CaptureCounters& d) {
  captured_[0].fetch_add(d.copied, std::memory_order_relaxed);
  captured_[1].fetch_add(d.source_limited, std::memory_order_relaxed);
  captured_[2].fetch_add(d.global_limited, std::memory_order_relaxed);
  captured_[3].fetch_add(d.ring_full, std::memory_order_relaxed);
}

void DaemonMetrics::record_filter_event_losses(const FilterEventLosses& losses) {
  // Every loop turn: publish (a snapshot copy) only when something changed.
  if (next_.filter_event_losses == losses) return;
  next_.filter_event_losses = losses;
  publish();
}

void DaemonMetrics::count_initiation(KnockResult result) {
  const auto i = static_cast<size_t>(result);
  if (i < kKnockResults) initiations_[i].fetch_add(1, std::memory_order_relaxed);
}

}  // namespace wgate::metrics
