// The firewall's per-group guard, the gateway's own input and the
// anti-spoofing rule, for real in a namespace lab (see netns_lab.h):
//
//   fwt-<pid>-outer 192.0.2.2 ------ fwt-out   192.0.2.1/24
//   fwt-<pid>-vpca  10.1.0.10/16 --- fwt-vpca  10.1.0.1/16     [gw]
//   fwt-<pid>-vpcb  10.2.0.10/16 --- fwt-vpcb  10.2.0.1/16
//   fwt-<pid>-usera 10.100.0.5 ----- wgt-a     10.100.0.1/32   group a: vpc-a
//   fwt-<pid>-userb 10.100.0.6 ----- wgt-b     10.100.0.2/32   group b: vpc-a, vpc-b
//
// The gateway is routed the way wgate routes it: per group a table with
// `throw` for each allowed network and `blackhole default`, `ip rule iif
// <if> lookup <table>`, and a main-table /32 per user. wgt-a and wgt-b are
// veths named like wgate interfaces. rp_filter is off everywhere, so the
// kernel's own source check cannot hide what the firewall does.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/firewall.h"
#include "netns_lab.h"

namespace wgate {
namespace {

using lab::drop_counter;
using lab::pfx;
using lab::sh;

constexpr uint16_t kServicePort = 8022;

FirewallPlan group_plan() {
  FirewallPlan plan;
  plan.interfaces = {FirewallInterface{"wgt-a", {pfx("10.1.0.0/16")}},
                     FirewallInterface{"wgt-b", {pfx("10.1.0.0/16"), pfx("10.2.0.0/16")}}};
  plan.protected_networks = {pfx("10.1.0.0/16"), pfx("10.2.0.0/16")};
  plan.user_pools = {pfx("10.100.0.0/24")};
  return plan;
}

void write_sysctl(const std::string& path, const char* value) {
  std::ofstream f(path);
  f << value << "\n";
  EXPECT_TRUE(f.good()) << path;
}

class FirewallLabTest : public testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, nftables)";
    if (sh("command -v ip >/dev/null && command -v ping >/dev/null") != 0) {
      GTEST_SKIP() << "needs the ip and ping commands";
    }
    lab::delete_stale_lab_namespaces();
  }

  // Runs `body` in the gateway namespace with the lab built around it, then
  // tears the lab down (also after a failed ASSERT inside `body`).
  void with_lab(const std::function<void(const lab::Lab&)>& body) {
    const lab::Lab lab(getpid(), {"outer", "vpca", "vpcb", "usera", "userb"});
    lab::run_in_new_netns([&] {
      [&] {
        build(lab);
        if (testing::Test::HasFatalFailure()) return;
        body(lab);
      }();
      lab.delete_namespaces();
    });
    lab.delete_namespaces();  // also after a crashed child
    lab.expect_none_left();
  }

 private:
  static void build(const lab::Lab& lab) {
    std::vector<std::string> cmds = {"ip link set lo up"};
    struct Host {
      const char* role;
      const char* gw_if;
      const char* gw_addr;
      const char* host_addr;
      const char* host_route;
    };
    const Host hosts[] = {
        {"outer", "fwt-out", "192.0.2.1/24", "192.0.2.2/24", "default via 192.0.2.1"},
        {"vpca", "fwt-vpca", "10.1.0.1/16", "10.1.0.10/16", "default via 10.1.0.1"},
        {"vpcb", "fwt-vpcb", "10.2.0.1/16", "10.2.0.10/16", "default via 10.2.0.1"},
        {"usera", "wgt-a", "10.100.0.1/32", "10.100.0.5/32", "10.100.0.1 dev eth0"},
        {"userb", "wgt-b", "10.100.0.2/32", "10.100.0.6/32", "10.100.0.2 dev eth0"},
    };
    for (const Host& h : hosts) {
      const std::string ns = lab.ns(h.role);
      cmds.push_back("ip netns add " + ns);
      cmds.push_back(std::string("ip link add ") + h.gw_if + " type veth peer name eth0 netns " + ns);
      cmds.push_back(std::string("ip addr add ") + h.gw_addr + " dev " + h.gw_if);
      cmds.push_back(std::string("ip link set ") + h.gw_if + " up");
      cmds.push_back("ip -n " + ns + " link set lo up");
      cmds.push_back("ip -n " + ns + " addr add " + h.host_addr + " dev eth0");
      cmds.push_back("ip -n " + ns + " link set eth0 up");
      cmds.push_back("ip -n " + ns + " route add " + h.host_route);
    }
    cmds.insert(cmds.end(), {
        "ip -n " + lab.ns("usera") + " route add default via 10.100.0.1",
        "ip -n " + lab.ns("userb") + " route add default via 10.100.0.2",
        // What wgate's plan routes: users' /32s in main, group tables, rules.
        "ip route add 10.100.0.5/32 dev wgt-a",
        "ip route add 10.100.0.6/32 dev wgt-b",
        "ip route add throw 10.1.0.0/16 table 1001",
        "ip route add blackhole default table 1001",
        "ip route add throw 10.1.0.0/16 table 1002",
        "ip route add throw 10.2.0.0/16 table 1002",
        "ip route add blackhole default table 1002",
        "ip rule add iif wgt-a lookup 1001 pref 1000",
        "ip rule add iif wgt-b lookup 1002 pref 1000",
    });
    lab::run_all(cmds);
    if (testing::Test::HasFatalFailure()) return;
    write_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
    for (const char* dev : {"all", "default", "fwt-out", "fwt-vpca", "fwt-vpcb", "wgt-a", "wgt-b"}) {
      write_sysctl(std::string("/proc/sys/net/ipv4/conf/") + dev + "/rp_filter", "0");
    }
  }
};

