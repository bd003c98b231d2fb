// FlowRecorder: the daemon's side of the flow audit. It takes what the eBPF
// filter reports (DaemonOptions::on_flow_events / on_traffic) and writes it
// through the service layer (service::record_flows, record_traffic,
// prune_flows), on the daemon's thread and with the daemon's store.
//
// Why it buffers: every commit to the store wakes the daemon (it watches the
// store for intent changes), so writing each drained batch at once would
// cost a reconcile pass per loop turn. Events are kept and written together
// every `flush_every` (or when `max_buffered` are waiting); flow records
// are pruned every `prune_every` (again at the next flush while a backlog
// remains). Failures are logged, never fatal: the filter keeps filtering.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "dataplane/packet_filter.h"
#include "service/service.h"
#include "store/store.h"

namespace wgate {

struct FlowRecorderOptions {
  std::chrono::milliseconds flush_every{2000};
  size_t max_buffered = 5000;      // flush early beyond this
  size_t max_held = 100000;        // a store that keeps failing: drop (and count) beyond this
  std::chrono::milliseconds prune_every{60000};
};

class FlowRecorder {
 public:
  using Clock = std::chrono::steady_clock;
  // `store` must outlive this object.
  FlowRecorder(Store& store, Config config, FlowRecorderOptions options = {});

  void set_config(const Config& config) { config_ = config; }

  // DaemonOptions::on_flow_events. Writes when a flush is due.
  void on_events(const std::vector<FlowEvent>& events,
                 const std::function<std::string(uint32_t ifindex)>& interface_name, Clock::time_point now,
                 UnixTime wall);
  // DaemonOptions::on_traffic. Writes the flows held first (so a flow and
  // its bytes land in the same order they happened).
  void on_traffic(const std::map<IpAddress, SourceCounters>& counters, uint64_t epoch, Clock::time_point now,
                  UnixTime wall);
  // Writes what is held now (and prunes when due).
  void flush(Clock::time_point now, UnixTime wall);

  size_t held() const { return held_.size(); }
  uint64_t dropped() const { return dropped_; }  // events lost because the store kept failing

 private:
  Store& store_;
  Config config_;
  FlowRecorderOptions options_;
  std::vector<service::FlowObservation> held_;
  Clock::time_point next_flush_{};
  Clock::time_point next_prune_{};
  bool flush_armed_ = false;
  uint64_t dropped_ = 0;
};

}  // namespace wgate
