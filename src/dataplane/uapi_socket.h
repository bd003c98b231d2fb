// The UAPI socket of a wireguard-go process: whose it is, and one
// request/reply exchange over it. Private to dataplane/ (the userspace
// backend); the text of the protocol is uapi_protocol.h.
//
// /var/run/wireguard/ is shared by every network namespace, so a socket only
// counts as ours when the process listening on it (SO_PEERCRED) lives in our
// network namespace.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>

#include "util/fd.h"
#include "util/result.h"

namespace wgate {

struct UapiSocketProbe {
  enum class Kind {
    absent,   // no socket file
    stale,    // a file nobody listens on (left by a wireguard-go killed with SIGKILL)
    foreign,   // a listener in another network namespace (or one we cannot see: another pid namespace)
    unproven,  // a listener whose process is gone: exiting, or a daemonized wireguard-go whose parent
               // made the socket; its namespace cannot be proven, so it is not ours
    ours,      // a listener in this network namespace; `fd` is connected to it
  };
  Kind kind = Kind::absent;
  UniqueFd fd;    // connected, for `ours`
  pid_t pid = 0;  // the listener (SO_PEERCRED) for `ours` and `foreign` when known; for messages
};

// Connects to the socket at `path` and classifies it. Talks no protocol:
// nothing is sent to another namespace's process. A full backlog is retried
// until `deadline`; a listener whose process is gone is waited for (it is
// usually exiting, and its socket about to refuse) until `deadline`, at
// most 1 s, then reported as `unproven`.
Result<UapiSocketProbe> probe_uapi_socket(const std::string& path, std::chrono::steady_clock::time_point deadline);

// Sends `request` over the connected socket `fd` and reads until the reply's
// terminating empty line or EOF (a truncated reply is left for the parser to
// report). Writes and reads are interleaved, so a huge request cannot
// deadlock against a peer that answers (for example with an error) before it
// has read everything. Fails when nothing moves for `idle_timeout`, or when
// the reply is not complete by `deadline` (a peer that trickles bytes would
// otherwise hold the caller forever).
Result<std::string> uapi_exchange(int fd, std::string_view request, std::chrono::milliseconds idle_timeout,
                                  std::chrono::steady_clock::time_point deadline =
                                      std::chrono::steady_clock::time_point::max());

}  // namespace wgate
