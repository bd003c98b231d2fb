// Real tests of the userspace backend: a real wireguard-go, driven inside
// network namespaces that the test creates in forked children. The test
// runner's own namespace is never changed (the only shared thing is the
// /var/run/wireguard directory, which is exactly what the namespace check is
// about). Children report through a pipe and their exit code; the parent
// asserts.
#include "dataplane/userspace_backend.h"
#include "test_links.h"

#include <dirent.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "raw_pid_calls.h"

namespace wgate {
namespace {

constexpr const char* kWireguardGo = "/usr/bin/wireguard-go";
constexpr const char* kSocketDir = "/var/run/wireguard";
constexpr const char* kPrefix = "wgut-";

std::string ifname(char tag) { return kPrefix + std::to_string(::getpid()) + tag; }

std::string socket_file(const std::string& name) { return std::string(kSocketDir) + "/" + name + ".sock"; }

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool process_alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  return paren == std::string::npos || line.size() < paren + 3 || line[paren + 2] != 'Z';
}

std::vector<std::string> cmdline(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::vector<std::string> args;
  std::string arg;
  while (std::getline(in, arg, '\0')) args.push_back(arg);
  return args;
}

// Every wireguard-go process whose interface name matches `pred`.
std::vector<std::pair<pid_t, std::string>> wireguard_go_processes(const std::function<bool(const std::string&)>& pred) {
  std::vector<std::pair<pid_t, std::string>> out;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return out;
  while (dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    auto args = cmdline(static_cast<pid_t>(pid));
    if (args.size() == 3 && std::filesystem::path(args[0]).filename() == "wireguard-go" && args[1] == "-f" &&
        pred(args[2])) {
      out.emplace_back(static_cast<pid_t>(pid), args[2]);
    }
  }
  ::closedir(dir);
  return out;
}

std::optional<pid_t> wireguard_go_pid(const std::string& name) {
  auto procs = wireguard_go_processes([&](const std::string& n) { return n == name; });
  if (procs.empty()) return std::nullopt;
  return procs.front().first;
}

// The test process that owns a "wgut-<pid><tag>" name, or -1.
long owner_pid(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return -1;
  return std::strtol(name.c_str() + std::strlen(kPrefix), nullptr, 10);
}

void kill_and_wait(pid_t pid) {
  ::kill(pid, SIGKILL);
  for (int i = 0; i < 200 && process_alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// Removes wireguard-go processes and sockets left by earlier runs of this
// test (whose owning test process is gone), or, with `mine`, by this run.
void clean_up(bool mine) {
  auto is_target = [mine](const std::string& name) {
    long owner = owner_pid(name);
    if (owner <= 0) return false;
    if (mine) return owner == ::getpid();
    return owner != ::getpid() && ::kill(static_cast<pid_t>(owner), 0) != 0;
  };
  for (const auto& [pid, name] : wireguard_go_processes(is_target)) kill_and_wait(pid);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(kSocketDir, ec)) {
    std::string file = entry.path().filename();
    if (file.size() > 5 && file.ends_with(".sock") && is_target(file.substr(0, file.size() - 5))) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
}

struct ChildResult {
  int exit_code = -1;
  std::string message;
};

// Runs `body` in a forked child: in a fresh network namespace, or in the
// namespace of process `join_pid`. The body returns "" on success or what
// went wrong.
ChildResult run_child(const std::function<std::string()>& body, pid_t join_pid = 0) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {-1, std::string("pipe: ") + std::strerror(errno)};
  pid_t pid = ::fork();
  if (pid < 0) return {-1, std::string("fork: ") + std::strerror(errno)};
  if (pid == 0) {
    ::close(fds[0]);
    std::string msg;
    if (join_pid > 0) {
      std::string path = "/proc/" + std::to_string(join_pid) + "/ns/net";
      int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) msg = "setns " + path + ": " + std::strerror(errno);
    } else if (::unshare(CLONE_NEWNET) != 0) {
      msg = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
    }
    if (msg.empty()) msg = body();
    size_t off = 0;
    while (off < msg.size()) {
      ssize_t n = ::write(fds[1], msg.data() + off, msg.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::_exit(msg.empty() ? 0 : 1);  // no gtest/atexit machinery in the child
  }
  ::close(fds[1]);
  ChildResult result;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) result.message.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

#define CHECK_OR_RETURN(cond, what) \
  do {                              \
    if (!(cond)) return std::string(what) + " [" #cond "]"; \
  } while (0)

#define OK_OR_RETURN(expr, what)                                             \
  do {                                                                       \
    auto&& r_ = (expr);                                                      \
    if (!r_.ok()) return std::string(what) + ": " + r_.error().message;      \
  } while (0)

WgKey random_key() { return *WgKey::generate_private(); }

Prefix prefix(const std::string& text) { return *Prefix::parse(text); }

// Sorts peers and their allowed IPs: wireguard-go lists peers in map order.
std::vector<WgPeerState> sorted_peers(std::vector<WgPeerState> peers) {
  for (auto& p : peers) std::sort(p.allowed_ips.begin(), p.allowed_ips.end());
  std::sort(peers.begin(), peers.end(),
            [](const WgPeerState& a, const WgPeerState& b) { return a.public_key < b.public_key; });
  return peers;
}

// Checks the device's peers (keys, allowed IPs, keepalive) against `want`.
std::string compare_peers(const WgDeviceState& got, std::vector<WgPeerState> want) {
  auto have = sorted_peers(got.peers);
  want = sorted_peers(std::move(want));
  if (have.size() != want.size()) {
    return "peer count " + std::to_string(have.size()) + ", want " + std::to_string(want.size());
  }
  for (size_t i = 0; i < have.size(); ++i) {
    if (have[i].public_key != want[i].public_key) return "peer " + std::to_string(i) + ": public key differs";
    if (have[i].allowed_ips != want[i].allowed_ips) {
      std::string list;
      for (const auto& p : have[i].allowed_ips) list += p.to_string() + " ";
      return "peer " + have[i].public_key.to_base64() + ": allowed IPs are " + list;
    }
    if (have[i].persistent_keepalive != want[i].persistent_keepalive) return "peer keepalive differs";
    if (have[i].endpoint != want[i].endpoint) return "peer endpoint is \"" + have[i].endpoint + "\"";
  }
  return "";
}

class UserspaceBackend : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, TUN)";
    if (::access(kWireguardGo, X_OK) != 0) GTEST_SKIP() << kWireguardGo << " not installed";
    clean_up(/*mine=*/false);
    log_dir_ = "/tmp/wgut-logs-" + std::to_string(::getpid());
    options_.wireguard_go = kWireguardGo;
    options_.socket_dir = kSocketDir;
    options_.log_dir = log_dir_;
  }
  void TearDown() override {
    clean_up(/*mine=*/true);
    std::error_code ec;
    if (!log_dir_.empty()) std::filesystem::remove_all(log_dir_, ec);
  }

