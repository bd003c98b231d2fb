// The filter attached to tc ingress of a real L3 device: a TUN device
// (wgbpf0; wireguard-go's devices are TUNs, kernel WireGuard devices are L3
// too, with no link header) inside a network namespace the test creates
// (unshare in a forked child, gone with it). Packets written to the TUN fd
// are received by the kernel on wgbpf0 and pass through the filter; the
// verdict shows in the namespace's IP InReceives counter (a dropped packet
// never reaches ip_rcv) and in the filter's own counters and events.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <linux/if_tun.h>
#include <net/route.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>

#include "../test_support.h"
#include "dataplane/bpf_filter.h"
#include "packet.h"
#include "util/fd.h"

namespace wgate {
namespace {

using namespace bpf::testing;
using wgate::testing::ip;
using wgate::testing::pfx;

// Runs `body` in a forked child inside a fresh network namespace; failures
// in the child fail its exit status.
void in_new_netns(const std::function<void()>& body) {
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (unshare(CLONE_NEWNET) != 0) {
      std::perror("unshare(CLONE_NEWNET)");
      _exit(3);
    }
    body();
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child died, status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child in the namespace reported failures (above)";
}

// "Ip: ... InReceives ..." of this namespace (/proc/net/snmp).
long ip_in_receives() {
  std::ifstream f("/proc/net/snmp");
  std::string names, values;
  while (std::getline(f, names) && std::getline(f, values)) {
    if (names.rfind("Ip:", 0) != 0) continue;
    std::istringstream n(names), v(values);
    std::string name, value;
    while (n >> name && v >> value)
      if (name == "InReceives") return std::stol(value);
  }
  return -1;
}

// Makes the TUN device `name` in this namespace and brings it up: its fd
// (packets written to it arrive on the device), a socket for its ioctls and
// its ifindex.
void make_tun_up(const char* name, UniqueFd& tun, UniqueFd& sock, int& ifindex) {
  tun = UniqueFd(open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(tun.valid()) << strerror(errno);
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  ASSERT_EQ(ioctl(tun.get(), TUNSETIFF, &ifr), 0) << strerror(errno);
  sock = UniqueFd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(ioctl(sock.get(), SIOCGIFFLAGS, &ifr), 0);
  ifr.ifr_flags |= IFF_UP;
  ASSERT_EQ(ioctl(sock.get(), SIOCSIFFLAGS, &ifr), 0) << strerror(errno);
  ifindex = static_cast<int>(if_nametoindex(name));
  ASSERT_GT(ifindex, 0);
}

TEST(FilterOnTun, VerdictsOnAnL3Device) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespace, TUN device, BPF)";
  if (access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/net/tun";
  in_new_netns([] {
    UniqueFd tun, sock;
    int ifindex = 0;
    ASSERT_NO_FATAL_FAILURE(make_tun_up("wgbpf0", tun, sock, ifindex));

    auto f = BpfFilter::load();
    ASSERT_TRUE(f.ok()) << f.error().message;
    bpf::FilterPlan plan;
    plan.devices[ip("10.100.0.2")] = 1;
    plan.rulesets[1] = {bpf::FilterRule{pfx("10.1.0.0/16"), IPPROTO_TCP, 22, 22}};
    ASSERT_TRUE(f->apply(plan).ok());
    Status st = f->attach(ifindex);
    ASSERT_TRUE(st.ok()) << st.error().message;
    ASSERT_TRUE(f->attach(ifindex).ok());  // twice: a no-op

    // Writes one packet into the device; true if it reached the IP layer.
    auto reaches_ip = [&](const Bytes& pkt) {
      long before = ip_in_receives();
      EXPECT_EQ(write(tun.get(), pkt.data(), pkt.size()), static_cast<ssize_t>(pkt.size())) << strerror(errno);
      return ip_in_receives() > before;
    };
    Bytes allowed = ipv4(Ip{.src = "10.100.0.2", .dst = "10.1.5.5"}, tcp(40000, 22));
    Bytes denied = ipv4(Ip{.src = "10.100.0.2", .dst = "10.1.5.5"}, tcp(40000, 23));
    EXPECT_TRUE(reaches_ip(allowed));
    EXPECT_FALSE(reaches_ip(denied));
    EXPECT_FALSE(reaches_ip(ipv4(Ip{.src = "10.100.0.9", .dst = "10.1.5.5"}, tcp(40000, 22))));  // no device
    // Shorter than an IP header (BPF_PROG_TEST_RUN cannot make this one).
    EXPECT_FALSE(reaches_ip(cut(allowed, 12)));
    Bytes opts = ipv4(Ip{.src = "10.100.0.2", .dst = "10.1.5.5", .options = {1, 1, 1, 0}}, tcp(40000, 22));
    EXPECT_TRUE(reaches_ip(opts));

    auto c = f->counters();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->at(ip("10.100.0.2")).pass_packets, 2u);
    EXPECT_EQ(c->at(ip("10.100.0.2")).drop_packets, 1u);
    auto ev = f->drain_events();
    ASSERT_TRUE(ev.ok());
    ASSERT_EQ(ev->size(), 3u);  // the flow (once: the packet with options is the same flow), 2 denials
    for (const auto& e : *ev) EXPECT_EQ(e.ifindex, static_cast<uint32_t>(ifindex));
    EXPECT_TRUE((*ev)[0].allowed);
    EXPECT_EQ((*ev)[0].dport, 22);

    // Detached, the denied packet reaches IP again.
    ASSERT_TRUE(f->detach(ifindex).ok());
    EXPECT_TRUE(reaches_ip(denied));
    // Attached again, and then the filter object goes: its destructor detaches.
    ASSERT_TRUE(f->attach(ifindex).ok());
    EXPECT_FALSE(reaches_ip(denied));
    f = make_error("gone");
    EXPECT_TRUE(reaches_ip(denied));

    // leave_attached(): the object goes, the filter stays with its policy
    // (what a daemon does on a clean stop) ...
    {
      auto kept = BpfFilter::load();
      ASSERT_TRUE(kept.ok()) << kept.error().message;
      ASSERT_TRUE(kept->apply(plan).ok());
      ASSERT_TRUE(kept->attach(ifindex).ok());
      kept->leave_attached();
    }
    EXPECT_FALSE(reaches_ip(denied));
    EXPECT_TRUE(reaches_ip(allowed));
    // ... until the next instance replaces it in one step, with its own policy.
    auto next = BpfFilter::load();
    ASSERT_TRUE(next.ok()) << next.error().message;
    plan.rulesets[1].push_back(bpf::FilterRule{pfx("10.1.0.0/16"), IPPROTO_TCP, 23, 23});
    ASSERT_TRUE(next->apply(plan).ok());
    auto there = next->attached(ifindex);
    ASSERT_TRUE(there.ok());
    EXPECT_TRUE(*there);  // the old one, at wgate's handle
    ASSERT_TRUE(next->attach(ifindex).ok());
    EXPECT_TRUE(reaches_ip(denied));  // tcp/23 is the new policy's
    EXPECT_FALSE(reaches_ip(ipv4(Ip{.src = "10.100.0.2", .dst = "10.1.5.5"}, tcp(40000, 24))));
    next = make_error("gone");
    EXPECT_TRUE(reaches_ip(ipv4(Ip{.src = "10.100.0.2", .dst = "10.1.5.5"}, tcp(40000, 24))));  // nothing left
  });
}

// Sets `addr`/`mask` on `name` (SIOCSIFADDR, SIOCSIFNETMASK) in this
// namespace.
void set_address(int sock, const char* name, const char* addr, const char* mask) {
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
  sin->sin_family = AF_INET;
  ASSERT_EQ(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
  ASSERT_EQ(ioctl(sock, SIOCSIFADDR, &ifr), 0) << strerror(errno);
  ASSERT_EQ(inet_pton(AF_INET, mask, &sin->sin_addr), 1);
  ASSERT_EQ(ioctl(sock, SIOCSIFNETMASK, &ifr), 0) << strerror(errno);
}

// Traffic to the gateway itself is the input guard's business: a packet
// from a device to an address local to the namespace passes although no
// rule allows it (and is not reported as a flow); the same to a routed,
// non-local address is dropped.
TEST(FilterOnTun, PacketsToTheGatewayItselfPass) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespace, TUN device, BPF)";
  if (access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/net/tun";
  in_new_netns([] {
    UniqueFd tun, sock;
    int ifindex = 0;
    ASSERT_NO_FATAL_FAILURE(make_tun_up("wgbpf1", tun, sock, ifindex));
    // The gateway: 10.100.0.1 on the tunnel link, a route to 10.1.0.0/16
    // through it, forwarding on (a gateway forwards; the FIB lookup answers
    // "forwarding disabled" otherwise). All inside this namespace.
    set_address(sock.get(), "wgbpf1", "10.100.0.1", "255.255.255.0");
    rtentry rt{};
    auto* dst = reinterpret_cast<sockaddr_in*>(&rt.rt_dst);
    auto* mask = reinterpret_cast<sockaddr_in*>(&rt.rt_genmask);
    dst->sin_family = mask->sin_family = AF_INET;
    inet_pton(AF_INET, "10.1.0.0", &dst->sin_addr);
    inet_pton(AF_INET, "255.255.0.0", &mask->sin_addr);
    rt.rt_flags = RTF_UP;
    char dev[] = "wgbpf1";
    rt.rt_dev = dev;
    ASSERT_EQ(ioctl(sock.get(), SIOCADDRT, &rt), 0) << strerror(errno);
    {
      std::ofstream fwd("/proc/sys/net/ipv4/ip_forward");  // this namespace's
      fwd << "1\n";
      ASSERT_TRUE(fwd.good());
    }

    BpfFilterOptions o;
    o.deny_events_per_sec = 1000;
    auto f = BpfFilter::load(o);
    ASSERT_TRUE(f.ok()) << f.error().message;
    bpf::FilterPlan plan;
    plan.devices[ip("10.100.0.2")] = 1;
    plan.rulesets[1] = {bpf::FilterRule{pfx("10.1.0.0/16"), IPPROTO_TCP, 22, 22}};
    ASSERT_TRUE(f->apply(plan).ok());
    ASSERT_TRUE(f->attach(ifindex).ok());
    auto reaches_ip = [&](const Bytes& pkt) {
      long before = ip_in_receives();
      EXPECT_EQ(write(tun.get(), pkt.data(), pkt.size()), static_cast<ssize_t>(pkt.size())) << strerror(errno);
      return ip_in_receives() > before;
    };
    // DNS on the gateway's own address: no rule allows udp/53 anywhere.
    EXPECT_TRUE(reaches_ip(ipv4(Ip{.src = "10.100.0.2", .dst = "10.100.0.1", .proto = IPPROTO_UDP}, udp(40000, 53))));
    EXPECT_TRUE(reaches_ip(ipv4(Ip{.src = "10.100.0.2", .dst = "10.100.0.1"}, tcp(40000, 8443))));
    EXPECT_TRUE(reaches_ip(ipv4(Ip{.src = "10.100.0.2", .dst = "127.0.0.1"}, tcp(40000, 8443))));  // local too
    // Routed on (not local): the rules decide.
    EXPECT_FALSE(reaches_ip(ipv4(Ip{.src = "10.100.0.2", .dst = "10.1.5.5", .proto = IPPROTO_UDP}, udp(40000, 53))));
    EXPECT_FALSE(reaches_ip(ipv4(Ip{.src = "10.100.0.2", .dst = "10.100.0.7"}, tcp(40000, 8443))));  // a neighbour
    EXPECT_TRUE(reaches_ip(ipv4(Ip{.src = "10.100.0.2", .dst = "10.1.5.5"}, tcp(40000, 22))));
    // Not a device: dropped, whatever the destination.
    EXPECT_FALSE(reaches_ip(ipv4(Ip{.src = "10.100.0.9", .dst = "10.100.0.1", .proto = IPPROTO_UDP}, udp(40000, 53))));
    // Malformed stays dropped (a TCP header cut short).
    EXPECT_FALSE(reaches_ip(ipv4(Ip{.src = "10.100.0.2", .dst = "10.100.0.1"}, cut(tcp(40000, 22), 10))));

    // Only the allowed flow is reported as a flow; the packets to the
    // gateway are counted as passed, reported as nothing.
    auto ev = f->drain_events();
    ASSERT_TRUE(ev.ok());
    int flows = 0;
    for (const auto& e : *ev) {
      if (!e.allowed) continue;
      ++flows;
      EXPECT_EQ(e.dport, 22);
    }
    EXPECT_EQ(flows, 1);
    auto c = f->counters();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->at(ip("10.100.0.2")).pass_packets, 4u);
    EXPECT_EQ(c->at(ip("10.100.0.2")).drop_packets, 3u);
  });
}

}  // namespace
}  // namespace wgate
