#include "dataplane/userspace_backend.h"

#include "core/names.h"
#include "util/fd.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "dataplane/uapi_protocol.h"

extern char** environ;

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


// Owner of the posix_spawn attribute/file-action objects.
struct SpawnConfig {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnConfig() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnConfig() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnConfig(const SpawnConfig&) = delete;
  SpawnConfig& operator=(const SpawnConfig&) = delete;
};

// glibc 2.36's <sys/pidfd.h> lacks C linkage for C++, so call the syscalls.
int pidfd_open_(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_send_signal_(int pidfd, int sig) { return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0)); }

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Interface names end up in a file path and a TUN name (core/names.h).
Status validate_ifname(const std::string& name) { return check_interface_name(name); }

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

// Sends `request` and reads until the reply's terminating empty line, EOF,
// or `io_timeout` without progress. Writes and reads are interleaved so
// that a huge request cannot deadlock against a peer that answers (for
// example with an error) before it has read everything.
Result<std::string> exchange(int fd, std::string_view request, std::chrono::milliseconds io_timeout) {
  std::string reply;
  size_t sent = 0;
  bool writing = !request.empty();
  char buf[64 * 1024];
  while (true) {
    pollfd pfd{fd, static_cast<short>(POLLIN | (writing ? POLLOUT : 0)), 0};
    int n = ::poll(&pfd, 1, static_cast<int>(io_timeout.count()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "poll uapi socket");
    }
    if (n == 0) {
      return make_error("uapi socket: no progress for " + std::to_string(io_timeout.count()) + " ms (sent " +
                        std::to_string(sent) + "/" + std::to_string(request.size()) + " bytes, received " +
                        std::to_string(reply.size()) + ")");
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

class UserspaceWgBackend final : public WgBackend {
 public:
  explicit UserspaceWgBackend(UserspaceOptions options) : options_(std::move(options)) {}

  const char* kind() const override { return "userspace"; }

  Result<bool> device_exists(const std::string& name) override {
    WGATE_TRY(validate_ifname(name));
    reap_children();
    WGATE_ASSIGN_OR_RETURN(Probe probe, probe_socket(name));
    if (probe.kind != Probe::Kind::ours) return false;
    WGATE_ASSIGN_OR_RETURN(std::string reply, exchange(probe.fd.get(), kUapiGetRequest, options_.io_timeout));
    auto state = parse_get_reply(reply);
    if (!state.ok()) return state.error().with_context("device " + name);
    return true;
  }

  Result<bool> ensure_device(const std::string& name) override {
    WGATE_TRY(validate_ifname(name));
    reap_children();
    WGATE_ASSIGN_OR_RETURN(Probe probe, probe_socket(name));
    switch (probe.kind) {
      case Probe::Kind::ours:
        return false;
      case Probe::Kind::foreign:
        return make_error("device " + name + ": " + socket_path(name) +
                          " belongs to a wireguard-go in another network namespace");
      case Probe::Kind::stale:
        // Left by a process that died without cleaning up (e.g. SIGKILL).
        if (::unlink(socket_path(name).c_str()) != 0 && errno != ENOENT) {
          return errno_error(errno, "remove stale socket " + socket_path(name));
        }
        break;
      case Probe::Kind::absent:
        break;
    }
    WGATE_ASSIGN_OR_RETURN(pid_t pid, spawn(name));
    Status ready = wait_until_ready(name, pid);
    if (!ready.ok()) {
      stop_failed_child(pid);
      return ready.error().with_context("starting wireguard-go for " + name);
    }
    return true;
  }

  Result<Readiness> prepare_device(const std::string& name) override {
    WGATE_ASSIGN_OR_RETURN(bool created, ensure_device(name));
    return created ? Readiness::created : Readiness::ready;
  }

  Status remove_device(const std::string& name) override {
    WGATE_TRY(validate_ifname(name));
    reap_children();
    const std::string path = socket_path(name);
    WGATE_ASSIGN_OR_RETURN(Probe probe, probe_socket(name));
    switch (probe.kind) {
      case Probe::Kind::absent:
      case Probe::Kind::foreign:  // another namespace's device is not ours to remove
        return ok_status();
      case Probe::Kind::stale:
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error(errno, "remove " + path);
        return ok_status();
      case Probe::Kind::ours:
        break;
    }
    // A pidfd taken while the connection proves the process is alive makes
    // the signal immune to pid reuse and lets us wait for a non-child.
    UniqueFd pidfd(pidfd_open_(probe.pid));
    if (!pidfd.valid()) return errno_error(errno, "pidfd_open " + std::to_string(probe.pid));
    probe.fd.reset();
    if (pidfd_send_signal_(pidfd.get(), SIGTERM) != 0 && errno != ESRCH) {
      return errno_error(errno, "SIGTERM wireguard-go " + std::to_string(probe.pid));
    }
    if (!wait_exit(pidfd.get(), options_.stop_timeout)) {
      if (pidfd_send_signal_(pidfd.get(), SIGKILL) != 0 && errno != ESRCH) {
        return errno_error(errno, "SIGKILL wireguard-go " + std::to_string(probe.pid));
      }
      if (!wait_exit(pidfd.get(), std::chrono::milliseconds(2000))) {
        return make_error("wireguard-go " + std::to_string(probe.pid) + " for " + name + " does not exit");
      }
    }
    reap_children();
    // wireguard-go removes its socket on a clean exit, not after SIGKILL.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error(errno, "remove " + path);
    return ok_status();
  }

  Result<WgDeviceState> get_device(const std::string& name) override {
    WGATE_TRY(validate_ifname(name));
    reap_children();
    WGATE_ASSIGN_OR_RETURN(UniqueFd fd, connect_ours(name));
    WGATE_ASSIGN_OR_RETURN(std::string reply, exchange(fd.get(), kUapiGetRequest, options_.io_timeout));
    auto state = parse_get_reply(reply);
    if (!state.ok()) return state.error().with_context("get device " + name);
    state->name = name;
    return state;
  }

  Status set_device(const WgDeviceUpdate& update) override {
    WGATE_TRY(validate_ifname(update.name));
    auto valid = validate_set_request(update);
    if (!valid.ok()) return valid.error().with_context("set device " + update.name);
    if (update.empty()) return ok_status();
    reap_children();
    WGATE_ASSIGN_OR_RETURN(UniqueFd fd, connect_ours(update.name));
    // UAPI has no message size limit: the whole update is one request, so
    // wireguard-go applies it under one lock.
    const std::string request = format_set_request(update);
    WGATE_ASSIGN_OR_RETURN(std::string reply, exchange(fd.get(), request, options_.io_timeout));
    auto err = parse_set_reply(reply);
    if (!err.ok()) return err.error().with_context("set device " + update.name);
    if (*err != 0) {
      int positive = *err < 0 ? -*err : *err;
      return Error{"set device " + update.name + ": wireguard-go replied errno=" + std::to_string(*err) + " (" +
                       std::strerror(positive) + ")",
                   positive};
    }
    return ok_status();
  }

 private:
  struct Probe {
    enum class Kind { absent, stale, foreign, ours };
    Kind kind = Kind::absent;
    UniqueFd fd;  // connected, for `ours`
    pid_t pid = 0;
  };

  std::string socket_path(const std::string& name) const { return options_.socket_dir + "/" + name + ".sock"; }

  // Connects to the device's socket and classifies it. Talks no protocol:
  // nothing is sent to another namespace's process.
  Result<Probe> probe_socket(const std::string& name) {
    const std::string path = socket_path(name);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return make_error("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

    const auto deadline = Clock::now() + options_.io_timeout;
    std::optional<Clock::time_point> dying_since;
    while (true) {
      Probe probe;
      UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      if (!fd.valid()) return errno_error(errno, "socket(AF_UNIX)");
      if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        int err = errno;
        if (err == ENOENT) return probe;  // absent
        if (err == ECONNREFUSED) {
          probe.kind = Probe::Kind::stale;
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
        probe.kind = Probe::Kind::foreign;
        return probe;
      }
      WGATE_ASSIGN_OR_RETURN(Netns netns, netns_of(cred.pid));
      if (netns == Netns::gone) {
        if (!dying_since) dying_since = Clock::now();
        // Usually a process in the middle of exiting: its socket is about
        // to refuse connections. If it stays (a daemonized wireguard-go
        // whose listener was created by a parent that has exited), its
        // namespace cannot be proven, so it is not ours.
        if (remaining_ms(deadline) == 0 || Clock::now() - *dying_since >= kDyingGrace) {
          probe.kind = Probe::Kind::foreign;
          return probe;
        }
        std::this_thread::sleep_for(kPollStep);
        continue;
      }
      probe.pid = cred.pid;
      if (netns == Netns::same) {
        probe.kind = Probe::Kind::ours;
        probe.fd = std::move(fd);
      } else {
        probe.kind = Probe::Kind::foreign;
      }
      return probe;
    }
  }

  Result<UniqueFd> connect_ours(const std::string& name) {
    WGATE_ASSIGN_OR_RETURN(Probe probe, probe_socket(name));
    switch (probe.kind) {
      case Probe::Kind::ours:
        return std::move(probe.fd);
      case Probe::Kind::absent:
        return Error{"device " + name + ": no wireguard-go socket " + socket_path(name), ENODEV};
      case Probe::Kind::stale:
        return Error{"device " + name + ": stale socket " + socket_path(name) + " (wireguard-go not running)", ENODEV};
      case Probe::Kind::foreign:
        return Error{"device " + name + ": socket belongs to another network namespace", ENODEV};
    }
    return make_error("unreachable");
  }

  std::string log_path(const std::string& name) const {
    return options_.log_dir + "/wireguard-go-" + name + ".log";
  }

  // Starts `wireguard-go -f <name>` in its own session, so that signals to
  // wgate's process group or session (and wgate's death) do not reach it.
  Result<pid_t> spawn(const std::string& name) {
    UniqueFd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!null_in.valid()) return errno_error(errno, "open /dev/null");
    UniqueFd out;
    if (options_.log_dir.empty()) {
      out = UniqueFd(::open("/dev/null", O_WRONLY | O_CLOEXEC));
      if (!out.valid()) return errno_error(errno, "open /dev/null");
    } else {
      std::error_code ec;
      std::filesystem::create_directories(options_.log_dir, ec);
      if (ec) return Error{"create log dir " + options_.log_dir + ": " + ec.message(), ec.value()};
      out = UniqueFd(::open(log_path(name).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
      if (!out.valid()) return errno_error(errno, "open " + log_path(name));
    }

    SpawnConfig cfg;
    sigset_t empty_mask;
    sigemptyset(&empty_mask);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&defaults, sig);
    int rc = posix_spawnattr_setflags(&cfg.attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&cfg.attr, &empty_mask);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&cfg.attr, &defaults);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&cfg.actions, null_in.get(), STDIN_FILENO);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&cfg.actions, out.get(), STDOUT_FILENO);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&cfg.actions, out.get(), STDERR_FILENO);
    // Sockets of wgate that lack O_CLOEXEC must not live on in the child.
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&cfg.actions, 3);
    if (rc != 0) return errno_error(rc, "posix_spawn setup");

    std::vector<std::string> env_store;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view entry(*e);
      // wireguard-go's own daemonizing hand-off variables would make it adopt
      // descriptors it does not own.
      if (entry.starts_with("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=") || entry.starts_with("WG_TUN_FD=") ||
          entry.starts_with("WG_UAPI_FD=") || entry.starts_with("WG_PROCESS_FOREGROUND=")) {
        continue;
      }
      env_store.emplace_back(entry);
    }
    // Without it wireguard-go refuses to run where the kernel module exists.
    env_store.emplace_back("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1");
    std::vector<char*> envp;
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);

    std::string arg0 = options_.wireguard_go;
    std::string arg1 = "-f";
    std::string arg2 = name;
    char* argv[] = {arg0.data(), arg1.data(), arg2.data(), nullptr};

    pid_t pid = 0;
    rc = ::posix_spawnp(&pid, options_.wireguard_go.c_str(), &cfg.actions, &cfg.attr, argv, envp.data());
    if (rc != 0) return errno_error(rc, "spawn " + options_.wireguard_go);
    children_.push_back(pid);
    return pid;
  }

  // Waits until the new process's socket answers get=1, or it exits.
  Status wait_until_ready(const std::string& name, pid_t pid) {
    const auto deadline = Clock::now() + options_.start_timeout;
    while (true) {
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        forget_child(pid);
        return make_error("wireguard-go exited (" + describe_status(status) + ")" + log_tail(name));
      }
      auto probe = probe_socket(name);
      if (probe.ok() && probe->kind == Probe::Kind::ours) {
        auto reply = exchange(probe->fd.get(), kUapiGetRequest, options_.io_timeout);
        if (reply.ok() && parse_get_reply(*reply).ok()) return ok_status();
      }
      if (remaining_ms(deadline) == 0) {
        return make_error("socket " + socket_path(name) + " did not answer within " +
                          std::to_string(options_.start_timeout.count()) + " ms" + log_tail(name));
      }
      std::this_thread::sleep_for(kPollStep);
    }
  }

  // Kills and reaps a child that never became ready.
  void stop_failed_child(pid_t pid) {
    ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    forget_child(pid);
  }

  // Waits until the process behind `pidfd` has exited (a pidfd polls
  // readable then, child or not).
  static bool wait_exit(int pidfd, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      pollfd pfd{pidfd, POLLIN, 0};
      int n = ::poll(&pfd, 1, remaining_ms(deadline));
      if (n > 0) return true;
      if (n == 0) return false;
      if (errno != EINTR) return false;
    }
  }

  // Reaps children that have exited so that no zombies pile up. Only our own
  // children are waited for: waitpid(-1) would steal other modules' statuses.
  void reap_children() {
    for (auto it = children_.begin(); it != children_.end();) {
      int status = 0;
      pid_t r = ::waitpid(*it, &status, WNOHANG);
      if (r == *it || (r < 0 && errno == ECHILD)) {
        it = children_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void forget_child(pid_t pid) { std::erase(children_, pid); }

  static std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("signal ") + ::strsignal(WTERMSIG(status));
    return "status " + std::to_string(status);
  }

  // The end of the process's log, to explain a failed start.
  std::string log_tail(const std::string& name) const {
    if (options_.log_dir.empty()) return "";
    UniqueFd fd(::open(log_path(name).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return "";
    off_t size = ::lseek(fd.get(), 0, SEEK_END);
    if (size <= 0) return "";
    off_t start = size > 1024 ? size - 1024 : 0;
    std::string text(static_cast<size_t>(size - start), '\0');
    ssize_t n = ::pread(fd.get(), text.data(), text.size(), start);
    if (n <= 0) return "";
    text.resize(static_cast<size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return "; log " + log_path(name) + " ends: " + text;
  }

  UserspaceOptions options_;
  std::vector<pid_t> children_;  // started by us and not yet reaped
};

}  // namespace

std::unique_ptr<WgBackend> make_userspace_backend(UserspaceOptions options) {
  return std::make_unique<UserspaceWgBackend>(std::move(options));
}

}  // namespace wgate
