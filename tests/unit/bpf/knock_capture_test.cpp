// The handshake capture program (bpf/knock.bpf.c): which packets it copies,
// through BPF_PROG_TEST_RUN on crafted frames, and, on loopback in a private
// network namespace, that a real initiation is copied once while the UDP
// socket behind the port still gets it. Needs root; skipped otherwise.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>

#include "dataplane/initiation_capture.h"
#include "packet.h"

namespace wgate {
namespace {

using namespace bpf::testing;

constexpr uint16_t kPort = 51820;

Bytes initiation(uint8_t type = 1, size_t size = 148) {
  Bytes m(size, 0xab);
  if (size >= 4) {
    m[0] = type;
    m[1] = m[2] = m[3] = 0;
  }
  return m;
}

Bytes udp_with(uint16_t sport, uint16_t dport, const Bytes& payload) {
  Bytes u = udp(sport, dport, payload.size());
  std::copy(payload.begin(), payload.end(), u.begin() + 8);
  return u;
}

Bytes ipv4_udp(const std::string& src, const std::string& dst, uint16_t dport, const Bytes& payload,
               uint16_t frag_offset = 0, bool more = false) {
  Ip ip{src, dst, IPPROTO_UDP};
  ip.frag_offset = frag_offset;
  ip.more_fragments = more;
  return ipv4(ip, udp_with(40000, dport, payload));
}

Bytes ipv6_udp(const std::string& src, const std::string& dst, uint16_t dport, const Bytes& payload,
               uint8_t next = IPPROTO_UDP) {
  Bytes u = udp_with(40000, dport, payload);
  Bytes b(40, 0);
  b[0] = 0x60;
  put16(b, 4, static_cast<uint16_t>(u.size()));
  b[6] = next;
  b[7] = 64;
  inet_pton(AF_INET6, src.c_str(), &b[8]);
  inet_pton(AF_INET6, dst.c_str(), &b[24]);
  b.insert(b.end(), u.begin(), u.end());
  return b;
}

class KnockCaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs (BPF_PROG_TEST_RUN)";
    InitiationCaptureOptions o;
    o.open_sockets = false;
    o.events_per_sec = 4;
    auto c = InitiationCapture::open(o);
    ASSERT_TRUE(c.ok()) << c.error().message;
    capture_.emplace(std::move(*c));
    ASSERT_TRUE(capture_->set_ports({kPort, 51821}).ok());
  }

  // Runs the program on `l3` in an Ethernet frame; returns what it returned
  // (the bytes the socket would queue).
  uint32_t run(const Bytes& l3, uint16_t ethertype = 0x0800) {
    Bytes f = frame(l3, ethertype);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.data(), .data_size_in = static_cast<uint32_t>(f.size()));
    int err = bpf_prog_test_run_opts(capture_->program_fd(), &opts);
    EXPECT_EQ(err, 0);
    return opts.retval;
  }

  std::vector<CapturedInitiation> drain() {
    auto r = capture_->wait(std::chrono::milliseconds(0));
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : std::vector<CapturedInitiation>{};
  }

  std::optional<InitiationCapture> capture_;
};

TEST_F(KnockCaptureTest, CopiesAnIpv4Initiation) {
  Bytes m = initiation();
  for (size_t i = 4; i < m.size(); ++i) m[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(run(ipv4_udp("198.51.100.7", "203.0.113.1", kPort, m)), 0u);  // nothing queued on the socket
  auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].src.to_string(), "198.51.100.7");
  EXPECT_EQ(got[0].dst.to_string(), "203.0.113.1");
  EXPECT_EQ(got[0].sport, 40000);
  EXPECT_EQ(got[0].dport, kPort);
  EXPECT_NE(got[0].ifindex, 0u);
  EXPECT_GT(got[0].monotonic_ns, 0u);
  EXPECT_TRUE(std::equal(m.begin(), m.end(), got[0].message.begin()));
}

TEST_F(KnockCaptureTest, CopiesAnIpv6Initiation) {
  EXPECT_EQ(run(ipv6_udp("2001:db8::7", "2001:db8::1", 51821, initiation()), 0x86DD), 0u);
  auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].src.to_string(), "2001:db8::7");
  EXPECT_EQ(got[0].dst.to_string(), "2001:db8::1");
  EXPECT_EQ(got[0].dport, 51821);
}

TEST_F(KnockCaptureTest, LeavesEverythingElse) {
  const std::string a = "198.51.100.7", b = "203.0.113.1";
  struct Case {
    const char* what;
    Bytes l3;
    uint16_t ethertype;
  };
  Bytes reserved = initiation();
  reserved[2] = 1;
  const Case cases[] = {
      {"147 bytes", ipv4_udp(a, b, kPort, initiation(1, 147)), 0x0800},
      {"149 bytes", ipv4_udp(a, b, kPort, initiation(1, 149)), 0x0800},
      {"a handshake response (type 2, 92 bytes)", ipv4_udp(a, b, kPort, initiation(2, 92)), 0x0800},
      {"type 2 at 148 bytes", ipv4_udp(a, b, kPort, initiation(2)), 0x0800},
      {"type 4 (data) at 148 bytes", ipv4_udp(a, b, kPort, initiation(4)), 0x0800},
      {"reserved byte set", ipv4_udp(a, b, kPort, reserved), 0x0800},
      {"another port", ipv4_udp(a, b, 51822, initiation()), 0x0800},
      {"a first fragment", ipv4_udp(a, b, kPort, initiation(), 0, true), 0x0800},
      {"a later fragment", ipv4_udp(a, b, kPort, initiation(), 3, false), 0x0800},
      {"TCP", ipv4(Ip{a, b, IPPROTO_TCP}, tcp(40000, kPort)), 0x0800},
      {"IPv6 another port", ipv6_udp("2001:db8::7", "2001:db8::1", 9, initiation()), 0x86DD},
      {"IPv6 behind an extension header", ipv6_udp("2001:db8::7", "2001:db8::1", kPort, initiation(), 0), 0x86DD},
      {"UDP length lies (claims 148, has 100)", cut(ipv4_udp(a, b, kPort, initiation()), 20 + 8 + 100), 0x0800},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(run(c.l3, c.ethertype), 0u) << c.what;
    EXPECT_EQ(drain().size(), 0u) << c.what;
  }
}

