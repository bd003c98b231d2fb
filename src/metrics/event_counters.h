// The store's event counters (Store::event_counts, store/store.h) as
// Prometheus counters: logins by result, alert deliveries sent and failed,
// flow records and the filter's packets and bytes by verdict.
//
// Why from the store: these events happen in several processes (logins in
// `wgate web`, deliveries wherever a dispatcher runs, flows in the daemon),
// and the store counts each one in the transaction that records it. So the
// daemon's scrape shows every process's events, the totals survive
// restarts of any of them, and pruning flow records never lowers a total.
// A scrape reads the few counter rows (O(1) in the size of the store).
//
// Bounded labels: every family has a fixed label set, written with zeros
// included so a dashboard's series exist before the first event. A stored
// value outside the fixed set (a channel or reason a newer wgate wrote) is
// added to the label value "other", written only when not zero. No person
// or device names.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "metrics/exposition.h"
#include "store/store.h"
#include "util/result.h"

namespace wgate::metrics {

// What the last scrape read from the store.
struct EventCounters {
  bool available = false;         // a read succeeded once: `rows` are real
  std::vector<EventCount> rows;   // the newest successful read
  uint64_t read_errors = 0;       // failed reads so far (the previous rows stay shown)
};

// The families above, in a fixed order, plus
// wgate_event_read_errors_total. While no read has succeeded the
// event families are left out (not shown as zeros they may not be). Pure.
std::vector<Family> event_families(const EventCounters& counters);

// Reads Store::event_counts(); called on the metrics thread, one call at a
// time.
using EventReader = std::function<Result<std::vector<EventCount>>()>;

// A reader over a store connection of its own, opened at the first call
// (on the calling thread: Store objects are single-threaded) and opened
// again after a failed read.
EventReader store_event_reader(std::string store_path);

}  // namespace wgate::metrics
