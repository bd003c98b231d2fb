// PacketFilter: the per-person L4 filter in front of the group tables and
// the nftables guard, as the reconciler sees it. The real one is the tc eBPF
// filter (dataplane/bpf_packet_filter.h, built only with kernel BTF); tests
// pass a fake. Not thread-safe: one owner (the daemon's loop) calls it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bpf/filter_plan.h"
#include "core/cidr.h"
#include "util/result.h"

namespace wgate {

// One ring-buffer event: the first packet of a new allowed flow, or a
// denied packet (rate-limited per source).
struct FlowEvent {
  uint64_t monotonic_ns = 0;  // when the program saw it (CLOCK_MONOTONIC)
  std::chrono::system_clock::time_point time;  // the same, on the wall clock
  IpAddress src;
  IpAddress dst;
  uint8_t proto = 0;
  uint16_t sport = 0;  // ICMP: 0
  uint16_t dport = 0;  // ICMP: type << 8 | code
  bool allowed = false;
  uint8_t reason = 0;  // enum wgate_filter_reason (bpf/filter_abi.h)
  uint32_t ifindex = 0;
};

// Packets and bytes the filter passed and dropped from one source address.
struct SourceCounters {
  uint64_t pass_packets = 0;
  uint64_t pass_bytes = 0;  // IP total length
  uint64_t drop_packets = 0;
  uint64_t drop_bytes = 0;
};

// Events the filter did not report since its load (epoch()), summed over
// CPUs: over a source's per-second budget (rate_limited), or the ring
// buffer was full (ring_full: the daemon fell behind), for new allowed flows
// and for denials. The packet counters count those packets all the same.
struct FilterEventLosses {
  uint64_t flow_rate_limited = 0;
  uint64_t flow_ring_full = 0;
  uint64_t deny_rate_limited = 0;
  uint64_t deny_ring_full = 0;
  bool operator==(const FilterEventLosses&) const = default;
};

class PacketFilter {
 public:
  virtual ~PacketFilter() = default;
  // Makes the filter say what `plan` says, in place (never a program
  // reload). On an error the filter keeps the policy it had.
  virtual Status apply(const bpf::FilterPlan& plan) = 0;
  // Puts the filter on tc ingress of `interface` (again, when the link was
  // recreated under the same name). `verify`: ask the kernel whether it is
  // still there (someone may have removed it) rather than trust what this
  // object did.
  virtual Status attach(const std::string& interface, bool verify) = 0;
  // Takes the filter off `interface` (nothing to do when the link is gone).
  virtual Status detach(const std::string& interface) = 0;
  // Keeps the filter on every interface when this object goes, enforcing
  // the last applied policy while no daemon runs (tunnels stay up across a
  // restart, and so must their port rules); the next daemon's attach
  // replaces it without a gap.
  virtual void leave_attached() = 0;
  // The flow and denial events queued since the last call.
  virtual Result<std::vector<FlowEvent>> drain_events() = 0;
  // Cumulative packets and bytes per source address since `epoch()`. An
  // entry may vanish (an LRU map) and come back from zero.
  virtual Result<std::map<IpAddress, SourceCounters>> counters() const = 0;
  // Events not reported since epoch() (cumulative).
  virtual Result<FilterEventLosses> event_losses() const = 0;
  // Names this filter instance (its load time, ns): counters of another
  // epoch started again at zero.
  virtual uint64_t epoch() const = 0;
};

// The tc eBPF filter, loaded once (root). An error when this build has no
// filter (no kernel BTF at build time) or the kernel refuses it; the message
// says which.
Result<std::unique_ptr<PacketFilter>> load_packet_filter();

}  // namespace wgate