  // A stand-in for wireguard-go: a shell script with `body`, called as
  // `wireguard-go -f <ifname>` with its output in the interface's log.
  std::string fake_wireguard_go(const std::string& tag, const std::string& body) {
    std::string dir = log_dir_ + "/bin-" + tag;
    std::filesystem::create_directories(dir);
    std::string path = dir + "/wireguard-go";
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path.c_str(), 0755);
    return path;
  }

  std::string log_file(const std::string& name) const { return log_dir_ + "/wireguard-go-" + name + ".log"; }

  std::string log_dir_;
  UserspaceOptions options_;
};

// The pids a stand-in script wrote to its log as "started <pid>".
std::vector<pid_t> started_pids(const std::string& log) {
  std::ifstream in(log);
  std::vector<pid_t> pids;
  std::string word;
  while (in >> word) {
    if (word == "started" && in >> word) pids.push_back(static_cast<pid_t>(std::strtol(word.c_str(), nullptr, 10)));
  }
  return pids;
}

// Polls `done` every 10 ms for up to 5 s (what a stand-in script writes
// takes a moment to appear).
void wait_for(const std::function<bool()>& done) {
  for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// Is `pid` gone from this process's children (reaped)? Asks without reaping.
bool reaped_child(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 && errno == ECHILD;
}

TEST_F(UserspaceBackend, ConfiguresDeviceWithMinimalUpdates) {
  const std::string name = ifname('a');
  const UserspaceOptions options = options_;
  ChildResult r = run_child([&]() -> std::string {
    auto backend = make_userspace_backend(options);
    CHECK_OR_RETURN(std::string(backend->kind()) == "userspace", "kind");
    auto exists = backend->device_exists(name);
    OK_OR_RETURN(exists, "device_exists before");
    CHECK_OR_RETURN(!*exists, "device exists before ensure_device");

    auto created = backend->ensure_device(name);
    OK_OR_RETURN(created, "ensure_device");
    CHECK_OR_RETURN(*created, "ensure_device did not report creation");
    auto again = backend->ensure_device(name);
    OK_OR_RETURN(again, "second ensure_device");
    CHECK_OR_RETURN(!*again, "second ensure_device created another device");
    exists = backend->device_exists(name);
    OK_OR_RETURN(exists, "device_exists after");
    CHECK_OR_RETURN(*exists, "device does not exist after ensure_device");
    auto pid = wireguard_go_pid(name);
    CHECK_OR_RETURN(pid.has_value(), "no wireguard-go process");
    // Its own session: wgate's death or signals to its group do not reach it.
    CHECK_OR_RETURN(::getsid(*pid) == *pid, "wireguard-go is not a session leader");

    WgKey priv = random_key();
    std::vector<WgPeerState> want(3);
    WgDeviceUpdate update;
    update.name = name;
    update.private_key = priv;
    update.listen_port = 51820;
    update.fwmark = 77;
    update.replace_peers = true;
    for (int i = 0; i < 3; ++i) {
      want[i].public_key = random_key();
      want[i].allowed_ips = {prefix("10.77.0." + std::to_string(i + 2) + "/32")};
      WgPeerUpdate p;
      p.public_key = want[i].public_key;
      p.allowed_ips = want[i].allowed_ips;
      if (i == 1) {
        p.persistent_keepalive = 25;
        want[i].persistent_keepalive = 25;
        p.endpoint = "192.0.2.1:51000";
        want[i].endpoint = "192.0.2.1:51000";
      }
      update.peers.push_back(p);
    }
    OK_OR_RETURN(backend->set_device(update), "set_device");

    auto state = backend->get_device(name);
    OK_OR_RETURN(state, "get_device");
    CHECK_OR_RETURN(state->name == name, "name");
    CHECK_OR_RETURN(state->private_key == priv, "private key");
    CHECK_OR_RETURN(state->public_key == *priv.public_key(), "public key");
    CHECK_OR_RETURN(state->listen_port == 51820, "listen port");
    CHECK_OR_RETURN(state->fwmark == 77, "fwmark");
    std::string diff = compare_peers(*state, want);
    if (!diff.empty()) return "after first set: " + diff;

    // Minimal updates: remove one peer, replace another's allowed IPs, add
    // one allowed IP to the third.
    WgDeviceUpdate minimal;
    minimal.name = name;
    WgPeerUpdate removal;
    removal.public_key = want[0].public_key;
    removal.remove = true;
    WgPeerUpdate replace;
    replace.public_key = want[1].public_key;
    replace.replace_allowed_ips = true;
    replace.allowed_ips = {prefix("10.77.1.0/24"), prefix("fd77::/64")};
    WgPeerUpdate add;
    add.public_key = want[2].public_key;
    add.allowed_ips = {prefix("10.77.2.0/24")};
    minimal.peers = {removal, replace, add};
    OK_OR_RETURN(backend->set_device(minimal), "minimal set_device");
    want.erase(want.begin());
    want[0].allowed_ips = replace.allowed_ips;
    want[1].allowed_ips.push_back(prefix("10.77.2.0/24"));
    state = backend->get_device(name);
    OK_OR_RETURN(state, "get_device after minimal update");
    diff = compare_peers(*state, want);
    if (!diff.empty()) return "after minimal update: " + diff;
    CHECK_OR_RETURN(state->listen_port == 51820 && state->private_key == priv, "device fields changed");

    // An endpoint that could inject protocol lines never reaches the socket.
    WgDeviceUpdate bad;
    bad.name = name;
    WgPeerUpdate bad_peer;
    bad_peer.public_key = want[0].public_key;
    bad_peer.endpoint = "192.0.2.1:1\nreplace_peers=true";
    bad.peers = {bad_peer};
    CHECK_OR_RETURN(!backend->set_device(bad).ok(), "invalid endpoint accepted");
    state = backend->get_device(name);
    OK_OR_RETURN(state, "get_device after rejected update");
    CHECK_OR_RETURN(state->peers.size() == 2, "rejected update changed peers");

    OK_OR_RETURN(backend->remove_device(name), "remove_device");
    exists = backend->device_exists(name);
    OK_OR_RETURN(exists, "device_exists after remove");
    CHECK_OR_RETURN(!*exists, "device still exists after remove_device");
    CHECK_OR_RETURN(!file_exists(socket_file(name)), "socket left behind");
    CHECK_OR_RETURN(!process_alive(*pid), "wireguard-go still running");
    CHECK_OR_RETURN(!backend->get_device(name).ok(), "get_device on a removed device succeeded");
    OK_OR_RETURN(backend->remove_device(name), "second remove_device");
    return "";
  });
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.message, "");
}

