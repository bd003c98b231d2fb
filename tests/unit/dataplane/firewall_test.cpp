// The nftables firewall against the real kernel, always inside network
// namespaces this test creates: each test body runs in a forked child that
// first unshares its network namespace, so the runner's namespace (and its
// nftables ruleset and sysctls) is never touched.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/firewall.h"
#include "dataplane/nftables_ruleset.h"
#include "netns_lab.h"

namespace wgate {
namespace {

using lab::drop_counter;
using lab::nft_run;
using lab::NftRun;
using lab::pfx;
using lab::run_in_new_netns;
using lab::sh;
using nlohmann::json;

std::vector<std::string> inet_table_names() {
  NftRun r = nft_run("list tables inet", true);
  EXPECT_EQ(r.rc, 0) << r.error;
  std::vector<std::string> names;
  json doc = json::parse(r.output, nullptr, false);
  if (doc.is_discarded()) return names;
  for (const json& obj : doc["nftables"]) {
    if (obj.contains("table")) names.push_back(obj["table"]["name"].get<std::string>());
  }
  return names;
}

bool has_table(const std::string& name) {
  for (const std::string& n : inet_table_names()) {
    if (n == name) return true;
  }
  return false;
}

// The handle of the wgate rule with exactly this comment (-1 if none).
int64_t rule_handle(const std::string& comment) {
  NftRun r = nft_run("list table inet wgate", true);
  EXPECT_EQ(r.rc, 0) << r.error;
  json doc = json::parse(r.output, nullptr, false);
  if (doc.is_discarded()) return -1;
  for (const json& obj : doc["nftables"]) {
    if (obj.contains("rule") && obj["rule"].value("comment", "") == comment) {
      return obj["rule"]["handle"].get<int64_t>();
    }
  }
  return -1;
}

FirewallPlan lab_plan() {
  FirewallPlan plan;
  plan.interfaces = {FirewallInterface{"wgt0", {pfx("10.1.0.0/16"), pfx("fd01::/64")}}};
  plan.protected_networks = {pfx("10.1.0.0/16"), pfx("fd01::/64")};
  plan.user_pools = {pfx("10.100.0.0/24"), pfx("fd02::/64")};
  return plan;
}

class FirewallTest : public testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, nftables)";
  }
};

