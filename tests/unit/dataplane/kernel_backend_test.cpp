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
#include "test_links.h"

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

using testing::add_veth;
using testing::LinkSnapshot;
using testing::snapshot;


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
