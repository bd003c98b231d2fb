// The kernel backend against the real kernel, inside a private network
// namespace (a forked child unshares it; the test runner's namespace is
// never touched). Needs root and a kernel with WireGuard: skipped elsewhere
// (this development host has no module; run it inside the VM of tests/vm,
// e.g. WGATE_VM_PARTS=cmd WGATE_VM_CMD="<build>/tests/wgate_dataplane_tests
// --gtest_filter='KernelBackend*'" tests/vm/run.sh <wgate> <scale bin>).
#include "dataplane/kernel_backend.h"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>

#include "dataplane/netlink_router.h"

namespace wgate {
namespace {

constexpr int kSkipExit = 77;

// Runs `body` in a forked child inside a fresh network namespace; the body
// returns "" or what went wrong, or "SKIP: why".
void run_in_netns(const std::function<std::string()>& body) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create a network namespace";
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string msg;
    int code = 0;
    if (::unshare(CLONE_NEWNET) != 0) {
      msg = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
      code = kSkipExit;
    } else {
      msg = body();
      code = msg.empty() ? 0 : (msg.rfind("SKIP: ", 0) == 0 ? kSkipExit : 1);
    }
    (void)!::write(fds[1], msg.data(), msg.size());
    ::_exit(code);  // no atexit handlers, no gtest teardown in the child
  }
  ::close(fds[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) report.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child crashed, status " << status << "\n" << report;
  if (WEXITSTATUS(status) == kSkipExit) GTEST_SKIP() << report;
  EXPECT_EQ(WEXITSTATUS(status), 0) << report;
}

// What `ip link add <a> type veth peer name <b>` does; "" or what failed.
std::string add_veth(const std::string& a, const std::string& b) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
  nlh->nlmsg_seq = 1;
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, a.c_str());
  nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
  nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  nlattr* peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
  auto* peer_ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  peer_ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, b.c_str());
  mnl_attr_nest_end(nlh, peer);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, linkinfo);

  mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
  if (nl == nullptr) return std::string("mnl_socket_open: ") + std::strerror(errno);
  std::string err;
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 || mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
    err = std::string("rtnetlink: ") + std::strerror(errno);
  } else {
    char reply[MNL_SOCKET_BUFFER_SIZE];
    ssize_t n = mnl_socket_recvfrom(nl, reply, sizeof reply);
    if (n < 0 || mnl_cb_run(reply, static_cast<size_t>(n), 1, mnl_socket_get_portid(nl), nullptr, nullptr) < 0) {
      err = "add veth " + a + ": " + std::strerror(errno);
    }
  }
  mnl_socket_close(nl);
  return err;
}

struct LinkSnapshot {
  unsigned index = 0;
  short flags = 0;
  bool operator==(const LinkSnapshot&) const = default;
  std::string describe() const { return "index " + std::to_string(index) + " flags " + std::to_string(flags); }
};

LinkSnapshot snapshot(const std::string& name) {
  LinkSnapshot s;
  s.index = ::if_nametoindex(name.c_str());
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (sock >= 0 && ::ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) s.flags = ifr.ifr_flags;
  if (sock >= 0) ::close(sock);
  return s;
}

using Readiness = WgBackend::Readiness;

std::string describe(const Result<Readiness>& r) {
  if (!r.ok()) return "error: " + r.error().message;
  switch (*r) {
    case Readiness::ready: return "ready";
    case Readiness::created: return "created";
    case Readiness::starting: return "starting";
    case Readiness::foreign: return "foreign";
  }
  return "?";
}

#define CHECK_OR_RETURN(cond, what) \
  do {                              \
    if (!(cond)) return std::string(what) + " [" #cond "]"; \
  } while (0)

// A veth (up or down) named like an interface is not WireGuard:
// prepare_device says `foreign`, ensure_device fails naming it,
// remove_device refuses to delete it, and it keeps its index and flags. A
// free name is created, then ready.
TEST(KernelBackend, PrepareDeviceCreatesAdoptsAndRefusesForeignLinks) {
  run_in_netns([]() -> std::string {
    if (!kernel_wireguard_available()) return "SKIP: this kernel has no WireGuard";
    auto router = make_netlink_router();
    if (!router.ok()) return "make_netlink_router: " + router.error().message;
    auto backend = make_kernel_backend(**router);
    if (!backend.ok()) return "SKIP: " + backend.error().message;
    WgBackend& wg = **backend;
    Router& rt = **router;

    if (std::string err = add_veth("wgkt-up", "wgkt-up-peer"); !err.empty()) return err;
    if (auto st = rt.set_link_up("wgkt-up"); !st.ok()) return "set_link_up: " + st.error().message;
    if (std::string err = add_veth("wgkt-down", "wgkt-down-peer"); !err.empty()) return err;
    for (const std::string name : {"wgkt-up", "wgkt-down", "lo"}) {
      const LinkSnapshot before = snapshot(name);
      CHECK_OR_RETURN(before.index != 0, name + " missing before the test");
      auto prepared = wg.prepare_device(name);
      CHECK_OR_RETURN(prepared.ok() && *prepared == Readiness::foreign,
                      name + ": prepare_device: " + describe(prepared));
      auto ensured = wg.ensure_device(name);
      CHECK_OR_RETURN(!ensured.ok(), name + ": ensure_device succeeded");
      CHECK_OR_RETURN(ensured.error().message.find(name) != std::string::npos,
                      name + ": error does not name the link: " + ensured.error().message);
      auto removed = wg.remove_device(name);
      CHECK_OR_RETURN(!removed.ok(), name + ": remove_device succeeded");
      const LinkSnapshot after = snapshot(name);
      CHECK_OR_RETURN(after == before, name + ": was " + before.describe() + ", now " + after.describe());
    }
    CHECK_OR_RETURN((snapshot("wgkt-up").flags & IFF_UP) != 0, "the up veth went down");
    CHECK_OR_RETURN((snapshot("wgkt-down").flags & IFF_UP) == 0, "the down veth went up");

    auto created = wg.prepare_device("wgkt-wg0");
    CHECK_OR_RETURN(created.ok() && *created == Readiness::created, "new name: " + describe(created));
    const LinkSnapshot wg0 = snapshot("wgkt-wg0");
    CHECK_OR_RETURN(wg0.index != 0, "no link after created");
    auto ready = wg.prepare_device("wgkt-wg0");
    CHECK_OR_RETURN(ready.ok() && *ready == Readiness::ready, "existing device: " + describe(ready));
    auto ensured = wg.ensure_device("wgkt-wg0");
    CHECK_OR_RETURN(ensured.ok() && !*ensured, "ensure_device on the existing device");
    CHECK_OR_RETURN(snapshot("wgkt-wg0") == wg0, "the existing device was recreated");
    if (auto st = wg.remove_device("wgkt-wg0"); !st.ok()) return "remove_device: " + st.error().message;
    CHECK_OR_RETURN(snapshot("wgkt-wg0").index == 0, "link left after remove_device");
    return "";
  });
}

}  // namespace
}  // namespace wgate