TEST_F(FirewallTest, ApplyObserveTamperAndRemove) {
  run_in_new_netns([] {
    auto fw = make_nftables_firewall();
    const FirewallPlan plan = lab_plan();
    // A table that is not wgate's must survive everything below.
    NftRun other = nft_run("table inet other {\n chain c { type filter hook forward priority 0; }\n}\n");
    ASSERT_EQ(other.rc, 0) << other.error;

    auto sync = fw->in_sync(plan);
    ASSERT_TRUE(sync.ok()) << sync.error().message;
    EXPECT_FALSE(*sync) << "no table yet";

    ASSERT_TRUE(fw->apply(plan).ok());
    sync = fw->in_sync(plan);
    ASSERT_TRUE(sync.ok()) << sync.error().message;
    EXPECT_TRUE(*sync);
    // A plan equal up to order and duplicates is the same table.
    FirewallPlan reordered = plan;
    std::reverse(reordered.protected_networks.begin(), reordered.protected_networks.end());
    reordered.user_pools.push_back(reordered.user_pools.front());
    EXPECT_TRUE(*fw->in_sync(reordered));
    // Applying again over an existing table is the same single transaction.
    auto again = fw->apply(plan);
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_TRUE(*fw->in_sync(plan));

    // Each kind of tampering is seen, and apply() repairs it. Some keep
    // every name and comment in place: a look-alike table must not pass.
    const std::string first_comment = nft_ruleset_spec(plan).rule_comments.front();
    const std::vector<std::function<std::string()>> tampering = {
        [] { return "flush chain inet wgate forward"; },
        [] { return "delete table inet wgate"; },
        [] { return "add table inet wgate { flags dormant; }"; },
        [&] {  // same comment, same counter and verdict, another match
          return "replace rule inet wgate forward handle " + std::to_string(rule_handle(first_comment)) +
                 " iifname \"nothing\" ip daddr @protected4 counter drop comment \"" + first_comment + "\"";
        },
        [] { return "delete element inet wgate protected4 { 10.1.0.0/16 }"; },
        [] { return "add element inet wgate ifaces { \"eth0\" }"; },
        [] { return "add element inet wgate pools6 { fd03::/64 }"; },
        [] { return "add rule inet wgate forward accept"; },
        [] { return "add set inet wgate extra { type ipv4_addr; }"; },
        [] { return "add chain inet wgate extra"; },
        [] { return "chain inet wgate forward { policy drop; }"; },
        [&] {  // the whole table again, with its forward chain at another priority
          std::string text = render_nft_ruleset(plan);
          const std::string from = "hook forward priority filter;";
          text.replace(text.find(from), from.size(), "hook forward priority filter + 10;");
          return "delete table inet wgate\n" + text;
        },
    };
    for (const auto& make_cmd : tampering) {
      const std::string cmd = make_cmd();
      NftRun t = nft_run(cmd);
      ASSERT_EQ(t.rc, 0) << cmd << ": " << t.error;
      sync = fw->in_sync(plan);
      EXPECT_TRUE(sync.ok()) << cmd << ": " << sync.error().message;
      if (sync.ok()) {
        EXPECT_FALSE(*sync) << "tampering not detected: " << cmd;
      }
      ASSERT_TRUE(fw->apply(plan).ok());
      EXPECT_TRUE(*fw->in_sync(plan)) << "not repaired after: " << cmd;
    }

    // Commits to other tables leave ours in sync (the listing is compared
    // again, and found equal).
    ASSERT_EQ(nft_run("add chain inet other c2").rc, 0);
    EXPECT_TRUE(*fw->in_sync(plan));
    EXPECT_TRUE(*fw->in_sync(plan));

    // After a restart nothing is recorded: the table in place reads as out of
    // sync once, and re-applying it (atomically) makes it ours again.
    auto restarted = make_nftables_firewall();
    EXPECT_FALSE(*restarted->in_sync(plan));
    ASSERT_TRUE(restarted->apply(plan).ok());
    EXPECT_TRUE(*restarted->in_sync(plan));

    // A changed plan is out of sync until applied.
    FirewallPlan changed = plan;
    changed.interfaces.push_back(FirewallInterface{"wgt1", {}});
    EXPECT_FALSE(*fw->in_sync(changed));
    ASSERT_TRUE(fw->apply(changed).ok());
    EXPECT_TRUE(*fw->in_sync(changed));
    EXPECT_FALSE(*fw->in_sync(plan));

    // The empty plan is a valid table too.
    ASSERT_TRUE(fw->apply(FirewallPlan{}).ok());
    EXPECT_TRUE(*fw->in_sync(FirewallPlan{}));

    // An unrenderable plan is refused before nft sees it; the table stays.
    FirewallPlan bad = plan;
    bad.interfaces = {FirewallInterface{"evil\" } drop", {}}};
    auto st = fw->apply(bad);
    EXPECT_FALSE(st.ok());
    EXPECT_TRUE(*fw->in_sync(FirewallPlan{}));

    ASSERT_TRUE(fw->remove().ok());
    EXPECT_FALSE(has_table("wgate"));
    EXPECT_FALSE(*fw->in_sync(FirewallPlan{}));
    auto removed_again = fw->remove();
    EXPECT_TRUE(removed_again.ok()) << removed_again.error().message;
    EXPECT_TRUE(has_table("other"));
  });
}

TEST_F(FirewallTest, NftErrorsComeBackAsValues) {
  run_in_new_netns([] {
    auto fw = make_nftables_firewall();
    ASSERT_TRUE(fw->apply(lab_plan()).ok());
    // Foreign content inside our table reads as out of sync, not as an error.
    NftRun map = nft_run("add map inet wgate m { type ipv4_addr : verdict; }");
    ASSERT_EQ(map.rc, 0) << map.error;
    auto sync = fw->in_sync(lab_plan());
    ASSERT_TRUE(sync.ok()) << sync.error().message;
    EXPECT_FALSE(*sync);

    // Without CAP_NET_ADMIN every nftables request fails: the caller gets the
    // kernel's reason as an Error, and in_sync does not guess "false".
    ASSERT_TRUE(lab::drop_effective_net_admin());
    auto st = fw->apply(lab_plan());
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("applying firewall: "), std::string::npos) << st.error().message;
    EXPECT_NE(st.error().message.find("Operation not permitted"), std::string::npos) << st.error().message;
    auto observed = fw->in_sync(lab_plan());
    ASSERT_FALSE(observed.ok());
    EXPECT_NE(observed.error().message.find("observing firewall"), std::string::npos);
    auto removed = fw->remove();
    EXPECT_FALSE(removed.ok());
  });
}

