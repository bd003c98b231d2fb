// The tc filter's verdicts on crafted packets through BPF_PROG_TEST_RUN: no
// interface is involved (the kernel builds an skb from the bytes and runs
// the loaded program on it). Needs root to load BPF; skipped otherwise.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "../test_support.h"
#include "bpf/filter_abi.h"
#include "dataplane/bpf_filter.h"
#include "packet.h"
#include "reference.h"

namespace wgate {
namespace {

using bpf::FilterPlan;
using bpf::FilterRule;
using namespace bpf::testing;
using wgate::testing::ip;
using wgate::testing::pfx;

constexpr uint32_t kPass = 0;  // TC_ACT_OK
constexpr uint32_t kDrop = 2;  // TC_ACT_SHOT
constexpr uint32_t kNoSuchIfindex = 0x7ffffff0;

constexpr const char* kAlice = "10.100.0.2";  // ruleset 1
constexpr const char* kBob = "10.100.0.6";    // ruleset 2

FilterRule rule(const char* dst, uint8_t proto, uint16_t lo = 0, uint16_t hi = 65535) {
  return FilterRule{pfx(dst), proto, lo, hi};
}

FilterPlan standard_plan() {
  FilterPlan p;
  p.devices[ip(kAlice)] = 1;
  p.devices[ip(kBob)] = 2;
  p.rulesets[1] = {rule("10.1.0.0/16", IPPROTO_TCP, 22, 22),     rule("10.1.2.0/24", IPPROTO_TCP, 443, 443),
                   rule("10.1.0.0/16", IPPROTO_TCP, 8000, 8100), rule("10.1.0.0/16", IPPROTO_UDP, 53, 53),
                   rule("10.1.0.0/16", IPPROTO_ICMP),            rule("10.2.0.0/16", 0)};
  p.rulesets[2] = {rule("10.1.0.0/16", IPPROTO_UDP, 53, 53)};
  return p;
}

Bytes tcp_packet(const char* src, const char* dst, uint16_t dport, uint16_t sport = 40000) {
  return ipv4(Ip{.src = src, .dst = dst, .proto = IPPROTO_TCP}, tcp(sport, dport));
}
Bytes udp_packet(const char* src, const char* dst, uint16_t dport, uint16_t sport = 40000) {
  return ipv4(Ip{.src = src, .dst = dst, .proto = IPPROTO_UDP}, udp(sport, dport, 4));
}
Bytes icmp_packet(const char* src, const char* dst, uint8_t type, uint8_t code = 0, const Bytes& body = {}) {
  return ipv4(Ip{.src = src, .dst = dst, .proto = IPPROTO_ICMP}, icmp(type, code, body));
}

class FilterVerdict : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs (BPF_PROG_TEST_RUN)";
    BpfFilterOptions o;
    o.max_devices = 4096;
    o.max_rule_entries = 1 << 16;
    auto f = BpfFilter::load(o);
    ASSERT_TRUE(f.ok()) << f.error().message;
    filter_.emplace(std::move(*f));
    Status st = filter_->apply(standard_plan());
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  // The program's return code for one IPv4 packet (or other L3 bytes).
  uint32_t run(const Bytes& l3, uint16_t ethertype = 0x0800) {
    Bytes f = frame(l3, ethertype);
    __sk_buff ctx{};
    // An interface that does not exist: the program's "to the gateway
    // itself?" FIB lookup (only on drops) then fails and the drop stands,
    // whatever the routes and forwarding of the namespace the test runs in
    // (filter_tun_test checks that lookup in a namespace of its own).
    ctx.ingress_ifindex = kNoSuchIfindex;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.data(), .data_size_in = static_cast<uint32_t>(f.size()),
                .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);
    int err = bpf_prog_test_run_opts(filter_->program_fd(), &opts);
    EXPECT_EQ(err, 0) << "BPF_PROG_TEST_RUN: " << strerror(-err);
    return err ? 0xffffffff : opts.retval;
  }
  bool passes(const Bytes& l3) {
    uint32_t r = run(l3);
    EXPECT_TRUE(r == kPass || r == kDrop) << "unexpected tc action " << r;
    return r == kPass;
  }
  std::vector<FlowEvent> events() {
    auto e = filter_->drain_events();
    EXPECT_TRUE(e.ok()) << e.error().message;
    return e.ok() ? *e : std::vector<FlowEvent>{};
  }

  std::optional<BpfFilter> filter_;
};

TEST_F(FilterVerdict, TcpAllowedAndDeniedPorts) {
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.5.5", 22)));
  EXPECT_FALSE(passes(tcp_packet(kAlice, "10.1.5.5", 23)));
  EXPECT_FALSE(passes(tcp_packet(kAlice, "10.1.5.5", 443)));  // 443 is only for 10.1.2.0/24
  EXPECT_FALSE(passes(tcp_packet(kAlice, "10.3.0.1", 22)));   // no rule for the network
  EXPECT_FALSE(passes(tcp_packet(kBob, "10.1.5.5", 22)));     // not in Bob's ruleset
}

