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

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

}  // namespace

int pidfd_open_(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int pidfd_send_signal_(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

Result<pid_t> spawn_wireguard_go(const WireguardGoCommand& command) {
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
  return pid;
}

bool wait_pidfd_exit(int pidfd, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    pollfd pfd{pidfd, POLLIN, 0};
    int n = ::poll(&pfd, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + ::strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
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
