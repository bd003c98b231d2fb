// Starting, watching and stopping wireguard-go processes. Private to
// dataplane/ (the userspace backend).
//
// Every process is held by a pidfd, taken from its pid while the pid cannot
// name anybody else yet (an unreaped child of ours), and is only ever
// signalled and reaped through it. A raw pid goes stale the moment the
// process is reaped and may then name an unrelated process; kill(2) or
// waitpid(2) on it could hit that one. Pids are kept for messages only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "util/fd.h"
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

// A process held by a pidfd. Move-only. Destroying it closes the pidfd and
// nothing else: wireguard-go is meant to outlive its supervisor (see
// userspace_backend.h). A child destroyed unreaped stays a zombie until wgate
// exits.
class ProcessHandle {
 public:
  // Takes a pidfd for `pid`, a process that is not our child. The caller
  // must know that `pid` names the intended process now (for wireguard-go: a
  // connection to its socket is open, SO_PEERCRED named it and it lives in
  // our namespace); the pidfd then keeps naming it even after it exits.
  static Result<ProcessHandle> open(pid_t pid);

  ProcessHandle(ProcessHandle&&) noexcept = default;
  ProcessHandle& operator=(ProcessHandle&&) noexcept = default;

  // For messages only: never signal or wait by it.
  pid_t pid() const { return pid_; }

  // Sends `sig` through the pidfd. A process that has already exited is
  // not an error (there is nothing left to signal).
  Status signal(int sig);

  // Waits up to `timeout` for the process to exit (reaped or not). True once
  // it has.
  bool wait_exit(std::chrono::milliseconds timeout) const;

  // For a child (from spawn_wireguard_go): if it has exited, reaps it and
  // says how it ended ("exit code 1", "signal Killed"); nullopt while it
  // runs. Never blocks. After a reap the handle only answers pid().
  Result<std::optional<std::string>> try_reap();

  // For a child: SIGKILL, wait until it is gone (at most 2 s: SIGKILL cannot
  // be caught, but a process stuck in the kernel exits late), reap. Returns
  // how it ended. On error the child may still be running; try_reap() later.
  Result<std::string> kill_and_reap();

  bool reaped() const { return reaped_; }

 private:
  ProcessHandle(UniqueFd pidfd, pid_t pid, bool child) : pidfd_(std::move(pidfd)), pid_(pid), child_(child) {}
  friend Result<ProcessHandle> spawn_wireguard_go(const WireguardGoCommand& command);

  UniqueFd pidfd_;
  pid_t pid_ = 0;
  bool child_ = false;
  bool reaped_ = false;
};

// Starts the process in its own session, so that signals to wgate's process
// group or session (and wgate's death) do not reach it, with default signal
// dispositions, an empty signal mask and no descriptors of wgate's beyond
// 0-2, and returns it held by a pidfd. Requires that nobody in this process
// reaps children it does not own (no waitpid(-1), SIGCHLD not ignored): the
// pidfd is taken right after the spawn, before anybody but us could reap it.
// An error after the spawn says so: the process then runs unheld, and is
// found again through its socket like one from before a restart.
Result<ProcessHandle> spawn_wireguard_go(const WireguardGoCommand& command);

// "; log <path> ends: <last KiB>" to explain a failed start, or "" when
// there is no log or it is empty.
std::string log_tail(const std::string& log_path);

}  // namespace wgate
