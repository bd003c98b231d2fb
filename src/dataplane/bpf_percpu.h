// Reading per-CPU counter arrays of eBPF programs (the filter's event
// losses, the handshake capture's outcomes): each slot summed over CPUs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/result.h"

namespace wgate {

// The sums of slots 0 .. slots-1 of the BPF_MAP_TYPE_PERCPU_ARRAY `map_fd`
// whose values are one u64. `what` names the map in errors.
Result<std::vector<uint64_t>> sum_percpu_counters(int map_fd, uint32_t slots, const std::string& what);

}  // namespace wgate
