// NetlinkRouter against the real kernel, inside a private network namespace.
//
// Each test forks; the child unshare(CLONE_NEWNET)s, so it starts with a
// fresh namespace holding only a down "lo" and the default rules, and every
// change dies with the child. The test runner's namespace is never touched.
// The child reports failures as text through a pipe and its exit status; the
// parent turns them into gtest failures (or a skip when namespaces are not
// available).
#include "dataplane/netlink_router.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace wgate {
namespace {

constexpr int kSkipExit = 77;

// Collects failures inside the child, where gtest assertions cannot report.
class ChildChecks {
 public:
  void check(bool ok, const std::string& what) {
    if (!ok) out_ << "FAILED: " << what << "\n";
    failed_ = failed_ || !ok;
  }
  template <class T>
  void check_ok(const Result<T>& r, const std::string& what) {
    check(r.ok(), what + (r.ok() ? "" : " -> " + r.error().message));
  }
  bool failed() const { return failed_; }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  bool failed_ = false;
};

// Runs `body` in a forked child inside a fresh network namespace.
void run_in_netns(const std::function<void(ChildChecks&)>& body) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to create a network namespace";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    ChildChecks checks;
    int code = 0;
    if (unshare(CLONE_NEWNET) != 0) {
      std::string msg = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
      (void)!write(fds[1], msg.data(), msg.size());
      _exit(kSkipExit);
    }
    body(checks);
    std::string text = checks.text();
    (void)!write(fds[1], text.data(), text.size());
    code = checks.failed() ? 1 : 0;
    _exit(code);  // no atexit handlers, no gtest teardown in the child
  }
  close(fds[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) report.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child crashed, status " << status << "\n" << report;
  if (WEXITSTATUS(status) == kSkipExit) GTEST_SKIP() << report;
  EXPECT_EQ(WEXITSTATUS(status), 0) << report;
}

Prefix pfx(const char* text) { return *Prefix::parse(text); }

template <class T>
std::vector<T> sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(NetlinkRouter, LinksInPrivateNamespace) {
  run_in_netns([](ChildChecks& c) {
    auto router = make_netlink_router();
    c.check_ok(router, "make_netlink_router");
    if (!router.ok()) return;
    Router& r = **router;

    auto lo = r.link_index("lo");
    c.check_ok(lo, "link_index(lo)");
    c.check(lo.ok() && *lo == std::optional<int>(1), "lo has ifindex 1");
    auto nope = r.link_index("nope");
    c.check_ok(nope, "link_index(nope)");
    c.check(nope.ok() && !nope->has_value(), "link_index(nope) is nullopt");
    c.check(!r.link_index("a-name-much-too-long").ok(), "over-long name is rejected");

    c.check_ok(r.set_link_up("lo"), "set_link_up(lo)");
    auto up_again = r.set_link_up("lo");
    c.check_ok(up_again, "set_link_up(lo) twice");
    auto missing_up = r.set_link_up("nope");
    c.check(!missing_up.ok() && missing_up.error().message.find("nope") != std::string::npos,
            "set_link_up(nope) fails naming the link: " + (missing_up.ok() ? "" : missing_up.error().message));

    // No wireguard module on the test hosts: creation must fail clearly. If
    // a kernel does have it, the link must then really exist and go away.
    auto wg = r.create_wireguard_link("rtnlt-wg0");
    if (wg.ok()) {
      auto idx = r.link_index("rtnlt-wg0");
      c.check(idx.ok() && idx->has_value(), "created wireguard link exists");
      c.check_ok(r.delete_link("rtnlt-wg0"), "delete_link(rtnlt-wg0)");
      auto gone = r.link_index("rtnlt-wg0");
      c.check(gone.ok() && !gone->has_value(), "deleted wireguard link is gone");
    } else {
      const std::string& m = wg.error().message;
      c.check(m.find("rtnlt-wg0") != std::string::npos && m.find("wireguard") != std::string::npos,
              "create_wireguard_link error names link and kind: " + m);
      auto idx = r.link_index("rtnlt-wg0");
      c.check(idx.ok() && !idx->has_value(), "failed creation leaves no link");
    }
    c.check_ok(r.delete_link("rtnlt-absent"), "delete_link of an absent link is idempotent");
  });
}

