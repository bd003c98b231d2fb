// What `wgate server` exposes to Prometheus, and how the reconcile loop
// hands it to the HTTP thread.
//
// The loop calls DaemonMetrics::record() after every pass (on its own
// thread); that builds an immutable DaemonSnapshot and swaps it in under a
// mutex. A scrape takes the current snapshot (a shared_ptr copy) and formats
// it on the HTTP thread, so a slow scrape never holds the loop, and the loop
// never waits for more than a pointer swap.
//
// Bounded label sets: one device series per planned peer that the last full
// pass observed (labels person, device, group, interface and the key id;
// never the public key), so a revoked or removed key's series disappear at
// the next pass; interfaces are the planned ones.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/daemon.h"
#include "agent/knock_watcher.h"
#include "core/model.h"
#include "core/netstate.h"
#include "metrics/event_counters.h"
#include "metrics/exposition.h"

namespace wgate::metrics {

struct DeviceSeries {
  std::string person;
  std::string device;
  std::string group;
  std::string interface;
  int64_t key_id = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  int64_t last_handshake = 0;  // unix seconds, 0: never
};

struct InterfaceSeries {
  std::string interface;
  std::string group;
  bool up = false;        // answered the last full pass
  std::size_t peers = 0;  // peers on it as observed (wgate's or not)
};

// Reconcile pass durations, as a histogram with fixed bounds.
struct DurationHistogram {
  std::vector<double> bounds;    // seconds, ascending
  std::vector<uint64_t> counts;  // per bound, NOT cumulative (render accumulates)
  double sum = 0;
  uint64_t count = 0;
  void observe(double seconds);
};

// Everything one scrape shows; immutable once published. The loop hands
// over its pass's state, plan and observation (shared, never copied); the
// series are derived from them at scrape time (series_of), on the HTTP
// thread, so a pass pays for pointer swaps only.
struct DaemonSnapshot {
  std::string version;
  UnixTime wall = 0;                        // the newest pass's time: key states are judged at it
  std::shared_ptr<const State> state;       // the newest pass's; null before the first
  std::shared_ptr<const Plan> plan;
  // The newest full pass's observation (incremental passes do not observe,
  // but their plan decides which series exist).
  std::shared_ptr<const std::map<std::string, WgDeviceState>> observed;
  DurationHistogram reconcile_duration;
  double last_reconcile_seconds = 0;
  uint64_t full_passes = 0;
  uint64_t incremental_passes = 0;
  uint64_t reconcile_errors = 0;  // per-object failures of passes plus failed store reads
  // /readyz: a full pass without errors has completed and the store was
  // readable at the last attempt; else `not_ready` says why.
  bool ready = false;
  std::string not_ready;
  // Handshake initiations the knock watcher looked at, by KnockResult
  // (index = the enum's value), as of the scrape.
  std::array<uint64_t, kKnockResults> initiations{};
  // The capture program's counters (copied, source_limited, global_limited,
  // ring_full), summed over every capture this process loaded.
  std::array<uint64_t, 4> captured{};
  // The loaded filter's events not reported (PacketFilter::event_losses),
  // as of the newest loop turn; none without a filter (the family is left
  // out then).
  std::optional<FilterEventLosses> filter_event_losses;
  // The store's event counters as of the scrape (DaemonMetrics::scrape());
  // null: not read (no reader set, or snapshot() rather than scrape()),
  // and their families are left out.
  std::shared_ptr<const EventCounters> events;
};

// The labelled series of a snapshot.
struct Series {
  std::vector<DeviceSeries> devices;        // sorted by interface, then key id
  std::vector<InterfaceSeries> interfaces;  // the plan's, by name
  std::map<KeyState, std::size_t> keys;     // every state, zeros included
};
// Pure; O(peers log peers).
Series series_of(const DaemonSnapshot& snapshot);

// The families of a snapshot, in a fixed order; pure.
std::vector<Family> to_families(const DaemonSnapshot& snapshot);
// to_families() rendered; errors only on a bug (a bad metric name).
Result<std::string> render_snapshot(const DaemonSnapshot& snapshot);

// The KeyState names used as the `state` label: "active", "never_used",
// "expired", "revoked", "superseded" (label values, so `_` where `key list`
// prints "never-used").
const char* state_label(KeyState state);

class DaemonMetrics {
 public:
  explicit DaemonMetrics(std::string version);

  // Takes in one pass (or a failed store read) and publishes a new
  // snapshot: counters and pointers, O(1) in the number of peers. Called
  // from the daemon's thread only.
  void record(const DaemonPass& pass);

  // The newest snapshot (never null), with the initiation counters as of
  // now. Thread-safe.
  std::shared_ptr<const DaemonSnapshot> snapshot() const;

  // Takes in the filter's cumulative event losses and publishes them when
  // they changed. Called from the daemon's thread only.
  void record_filter_event_losses(const FilterEventLosses& losses);

  // Counts one initiation the knock watcher looked at. Thread-safe (the
  // watcher has a thread of its own), lock-free.
  void count_initiation(KnockResult result);
  // Adds what the capture program counted since the last call (a delta:
  // the knock service restarts the program on a reload). Thread-safe.
  void add_capture_counters(const CaptureCounters& delta);

  // Where scrape() reads the store's event counters. Set it before the
  // metrics server starts; it is called on the scrape's thread, one call at
  // a time.
  void set_event_reader(EventReader reader);

  // What /metrics shows: snapshot() plus the event counters read now (the
  // last good ones, and one more read error, when the read fails). Without
  // a reader: snapshot(). Thread-safe; scrapes are serialized.
  std::shared_ptr<const DaemonSnapshot> scrape() const;

 private:
  void publish();

  // Owned by the recording thread: the next snapshot.
  DaemonSnapshot next_;
  bool clean_full_pass_ = false;
  std::string store_error_;

  mutable std::mutex mu_;
  std::shared_ptr<const DaemonSnapshot> published_;  // guarded by mu_
  std::array<std::atomic<uint64_t>, kKnockResults> initiations_{};
  std::array<std::atomic<uint64_t>, 4> captured_{};

  mutable std::mutex scrape_mu_;  // serializes scrape(): the reader's store connection is single-threaded
  EventReader event_reader_;       // guarded by scrape_mu_
  mutable EventCounters events_;   // guarded by scrape_mu_
};

}  // namespace wgate::metrics
