// Starting and stopping wireguard-go processes. Private to dataplane/ (the
// userspace backend).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "util/result.h"

namespace wgate {

// What to start: `executable -f ifname` (a bare executable name is looked up
// in PATH), with stdout and stderr appended to `log_path` (empty: /dev/null;
// its directory is created if missing).
struct WireguardGoCommand {
  std::string executable;
  std::string ifname;
  std::string log_path;
};

// Starts the process in its own session, so that signals to wgate's process
// group or session (and wgate's death) do not reach it, with default signal
// dispositions, an empty signal mask and no descriptors of wgate's beyond
// 0-2. Returns its pid.
Result<pid_t> spawn_wireguard_go(const WireguardGoCommand& command);

// glibc 2.36's <sys/pidfd.h> lacks C linkage for C++, so these call the
// syscalls. Return -1 with errno set on failure.
int pidfd_open_(pid_t pid);
int pidfd_send_signal_(int pidfd, int sig);

// Waits until the process behind `pidfd` has exited (a pidfd polls readable
// then, child or not). False on timeout.
bool wait_pidfd_exit(int pidfd, std::chrono::milliseconds timeout);

// "exit code 1", "signal Killed", from a waitpid() status.
std::string describe_wait_status(int status);

// "; log <path> ends: <last KiB>" to explain a failed start, or "" when
// there is no log or it is empty.
std::string log_tail(const std::string& log_path);

}  // namespace wgate