TEST_F(FirewallLabTest, GroupsStaySeparateWhenTheirIpRuleIsMissing) {
  with_lab([](const lab::Lab& lab) {
    auto fw = make_nftables_firewall();
    auto st = fw->apply(group_plan());
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_TRUE(lab.ping("usera", "10.1.0.10", 3)) << "group a reaches its network";
    EXPECT_TRUE(lab.ping("userb", "10.2.0.10", 3)) << "group b reaches its second network";
    EXPECT_FALSE(lab.ping("usera", "10.2.0.10", 1)) << "group a's table blackholes vpc-b";

    // The routing rule of group a goes missing: its traffic now meets the
    // main table, which routes every protected network.
    ASSERT_EQ(sh("ip rule del iif wgt-a lookup 1001 pref 1000"), 0);
    ASSERT_TRUE(fw->remove().ok());
    ASSERT_TRUE(lab.ping("usera", "10.2.0.10", 3)) << "lab broken: without rule and firewall a should leak";

    ASSERT_TRUE(fw->apply(group_plan()).ok());
    const int64_t before = drop_counter("allowed4");
    EXPECT_FALSE(lab.ping("usera", "10.2.0.10", 2)) << "the firewall alone keeps group a out of vpc-b";
    EXPECT_GE(drop_counter("allowed4"), before + 1);
    EXPECT_TRUE(lab.ping("usera", "10.1.0.10", 3)) << "group a still reaches its own network";
    EXPECT_TRUE(lab.ping("userb", "10.2.0.10", 3));
    EXPECT_FALSE(lab.ping("usera", "10.100.0.6", 1)) << "no user-to-user traffic";
  });
}