TEST_F(UserspaceBackend, LargeSetIsOneRequestAndDoesNotDeadlock) {
  const std::string name = ifname('b');
  const UserspaceOptions options = options_;
  ChildResult r = run_child([&]() -> std::string {
    auto backend = make_userspace_backend(options);
    OK_OR_RETURN(backend->ensure_device(name), "ensure_device");
    constexpr int kPeers = 10000;
    WgDeviceUpdate update;
    update.name = name;
    update.private_key = random_key();
    update.replace_peers = true;
    std::vector<WgPeerState> want(kPeers);
    for (int i = 0; i < kPeers; ++i) {
      want[i].public_key = random_key();
      want[i].allowed_ips = {prefix("10.88." + std::to_string(i >> 8) + "." + std::to_string(i & 255) + "/32")};
      WgPeerUpdate p;
      p.public_key = want[i].public_key;
      p.allowed_ips = want[i].allowed_ips;
      update.peers.push_back(p);
    }
    OK_OR_RETURN(backend->set_device(update), "set_device with 10000 peers");
    auto state = backend->get_device(name);
    OK_OR_RETURN(state, "get_device with 10000 peers");
    std::string diff = compare_peers(*state, want);
    if (!diff.empty()) return "10000 peers: " + diff;

    // replace_peers drops everything not listed.
    WgDeviceUpdate replace;
    replace.name = name;
    replace.replace_peers = true;
    WgPeerUpdate keep;
    keep.public_key = want[42].public_key;
    keep.allowed_ips = want[42].allowed_ips;
    replace.peers = {keep};
    OK_OR_RETURN(backend->set_device(replace), "replace_peers");
    state = backend->get_device(name);
    OK_OR_RETURN(state, "get_device after replace");
    diff = compare_peers(*state, {want[42]});
    if (!diff.empty()) return "after replace_peers: " + diff;
    OK_OR_RETURN(backend->remove_device(name), "remove_device");
    return "";
  });
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.message, "");
}