TEST_F(FilterVerdict, LongerPrefixWithOtherPortsKeepsTheShorterOnes) {
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.2.9", 443)));
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.2.9", 22)));
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.2.9", 8050)));
  EXPECT_FALSE(passes(tcp_packet(kAlice, "10.1.2.9", 80)));
}

TEST_F(FilterVerdict, PortRangeEdges) {
  EXPECT_FALSE(passes(tcp_packet(kAlice, "10.1.5.5", 7999)));
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.5.5", 8000)));
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.5.5", 8100)));
  EXPECT_FALSE(passes(tcp_packet(kAlice, "10.1.5.5", 8101)));
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.2.0.1", 0)));      // any protocol, any port
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.2.255.255", 65535)));
}

TEST_F(FilterVerdict, UdpAllowedAndDeniedPorts) {
  EXPECT_TRUE(passes(udp_packet(kAlice, "10.1.5.5", 53)));
  EXPECT_FALSE(passes(udp_packet(kAlice, "10.1.5.5", 54)));
  EXPECT_FALSE(passes(udp_packet(kAlice, "10.1.5.5", 22)));  // TCP's port, not UDP's
  EXPECT_TRUE(passes(udp_packet(kBob, "10.1.5.5", 53)));
  EXPECT_FALSE(passes(udp_packet(kBob, "10.4.0.1", 53)));
}

TEST_F(FilterVerdict, IcmpEchoIsCheckedAsProtocolIcmp) {
  EXPECT_TRUE(passes(icmp_packet(kAlice, "10.1.5.5", 8)));
  EXPECT_TRUE(passes(icmp_packet(kAlice, "10.2.0.9", 8)));    // any protocol
  EXPECT_FALSE(passes(icmp_packet(kAlice, "10.3.0.1", 8)));   // no rule
  EXPECT_FALSE(passes(icmp_packet(kBob, "10.1.5.5", 8)));     // Bob: UDP 53 only
  EXPECT_FALSE(passes(icmp_packet(kAlice, "10.1.5.5", 5)));   // a redirect, never from a client
  EXPECT_FALSE(passes(icmp_packet(kAlice, "10.1.5.5", 4)));   // source quench
}

// Bob may only send UDP to port 53 of 10.1.0.0/16, and no ICMP at all; his
// errors about that flow's replies still pass.
TEST_F(FilterVerdict, IcmpErrorQuotingAnAllowedFlowPasses) {
  // The quoted packet: the server's reply 10.1.5.5:53 -> Bob:40000.
  Bytes quoted = ipv4(Ip{.src = "10.1.5.5", .dst = kBob, .proto = IPPROTO_UDP}, udp(53, 40000));
  EXPECT_TRUE(passes(icmp_packet(kBob, "10.1.5.5", 3, 3, quoted)));   // port unreachable
  EXPECT_TRUE(passes(icmp_packet(kBob, "10.1.5.5", 11, 0, quoted)));  // time exceeded
  EXPECT_TRUE(passes(icmp_packet(kBob, "10.1.5.5", 12, 0, quoted)));  // parameter problem
  // With IP options in the quoted header.
  Bytes quoted_opts =
      ipv4(Ip{.src = "10.1.5.5", .dst = kBob, .proto = IPPROTO_UDP, .options = {1, 1, 1, 0}}, udp(53, 40000));
  EXPECT_TRUE(passes(icmp_packet(kBob, "10.1.5.5", 3, 3, quoted_opts)));
}

TEST_F(FilterVerdict, IcmpErrorQuotingADeniedFlowIsDropped) {
  auto quote = [](const char* src, const char* dst, uint8_t proto, uint16_t sport) {
    return ipv4(Ip{.src = src, .dst = dst, .proto = proto}, proto == IPPROTO_TCP ? cut(tcp(sport, 40000), 8)
                                                                                   : udp(sport, 40000));
  };
  EXPECT_FALSE(passes(icmp_packet(kBob, "10.1.5.5", 3, 3, quote("10.1.5.5", kBob, IPPROTO_UDP, 54))));
  EXPECT_FALSE(passes(icmp_packet(kBob, "10.1.5.5", 3, 3, quote("10.1.5.5", kBob, IPPROTO_TCP, 53))));
  EXPECT_FALSE(passes(icmp_packet(kBob, "10.4.0.1", 3, 3, quote("10.4.0.1", kBob, IPPROTO_UDP, 53))));
  // About someone else's packet (inner destination is not Bob).
  EXPECT_FALSE(passes(icmp_packet(kBob, "10.1.5.5", 3, 3, quote("10.1.5.5", kAlice, IPPROTO_UDP, 53))));
  // Sent to a third party instead of the quoted sender.
  EXPECT_FALSE(passes(icmp_packet(kBob, "10.1.5.6", 3, 3, quote("10.1.5.5", kBob, IPPROTO_UDP, 53))));
  // Truncated quotes: 4 bytes of the inner L4 header, half an inner IP header.
  EXPECT_FALSE(passes(icmp_packet(kBob, "10.1.5.5", 3, 3, cut(quote("10.1.5.5", kBob, IPPROTO_UDP, 53), 24))));
  EXPECT_FALSE(passes(icmp_packet(kBob, "10.1.5.5", 3, 3, cut(quote("10.1.5.5", kBob, IPPROTO_UDP, 53), 10))));
  // Alice's TCP to 10.1.2.9:443 is allowed, so its RST-less errors pass.
  EXPECT_TRUE(passes(icmp_packet(kAlice, "10.1.2.9", 3, 1, quote("10.1.2.9", kAlice, IPPROTO_TCP, 443))));
  EXPECT_FALSE(passes(icmp_packet(kAlice, "10.1.2.9", 3, 1, quote("10.1.2.9", kAlice, IPPROTO_TCP, 444))));
}

