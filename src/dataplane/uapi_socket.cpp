#include "dataplane/uapi_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include "dataplane/deadline.h"
#include "dataplane/uapi_protocol.h"

namespace wgate {

namespace {

using Clock = std::chrono::steady_clock;

// Longest reply we accept: a get for 10,000 peers is a few MB.
constexpr size_t kMaxReplyBytes = 256u << 20;
constexpr auto kPollStep = std::chrono::milliseconds(20);
// How long a socket whose listener process has no namespace any more may
// take to start refusing connections (an exiting process closes its
// descriptors within milliseconds).
constexpr auto kDyingGrace = std::chrono::milliseconds(1000);

enum class Netns { same, other, gone };

// Is `pid` in the same network namespace as this process? `gone` when the
// process has exited or is exiting (a dying Go process keeps its sockets
// open for a moment after its namespaces are released).
Result<Netns> netns_of(pid_t pid) {
  struct stat self {};
  if (::stat("/proc/self/ns/net", &self) != 0) return errno_error(errno, "stat /proc/self/ns/net");
  std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  struct stat other {};
  if (::stat(path.c_str(), &other) != 0) {
    if (errno == ENOENT || errno == ESRCH) return Netns::gone;
    return errno_error(errno, "stat " + path);
  }
  return self.st_dev == other.st_dev && self.st_ino == other.st_ino ? Netns::same : Netns::other;
}

}  // namespace

Result<UapiSocketProbe> probe_uapi_socket(const std::string& path, Clock::time_point deadline) {
  using Kind = UapiSocketProbe::Kind;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return make_error("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  std::optional<Clock::time_point> dying_since;
  while (true) {
    UapiSocketProbe probe;
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) return errno_error(errno, "socket(AF_UNIX)");
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      int err = errno;
      if (err == ENOENT) return probe;  // absent
      if (err == ECONNREFUSED) {
        probe.kind = Kind::stale;
        return probe;
      }
      // EAGAIN: the listener's backlog is full; it is alive, try again.
      if (err != EAGAIN || remaining_ms(deadline) == 0) return errno_error(err, "connect " + path);
      std::this_thread::sleep_for(kPollStep);
      continue;
    }

    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      return errno_error(errno, "SO_PEERCRED on " + path);
    }
    // pid 0: the listener is in a pid namespace we cannot see, so it is not
    // a process we could supervise.
    if (cred.pid <= 0) {
      probe.kind = Kind::foreign;
      return probe;
    }
    WGATE_ASSIGN_OR_RETURN(Netns netns, netns_of(cred.pid));
    if (netns == Netns::gone) {
      if (!dying_since) dying_since = Clock::now();
      // Usually a process in the middle of exiting: its socket is about
      // to refuse connections. If it stays (a daemonized wireguard-go
      // whose listener was created by a parent that has exited), its
      // namespace cannot be proven.
      if (remaining_ms(deadline) == 0 || Clock::now() - *dying_since >= kDyingGrace) {
        probe.kind = Kind::unproven;
        return probe;
      }
      std::this_thread::sleep_for(kPollStep);
      continue;
    }
    probe.pid = cred.pid;
    if (netns == Netns::same) {
      probe.kind = Kind::ours;
      probe.fd = std::move(fd);
    } else {
      probe.kind = Kind::foreign;
    }
    return probe;
  }
}

Result<std::string> uapi_exchange(int fd, std::string_view request, std::chrono::milliseconds idle_timeout,
                                  Clock::time_point deadline) {
  const auto start = Clock::now();
  std::string reply;
  size_t sent = 0;
  bool writing = !request.empty();
  char buf[64 * 1024];
  while (true) {
    auto progress = [&] {
      return " (sent " + std::to_string(sent) + "/" + std::to_string(request.size()) + " bytes, received " +
             std::to_string(reply.size()) + ")";
    };
    const bool by_deadline = deadline != Clock::time_point::max() && remaining_ms(deadline) < idle_timeout.count();
    const int wait_ms = by_deadline ? remaining_ms(deadline) : static_cast<int>(idle_timeout.count());
    pollfd pfd{fd, static_cast<short>(POLLIN | (writing ? POLLOUT : 0)), 0};
    int n = ::poll(&pfd, 1, wait_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "poll uapi socket");
    }
    if (n == 0) {
      if (by_deadline) {
        auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
        return make_error("uapi socket: no complete reply after " + std::to_string(took) + " ms" + progress());
      }
      return make_error("uapi socket: no progress for " + std::to_string(idle_timeout.count()) + " ms" + progress());
    }
    if (writing && (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) {
        sent += static_cast<size_t>(w);
        if (sent == request.size()) writing = false;
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        if (errno != EPIPE && errno != ECONNRESET) return errno_error(errno, "write uapi socket");
        // The peer stopped reading (it answers errors early and closes):
        // whatever it wrote before closing is the reply.
        writing = false;
      }
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) {
        // Only the new bytes (and the one before them) can complete the
        // reply; rescanning all of a 3 MB reply per read would be quadratic.
        size_t scan_from = reply.empty() ? 0 : reply.size() - 1;
        reply.append(buf, static_cast<size_t>(r));
        if (scan_from == 0 ? uapi_reply_complete(reply)
                           : std::string_view(reply).substr(scan_from).find("\n\n") != std::string_view::npos) {
          return reply;
        }
        if (reply.size() > kMaxReplyBytes) return make_error("uapi reply larger than the limit");
      } else if (r == 0) {
        return reply;  // EOF: the parser reports a truncated reply
      } else if (errno != EAGAIN && errno != EINTR) {
        if (errno == ECONNRESET) return reply;
        return errno_error(errno, "read uapi socket");
      }
    }
  }
}

}  // namespace wgate