TEST(NetlinkRouter, RoutesInPrivateNamespace) {
  run_in_netns([](ChildChecks& c) {
    auto router = make_netlink_router();
    c.check_ok(router, "make_netlink_router");
    if (!router.ok()) return;
    Router& r = **router;
    c.check_ok(r.set_link_up("lo"), "set_link_up(lo)");

    // Bringing lo up made kernel routes (local table): none are ours.
    auto initial = r.list_routes();
    c.check_ok(initial, "list_routes (initial)");
    c.check(initial.ok() && initial->empty(), "no wgate routes in a fresh namespace");

    const Route throw4{1001, RouteType::throw_route, pfx("10.1.0.0/16"), ""};
    const Route blackhole4{1001, RouteType::blackhole, pfx("0.0.0.0/0"), ""};
    const Route unicast4{1001, RouteType::unicast, pfx("10.2.0.0/24"), "lo"};
    const Route throw6{1001, RouteType::throw_route, pfx("2001:db8::/32"), ""};
    const Route blackhole6{1001, RouteType::blackhole, pfx("::/0"), ""};
    const Route main4{254, RouteType::unicast, pfx("10.3.0.0/24"), "lo"};
    std::vector<Route> all = {throw4, blackhole4, unicast4, throw6, blackhole6, main4};
    for (const Route& route : all) c.check_ok(r.add_route(route), "add_route");

    auto listed = r.list_routes();
    c.check_ok(listed, "list_routes");
    c.check(listed.ok() && sorted(*listed) == sorted(all), "list_routes returns exactly the added routes");

    // Exactly the same route again: success, and no duplicate appears.
    c.check_ok(r.add_route(throw4), "re-adding the same route is idempotent");
    c.check_ok(r.add_route(blackhole6), "re-adding the same IPv6 route is idempotent");
    // Same key, different route: the kernel's EEXIST is a real error.
    const Route conflicting{1001, RouteType::blackhole, pfx("10.1.0.0/16"), ""};
    auto conflict = r.add_route(conflicting);
    c.check(!conflict.ok(), "a conflicting route is refused");
    if (!conflict.ok()) {
      c.check(conflict.error().message == "adding route blackhole 10.1.0.0/16 table 1001: File exists",
              "conflict message: " + conflict.error().message);
      c.check(conflict.error().sys_errno == EEXIST, "conflict errno is EEXIST");
    }
    auto no_dev = r.add_route(Route{1001, RouteType::unicast, pfx("10.4.0.0/24"), "nope"});
    c.check(!no_dev.ok() && no_dev.error().message.find("no such device nope") != std::string::npos,
            "unicast via a missing device fails clearly: " + (no_dev.ok() ? "" : no_dev.error().message));

    listed = r.list_routes();
    c.check(listed.ok() && sorted(*listed) == sorted(all), "failed adds changed nothing");

    for (const Route& gone : {throw4, unicast4, blackhole6}) {
      c.check_ok(r.delete_route(gone), "delete_route");
      c.check_ok(r.delete_route(gone), "deleting an absent route is idempotent");
    }
    std::vector<Route> rest = {blackhole4, throw6, main4};
    listed = r.list_routes();
    c.check_ok(listed, "list_routes after deletes");
    c.check(listed.ok() && sorted(*listed) == sorted(rest), "delete_route removed exactly those routes");
    // Deleting in a table that never existed is still "absent".
    c.check_ok(r.delete_route(Route{4242, RouteType::throw_route, pfx("10.9.0.0/16"), ""}),
               "delete_route in a missing table");
    // A unicast route whose device is gone is gone with it.
    c.check_ok(r.delete_route(Route{1001, RouteType::unicast, pfx("10.5.0.0/24"), "nope"}),
               "delete_route via a missing device");
  });
}

TEST(NetlinkRouter, RulesInPrivateNamespace) {
  run_in_netns([](ChildChecks& c) {
    auto router = make_netlink_router();
    c.check_ok(router, "make_netlink_router");
    if (!router.ok()) return;
    Router& r = **router;
    c.check_ok(r.set_link_up("lo"), "set_link_up(lo)");

    auto initial = r.list_rules();
    c.check_ok(initial, "list_rules (initial)");
    c.check(initial.ok() && initial->empty(), "the default rules are not ours");

    const Rule rule4{1000, "lo", 1001, IpFamily::v4};
    const Rule rule6{1000, "lo", 1001, IpFamily::v6};
    c.check_ok(r.add_rule(rule4), "add_rule v4");
    c.check_ok(r.add_rule(rule6), "add_rule v6");
    auto listed = r.list_rules();
    c.check_ok(listed, "list_rules");
    c.check(listed.ok() && sorted(*listed) == sorted(std::vector<Rule>{rule4, rule6}), "list_rules returns both");

    c.check_ok(r.add_rule(rule4), "re-adding the same rule is idempotent");
    listed = r.list_rules();
    c.check(listed.ok() && listed->size() == 2, "re-adding did not duplicate the rule");

    // A rule may name an iif that does not exist (yet): the kernel allows it.
    const Rule future{1001, "rtnlt-later", 1002, IpFamily::v4};
    c.check_ok(r.add_rule(future), "add_rule with a future iif");

    c.check_ok(r.delete_rule(rule4), "delete_rule v4");
    c.check_ok(r.delete_rule(rule4), "deleting an absent rule is idempotent");
    listed = r.list_rules();
    c.check(listed.ok() && sorted(*listed) == sorted(std::vector<Rule>{rule6, future}),
            "delete_rule removed exactly that rule");

    auto bad = r.add_rule(Rule{1000, "lo", 0, IpFamily::v4});
    c.check(!bad.ok() && bad.error().message.find("adding rule iif lo lookup 0 priority 1000") == 0,
            "table 0 is refused with context: " + (bad.ok() ? "" : bad.error().message));
  });
}

}  // namespace
}  // namespace wgate