// A quoted later fragment carries no ports: its reverse flow must be
// allowed for the whole protocol.
TEST_F(FilterVerdict, IcmpErrorQuotingALaterFragmentNeedsTheWholeProtocol) {
  Bytes data(8, 0);
  auto quote = [&](const char* src) {
    return ipv4(Ip{.src = src, .dst = kAlice, .proto = IPPROTO_UDP, .frag_offset = 2}, data);
  };
  EXPECT_TRUE(passes(icmp_packet(kAlice, "10.2.0.1", 11, 1, quote("10.2.0.1"))));   // any protocol there
  EXPECT_FALSE(passes(icmp_packet(kAlice, "10.1.5.5", 11, 1, quote("10.1.5.5"))));  // UDP 53 only
}

TEST_F(FilterVerdict, FirstFragmentIsCheckedAndLaterOnesFollowIt) {
  Bytes payload(24, 0xab);
  auto frag = [&](uint16_t id, uint16_t dport, uint16_t offset, bool more, const char* dst = "10.1.5.5",
                  uint8_t proto = IPPROTO_TCP) {
    Bytes l4 = offset == 0 ? tcp(40000, dport) : payload;
    return ipv4(Ip{.src = kAlice, .dst = dst, .proto = proto, .id = id, .frag_offset = offset,
                   .more_fragments = more},
                l4);
  };
  EXPECT_TRUE(passes(frag(77, 22, 0, true)));     // first fragment, allowed port
  EXPECT_TRUE(passes(frag(77, 0, 3, true)));      // its later fragments
  EXPECT_TRUE(passes(frag(77, 0, 6, false)));
  EXPECT_FALSE(passes(frag(78, 0, 3, false)));    // a datagram whose first fragment was never seen
  EXPECT_FALSE(passes(frag(79, 23, 0, true)));    // first fragment, denied port
  EXPECT_FALSE(passes(frag(79, 0, 3, false)));    // ... and its later fragment
  // The whole protocol allowed to the destination: no first fragment needed.
  EXPECT_TRUE(passes(frag(80, 0, 3, false, "10.2.0.1")));
  EXPECT_TRUE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .proto = IPPROTO_ICMP, .id = 81, .frag_offset = 9},
                          payload)));
  // A first fragment too short for the TCP header (RFC 1858's tiny fragment).
  EXPECT_FALSE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .proto = IPPROTO_TCP, .id = 82,
                              .more_fragments = true},
                           cut(tcp(40000, 22), 8))));
}

TEST_F(FilterVerdict, IpOptionsMoveTheL4Header) {
  Bytes opts = {1, 1, 1, 0};  // NOP NOP NOP EOL
  EXPECT_TRUE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .options = opts}, tcp(40000, 22))));
  EXPECT_FALSE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .options = opts}, tcp(40000, 23))));
  // Options whose bytes read as ports 22 -> 22 if the header length were ignored.
  Bytes decoy = {0, 22, 0, 22};
  EXPECT_FALSE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .options = decoy}, tcp(40000, 23))));
  // The longest header (IHL 15: 40 bytes of options).
  Bytes longest(40, 1);
  EXPECT_TRUE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .options = longest}, tcp(40000, 22))));
  EXPECT_FALSE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .options = longest}, tcp(40000, 23))));
  // IHL below 5.
  EXPECT_FALSE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .ihl_override = 4}, tcp(40000, 22))));
}

