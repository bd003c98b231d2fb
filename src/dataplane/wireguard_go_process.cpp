#include "dataplane/wireguard_go_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

#include "dataplane/deadline.h"
#include "util/fd.h"

extern char** environ;

namespace wgate {

namespace {

using Clock = std::chrono::steady_clock;

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

// waitid()'s P_PIDFD (linux/wait.h, kernel 5.4); glibc 2.36's idtype_t lacks it.
constexpr int kIdTypePidfd = 3;

// glibc 2.36's <sys/pidfd.h> lacks C linkage for C++, so call the syscalls.
int pidfd_open_(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_send_signal_(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

std::string describe_exit(const siginfo_t& info) {
  switch (info.si_code) {
    case CLD_EXITED: return "exit code " + std::to_string(info.si_status);
    case CLD_KILLED:
    case CLD_DUMPED: return std::string("signal ") + ::strsignal(info.si_status);
    default: return "status " + std::to_string(info.si_status);
  }
}

// Would the kernel reap our children itself? Then a child could be gone
// (and its pid reused) before pidfd_open, and waitid could never report it.
Status check_children_not_auto_reaped() {
  struct sigaction sa {};
  if (::sigaction(SIGCHLD, nullptr, &sa) != 0) return errno_error(errno, "sigaction(SIGCHLD)");
  if (sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDWAIT) != 0) {
    return make_error("SIGCHLD is ignored in this process, so children are reaped by the kernel; wireguard-go "
                      "cannot be supervised");
  }
  return ok_status();
}

}  // namespace

Result<ProcessHandle> ProcessHandle::open(pid_t pid) {
  UniqueFd fd(pidfd_open_(pid));
  if (!fd.valid()) return errno_error(errno, "pidfd_open " + std::to_string(pid));
  return ProcessHandle(std::move(fd), pid, /*child=*/false);
}

Status ProcessHandle::signal(int sig) {
  if (reaped_) return ok_status();
  if (pidfd_send_signal_(pidfd_.get(), sig) != 0 && errno != ESRCH) {
    return errno_error(errno, std::string("signal ") + ::strsignal(sig) + " to process " + std::to_string(pid_));
  }
  return ok_status();
}

bool ProcessHandle::wait_exit(std::chrono::milliseconds timeout) const {
  if (reaped_) return true;
  const auto deadline = Clock::now() + timeout;
  while (true) {
    pollfd pfd{pidfd_.get(), POLLIN, 0};
    int n = ::poll(&pfd, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

Result<std::optional<std::string>> ProcessHandle::try_reap() {
  if (!child_) return make_error("process " + std::to_string(pid_) + " is not our child; it cannot be reaped");
  if (reaped_) return make_error("process " + std::to_string(pid_) + " was reaped already");
  siginfo_t info{};
  const auto id = static_cast<id_t>(pidfd_.get());
  while (::waitid(static_cast<idtype_t>(kIdTypePidfd), id, &info, WEXITED | WNOHANG) != 0) {
    if (errno != EINTR) return errno_error(errno, "waitid for process " + std::to_string(pid_));
  }
  if (info.si_pid == 0) return std::optional<std::string>();  // still running
  reaped_ = true;
  return std::optional<std::string>(describe_exit(info));
}

Result<std::string> ProcessHandle::kill_and_reap() {
  WGATE_TRY(signal(SIGKILL));
  if (!wait_exit(std::chrono::milliseconds(2000))) {
    return make_error("process " + std::to_string(pid_) + " does not exit after SIGKILL");
  }
  WGATE_ASSIGN_OR_RETURN(std::optional<std::string> how, try_reap());
  // The pidfd polls readable only once the child is a zombie, so it can be
  // reaped now; anything else would be a kernel surprise worth naming.
  if (!how) return make_error("process " + std::to_string(pid_) + " exited but cannot be reaped");
  return *how;
}

Result<ProcessHandle> spawn_wireguard_go(const WireguardGoCommand& command) {
  WGATE_TRY(check_children_not_auto_reaped());
  UniqueFd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_in.valid()) return errno_error(errno, "open /dev/null");
  UniqueFd out;
  if (command.log_path.empty()) {
    out = UniqueFd(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    if (!out.valid()) return errno_error(errno, "open /dev/null");
  } else {
    std::error_code ec;
    const auto dir = std::filesystem::path(command.log_path).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    if (ec) return Error{"create log dir " + dir.string() + ": " + ec.message(), ec.value()};
    out = UniqueFd(::open(command.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    if (!out.valid()) return errno_error(errno, "open " + command.log_path);
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

  std::string arg0 = command.executable;
  std::string arg1 = "-f";
  std::string arg2 = command.ifname;
  char* argv[] = {arg0.data(), arg1.data(), arg2.data(), nullptr};

  pid_t pid = 0;
  rc = ::posix_spawnp(&pid, command.executable.c_str(), &cfg.actions, &cfg.attr, argv, envp.data());
  if (rc != 0) return errno_error(rc, "spawn " + command.executable);
  // Race-free: until we reap it, the pid cannot name anybody else. Freeing
  // two descriptors first leaves pidfd_open a slot even in a process at its
  // descriptor limit.
  null_in.reset();
  out.reset();
  UniqueFd pidfd(pidfd_open_(pid));
  if (!pidfd.valid()) {
    return errno_error(errno, "pidfd_open for wireguard-go " + std::to_string(pid) + " (started for " +
                                  command.ifname + ", left running unsupervised; found again through its socket)");
  }
  return ProcessHandle(std::move(pidfd), pid, /*child=*/true);
}

std::string log_tail(const std::string& log_path) {
  if (log_path.empty()) return "";
  UniqueFd fd(::open(log_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return "";
  off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size <= 0) return "";
  off_t start = size > 1024 ? size - 1024 : 0;
  std::string text(static_cast<size_t>(size - start), '\0');
  ssize_t n = ::pread(fd.get(), text.data(), text.size(), start);
  if (n <= 0) return "";
  text.resize(static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return "; log " + log_path + " ends: " + text;
}

}  // namespace wgate
