// The userspace WireGuard backend: one wireguard-go process per interface,
// configured over its UAPI socket (see uapi_protocol.h).
//
// wgate starts `wireguard-go -f <if>` in its own session so that the tunnel
// outlives wgate (a crash or kill -9 of wgate must not drop users); after a
// restart wgate finds the process again through its socket. Because
// /var/run/wireguard/ is shared by every network namespace, a socket only
// counts as this namespace's device when the process listening on it
// (SO_PEERCRED) lives in our network namespace.
//
// A link with the interface's name but no socket of ours (and no process of
// ours still starting) is somebody else's and is never touched: wireguard-go
// would fail on it, or attach to a persistent TUN and take it over.
//
// prepare_device() starts a process and gives it at most prepare_budget to
// answer; later calls follow the same process, which is killed and reported
// (with the end of its log) once start_timeout passes without an answer.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "dataplane/wg_backend.h"

namespace wgate {

struct UserspaceOptions {
  // The wireguard-go executable; a bare name is looked up in PATH.
  std::string wireguard_go = "wireguard-go";
  // Where wireguard-go puts <if>.sock. Must match the binary's compiled-in
  // directory; configurable for tests.
  std::string socket_dir = "/var/run/wireguard";
  // Each process's stdout/stderr goes to <log_dir>/wireguard-go-<if>.log
  // (appended), created if missing. Empty: /dev/null.
  std::string log_dir = "/var/log/wgate";
  // How long a new process gets to answer on its socket; then it is killed
  // and its start reported as failed. ensure_device waits this long.
  std::chrono::milliseconds start_timeout{5000};
  // How long one prepare_device call waits for a new process before it
  // returns `starting` (later calls follow the same process). A
  // wireguard-go that answers at all does so within tens of milliseconds.
  std::chrono::milliseconds prepare_budget{250};
  // How long remove_device waits after SIGTERM before SIGKILL.
  std::chrono::milliseconds stop_timeout{5000};
  // The most a read (get_device, device_exists, the readiness check of a new
  // process) may take in all, connect included. wireguard-go builds the
  // whole reply under its device lock before writing a byte: 59 ms for
  // 10,000 peers on a quiet machine, 170 ms loaded (bench/README.md), so
  // 2 s leaves a 10x margin at 10,000 peers. A hung wireguard-go costs a
  // reconcile pass this long per interface, instead of io_timeout.
  std::chrono::milliseconds get_timeout{2000};
  // Longest a set request may go without progress (no overall limit: a big
  // set legitimately takes long). wireguard-go applies a set line by line
  // while reading; replace_peers on a device with tens of thousands of
  // peers stalls reading for seconds, hence the margin. A hung process
  // rarely costs this: the reconciler reads (get_timeout) before it sets.
  std::chrono::milliseconds io_timeout{10000};
};

// Creates the userspace backend. Does not start anything until
// prepare_device() or ensure_device(). Not thread-safe (see WgBackend).
// Processes it starts are its children: nothing else in the process may
// reap them (no waitpid(-1), SIGCHLD not ignored).
std::unique_ptr<WgBackend> make_userspace_backend(UserspaceOptions options);

}  // namespace wgate