// Loose and strict source routes change the destination after the filter
// decided: dropped, wherever they sit among the options. Options the kernel
// would refuse (no length byte, length < 2) are dropped too; others pass.
TEST_F(FilterVerdict, SourceRouteOptionsAreDropped) {
  auto with = [](const Bytes& opts, uint16_t dport = 22) {
    return ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .options = opts}, tcp(40000, dport));
  };
  const Bytes lsrr = {0x83, 7, 4, 10, 1, 5, 6, 0};  // via 10.1.5.6, then EOL
  const Bytes ssrr = {0x89, 7, 4, 10, 1, 5, 6, 0};
  EXPECT_FALSE(passes(with(lsrr)));
  EXPECT_FALSE(passes(with(ssrr)));
  EXPECT_FALSE(passes(with({1, 1, 1, 0x83, 7, 4, 10, 1, 5, 6, 0, 0})));   // after no-ops
  EXPECT_FALSE(passes(with({7, 7, 4, 0, 0, 0, 0, 0x89, 7, 4, 10, 1, 5, 6, 0, 0})));  // after record route
  Bytes last(40, 1);  // no-ops up to the last option: an LSRR in the final 7 bytes
  const Bytes tail = {0x83, 7, 4, 10, 1, 5, 6};
  std::copy(tail.begin(), tail.end(), last.end() - 7);
  EXPECT_FALSE(passes(with(last)));
  EXPECT_FALSE(passes(with({1, 1, 1, 0x44})));  // a timestamp option without a length byte
  EXPECT_FALSE(passes(with({0x44, 1, 0, 0})));  // length 1
  // Fine: record route, a timestamp, no-ops, end of options; and bytes
  // after the end of options are not options.
  EXPECT_TRUE(passes(with({7, 7, 4, 0, 0, 0, 0, 0})));
  EXPECT_TRUE(passes(with({0x44, 8, 5, 0, 0, 0, 0, 0})));
  EXPECT_TRUE(passes(with({0, 0x83, 7, 4})));
  EXPECT_FALSE(passes(with({7, 7, 4, 0, 0, 0, 0, 0}, 23)));  // the rules still decide
}

TEST_F(FilterVerdict, TruncatedHeadersAreDropped) {
  Bytes good = tcp_packet(kAlice, "10.1.5.5", 22);
  ASSERT_TRUE(passes(good));
  // An IP header shorter than 20 bytes: the kernel's test run refuses to
  // build such an skb (EINVAL), so that case runs on a real TUN device in
  // filter_tun_test.cpp.
  for (size_t n : {0, 10, 19}) {
    Bytes f = frame(cut(good, n));
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.data(), .data_size_in = static_cast<uint32_t>(f.size()));
    EXPECT_EQ(bpf_prog_test_run_opts(filter_->program_fd(), &opts), -EINVAL) << n;
  }
  // Total length longer than the packet, or shorter than the header.
  EXPECT_FALSE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .tot_len_override = 60}, tcp(40000, 22))));
  EXPECT_FALSE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .tot_len_override = 16}, tcp(40000, 22))));
  // L4 headers cut short (the total length says so, consistently).
  EXPECT_FALSE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5"}, cut(tcp(40000, 22), 19))));
  EXPECT_FALSE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5"}, cut(tcp(40000, 22), 4))));
  EXPECT_FALSE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .proto = IPPROTO_UDP}, cut(udp(40000, 53), 7))));
  EXPECT_FALSE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .proto = IPPROTO_UDP}, cut(udp(40000, 53), 2))));
  EXPECT_TRUE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .proto = IPPROTO_UDP}, udp(40000, 53))));
  EXPECT_FALSE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .proto = IPPROTO_ICMP}, cut(icmp(8, 0), 4))));
  EXPECT_FALSE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .proto = IPPROTO_ICMP}, cut(icmp(8, 0), 1))));
  EXPECT_TRUE(passes(ipv4(Ip{.src = kAlice, .dst = "10.1.5.5", .proto = IPPROTO_ICMP}, icmp(8, 0))));
}

TEST_F(FilterVerdict, SourceThatIsNoDeviceIsDropped) {
  EXPECT_FALSE(passes(tcp_packet("10.100.0.3", "10.1.5.5", 22)));
  EXPECT_FALSE(passes(tcp_packet("10.2.0.1", "10.2.0.2", 22)));  // a destination network as source
  EXPECT_FALSE(passes(icmp_packet("10.100.0.3", "10.1.5.5", 8)));
}

TEST_F(FilterVerdict, NonIpv4IsDropped) {
  Bytes v6(48, 0);
  v6[0] = 0x60;
  v6[6] = IPPROTO_UDP;
  EXPECT_EQ(run(v6, 0x86dd), kDrop);
  EXPECT_EQ(run(tcp_packet(kAlice, "10.1.5.5", 22), 0x0806), kDrop);  // not an IP EtherType
}

TEST_F(FilterVerdict, AttachToAMissingInterfaceIsAnError) {
  Status st = filter_->attach(0x7ffffff0);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("ifindex"), std::string::npos) << st.error().message;
  EXPECT_TRUE(filter_->detach(0x7ffffff0).ok());  // never attached: nothing to do
}