TEST_F(UserspaceBackend, DeviceSurvivesOwnerAndIsInvisibleToOtherNamespaces) {
  const std::string name = ifname('c');
  const UserspaceOptions options = options_;
  const WgKey priv = random_key();
  const WgKey peer_key = random_key();

  // Namespace A: create and configure, then die without cleaning up, as a
  // crashed (kill -9) wgate would.
  ChildResult a = run_child([&]() -> std::string {
    auto backend = make_userspace_backend(options);
    OK_OR_RETURN(backend->ensure_device(name), "ensure_device");
    WgDeviceUpdate update;
    update.name = name;
    update.private_key = priv;
    update.listen_port = 40000;
    WgPeerUpdate p;
    p.public_key = peer_key;
    p.allowed_ips = {prefix("10.99.0.2/32")};
    update.peers = {p};
    OK_OR_RETURN(backend->set_device(update), "set_device");
    return "";
  });
  ASSERT_EQ(a.exit_code, 0) << a.message;
  auto pid = wireguard_go_pid(name);
  ASSERT_TRUE(pid.has_value()) << "wireguard-go died with its parent";
  ASSERT_TRUE(file_exists(socket_file(name))) << "socket not visible";

  // Namespace B: sees the socket file but must not treat it as its device.
  ChildResult b = run_child([&]() -> std::string {
    auto backend = make_userspace_backend(options);
    CHECK_OR_RETURN(file_exists(socket_file(name)), "socket file not visible from B");
    auto exists = backend->device_exists(name);
    OK_OR_RETURN(exists, "device_exists");
    CHECK_OR_RETURN(!*exists, "device of namespace A reported in namespace B");
    CHECK_OR_RETURN(!backend->get_device(name).ok(), "get_device read namespace A's device");
    WgDeviceUpdate update;
    update.name = name;
    update.listen_port = 1;
    CHECK_OR_RETURN(!backend->set_device(update).ok(), "set_device changed namespace A's device");
    CHECK_OR_RETURN(!backend->ensure_device(name).ok(), "ensure_device adopted namespace A's device");
    OK_OR_RETURN(backend->remove_device(name), "remove_device");
    CHECK_OR_RETURN(process_alive(*pid), "remove_device in B killed A's wireguard-go");
    CHECK_OR_RETURN(file_exists(socket_file(name)), "remove_device in B removed A's socket");
    return "";
  });
  EXPECT_EQ(b.exit_code, 0) << b.message;

  // Back in namespace A with a fresh backend (a restarted wgate): the
  // device and its configuration are still there, and it can be removed
  // although it is not our child.
  ChildResult again = run_child(
      [&]() -> std::string {
        auto backend = make_userspace_backend(options);
        auto exists = backend->device_exists(name);
        OK_OR_RETURN(exists, "device_exists");
        CHECK_OR_RETURN(*exists, "device lost after its owner died");
        auto created = backend->ensure_device(name);
        OK_OR_RETURN(created, "ensure_device");
        CHECK_OR_RETURN(!*created, "ensure_device started a second process");
        auto state = backend->get_device(name);
        OK_OR_RETURN(state, "get_device");
        CHECK_OR_RETURN(state->private_key == priv, "private key lost");
        CHECK_OR_RETURN(state->listen_port == 40000, "listen port lost");
        CHECK_OR_RETURN(state->peers.size() == 1 && state->peers[0].public_key == peer_key, "peer lost");
        OK_OR_RETURN(backend->remove_device(name), "remove_device");
        CHECK_OR_RETURN(!process_alive(*pid), "wireguard-go still running after remove_device");
        CHECK_OR_RETURN(!file_exists(socket_file(name)), "socket left behind");
        return "";
      },
      *pid);
  EXPECT_EQ(again.exit_code, 0) << again.message;
}

