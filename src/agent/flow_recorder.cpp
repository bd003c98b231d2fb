#include "agent/flow_recorder.h"

#include <spdlog/spdlog.h>

namespace wgate {

FlowRecorder::FlowRecorder(Store& store, Config config, FlowRecorderOptions options)
    : store_(store), config_(std::move(config)), options_(options) {}

void FlowRecorder::on_events(const std::vector<FlowEvent>& events,
                             const std::function<std::string(uint32_t ifindex)>& interface_name,
                             Clock::time_point now, UnixTime wall) {
  if (!events.empty() && !flush_armed_) {
    // The first event after a flush starts the clock: a quiet gateway
    // writes nothing, a busy one every flush_every.
    next_flush_ = now + options_.flush_every;
    flush_armed_ = true;
  }
  for (const auto& e : events) {
    if (held_.size() >= options_.max_held) {
      ++dropped_;
      continue;
    }
    held_.push_back(service::FlowObservation{e, interface_name(e.ifindex)});
  }
  if (held_.size() >= options_.max_buffered || (flush_armed_ && now >= next_flush_) || now >= next_prune_) {
    flush(now, wall);
  }
}

void FlowRecorder::on_traffic(const std::map<IpAddress, SourceCounters>& counters, uint64_t epoch,
                              Clock::time_point now, UnixTime wall) {
  flush(now, wall);
  service::TrafficSample sample;
  sample.epoch = epoch;
  sample.counters = counters;
  if (auto st = service::record_traffic(store_, config_, sample, wall); !st) {
    spdlog::warn("recording traffic counters: {}", st.error().message);
  }
}

void FlowRecorder::flush(Clock::time_point now, UnixTime wall) {
  if (!held_.empty()) {
    auto report = service::record_flows(store_, config_, held_, wall);
    if (!report) {
      // Kept for the next flush (bounded by max_held): a busy store is
      // usually busy for a moment only.
      spdlog::warn("recording {} flow(s): {}", held_.size(), report.error().message);
      next_flush_ = now + options_.flush_every;
      return;
    }
    if (report->partial_failure) {
      // The stored ones go; the rest is kept for the next flush, so nothing
      // is recorded twice.
      spdlog::warn("recording flows: {} of {} stored, the rest kept for the next try: {}", report->recorded,
                   held_.size(), report->partial_failure->message);
      held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(report->recorded));
      next_flush_ = now + options_.flush_every;
      return;
    }
    held_.clear();
  }
  flush_armed_ = false;
  if (now >= next_prune_) {
    auto pruned = service::prune_flows(store_, config_, wall);
    if (!pruned) {
      spdlog::warn("pruning flow records: {}", pruned.error().message);
      next_prune_ = now + options_.prune_every;
    } else {
      if (pruned->deleted > 0) spdlog::info("flow records: {} pruned", pruned->deleted);
      // A backlog is worked off a bounded batch set at a time, one per flush.
      next_prune_ = now + (pruned->more ? options_.flush_every : options_.prune_every);
    }
  }
}

}  // namespace wgate
