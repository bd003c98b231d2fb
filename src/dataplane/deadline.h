// Deadlines on the steady clock, for the poll(2) loops of the userspace
// backend. Private to dataplane/.
#pragma once

#include <chrono>
#include <limits>

namespace wgate {

// Milliseconds left until `deadline` as a poll(2) timeout: 0 once it has
// passed, INT_MAX for a deadline that far away (time_point::max()).
inline int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  using std::chrono::milliseconds;
  auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now()).count();
  if (left <= 0) return 0;
  return left < std::numeric_limits<int>::max() ? static_cast<int>(left) : std::numeric_limits<int>::max();
}

}  // namespace wgate