TEST_F(FilterVerdict, ApplyReplacesThePolicy) {
  FilterPlan b;
  b.devices[ip(kAlice)] = 5;                  // another ruleset id
  b.devices[ip("10.100.0.10")] = 5;           // a new device; Bob is gone
  b.rulesets[5] = {rule("10.1.0.0/16", IPPROTO_TCP, 443, 443)};
  ASSERT_TRUE(filter_->apply(b).ok());
  EXPECT_FALSE(passes(tcp_packet(kAlice, "10.1.5.5", 22)));
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.5.5", 443)));
  EXPECT_TRUE(passes(tcp_packet("10.100.0.10", "10.1.5.5", 443)));
  EXPECT_FALSE(passes(udp_packet(kBob, "10.1.5.5", 53)));
  ASSERT_TRUE(filter_->apply(standard_plan()).ok());
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.5.5", 22)));
  EXPECT_FALSE(passes(tcp_packet(kAlice, "10.1.5.5", 443)));
  EXPECT_FALSE(passes(tcp_packet("10.100.0.10", "10.1.5.5", 443)));
  EXPECT_TRUE(passes(udp_packet(kBob, "10.1.5.5", 53)));
  // Twice the same plan: nothing changes (and both buffers stay right).
  ASSERT_TRUE(filter_->apply(standard_plan()).ok());
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.5.5", 22)));
  // A plan that cannot compile leaves the active policy alone.
  FilterPlan bad = standard_plan();
  bad.rulesets[1].push_back(rule("fd00::/8", IPPROTO_TCP));
  EXPECT_FALSE(filter_->apply(bad).ok());
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.5.5", 22)));
}

// A plan with more devices than the device maps hold is refused before
// anything is written, naming the limit; the active policy stays, and a plan
// that fits applies afterwards.
TEST_F(FilterVerdict, PlanOverTheDeviceLimitIsRefusedNamingIt) {
  BpfFilterOptions o;
  o.max_devices = 2;
  auto small = BpfFilter::load(o);
  ASSERT_TRUE(small.ok()) << small.error().message;
  filter_.emplace(std::move(*small));
  ASSERT_TRUE(filter_->apply(standard_plan()).ok());  // exactly 2 devices
  FilterPlan big = standard_plan();
  big.devices[ip("10.100.0.10")] = 2;
  big.rulesets[1].push_back(rule("10.9.0.0/16", IPPROTO_TCP, 1, 1));
  Status st = filter_->apply(big);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("3 devices"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("(2, BpfFilterOptions::max_devices)"), std::string::npos) << st.error().message;
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.5.5", 22)));
  EXPECT_TRUE(passes(udp_packet(kBob, "10.1.5.5", 53)));
  EXPECT_FALSE(passes(udp_packet("10.100.0.10", "10.1.5.5", 53)));  // the refused plan's device
  EXPECT_FALSE(passes(tcp_packet(kAlice, "10.9.0.1", 1)));          // the refused plan's rule
  FilterPlan fits = big;
  fits.devices.erase(ip(kBob));
  st = filter_->apply(fits);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_TRUE(passes(udp_packet("10.100.0.10", "10.1.5.5", 53)));
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.9.0.1", 1)));
  EXPECT_FALSE(passes(udp_packet(kBob, "10.1.5.5", 53)));
}

// A plan with more rule entries than the tries hold: the same. The loader's
// record of what each copy holds stays true (a plan that fits applies
// afterwards).
TEST_F(FilterVerdict, FailedApplyLeavesTheActivePolicy) {
  BpfFilterOptions o;
  o.max_devices = 8;
  o.max_rule_entries = 8;
  auto small = BpfFilter::load(o);
  ASSERT_TRUE(small.ok()) << small.error().message;
  filter_.emplace(std::move(*small));
  ASSERT_TRUE(filter_->apply(standard_plan()).ok());
  FilterPlan big = standard_plan();
  for (uint32_t i = 0; i < 16; ++i)
    big.rulesets[1].push_back(FilterRule{Prefix(IpAddress::v4((10u << 24) | (50u << 16) | (i << 8)), 24),
                                         IPPROTO_TCP, 1, 1});
  Status st = filter_->apply(big);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("(8, BpfFilterOptions::max_rule_entries)"), std::string::npos)
      << st.error().message;
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.5.5", 22)));
  EXPECT_FALSE(passes(tcp_packet(kAlice, "10.50.3.1", 1)));
  FilterPlan b;
  b.devices[ip(kAlice)] = 3;
  b.rulesets[3] = {rule("10.50.0.0/16", IPPROTO_TCP, 1, 1)};
  st = filter_->apply(b);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.50.3.1", 1)));
  EXPECT_FALSE(passes(tcp_packet(kAlice, "10.1.5.5", 22)));
  ASSERT_TRUE(filter_->apply(standard_plan()).ok());
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.5.5", 22)));
}