TEST_F(KnockCaptureTest, RateLimitedPerSource) {
  for (int i = 0; i < 10; ++i) run(ipv4_udp("198.51.100.7", "203.0.113.1", kPort, initiation()));
  for (int i = 0; i < 2; ++i) run(ipv4_udp("198.51.100.8", "203.0.113.1", kPort, initiation()));
  auto got = drain();
  size_t first = 0, second = 0;
  for (const auto& g : got) (g.src.to_string() == "198.51.100.7" ? first : second)++;
  EXPECT_EQ(first, 4u);  // events_per_sec
  EXPECT_EQ(second, 2u);
  auto n = capture_->counters();
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(n->copied, 6u);
  EXPECT_EQ(n->source_limited, 6u);
  EXPECT_EQ(n->global_limited, 0u);
  EXPECT_EQ(n->ring_full, 0u);
}

// Spoofed sources each get their own budget; the cap over all of them
// bounds what user space gets to check.
TEST_F(KnockCaptureTest, RateLimitedOverAllSources) {
  InitiationCaptureOptions o;
  o.open_sockets = false;
  o.events_per_sec = 4;
  o.events_total_per_sec = 10;
  auto c = InitiationCapture::open(o);
  ASSERT_TRUE(c.ok()) << c.error().message;
  capture_.emplace(std::move(*c));
  ASSERT_TRUE(capture_->set_ports({kPort}).ok());
  // 40 sources, 2 each: every one within its own budget.
  for (int i = 0; i < 40; ++i) {
    const std::string src = "198.51.100." + std::to_string(10 + i);
    for (int j = 0; j < 2; ++j) EXPECT_EQ(run(ipv4_udp(src, "203.0.113.1", kPort, initiation())), 0u);
  }
  // Traffic to other ports is not counted at all.
  run(ipv4_udp("198.51.100.9", "203.0.113.1", 9, initiation()));
  EXPECT_EQ(drain().size(), 10u);
  auto n = capture_->counters();
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(n->copied, 10u);
  EXPECT_EQ(n->global_limited, 70u);
  EXPECT_EQ(n->source_limited, 0u);
}

TEST_F(KnockCaptureTest, PortsFollowSetPorts) {
  ASSERT_TRUE(capture_->set_ports({9999}).ok());
  run(ipv4_udp("198.51.100.7", "203.0.113.1", kPort, initiation()));
  EXPECT_EQ(drain().size(), 0u);
  run(ipv4_udp("198.51.100.7", "203.0.113.1", 9999, initiation()));
  EXPECT_EQ(drain().size(), 1u);
}

// In a forked child in a fresh network namespace: the real sockets on
// loopback. The UDP socket still receives the initiation (the capture is
// never in the packet path), and the ring holds it exactly once (loopback
// shows a packet leaving and arriving; only arrivals count).
TEST(KnockCaptureNetns, RealInitiationStillReachesTheSocket) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespace, BPF)";
  std::fflush(stdout);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto fail = [](const char* what) {
      std::fprintf(stderr, "child: %s (%s)\n", what, std::strerror(errno));
      _exit(1);
    };
    if (unshare(CLONE_NEWNET) != 0) fail("unshare");
    if (std::system("ip link set lo up") != 0) fail("lo up");
    auto c = InitiationCapture::open();
    if (!c) {
      std::fprintf(stderr, "child: %s\n", c.error().message.c_str());
      _exit(1);
    }
    if (!c->set_ports({kPort})) fail("set_ports");
    int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(kPort);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(rx, reinterpret_cast<sockaddr*>(&to), sizeof(to))) fail("bind");
    Bytes m = initiation();
    if (sendto(tx, m.data(), m.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 148) fail("sendto");
    Bytes other(60, 1);  // not an initiation, same port
    if (sendto(tx, other.data(), other.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 60) fail("sendto");
    uint8_t buf[512];
    timeval tv{2, 0};
    setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (recv(rx, buf, sizeof buf, 0) != 148 || std::memcmp(buf, m.data(), 148) != 0) fail("the initiation did not arrive");
    if (recv(rx, buf, sizeof buf, 0) != 60) fail("the other datagram did not arrive");
    size_t seen = 0;
    for (int i = 0; i < 5; ++i) {
      auto got = c->wait(std::chrono::milliseconds(100));
      if (!got) fail("wait");
      seen += got->size();
      for (const auto& g : *got) {
        if (g.dport != kPort || g.src.to_string() != "127.0.0.1") fail("wrong event");
      }
    }
    if (seen != 1) {
      std::fprintf(stderr, "child: %zu events, want 1\n", seen);
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see the child's message above";
}

}  // namespace
}  // namespace wgate