TEST_F(FirewallLabTest, UsersReachOnlyTheServicesOpenedOnTheGateway) {
  with_lab([](const lab::Lab& lab) {
    // A service on the gateway, on all of its addresses.
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(kServicePort);
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(listener, 64), 0);

    ASSERT_TRUE(lab.tcp_connects("usera", "10.100.0.1", kServicePort, 2000))
        << "lab broken: no firewall, the user should reach the gateway";
    ASSERT_TRUE(lab.ping("usera", "10.100.0.1", 3));

    auto fw = make_nftables_firewall();
    ASSERT_TRUE(fw->apply(group_plan()).ok());
    // Closed on every address of the gateway: its tunnel-side address, its
    // address in a network the group may reach, and its outer address.
    EXPECT_FALSE(lab.tcp_connects("usera", "10.100.0.1", kServicePort, 500));
    EXPECT_FALSE(lab.tcp_connects("usera", "10.1.0.1", kServicePort, 500));
    EXPECT_FALSE(lab.tcp_connects("userb", "192.0.2.1", kServicePort, 500));
    EXPECT_FALSE(lab.ping("usera", "10.100.0.1", 1));
    EXPECT_GE(drop_counter("gateway"), 4);
    // Hosts that are not users keep reaching it (policy accept).
    EXPECT_TRUE(lab.tcp_connects("vpca", "10.1.0.1", kServicePort, 2000));
    EXPECT_TRUE(lab.tcp_connects("outer", "192.0.2.1", kServicePort, 2000));
    // Forwarded traffic is not the input chain's business.
    EXPECT_TRUE(lab.ping("usera", "10.1.0.10", 3));

    FirewallPlan open = group_plan();
    using P = GatewayService::Protocol;
    open.open_to_users = {{P::udp, 53, 53}, {P::tcp, kServicePort - 1, kServicePort + 1}, {P::icmp, 0, 0}};
    ASSERT_TRUE(fw->apply(open).ok());
    EXPECT_TRUE(lab.tcp_connects("usera", "10.100.0.1", kServicePort, 2000));
    EXPECT_TRUE(lab.tcp_connects("userb", "10.1.0.1", kServicePort, 2000));
    EXPECT_TRUE(lab.ping("usera", "10.100.0.1", 3));
    // An opened TCP port does not open the same UDP port, nor other ports.
    open.open_to_users = {{P::udp, kServicePort, kServicePort}, {P::tcp, 1, kServicePort - 1}};
    ASSERT_TRUE(fw->apply(open).ok());
    EXPECT_FALSE(lab.tcp_connects("usera", "10.100.0.1", kServicePort, 500));
    EXPECT_FALSE(lab.ping("usera", "10.100.0.1", 1));
    close(listener);
  });
}

TEST_F(FirewallLabTest, SpoofedProtectedSourcesTowardUsersAreDropped) {
  with_lab([](const lab::Lab& lab) {
    // The outer host and vpc-b each claim an address of vpc-a.
    lab::run_all({"ip -n " + lab.ns("outer") + " addr add 10.1.0.10/32 dev lo",
                  "ip -n " + lab.ns("vpcb") + " addr add 10.1.0.10/32 dev lo"});
    auto echos = [&](const char* role) { return lab.icmp_in_echos(role); };
    // Pings whose replies cannot come back: what counts is whether the
    // request reached the user (its InEchos counter).
    auto spoof = [&](const char* role, const char* to) {
      sh("ip netns exec " + lab.ns(role) + " ping -c2 -i0.2 -W1 -q -I 10.1.0.10 " + std::string(to) +
         " >/dev/null 2>&1");
    };

    int64_t before = echos("usera");
    spoof("outer", "10.100.0.5");
    ASSERT_GE(echos("usera"), before + 1) << "lab broken: with rp_filter off and no firewall the spoof should land";

    auto fw = make_nftables_firewall();
    ASSERT_TRUE(fw->apply(group_plan()).ok());
    // From the outer side...
    before = echos("usera");
    spoof("outer", "10.100.0.5");
    EXPECT_EQ(echos("usera"), before) << "a protected source from the outer interface reached a user";
    // ...and from another protected interface (vpc-a's addresses live
    // behind fwt-vpca, not fwt-vpcb), toward a user whose group reaches both.
    before = echos("userb");
    spoof("vpcb", "10.100.0.6");
    EXPECT_EQ(echos("userb"), before) << "vpc-a's source arriving from vpc-b reached a user";
    EXPECT_GE(drop_counter("rpf4"), 4);

    // The genuine protected side passes.
    before = echos("usera");
    EXPECT_TRUE(lab.ping("vpca", "10.100.0.5", 3));
    EXPECT_GE(echos("usera"), before + 1);
    EXPECT_TRUE(lab.ping("vpcb", "10.100.0.6", 3, "10.2.0.10"));
    // Policy routing is honoured: the reverse lookup uses group a's table
    // (the kernel looks the source up as if it came in on wgt-a), which
    // blackholes vpc-b, so vpc-b cannot send to a user of group a.
    EXPECT_FALSE(lab.ping("vpcb", "10.100.0.5", 1, "10.2.0.10"));
  });
}

}  // namespace
}  // namespace wgate