// Plans A and B both allow Alice TCP 22 to 10.1.0.0/16, but through
// different ruleset ids (A: 1, B: 9, each absent from the other), so a
// packet that read Alice's device entry from one buffer and the rules from
// the other would be dropped. While apply() flips between them, no packet
// may be.
TEST_F(FilterVerdict, NoLookupMissesWhileFlipping) {
  FilterPlan a = standard_plan();
  FilterPlan b;
  b.devices[ip(kAlice)] = 9;
  b.rulesets[9] = {rule("10.1.0.0/16", IPPROTO_TCP, 22, 22), rule("10.7.0.0/16", IPPROTO_UDP, 1, 9)};
  std::atomic<bool> done{false};
  std::atomic<int> flips{0};
  Status failed;
  std::thread flipper([&] {
    for (int i = 0; i < 60 && failed.ok(); ++i) {
      failed = filter_->apply(i % 2 ? a : b);
      flips++;
    }
    done = true;
  });
  Bytes f = frame(tcp_packet(kAlice, "10.1.5.5", 22));
  long runs = 0, drops = 0;
  while (!done) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.data(), .data_size_in = static_cast<uint32_t>(f.size()),
                .repeat = 50);
    // With repeat, retval is the last run's; a drop in the middle shows in
    // the per-source counters below.
    ASSERT_EQ(bpf_prog_test_run_opts(filter_->program_fd(), &opts), 0);
    runs += 50;
    if (opts.retval != kPass) ++drops;
  }
  flipper.join();
  ASSERT_TRUE(failed.ok()) << failed.error().message;
  EXPECT_EQ(flips.load(), 60);
  EXPECT_EQ(drops, 0);
  auto c = filter_->counters();
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->at(ip(kAlice)).drop_packets, 0u);
  EXPECT_EQ(c->at(ip(kAlice)).pass_packets, static_cast<uint64_t>(runs));
  EXPECT_GT(runs, 1000) << "too few packets ran during the flips to mean anything";
}

TEST_F(FilterVerdict, FirstPacketOfAFlowIsReportedOnce) {
  events();  // nothing queued yet, but be sure
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.5.5", 22, 40001)));
  auto e = events();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_TRUE(e[0].allowed);
  EXPECT_EQ(e[0].src, ip(kAlice));
  EXPECT_EQ(e[0].dst, ip("10.1.5.5"));
  EXPECT_EQ(e[0].proto, IPPROTO_TCP);
  EXPECT_EQ(e[0].sport, 40001);
  EXPECT_EQ(e[0].dport, 22);
  EXPECT_EQ(e[0].reason, WGATE_REASON_RULE);
  EXPECT_EQ(e[0].ifindex, kNoSuchIfindex);
  EXPECT_GT(e[0].monotonic_ns, 0u);
  EXPECT_LT(std::chrono::abs(std::chrono::system_clock::now() - e[0].time), std::chrono::seconds(5));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.5.5", 22, 40001)));
  EXPECT_TRUE(events().empty());
  // Another source port is another flow; so is ICMP echo (dport = type << 8).
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.5.5", 22, 40002)));
  EXPECT_TRUE(passes(icmp_packet(kAlice, "10.1.5.5", 8)));
  e = events();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].sport, 40002);
  EXPECT_EQ(e[1].proto, IPPROTO_ICMP);
  EXPECT_EQ(e[1].dport, 8 << 8);
}

TEST_F(FilterVerdict, DenialsAreReportedRateLimitedPerSource) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(passes(tcp_packet(kAlice, "10.1.5.5", 23, uint16_t(41000 + i))));
  for (int i = 0; i < 30; ++i) EXPECT_FALSE(passes(tcp_packet("10.100.0.77", "10.1.5.5", 22)));
  auto e = events();
  int alice = 0, stranger = 0;
  for (const auto& ev : e) {
    EXPECT_FALSE(ev.allowed);
    if (ev.src == ip(kAlice)) {
      ++alice;
      EXPECT_EQ(ev.reason, WGATE_REASON_PROTO_PORT);
      EXPECT_EQ(ev.dport, 23);
    } else if (ev.src == ip("10.100.0.77")) {
      ++stranger;
      EXPECT_EQ(ev.reason, WGATE_REASON_NO_DEVICE);
    }
  }
  // Every denial not reported is counted as lost.
  auto lost = filter_->event_losses();
  ASSERT_TRUE(lost.ok()) << lost.error().message;
  EXPECT_EQ(lost->deny_rate_limited, static_cast<uint64_t>(130 - alice - stranger));
  EXPECT_EQ(lost->deny_ring_full, 0u);
  // 10 per source and second (the default). The packets take a few ms; on
  // a machine so loaded that they took longer, each started second may add
  // up to 10 more.
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0);
  if (seconds.count() == 0) {
    EXPECT_EQ(alice, 10);
    EXPECT_EQ(stranger, 10);
  } else {
    EXPECT_GE(alice, 10);
    EXPECT_LE(alice, 10 * (seconds.count() + 1));
    EXPECT_GE(stranger, 10);
    EXPECT_LE(stranger, 10 * (seconds.count() + 1));
  }
}

