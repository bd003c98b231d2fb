// Records calls to kill(2) and waitpid(2) made in this process, so that a
// test can show that code never signals or waits by a raw pid (which may
// name an unrelated process once the original was reaped). The recorder
// (wireguard_go_process_test.cpp) replaces both functions for the whole test
// binary; outside a recording they just pass through to the system calls.
// Not thread-safe: start and stop from one thread.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace wgate::testing {

struct RawPidCall {
  enum class Kind { kill, waitpid };
  Kind kind;
  pid_t pid;
  int arg;            // the signal, or waitpid's options
  bool was_waitable;  // was `pid` then a child of ours that nobody had reaped yet?

  std::string describe() const;
};

void start_recording_raw_pid_calls();
std::vector<RawPidCall> stop_recording_raw_pid_calls();

// "none", or one line per call.
std::string describe(const std::vector<RawPidCall>& calls);

}  // namespace wgate::testing