TEST_F(UserspaceBackend, StaleSocketIsNotADeviceAndIsReplaced) {
  const std::string name = ifname('d');
  const UserspaceOptions options = options_;
  ChildResult r = run_child([&]() -> std::string {
    auto backend = make_userspace_backend(options);
    OK_OR_RETURN(backend->ensure_device(name), "ensure_device");
    auto pid = wireguard_go_pid(name);
    CHECK_OR_RETURN(pid.has_value(), "no process");
    // SIGKILL leaves the socket file behind with nobody listening.
    ::kill(*pid, SIGKILL);
    for (int i = 0; i < 200 && process_alive(*pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK_OR_RETURN(file_exists(socket_file(name)), "socket file vanished after SIGKILL");
    auto exists = backend->device_exists(name);
    OK_OR_RETURN(exists, "device_exists on stale socket");
    CHECK_OR_RETURN(!*exists, "stale socket reported as a device");
    auto created = backend->ensure_device(name);
    OK_OR_RETURN(created, "ensure_device over stale socket");
    CHECK_OR_RETURN(*created, "ensure_device did not start a new process");
    auto state = backend->get_device(name);
    OK_OR_RETURN(state, "get_device");
    OK_OR_RETURN(backend->remove_device(name), "remove_device");
    return "";
  });
  EXPECT_EQ(r.exit_code, 0) << r.message;
}

TEST_F(UserspaceBackend, FailedStartIsReportedWithTheLog) {
  UserspaceOptions options = options_;
  options.wireguard_go = "/bin/false";
  ChildResult r = run_child([&]() -> std::string {
    auto backend = make_userspace_backend(options);
    auto created = backend->ensure_device(ifname('e'));
    CHECK_OR_RETURN(!created.ok(), "ensure_device succeeded with /bin/false");
    CHECK_OR_RETURN(created.error().message.find("exit code 1") != std::string::npos, created.error().message);
    auto bad_name = backend->ensure_device("../etc");
    CHECK_OR_RETURN(!bad_name.ok(), "path-like interface name accepted");
    return "";
  });
  EXPECT_EQ(r.exit_code, 0) << r.message;
}

// Children are signalled and reaped only through their pidfds: after a
// failed start the backend used to kill(2) a pid it had just reaped with
// waitpid(2), which by then could name an unrelated process.
TEST_F(UserspaceBackend, FailedStartSignalsNoPidByNumber) {
  UserspaceOptions exits = options_;
  exits.wireguard_go = "/bin/false";
  UserspaceOptions hangs = options_;
  hangs.wireguard_go = fake_wireguard_go("hang", "echo \"started $$\"\nexec sleep 30");
  hangs.start_timeout = std::chrono::milliseconds(1000);  // time enough to write its pid, even under QEMU TCG
  const std::string exit_name = ifname('f');
  const std::string hang_name = ifname('g');
  const std::string hang_log = log_file(hang_name);
  ChildResult r = run_child([&]() -> std::string {
    auto exiting = make_userspace_backend(exits);
    testing::start_recording_raw_pid_calls();
    auto created = exiting->ensure_device(exit_name);
    auto calls = testing::stop_recording_raw_pid_calls();
    CHECK_OR_RETURN(!created.ok(), "ensure_device succeeded with /bin/false");
    CHECK_OR_RETURN(calls.empty(), "after an exited child: " + testing::describe(calls));

    auto hanging = make_userspace_backend(hangs);
    testing::start_recording_raw_pid_calls();
    created = hanging->ensure_device(hang_name);
    calls = testing::stop_recording_raw_pid_calls();
    CHECK_OR_RETURN(!created.ok(), "ensure_device succeeded with a process that never answers");
    CHECK_OR_RETURN(created.error().message.find("did not answer") != std::string::npos, created.error().message);
    CHECK_OR_RETURN(calls.empty(), "after a timed-out child: " + testing::describe(calls));
    auto pids = started_pids(hang_log);
    CHECK_OR_RETURN(pids.size() == 1, "started " + std::to_string(pids.size()) + " processes");
    // Killed without kill(2): through the pidfd, and reaped.
    CHECK_OR_RETURN(reaped_child(pids[0]), "the timed-out child was not reaped");
    const std::vector<std::string> sleeper{"sleep", "30"};
    CHECK_OR_RETURN(!process_alive(pids[0]) || cmdline(pids[0]) != sleeper, "the timed-out child still runs");
    return "";
  });
  EXPECT_EQ(r.exit_code, 0) << r.message;
}

// A UAPI server in this process, standing in for wireguard-go at its socket.
// It serves one connection at a time, as `mode` says; the destructor stops
// it at once, whatever it is doing.
class FakeUapiServer {
 public:
  enum class Mode {
    answer,       // reads the first line, writes `reply`, closes: what wireguard-go does when a set fails early
    stall,        // reads the first line, waits 1.5 s, closes
    silent,       // accepts and never reads or writes: a hung wireguard-go
    trickle,      // reads the first line, then writes a byte every 100 ms for 15 s, never completing the reply
    slow_reader,  // reads the first line, waits 700 ms, reads the rest of the request, writes `reply`
  };

  FakeUapiServer(const std::string& path, Mode mode, std::string reply = "") : mode_(mode), reply_(std::move(reply)) {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ::unlink(path.c_str());
    ok_ = listen_fd_ >= 0 && ::pipe2(stop_, O_CLOEXEC) == 0 &&
          ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::listen(listen_fd_, 8) == 0;
    if (ok_) thread_ = std::thread([this] { serve(); });
  }
  ~FakeUapiServer() {
    if (stop_[1] >= 0) ::close(stop_[1]);  // wakes every wait below
    if (thread_.joinable()) thread_.join();
    if (stop_[0] >= 0) ::close(stop_[0]);
    ::close(listen_fd_);
  }
  bool ok() const { return ok_; }

 private:
  // Waits `ms` (-1: for good); false when the server is being stopped.
  bool pause(int ms) {
    pollfd p{stop_[0], POLLIN, 0};
    return ::poll(&p, 1, ms) == 0;
  }

  // Reads from `c` up to and including `end`; false on EOF or error.
  static bool read_through(int c, std::string_view end) {
    std::string seen;
    char ch;
    while (::read(c, &ch, 1) == 1) {
      seen.push_back(ch);
      if (seen.ends_with(end)) return true;
    }
    return false;
  }

  void serve() {
    while (true) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
      if (fds[1].revents != 0) return;
      if ((fds[0].revents & POLLIN) == 0) continue;
      int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      bool go_on = handle(c);
      ::close(c);
      if (!go_on) return;
    }
  }

  // Serves one connection; false when the server is being stopped.
  bool handle(int c) {
    switch (mode_) {
      case Mode::answer:
        read_through(c, "\n");
        (void)!::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        return true;
      case Mode::stall:
        read_through(c, "\n");
        return pause(1500);
      case Mode::silent:
        return pause(-1);
      case Mode::trickle:
        read_through(c, "\n");
        // For 15 s, so that a client without an overall limit fails the
        // test instead of hanging it.
        for (int i = 0; i < 150; ++i) {
          if (!pause(100)) return false;
          if (::send(c, "p", 1, MSG_NOSIGNAL) != 1) return true;  // the client gave up
        }
        return true;
      case Mode::slow_reader:
        read_through(c, "\n");
        if (!pause(700)) return false;
        read_through(c, "\n\n");
        (void)!::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        return true;
    }
    return true;
  }

  Mode mode_;
  std::string reply_;
  int listen_fd_ = -1;
  int stop_[2] = {-1, -1};
  bool ok_ = false;
  std::thread thread_;
};

TEST_F(UserspaceBackend, ErrorReplyToLargeRequestIsReportedWithoutDeadlock) {
  UserspaceOptions options = options_;
  options.socket_dir = log_dir_;  // a private directory: nothing real is touched
  options.io_timeout = std::chrono::milliseconds(500);
  options.get_timeout = std::chrono::milliseconds(500);
  ChildResult r = run_child([&]() -> std::string {
    std::filesystem::create_directories(options.socket_dir);
    auto backend = make_userspace_backend(options);
    {
      FakeUapiServer server(options.socket_dir + "/fake0.sock", FakeUapiServer::Mode::answer, "errno=-98\n\n");
      CHECK_OR_RETURN(server.ok(), "fake server");
      WgDeviceUpdate update;
      update.name = "fake0";
      for (int i = 0; i < 10000; ++i) {
        WgPeerUpdate p;
        p.public_key = random_key();
        p.allowed_ips = {prefix("10.1.0.0/16")};
        update.peers.push_back(p);
      }
      auto status = backend->set_device(update);
      CHECK_OR_RETURN(!status.ok(), "errno=-98 reported as success");
      CHECK_OR_RETURN(status.error().sys_errno == 98, "sys_errno " + std::to_string(status.error().sys_errno) +
                                                          ": " + status.error().message);
      auto get = backend->get_device("fake0");
      CHECK_OR_RETURN(!get.ok() && get.error().sys_errno == 98, "get with errno=-98");
    }
    {
      FakeUapiServer server(options.socket_dir + "/fake1.sock", FakeUapiServer::Mode::stall);
      CHECK_OR_RETURN(server.ok(), "fake server");
      auto start = std::chrono::steady_clock::now();
      auto get = backend->get_device("fake1");
      auto took = std::chrono::steady_clock::now() - start;
      CHECK_OR_RETURN(!get.ok(), "silent server produced a device");
      CHECK_OR_RETURN(took < std::chrono::milliseconds(1400), "get timeout not applied");
    }
    return "";
  });
  EXPECT_EQ(r.exit_code, 0) << r.message;
}

long long ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

// A hung wireguard-go (its socket accepts, then nothing) costs a read
// get_timeout, with the defaults: it used to cost io_timeout (10 s), and a
// process that trickles bytes used to hold a read forever.
TEST_F(UserspaceBackend, HungProcessCostsAReadOnlyTheGetTimeout) {
  UserspaceOptions options = options_;
  options.socket_dir = log_dir_;  // a private directory: nothing real is touched
  ASSERT_EQ(options.get_timeout, std::chrono::milliseconds(2000)) << "the bound below assumes the default";
  ChildResult r = run_child([&]() -> std::string {
    std::filesystem::create_directories(options.socket_dir);
    auto backend = make_userspace_backend(options);
    std::string measured;
    for (auto mode : {FakeUapiServer::Mode::silent, FakeUapiServer::Mode::trickle}) {
      const std::string what = mode == FakeUapiServer::Mode::silent ? "silent" : "trickling";
      FakeUapiServer server(options.socket_dir + "/hung0.sock", mode);
      CHECK_OR_RETURN(server.ok(), "fake server");
      auto start = std::chrono::steady_clock::now();
      auto get = backend->get_device("hung0");
      long long took = ms_since(start);
      CHECK_OR_RETURN(!get.ok(), what + " server produced a device");
      // A functional bound, not a benchmark: far below the old 10 s (or
      // forever), with room for a loaded machine.
      CHECK_OR_RETURN(took < 3500, what + ": get_device took " + std::to_string(took) + " ms: " + get.error().message);
      start = std::chrono::steady_clock::now();
      auto exists = backend->device_exists("hung0");
      long long took_exists = ms_since(start);
      CHECK_OR_RETURN(!exists.ok() || !*exists, what + " server reported as a device");
      CHECK_OR_RETURN(took_exists < 3500, what + ": device_exists took " + std::to_string(took_exists) + " ms");
      measured += " " + what + ": get_device " + std::to_string(took) + " ms (" + get.error().message +
                  "), device_exists " + std::to_string(took_exists) + " ms;";
    }
    std::fprintf(stderr, "[ measured ] against a hung socket, default get_timeout:%s\n", measured.c_str());
    return "";
  });
  EXPECT_EQ(r.exit_code, 0) << r.message;
}

// A set is bounded by io_timeout without progress, not by get_timeout: a
// big set legitimately stalls while wireguard-go applies it.
TEST_F(UserspaceBackend, SetMayStallLongerThanTheGetTimeout) {
  UserspaceOptions options = options_;
  options.socket_dir = log_dir_;
  options.get_timeout = std::chrono::milliseconds(300);
  ChildResult r = run_child([&]() -> std::string {
    std::filesystem::create_directories(options.socket_dir);
    auto backend = make_userspace_backend(options);
    FakeUapiServer server(options.socket_dir + "/slow0.sock", FakeUapiServer::Mode::slow_reader, "errno=0\n\n");
    CHECK_OR_RETURN(server.ok(), "fake server");
    WgDeviceUpdate update;
    update.name = "slow0";
    for (int i = 0; i < 100; ++i) {
      WgPeerUpdate p;
      p.public_key = random_key();
      p.allowed_ips = {prefix("10.2." + std::to_string(i) + ".0/24")};
      update.peers.push_back(p);
    }
    OK_OR_RETURN(backend->set_device(update), "set_device against a server that stalls 700 ms");
    return "";
  });
  EXPECT_EQ(r.exit_code, 0) << r.message;
}

using Readiness = WgBackend::Readiness;

std::string readiness_name(Readiness r) {
  switch (r) {
    case Readiness::ready: return "ready";
    case Readiness::created: return "created";
    case Readiness::starting: return "starting";
    case Readiness::foreign: return "foreign";
  }
  return "?";
}

std::string describe(const Result<Readiness>& r) { return r.ok() ? readiness_name(*r) : "error: " + r.error().message; }

// A wireguard-go that never opens its socket: prepare_device returns
// `starting` at once, follows the same process on later calls, and reports
// it (killed, with its log) once start_timeout has passed.
TEST_F(UserspaceBackend, PrepareDeviceDoesNotWaitForAProcessThatNeverAnswers) {
  UserspaceOptions options = options_;
  options.wireguard_go = fake_wireguard_go("mute", "echo \"started $$\"\nexec sleep 30");
  options.start_timeout = std::chrono::milliseconds(1500);
  const std::string name = ifname('h');
  const std::string log = log_file(name);
  ChildResult r = run_child([&]() -> std::string {
    auto backend = make_userspace_backend(options);
    const auto t0 = std::chrono::steady_clock::now();
    auto first = backend->prepare_device(name);
    const long long first_ms = ms_since(t0);
    CHECK_OR_RETURN(first.ok() && *first == Readiness::starting, "first prepare_device: " + describe(first));
    // A functional bound (the budget is 250 ms), not a benchmark.
    CHECK_OR_RETURN(first_ms < 2000, "first prepare_device took " + std::to_string(first_ms) + " ms");
    wait_for([&] { return !started_pids(log).empty(); });
    auto pids = started_pids(log);
    CHECK_OR_RETURN(pids.size() == 1, "started " + std::to_string(pids.size()) + " processes");
    const pid_t pid = pids[0];

    // Later calls follow the same process until start_timeout decides.
    long long slowest_ms = first_ms;
    int calls = 1;
    Result<Readiness> last = first;
    while (last.ok() && *last == Readiness::starting && ms_since(t0) < 10000) {
      const auto t = std::chrono::steady_clock::now();
      last = backend->prepare_device(name);
      slowest_ms = std::max(slowest_ms, ms_since(t));
      ++calls;
      CHECK_OR_RETURN(started_pids(log).size() == 1, "a later prepare_device started another process");
    }
    const long long failed_after_ms = ms_since(t0);
    CHECK_OR_RETURN(!last.ok(), "prepare_device ended with " + describe(last));
    const std::string& message = last.error().message;
    CHECK_OR_RETURN(message.find("did not answer within 1500 ms") != std::string::npos, message);
    CHECK_OR_RETURN(message.find("started " + std::to_string(pid)) != std::string::npos, "no log tail: " + message);
    CHECK_OR_RETURN(failed_after_ms >= 1500 && failed_after_ms < 3500,
                    "failed after " + std::to_string(failed_after_ms) + " ms");
    CHECK_OR_RETURN(slowest_ms < 2000, "a prepare_device call took " + std::to_string(slowest_ms) + " ms");
    CHECK_OR_RETURN(reaped_child(pid), "the timed-out process was not reaped");
    std::fprintf(stderr,
                 "[ measured ] prepare_device of a never-ready process: first call %lld ms, slowest of %d calls "
                 "%lld ms, error after %lld ms (start_timeout 1500 ms)\n",
                 first_ms, calls, slowest_ms, failed_after_ms);

    // The call after the report tries again, with a new process, which
    // remove_device stops although it never answered.
    auto again = backend->prepare_device(name);
    CHECK_OR_RETURN(again.ok() && *again == Readiness::starting, "retry: " + describe(again));
    wait_for([&] { return started_pids(log).size() >= 2; });
    pids = started_pids(log);
    CHECK_OR_RETURN(pids.size() == 2, "the retry started " + std::to_string(pids.size() - 1) + " processes");
    OK_OR_RETURN(backend->remove_device(name), "remove_device of a starting device");
    CHECK_OR_RETURN(reaped_child(pids[1]), "remove_device left the starting process");
    auto after = backend->device_exists(name);
    CHECK_OR_RETURN(after.ok() && !*after, "device exists after remove_device");
    return "";
  });
  EXPECT_EQ(r.exit_code, 0) << r.message;
}

// A start that times out while nobody asks about its name any more is still
// killed (by whatever call comes next) and reported to the next caller who
// asks.
TEST_F(UserspaceBackend, TimedOutStartIsKilledAndReportedEvenIfNotPolled) {
  UserspaceOptions options = options_;
  options.wireguard_go = fake_wireguard_go("mute2", "echo \"started $$\"\nexec sleep 30");
  options.start_timeout = std::chrono::milliseconds(500);
  const std::string name = ifname('i');
  const std::string log = log_file(name);
  ChildResult r = run_child([&]() -> std::string {
    auto backend = make_userspace_backend(options);
    auto first = backend->prepare_device(name);
    CHECK_OR_RETURN(first.ok() && *first == Readiness::starting, "prepare_device: " + describe(first));
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    wait_for([&] { return !started_pids(log).empty(); });
    auto pids = started_pids(log);
    CHECK_OR_RETURN(pids.size() == 1, "started " + std::to_string(pids.size()) + " processes");
    // Any call supervises every child.
    auto other = backend->device_exists(ifname('j'));
    OK_OR_RETURN(other, "device_exists of another name");
    CHECK_OR_RETURN(reaped_child(pids[0]), "the timed-out process is still there");
    auto report = backend->prepare_device(name);
    CHECK_OR_RETURN(!report.ok(), "after the timeout: " + describe(report));
    CHECK_OR_RETURN(report.error().message.find("did not answer within 500 ms") != std::string::npos,
                    report.error().message);
    CHECK_OR_RETURN(started_pids(log).size() == 1, "the report came with a new process");
    OK_OR_RETURN(backend->remove_device(name), "remove_device");
    return "";
  });
  EXPECT_EQ(r.exit_code, 0) << r.message;
}

// A wireguard-go that exits at once: an error with its exit status and log,
// and no second process within the call.
TEST_F(UserspaceBackend, PrepareDeviceReportsAProcessThatExitsWithItsLog) {
  UserspaceOptions options = options_;
  options.wireguard_go =
      fake_wireguard_go("exit", "echo \"started $$\"\necho \"fake: creating TUN $2: operation not permitted\"\nexit 3");
  const std::string name = ifname('k');
  const std::string log = log_file(name);
  ChildResult r = run_child([&]() -> std::string {
    auto backend = make_userspace_backend(options);
    const auto t0 = std::chrono::steady_clock::now();
    Result<Readiness> result = backend->prepare_device(name);
    // On a loaded machine the shell may take longer than the budget to exit.
    while (result.ok() && *result == Readiness::starting && ms_since(t0) < 5000) {
      result = backend->prepare_device(name);
    }
    CHECK_OR_RETURN(!result.ok(), "prepare_device: " + describe(result));
    const std::string& message = result.error().message;
    CHECK_OR_RETURN(message.find("exit code 3") != std::string::npos, message);
    CHECK_OR_RETURN(message.find("creating TUN " + name + ": operation not permitted") != std::string::npos,
                    "no log tail: " + message);
    const size_t started = started_pids(log).size();
    CHECK_OR_RETURN(started == 1, "started " + std::to_string(started) + " processes");
    return "";
  });
  EXPECT_EQ(r.exit_code, 0) << r.message;
}

// With a real wireguard-go: created (perhaps after `starting`), then ready;
// ensure_device agrees.
TEST_F(UserspaceBackend, PrepareDeviceCreatesThenAdopts) {
  const std::string name = ifname('l');
  const UserspaceOptions options = options_;
  ChildResult r = run_child([&]() -> std::string {
    auto backend = make_userspace_backend(options);
    const auto t0 = std::chrono::steady_clock::now();
    Result<Readiness> result = backend->prepare_device(name);
    while (result.ok() && *result == Readiness::starting && ms_since(t0) < 5000) {
      result = backend->prepare_device(name);
    }
    CHECK_OR_RETURN(result.ok() && *result == Readiness::created, "prepare_device: " + describe(result));
    OK_OR_RETURN(backend->get_device(name), "get_device");
    auto again = backend->prepare_device(name);
    CHECK_OR_RETURN(again.ok() && *again == Readiness::ready, "second prepare_device: " + describe(again));
    auto ensured = backend->ensure_device(name);
    CHECK_OR_RETURN(ensured.ok() && !*ensured, "ensure_device after prepare_device");
    CHECK_OR_RETURN(wireguard_go_processes([&](const std::string& n) { return n == name; }).size() == 1,
                    "not exactly one wireguard-go");
    // A fresh backend (a restarted wgate) adopts it.
    auto fresh = make_userspace_backend(options);
    auto adopted = fresh->prepare_device(name);
    CHECK_OR_RETURN(adopted.ok() && *adopted == Readiness::ready, "fresh backend: " + describe(adopted));
    OK_OR_RETURN(backend->remove_device(name), "remove_device");
    return "";
  });
  EXPECT_EQ(r.exit_code, 0) << r.message;
}

// --- links that belong to somebody else -------------------------------------

using testing::add_tun;
using testing::add_veth;
using testing::LinkSnapshot;
using testing::set_up;
using testing::snapshot;


// Links named like wgate interfaces that are not WireGuard devices of ours:
// a veth that is up, one that is down, a persistent TUN nobody holds (which
// wireguard-go would attach to and take over), a TUN another program holds,
// and lo. prepare_device says `foreign`, ensure_device fails naming the
// link, remove_device has nothing to remove, and nothing is touched: no
// process, no socket, same index and flags.
TEST_F(UserspaceBackend, ForeignLinksAreRefusedAndLeftUntouched) {
  const UserspaceOptions options = options_;
  const std::string veth_up = ifname('m');
  const std::string veth_down = ifname('n');
  const std::string tun_persistent = ifname('o');
  const std::string tun_held = ifname('p');
  ChildResult r = run_child([&]() -> std::string {
    std::string err = add_veth(veth_up, "wgutp-" + std::to_string(::getpid()) + "m");
    if (err.empty()) err = set_up(veth_up);
    if (err.empty()) err = add_veth(veth_down, "wgutp-" + std::to_string(::getpid()) + "n");
    if (err.empty()) err = add_tun(tun_persistent, /*persistent=*/true, nullptr);
    int held_fd = -1;
    if (err.empty()) err = add_tun(tun_held, /*persistent=*/false, &held_fd);
    if (!err.empty()) return "setting up the links: " + err;

    auto backend = make_userspace_backend(options);
    for (const std::string& name : {veth_up, veth_down, tun_persistent, tun_held, std::string("lo")}) {
      const LinkSnapshot before = snapshot(name);
      CHECK_OR_RETURN(before.index != 0, name + " missing before the test");
      auto prepared = backend->prepare_device(name);
      CHECK_OR_RETURN(prepared.ok() && *prepared == Readiness::foreign,
                      name + ": prepare_device: " + describe(prepared));
      auto ensured = backend->ensure_device(name);
      CHECK_OR_RETURN(!ensured.ok(), name + ": ensure_device succeeded");
      CHECK_OR_RETURN(ensured.error().message.find(name) != std::string::npos,
                      name + ": error does not name the link: " + ensured.error().message);
      auto exists = backend->device_exists(name);
      CHECK_OR_RETURN(exists.ok() && !*exists, name + ": reported as a device");
      OK_OR_RETURN(backend->remove_device(name), name + ": remove_device");  // nothing of ours to remove
      const LinkSnapshot after = snapshot(name);
      CHECK_OR_RETURN(after == before, name + ": was " + before.describe() + ", now " + after.describe());
      CHECK_OR_RETURN(wireguard_go_processes([&](const std::string& n) { return n == name; }).empty(),
                      name + ": a wireguard-go was started for it");
      CHECK_OR_RETURN(!file_exists(socket_file(name)), name + ": a socket appeared");
      CHECK_OR_RETURN(!file_exists(log_file(name)), name + ": a wireguard-go ran for it (log " + log_file(name) + ")");
    }
    CHECK_OR_RETURN((snapshot(veth_up).flags & IFF_UP) != 0, "the up veth went down");
    CHECK_OR_RETURN((snapshot(veth_down).flags & IFF_UP) == 0, "the down veth went up");
    ::close(held_fd);
    return "";
  });
  EXPECT_EQ(r.exit_code, 0) << r.message;
}

}  // namespace
}  // namespace wgate