// Each new allowed flow may be a new event (a client allowed one UDP port
// can send every packet from a new source port): at most
// flow_events_per_sec are reported per source and second. The rest pass,
// are remembered (not reported later as new) and counted as lost; another
// source keeps its own budget.
TEST_F(FilterVerdict, NewFlowEventsAreRateLimitedPerSource) {
  BpfFilterOptions o;
  o.flow_events_per_sec = 5;
  auto f = BpfFilter::load(o);
  ASSERT_TRUE(f.ok()) << f.error().message;
  filter_.emplace(std::move(*f));
  ASSERT_TRUE(filter_->apply(standard_plan()).ok());
  const auto t0 = std::chrono::steady_clock::now();
  for (uint16_t i = 0; i < 6; ++i) EXPECT_TRUE(passes(udp_packet(kAlice, "10.1.5.5", 53, uint16_t(42000 + i))));
  EXPECT_TRUE(passes(udp_packet(kBob, "10.1.5.5", 53, 42000)));
  // The sixth flow again: known now, so neither reported nor lost.
  EXPECT_TRUE(passes(udp_packet(kAlice, "10.1.5.5", 53, 42005)));
  const bool within_a_second = std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(900);
  auto e = events();
  int alice = 0, bob = 0;
  for (const auto& ev : e) {
    EXPECT_TRUE(ev.allowed);
    (ev.src == ip(kAlice) ? alice : bob) += 1;
  }
  EXPECT_EQ(bob, 1);
  auto lost = filter_->event_losses();
  ASSERT_TRUE(lost.ok()) << lost.error().message;
  EXPECT_EQ(static_cast<uint64_t>(alice) + lost->flow_rate_limited, 6u);  // each flow: reported or counted
  if (within_a_second) {
    EXPECT_EQ(alice, 5);
    EXPECT_EQ(lost->flow_rate_limited, 1u);
  }
  EXPECT_EQ(lost->flow_ring_full, 0u);
  EXPECT_EQ(lost->deny_rate_limited, 0u);
  EXPECT_EQ(lost->deny_ring_full, 0u);
  auto c = filter_->counters();
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->at(ip(kAlice)).pass_packets, 7u);  // every packet counted, reported or not
}

// When user space does not drain the ring, it fills: events beyond are
// lost and counted as such, by verdict.
TEST_F(FilterVerdict, EventsBeyondAFullRingAreCountedAsLost) {
  BpfFilterOptions o;
  o.flow_events_per_sec = 1000000;  // the budget never stops them: only the ring does
  auto f = BpfFilter::load(o);
  ASSERT_TRUE(f.ok()) << f.error().message;
  filter_.emplace(std::move(*f));
  ASSERT_TRUE(filter_->apply(standard_plan()).ok());
  // 1 MiB ring, 32-byte events plus an 8-byte header: 26,214 fit.
  constexpr int kFlows = 30000;
  for (int i = 0; i < kFlows; ++i) ASSERT_EQ(run(udp_packet(kAlice, "10.2.0.1", 9, uint16_t(10000 + i))), kPass);
  auto lost = filter_->event_losses();
  ASSERT_TRUE(lost.ok()) << lost.error().message;
  EXPECT_GT(lost->flow_ring_full, 0u);
  EXPECT_EQ(lost->flow_rate_limited, 0u);
  const auto reported = events().size();
  EXPECT_EQ(reported + lost->flow_ring_full, static_cast<uint64_t>(kFlows));
  EXPECT_LT(reported, static_cast<size_t>(kFlows));
  // Drained: room again.
  EXPECT_TRUE(passes(udp_packet(kAlice, "10.2.0.3", 9)));
  EXPECT_EQ(events().size(), 1u);
  auto after = filter_->event_losses();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->flow_ring_full, lost->flow_ring_full);
}

// The fd of the program's map named `name` (found through the program's
// map ids), or -1.
int program_map_fd(int prog_fd, const char* name) {
  bpf_prog_info info{};
  uint32_t ids[32] = {};
  info.nr_map_ids = 32;
  info.map_ids = reinterpret_cast<uint64_t>(ids);
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len)) return -1;
  for (uint32_t i = 0; i < info.nr_map_ids && i < 32; ++i) {
    int fd = bpf_map_get_fd_by_id(ids[i]);
    if (fd < 0) continue;
    bpf_map_info mi{};
    uint32_t mlen = sizeof(mi);
    if (bpf_obj_get_info_by_fd(fd, &mi, &mlen) == 0 && std::string(mi.name) == name) return fd;
    close(fd);
  }
  return -1;
}

