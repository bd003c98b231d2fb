// Helpers for dataplane tests that run against the real kernel, always inside
// network namespaces the test creates: a test body runs in a forked child
// that first unshares its network namespace (the "gateway"), and lab hosts
// are named namespaces (fwt-<pid>-<role>) joined to it by veth pairs. The
// runner's namespace (links, routes, rules, nftables ruleset, sysctls) is
// never touched.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/cidr.h"

namespace wgate::lab {

inline Prefix pfx(const char* text) {
  auto p = Prefix::parse(text);
  EXPECT_TRUE(p.ok()) << text;
  return p.ok() ? *p : Prefix();
}

// Runs `body` in a forked child inside a fresh network namespace; gtest
// failures in the child show on the shared stdout and fail the exit status.
inline void run_in_new_netns(const std::function<void()>& body) {
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0) << "fork failed";
  if (pid == 0) {
    if (unshare(CLONE_NEWNET) != 0) {
      std::perror("unshare(CLONE_NEWNET)");
      std::fflush(stderr);
      _exit(3);
    }
    body();
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(testing::Test::HasFailure() ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child died, status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child reported failures (see above)";
}

// Runs `body` in a forked child that joined the named namespace
// /run/netns/<name>; returns body's result, or -1 when the child could not
// get there.
inline int run_in_named_netns(const std::string& name, const std::function<int()>& body) {
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) _exit(255);
    close(fd);
    _exit(body());
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) == 255) return -1;
  return WEXITSTATUS(status);
}

// Direct libnftables access for tampering and reading counters, independent
// of the code under test.
struct NftCtxFree {
  void operator()(nft_ctx* ctx) const { nft_ctx_free(ctx); }
};

struct NftRun {
  int rc = -1;
  std::string output;
  std::string error;
};

inline NftRun nft_run(const std::string& commands, bool json_output = false) {
  std::unique_ptr<nft_ctx, NftCtxFree> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  NftRun r;
  if (!ctx) return r;
  nft_ctx_buffer_output(ctx.get());
  nft_ctx_buffer_error(ctx.get());
  if (json_output) nft_ctx_output_set_flags(ctx.get(), NFT_CTX_OUTPUT_JSON);
  r.rc = nft_run_cmd_from_buffer(ctx.get(), commands.c_str());
  r.output = nft_ctx_get_output_buffer(ctx.get());
  r.error = nft_ctx_get_error_buffer(ctx.get());
  return r;
}

// Packets counted by the wgate rule whose comment starts with
// "wgate <role> " (-1 when there is no such rule).
inline int64_t drop_counter(const std::string& role) {
  NftRun r = nft_run("list table inet wgate", true);
  EXPECT_EQ(r.rc, 0) << r.error;
  nlohmann::json doc = nlohmann::json::parse(r.output, nullptr, false);
  if (doc.is_discarded()) return -1;
  for (const nlohmann::json& obj : doc["nftables"]) {
    if (!obj.contains("rule")) continue;
    const nlohmann::json& rule = obj["rule"];
    if (rule.value("comment", "").rfind("wgate " + role + " ", 0) != 0) continue;
    for (const nlohmann::json& e : rule["expr"]) {
      if (e.contains("counter")) return e["counter"]["packets"].get<int64_t>();
    }
  }
  return -1;
}

inline int sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

inline bool pid_alive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

// Deletes fwt-* namespaces left by runs whose process is gone (a concurrent
// run's namespaces are left alone).
inline void delete_stale_lab_namespaces() {
  DIR* dir = opendir("/run/netns");
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name.rfind("fwt-", 0) != 0) continue;
    pid_t owner = static_cast<pid_t>(std::atoi(name.c_str() + 4));
    if (!pid_alive(owner) || owner == getpid()) stale.push_back(name);
  }
  closedir(dir);
  for (const std::string& name : stale) sh("ip netns del " + name + " 2>/dev/null");
}

// The named namespaces of one lab: fwt-<owner pid>-<role>.
class Lab {
 public:
  Lab(pid_t owner, std::initializer_list<const char*> roles)
      : prefix_("fwt-" + std::to_string(owner) + "-"), roles_(roles.begin(), roles.end()) {}
  std::string ns(const char* role) const { return prefix_ + role; }
  void delete_namespaces() const {
    for (const std::string& role : roles_) sh("ip netns del " + prefix_ + role + " 2>/dev/null");
  }
  // Fails the test if any of this lab's namespaces is left.
  void expect_none_left() const {
    DIR* dir = opendir("/run/netns");
    if (dir == nullptr) return;
    while (dirent* e = readdir(dir)) {
      EXPECT_NE(std::string(e->d_name).rfind(prefix_, 0), 0u) << "left behind: " << e->d_name;
    }
    closedir(dir);
  }
  // True when one of a few pings gets an answer (the first may wait on
  // neighbour discovery). `from` adds `-I <from>` (a source address).
  bool ping(const char* from_role, const char* to, int attempts, const std::string& from = "") const {
    const std::string source = from.empty() ? "" : " -I " + from;
    for (int i = 0; i < attempts; ++i) {
      if (sh("ip netns exec " + ns(from_role) + " ping -c1 -W1" + source + " " + to + " >/dev/null 2>&1") == 0) {
        return true;
      }
    }
    return false;
  }
  // True when a TCP connection from `role` to ip:port completes within
  // `timeout_ms` (a dropped SYN times out; a closed port is refused).
  bool tcp_connects(const char* role, const char* ip, uint16_t port, int timeout_ms) const {
    return run_in_named_netns(ns(role), [&]() -> int {
             int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
             if (fd < 0) return 2;
             sockaddr_in addr{};
             addr.sin_family = AF_INET;
             addr.sin_port = htons(port);
             if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) return 2;
             if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return 0;
             if (errno != EINPROGRESS) return 1;
             pollfd p{fd, POLLOUT, 0};
             if (poll(&p, 1, timeout_ms) != 1) return 1;
             int err = 0;
             socklen_t len = sizeof err;
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
             return err == 0 ? 0 : 1;
           }) == 0;
  }
  // The namespace's Icmp InEchos counter (/proc/net/snmp): echo requests
  // that reached its stack, whatever their source. -1 on error.
  int64_t icmp_in_echos(const char* role) const {
    FILE* f = popen(("ip netns exec " + ns(role) + " cat /proc/net/snmp").c_str(), "r");
    if (f == nullptr) return -1;
    std::string text;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, f)) text.append(buf, n);
    pclose(f);
    // "Icmp: InMsgs InErrors ... InEchos ...\nIcmp: 3 0 ... 2 ...\n"
    std::istringstream in(text);
    std::string header, values;
    while (std::getline(in, header)) {
      if (header.rfind("Icmp: ", 0) == 0 && std::getline(in, values)) break;
    }
    std::istringstream names(header), counts(values);
    std::string name, count;
    while (names >> name && counts >> count) {
      if (name == "InEchos") return std::stoll(count);
    }
    return -1;
  }

 private:
  std::string prefix_;
  std::vector<std::string> roles_;
};

// Clears CAP_NET_ADMIN from this process's effective set (nfnetlink then
// refuses every request), keeping it permitted. Child processes only.
inline bool drop_effective_net_admin() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  data[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
  return syscall(SYS_capset, &header, data) == 0;
}

// Runs each command (sh), failing the test at the first that fails.
inline void run_all(const std::vector<std::string>& commands) {
  for (const std::string& cmd : commands) ASSERT_EQ(sh(cmd), 0) << cmd;
}

}  // namespace wgate::lab
