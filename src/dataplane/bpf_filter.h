// BpfFilter: loads wgate's tc eBPF filter (bpf/filter.bpf.c), attaches it to
// the ingress of WireGuard interfaces, and keeps its maps in line with a
// FilterPlan (bpf/filter_plan.h), without ever reloading the program.
//
// apply() never leaves a window where a rule is missing: the program reads
// one of two map pairs (devices + rules), chosen by an index it reads once
// per packet. apply() writes the pair not in use, flips the index, waits for
// an RCU grace period (so no packet still reads the old pair) and then
// brings the old pair up to date too, so the next apply writes only the
// change. Until the first apply() every packet is dropped (default deny):
// apply before attaching.
//
// Needs root (CAP_BPF + CAP_NET_ADMIN). Not thread-safe: one owner calls it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "bpf/filter_plan.h"
#include "core/cidr.h"
#include "dataplane/packet_filter.h"
#include "util/result.h"

namespace wgate {

struct BpfFilterOptions {
  // Per buffer; both maps allocate entries as they are written (no
  // prealloc), so a large limit costs nothing until used. apply() refuses a
  // plan beyond either, naming it.
  uint32_t max_devices = 1u << 20;
  uint32_t max_rule_entries = 1u << 19;      // distinct (ruleset, prefix)
  uint32_t deny_events_per_sec = 10;         // per source; 0: no denial events
  // New allowed flows reported per source and second; beyond, a flow still
  // passes and is remembered (never reported later as new) but not
  // reported, and event_losses() counts it. 0: no flow events.
  uint32_t flow_events_per_sec = 100;
  std::chrono::seconds flow_idle{120};       // a flow quiet this long is reported again
};

class BpfFilter {
 public:
  // Loads and verifies the program and creates its maps.
  static Result<BpfFilter> load(const BpfFilterOptions& options = {});

  BpfFilter(BpfFilter&&) noexcept;
  BpfFilter& operator=(BpfFilter&&) noexcept;
  ~BpfFilter();  // detaches from every interface it attached to (unless leave_attached())

  // Attaches to tc ingress of `ifindex` (creating the clsact qdisc if there
  // is none), replacing a filter left at wgate's handle/priority by an
  // earlier process. Attaching twice to one interface is a no-op.
  Status attach(int ifindex);
  // Removes wgate's filter from `ifindex`; the clsact qdisc stays (other
  // filters may use it).
  Status detach(int ifindex);
  // Leaves the filter on every interface it is attached to when this object
  // goes (the destructor then detaches nothing): tc holds the program, the
  // program holds its maps, so the last applied policy keeps being enforced
  // with no process behind it. A later attach() by a new instance replaces
  // it in one step (same handle, BPF_TC_F_REPLACE). Counters and events of
  // the old instance are no longer read.
  void leave_attached();
  // Whether wgate's filter is on tc ingress of `ifindex` now (asks the
  // kernel: someone may have removed it).
  Result<bool> attached(int ifindex) const;

  // Makes the maps say what `plan` says (see the top of this file). On an
  // error before the flip, the active policy is unchanged; a plan with more
  // devices or rule entries than the maps hold is refused before anything
  // is written, with an error naming the limit.
  Status apply(const bpf::FilterPlan& plan);

  // The events the program queued since the last call (non-blocking).
  Result<std::vector<FlowEvent>> drain_events();
  // Packets and bytes per device address, summed over CPUs. Entries live in
  // an LRU map, so a long-gone device may disappear from it.
  Result<std::map<IpAddress, SourceCounters>> counters() const;

  // Events the program did not put in the ring since load, summed over
  // CPUs (FilterEventLosses).
  Result<FilterEventLosses> event_losses() const;

  // The program's fd, for BPF_PROG_TEST_RUN (tests, benchmarks).
  int program_fd() const;

 private:
  struct Impl;
  explicit BpfFilter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wgate