// Not asserted: prints what apply() and in_sync() cost at a realistic
// scale (100 groups x 10 networks each, 1,000 elements in allowed4).
TEST_F(FirewallTest, MeasuresApplyAndInSyncFor100InterfacesBy10Prefixes) {
  run_in_new_netns([] {
    FirewallPlan plan;
    for (int i = 0; i < 100; ++i) {
      FirewallInterface iface{"wg-g" + std::to_string(i), {}};
      for (int j = 0; j < 10; ++j) {
        const std::string net = "10." + std::to_string((i * 7 + j * 13) % 250) + ".0.0/16";
        iface.reachable.push_back(pfx(net.c_str()));
        plan.protected_networks.push_back(iface.reachable.back());
      }
      plan.interfaces.push_back(iface);
    }
    plan.user_pools = {pfx("100.64.0.0/16")};
    using P = GatewayService::Protocol;
    plan.open_to_users = {{P::udp, 53, 53}, {P::tcp, 53, 53}, {P::icmp, 0, 0}};

    using Clock = std::chrono::steady_clock;
    auto ms_since = [](Clock::time_point start) {
      return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    };
    auto fw = make_nftables_firewall();
    auto t = Clock::now();
    const std::string text = render_nft_ruleset(plan);
    const double render_ms = ms_since(t);
    t = Clock::now();
    ASSERT_TRUE(fw->apply(plan).ok());
    const double first_apply_ms = ms_since(t);
    t = Clock::now();
    ASSERT_TRUE(fw->apply(plan).ok());
    const double replace_ms = ms_since(t);
    t = Clock::now();
    ASSERT_TRUE(*fw->in_sync(plan));
    const double unchanged_ms = ms_since(t);
    // A commit to another table: the generation moved, so the table is
    // listed and compared.
    ASSERT_EQ(nft_run("add table inet other").rc, 0);
    t = Clock::now();
    ASSERT_TRUE(*fw->in_sync(plan));
    const double listed_ms = ms_since(t);
    ASSERT_EQ(nft_run("add element inet wgate protected6 { fd00::/64 }").rc, 0);
    t = Clock::now();
    ASSERT_FALSE(*fw->in_sync(plan));
    const double drifted_ms = ms_since(t);
    std::printf("[ measure ] 100 interfaces x 10 prefixes (%zu bytes of ruleset): render %.1f ms, "
                "apply %.1f ms (new table) / %.1f ms (replace), in_sync %.2f ms (nothing committed since), "
                "%.1f ms (listed, equal), %.1f ms (listed, drifted)\n",
                text.size(), render_ms, first_apply_ms, replace_ms, unchanged_ms, listed_ms, drifted_ms);
  });
}

TEST_F(FirewallTest, Ipv4ForwardingSysctlIsPerNamespace) {
  auto before = ipv4_forwarding_enabled();
  ASSERT_TRUE(before.ok()) << before.error().message;
  const bool outer_value = *before;
  run_in_new_netns([outer_value] {
    for (bool value : {!outer_value, outer_value, true, false}) {
      auto st = set_ipv4_forwarding(value);
      ASSERT_TRUE(st.ok()) << st.error().message;
      auto now = ipv4_forwarding_enabled();
      ASSERT_TRUE(now.ok()) << now.error().message;
      EXPECT_EQ(*now, value);
      std::ifstream proc("/proc/sys/net/ipv4/ip_forward");
      std::string text;
      proc >> text;
      EXPECT_EQ(text, value ? "1" : "0");
    }
    ASSERT_TRUE(set_ipv4_forwarding(!outer_value).ok());
  });
  auto after = ipv4_forwarding_enabled();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, outer_value) << "the runner's namespace was changed";
}

// ---- End-to-end: the back door through the gateway --------------------------
//
// Lab (gw = the child's own anonymous namespace):
//   fwt-<pid>-outer 192.0.2.2, fd00:2::2 --- fwt-out [gw] fwt-vpc --- fwt-<pid>-vpc 10.1.0.10, fd01::10,
//                                                                     198.51.100.10 (not protected)
//                                              wgt0 --- fwt-<pid>-user 10.100.0.5, fd02::5
// The outer host routes the protected and pool networks via the gateway's
// outer address, like any instance in the gateway's subnet can. wgt0 stands
// in for a wgate interface (a veth named like one).

