// ProcessHandle and spawn_wireguard_go with stand-in scripts for
// wireguard-go (no root, no network), and the recorder of raw-pid calls
// (raw_pid_calls.h) that these and the userspace backend's tests use.
#include "dataplane/wireguard_go_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "raw_pid_calls.h"

namespace wgate::testing {
namespace {

bool g_recording = false;
std::vector<RawPidCall> g_calls;

// Is `pid` a child of ours that has not been reaped? Asks without reaping.
bool waitable(pid_t pid) {
  if (pid <= 0) return false;
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

void record(RawPidCall::Kind kind, pid_t pid, int arg) {
  if (!g_recording) return;
  g_recording = false;  // waitable() and the vector must not record themselves
  g_calls.push_back(RawPidCall{kind, pid, arg, waitable(pid)});
  g_recording = true;
}

}  // namespace

std::string RawPidCall::describe() const {
  return std::string(kind == Kind::kill ? "kill(" : "waitpid(") + std::to_string(pid) + ", " + std::to_string(arg) +
         ")" + (was_waitable ? "" : " on a pid that was not an unreaped child of ours");
}

void start_recording_raw_pid_calls() {
  g_calls.clear();
  g_recording = true;
}

std::vector<RawPidCall> stop_recording_raw_pid_calls() {
  g_recording = false;
  return std::move(g_calls);
}

std::string describe(const std::vector<RawPidCall>& calls) {
  if (calls.empty()) return "none";
  std::string out;
  for (const auto& c : calls) out += c.describe() + "\n";
  return out;
}

}  // namespace wgate::testing

// The replacements. Defined in the executable, they take precedence over
// libc's (and ASan's waitpid interceptor) for every caller in the binary.
extern "C" int kill(pid_t pid, int sig) noexcept {
  wgate::testing::record(wgate::testing::RawPidCall::Kind::kill, pid, sig);
  return static_cast<int>(::syscall(SYS_kill, pid, sig));
}

extern "C" pid_t waitpid(pid_t pid, int* status, int options) {
  wgate::testing::record(wgate::testing::RawPidCall::Kind::waitpid, pid, options);
  return static_cast<pid_t>(::syscall(SYS_wait4, pid, status, options, nullptr));
}

namespace wgate {
namespace {

using testing::describe;
using testing::start_recording_raw_pid_calls;
using testing::stop_recording_raw_pid_calls;

class WireguardGoProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/wgpt-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A stand-in for wireguard-go: a shell script with `body`, called as
  // `script -f <ifname>`.
  std::string script(const std::string& body) {
    std::string path = dir_ + "/wireguard-go";
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path.c_str(), 0755);
    return path;
  }

  std::string dir_;
};

// Has `pid` stopped being a child of ours (reaped)? Asks without reaping.
bool reaped(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 && errno == ECHILD;
}

TEST_F(WireguardGoProcess, RunningChildIsKilledAndReapedThroughItsPidfd) {
  WireguardGoCommand cmd{script("echo \"started $2\"\nexec sleep 30"), "wgpt0", dir_ + "/log/wg.log"};
  start_recording_raw_pid_calls();
  auto process = spawn_wireguard_go(cmd);
  ASSERT_TRUE(process.ok()) << process.error().message;
  auto running = process->try_reap();
  ASSERT_TRUE(running.ok()) << running.error().message;
  EXPECT_FALSE(running->has_value()) << "a sleeping child reported as exited: " << **running;
  EXPECT_FALSE(process->wait_exit(std::chrono::milliseconds(50)));
  // Its own session: wgate's death or signals to its group do not reach it.
  EXPECT_EQ(::getsid(process->pid()), process->pid());
  // Its output goes to the log. Waited for before the kill, which would
  // otherwise win on a slow machine (it did under QEMU TCG).
  for (int i = 0; i < 500 && log_tail(cmd.log_path).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(log_tail(cmd.log_path).find("started wgpt0"), std::string::npos) << log_tail(cmd.log_path);

  auto how = process->kill_and_reap();
  auto calls = stop_recording_raw_pid_calls();
  ASSERT_TRUE(how.ok()) << how.error().message;
  EXPECT_EQ(*how, "signal Killed");
  EXPECT_TRUE(process->reaped());
  EXPECT_TRUE(reaped(process->pid()));
  EXPECT_TRUE(calls.empty()) << "raw-pid calls: " << describe(calls);
  // Done with: further signals go nowhere instead of to a reused pid.
  EXPECT_TRUE(process->signal(SIGKILL).ok());
  EXPECT_FALSE(process->try_reap().ok());
}

TEST_F(WireguardGoProcess, ExitedChildIsReapedOnceWithItsStatus) {
  WireguardGoCommand cmd{script("echo \"cannot create $2\"\nexit 3"), "wgpt1", dir_ + "/wg.log"};
  start_recording_raw_pid_calls();
  auto process = spawn_wireguard_go(cmd);
  ASSERT_TRUE(process.ok()) << process.error().message;
  EXPECT_TRUE(process->wait_exit(std::chrono::milliseconds(5000)));
  auto how = process->try_reap();
  auto calls = stop_recording_raw_pid_calls();
  ASSERT_TRUE(how.ok()) << how.error().message;
  ASSERT_TRUE(how->has_value());
  EXPECT_EQ(**how, "exit code 3");
  EXPECT_TRUE(reaped(process->pid()));
  EXPECT_TRUE(calls.empty()) << "raw-pid calls: " << describe(calls);
  EXPECT_FALSE(process->try_reap().ok()) << "reaped twice";
  EXPECT_EQ(log_tail(cmd.log_path), "; log " + cmd.log_path + " ends: cannot create wgpt1");
  EXPECT_EQ(log_tail(""), "");
  EXPECT_EQ(log_tail(dir_ + "/absent.log"), "");
}

TEST_F(WireguardGoProcess, AdoptedProcessIsSignalledButNotReaped) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::pause();
    ::_exit(0);
  }
  auto process = ProcessHandle::open(pid);
  ASSERT_TRUE(process.ok()) << process.error().message;
  EXPECT_FALSE(process->try_reap().ok()) << "a process not spawned by us was reaped through its handle";
  EXPECT_TRUE(process->signal(SIGTERM).ok());
  EXPECT_TRUE(process->wait_exit(std::chrono::milliseconds(5000)));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  EXPECT_TRUE(process->signal(SIGTERM).ok()) << "a signal to an exited process is not an error";
}

TEST_F(WireguardGoProcess, RefusesToSpawnWhenChildrenAreReapedByTheKernel) {
  struct sigaction ignore {}, old {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGCHLD, &ignore, &old), 0);
  WireguardGoCommand cmd{script("echo started >" + dir_ + "/ran"), "wgpt2", ""};
  auto process = spawn_wireguard_go(cmd);
  ::sigaction(SIGCHLD, &old, nullptr);
  ASSERT_FALSE(process.ok());
  EXPECT_NE(process.error().message.find("SIGCHLD"), std::string::npos) << process.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ran")) << "started although it could not be supervised";
}

TEST_F(WireguardGoProcess, MissingExecutableIsAnError) {
  auto process = spawn_wireguard_go({dir_ + "/no-such-wireguard-go", "wgpt3", ""});
  ASSERT_FALSE(process.ok());
  EXPECT_NE(process.error().message.find("no-such-wireguard-go"), std::string::npos) << process.error().message;
}

}  // namespace
}  // namespace wgate
