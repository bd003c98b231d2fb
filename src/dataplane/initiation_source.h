// InitiationSource: where captured WireGuard handshake initiations come
// from. The real one is InitiationCapture (initiation_capture.h, eBPF);
// tests of the watcher (agent/knock_watcher.h) pass a fake.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <set>
#include <vector>

#include "core/cidr.h"
#include "util/result.h"

namespace wgate {

// One handshake initiation as it arrived: 148 bytes to one of the watched
// UDP ports.
struct CapturedInitiation {
  uint64_t monotonic_ns = 0;  // when the kernel saw it (CLOCK_MONOTONIC)
  IpAddress src;
  IpAddress dst;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint32_t ifindex = 0;
  std::array<uint8_t, 148> message{};
};

// What the capture copied and what it left out, and why, since it was
// loaded: initiations to a watched port only.
struct CaptureCounters {
  uint64_t copied = 0;
  uint64_t source_limited = 0;  // over the per-source-address budget
  uint64_t global_limited = 0;  // over the budget of all sources together
  uint64_t ring_full = 0;       // user space fell behind
};

class InitiationSource {
 public:
  virtual ~InitiationSource() = default;
  // Watch exactly these UDP ports (WireGuard listen ports) from now on.
  virtual Status set_ports(const std::set<uint16_t>& ports) = 0;
  // Waits up to `timeout` for initiations and returns those queued (maybe
  // none). One thread calls it.
  virtual Result<std::vector<CapturedInitiation>> wait(std::chrono::milliseconds timeout) = 0;
  // Totals so far (a source that does not count: zeros).
  virtual Result<CaptureCounters> counters() { return CaptureCounters{}; }
};

}  // namespace wgate