TEST_F(FirewallTest, ClosesTheBackDoorThroughTheGateway) {
  if (sh("command -v ip >/dev/null && command -v ping >/dev/null") != 0) {
    GTEST_SKIP() << "needs the ip and ping commands";
  }
  lab::delete_stale_lab_namespaces();
  const lab::Lab lab(getpid(), {"outer", "vpc", "user"});
  run_in_new_netns([&lab] {
    const std::string outer = lab.ns("outer"), vpc = lab.ns("vpc"), user = lab.ns("user");
    const std::vector<std::string> setup = {
        "ip netns add " + outer,
        "ip netns add " + vpc,
        "ip netns add " + user,
        "ip link set lo up",
        "ip link add fwt-out type veth peer name eth0 netns " + outer,
        "ip link add fwt-vpc type veth peer name eth0 netns " + vpc,
        "ip link add wgt0 type veth peer name eth0 netns " + user,
        "ip addr add 192.0.2.1/24 dev fwt-out",
        "ip addr add fd00:2::1/64 dev fwt-out nodad",
        "ip addr add 10.1.0.1/16 dev fwt-vpc",
        "ip addr add fd01::1/64 dev fwt-vpc nodad",
        "ip addr add 10.100.0.1/24 dev wgt0",
        "ip addr add fd02::1/64 dev wgt0 nodad",
        "ip link set fwt-out up",
        "ip link set fwt-vpc up",
        "ip link set wgt0 up",
        "ip route add 198.51.100.10/32 via 10.1.0.10",
        "ip -n " + outer + " addr add 192.0.2.2/24 dev eth0",
        "ip -n " + outer + " addr add fd00:2::2/64 dev eth0 nodad",
        "ip -n " + outer + " link set eth0 up",
        "ip -n " + outer + " route add 10.1.0.0/16 via 192.0.2.1",
        "ip -n " + outer + " route add 10.100.0.0/24 via 192.0.2.1",
        "ip -n " + outer + " route add 198.51.100.0/24 via 192.0.2.1",
        "ip -n " + outer + " route add fd01::/64 via fd00:2::1",
        "ip -n " + outer + " route add fd02::/64 via fd00:2::1",
        "ip -n " + vpc + " addr add 10.1.0.10/16 dev eth0",
        "ip -n " + vpc + " addr add fd01::10/64 dev eth0 nodad",
        "ip -n " + vpc + " addr add 198.51.100.10/32 dev eth0",
        "ip -n " + vpc + " link set eth0 up",
        "ip -n " + vpc + " route add default via 10.1.0.1",
        "ip -n " + vpc + " route add default via fd01::1",
        "ip -n " + user + " addr add 10.100.0.5/24 dev eth0",
        "ip -n " + user + " addr add fd02::5/64 dev eth0 nodad",
        "ip -n " + user + " link set eth0 up",
        "ip -n " + user + " route add default via 10.100.0.1",
        "ip -n " + user + " route add default via fd02::1",
    };
    // The body runs in a lambda so that teardown follows any ASSERT.
    [&] {
      for (const std::string& cmd : setup) ASSERT_EQ(sh(cmd), 0) << cmd;
      ASSERT_TRUE(set_ipv4_forwarding(true).ok());
      {
        std::ofstream v6("/proc/sys/net/ipv6/conf/all/forwarding");
        v6 << "1\n";
      }
      EXPECT_TRUE(*ipv4_forwarding_enabled());

      // Without the firewall the gateway forwards anyone into the protected
      // network and to users: the back door.
      ASSERT_TRUE(lab.ping("outer", "10.1.0.10", 3)) << "lab broken: no forwarding at all";
      EXPECT_TRUE(lab.ping("outer", "fd01::10", 3));
      EXPECT_TRUE(lab.ping("outer", "10.100.0.5", 3));
      EXPECT_TRUE(lab.ping("outer", "fd02::5", 3));

      auto fw = make_nftables_firewall();
      const FirewallPlan plan = lab_plan();
      auto st = fw->apply(plan);
      ASSERT_TRUE(st.ok()) << st.error().message;

      // Closed from outside...
      EXPECT_FALSE(lab.ping("outer", "10.1.0.10", 1));
      EXPECT_FALSE(lab.ping("outer", "fd01::10", 1));
      EXPECT_FALSE(lab.ping("outer", "10.100.0.5", 1));
      EXPECT_FALSE(lab.ping("outer", "fd02::5", 1));
      EXPECT_GE(drop_counter("protected4"), 1);
      EXPECT_GE(drop_counter("protected6"), 1);
      EXPECT_GE(drop_counter("pools4"), 1);
      EXPECT_GE(drop_counter("pools6"), 1);
      // ...while the real paths still work: a user through the wgate
      // interface into the protected network, and the protected side to a user.
      EXPECT_TRUE(lab.ping("user", "10.1.0.10", 3));
      EXPECT_TRUE(lab.ping("user", "fd01::10", 3));
      EXPECT_TRUE(lab.ping("vpc", "10.100.0.5", 3));
      EXPECT_TRUE(lab.ping("vpc", "fd02::5", 3));
      // Forwarding that is none of wgate's business is untouched (policy
      // accept): 198.51.100.10 lives in the vpc namespace but is not protected.
      EXPECT_TRUE(lab.ping("outer", "10.1.0.1", 3));  // the gateway itself
      EXPECT_TRUE(lab.ping("outer", "198.51.100.10", 3));

      ASSERT_TRUE(fw->remove().ok());
      EXPECT_TRUE(lab.ping("outer", "10.1.0.10", 3)) << "remove() left the door shut";
    }();
    lab.delete_namespaces();
  });
  lab.delete_namespaces();  // also after a crashed child
  lab.expect_none_left();
}

}  // namespace
}  // namespace wgate