// Another CPU may store a later time than this packet's: such a time is
// recent (compared as signed), not an age of 584 years that would report
// the flow as new again.
TEST_F(FilterVerdict, ATimeFromAnotherCpuAheadOfThisOneIsRecent) {
  const int flows = program_map_fd(filter_->program_fd(), "flows");
  ASSERT_GE(flows, 0) << "the program's flows map";
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const uint64_t later = (uint64_t(ts.tv_sec) + 5) * 1000000000ull + uint64_t(ts.tv_nsec);
  wgate_flow_key k{};
  std::memcpy(&k.src, ip(kAlice).bytes(), 4);  // network order
  std::memcpy(&k.dst, ip("10.1.5.5").bytes(), 4);
  k.sport = 40007;
  k.dport = 22;
  k.proto = IPPROTO_TCP;
  ASSERT_EQ(bpf_map_update_elem(flows, &k, &later, BPF_ANY), 0) << strerror(errno);
  close(flows);
  EXPECT_TRUE(passes(tcp_packet(kAlice, "10.1.5.5", 22, 40007)));
  EXPECT_TRUE(events().empty()) << "a flow last seen 'in the future' was reported as new";
}

// A flow quiet for flow_idle is reported again; the denial window opens
// again after a second.
TEST_F(FilterVerdict, IdleFlowsAndDenialWindowsStartOver) {
  BpfFilterOptions o;
  o.flow_idle = std::chrono::seconds(1);
  o.deny_events_per_sec = 2;
  auto f = BpfFilter::load(o);
  ASSERT_TRUE(f.ok()) << f.error().message;
  filter_.emplace(std::move(*f));
  ASSERT_TRUE(filter_->apply(standard_plan()).ok());
  Bytes ok = tcp_packet(kAlice, "10.1.5.5", 22), no = tcp_packet(kAlice, "10.1.5.5", 23);
  auto count = [](const std::vector<FlowEvent>& e, bool allowed) {
    return std::count_if(e.begin(), e.end(), [&](const FlowEvent& x) { return x.allowed == allowed; });
  };
  passes(ok);
  passes(ok);
  for (int i = 0; i < 5; ++i) passes(no);
  auto e = events();
  EXPECT_EQ(count(e, true), 1);
  EXPECT_EQ(count(e, false), 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  passes(ok);
  for (int i = 0; i < 5; ++i) passes(no);
  e = events();
  EXPECT_EQ(count(e, true), 1);
  EXPECT_EQ(count(e, false), 2);
}

TEST_F(FilterVerdict, CountersPerSource) {
  Bytes ok = tcp_packet(kAlice, "10.1.5.5", 22), no = tcp_packet(kAlice, "10.1.5.5", 23);
  for (int i = 0; i < 3; ++i) passes(ok);
  for (int i = 0; i < 2; ++i) passes(no);
  passes(tcp_packet("10.100.0.77", "10.1.5.5", 22));  // no device: not counted
  auto c = filter_->counters();
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->count(ip(kAlice)), 1u);
  EXPECT_EQ(c->at(ip(kAlice)).pass_packets, 3u);
  EXPECT_EQ(c->at(ip(kAlice)).pass_bytes, 3 * ok.size());
  EXPECT_EQ(c->at(ip(kAlice)).drop_packets, 2u);
  EXPECT_EQ(c->at(ip(kAlice)).drop_bytes, 2 * no.size());
  EXPECT_EQ(c->count(ip("10.100.0.77")), 0u);
}

// The program against the brute-force reference on random policies and
// packets (first fragments and whole datagrams).
TEST_F(FilterVerdict, AgreesWithBruteForceOnRandomPolicies) {
  int checked = 0;
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    RandomPolicy gen(seed);
    FilterPlan plan = gen.plan(16, 6, 24);
    if (!filter_->apply(plan).ok()) continue;  // over the range limit
    for (int q = 0; q < 200; ++q) {
      auto dev = std::next(plan.devices.begin(), gen.below(static_cast<uint32_t>(plan.devices.size())));
      IpAddress dst = gen.destination_near(plan, dev->second);
      uint8_t proto = gen.proto();
      uint16_t port = gen.port();
      const std::string s = dev->first.to_string(), d = dst.to_string();
      Bytes l4 = proto == IPPROTO_TCP ? tcp(40000, port)
                 : proto == IPPROTO_UDP ? udp(40000, port)
                 : proto == IPPROTO_ICMP ? icmp(8, 0)
                                         : Bytes(8, 0);
      Bytes pkt = ipv4(Ip{.src = s, .dst = d, .proto = proto}, l4);
      ASSERT_EQ(passes(pkt), reference_allows(plan, dev->first, dst, proto, port))
          << "seed " << seed << " " << s << " -> " << d << " proto " << int(proto) << " port " << port;
      ++checked;
    }
  }
  EXPECT_GT(checked, 3000);
}

}  // namespace
}  // namespace wgate
