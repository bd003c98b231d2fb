#include "noise/initiation.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace wgate::noise {
namespace {

WgKey must_key() {
  auto k = WgKey::generate_private();
  EXPECT_TRUE(k.ok());
  return k.ok() ? *k : WgKey();
}
WgKey pub(const WgKey& k) {
  auto p = k.public_key();
  EXPECT_TRUE(p.ok());
  return p.ok() ? *p : WgKey();
}

const std::array<uint8_t, 12> kStamp = {0x40, 0, 0, 0, 0x69, 0x12, 0x34, 0x56, 0, 0, 0, 7};

TEST(NoiseInitiation, ReadsWhatAnInitiatorWrote) {
  const WgKey initiator = must_key(), responder = must_key(), ephemeral = must_key();
  auto m = make_initiation(initiator, pub(responder), ephemeral, 0xA1B2C3D4, kStamp);
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto r = read_initiation(*m, responder);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->ok) << to_string(r->rejection);
  EXPECT_EQ(r->initiation.initiator_static, pub(initiator));
  EXPECT_EQ(r->initiation.sender_index, 0xA1B2C3D4u);
  EXPECT_EQ(r->initiation.timestamp, kStamp);
}

TEST(NoiseInitiation, AnotherRespondersMessageFailsAtMac1) {
  const WgKey initiator = must_key(), responder = must_key(), other = must_key(), ephemeral = must_key();
  auto m = make_initiation(initiator, pub(responder), ephemeral, 1, kStamp);
  ASSERT_TRUE(m.ok());
  auto r = read_initiation(*m, other);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->rejection, Rejection::bad_mac1);
}

TEST(NoiseInitiation, EveryFlippedByteIsRefusedAndMac1GuardsTheRest) {
  const WgKey initiator = must_key(), responder = must_key(), ephemeral = must_key();
  auto m = make_initiation(initiator, pub(responder), ephemeral, 1, kStamp);
  ASSERT_TRUE(m.ok());
  for (size_t i = 0; i < 132; ++i) {  // mac2 (the cookie MAC) is not checked here
    auto bad = *m;
    bad[i] ^= 0x01;
    auto r = read_initiation(bad, responder);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->ok) << "byte " << i;
    if (i < 4) {
      EXPECT_EQ(r->rejection, Rejection::not_an_initiation) << i;
    } else {
      EXPECT_EQ(r->rejection, Rejection::bad_mac1) << i;
    }
  }
}

TEST(NoiseInitiation, ATamperedPayloadWithAValidMac1DoesNotDecrypt) {
  // Someone who knows the gateway's public key can make mac1 right; the
  // AEAD still refuses what they changed.
  const WgKey initiator = must_key(), responder = must_key(), ephemeral = must_key();
  auto m = make_initiation(initiator, pub(responder), ephemeral, 1, kStamp);
  ASSERT_TRUE(m.ok());
  for (size_t at : {size_t{8}, size_t{40}, size_t{70}, size_t{88}, size_t{115}}) {
    auto bad = *m;
    bad[at] ^= 0x80;
    auto mac1 = compute_mac1(pub(responder), bad);
    ASSERT_TRUE(mac1.ok());
    std::copy(mac1->begin(), mac1->end(), bad.begin() + 116);
    auto r = read_initiation(bad, responder);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->ok) << "byte " << at;
    EXPECT_EQ(r->rejection, Rejection::undecryptable) << "byte " << at;
  }
}

TEST(NoiseInitiation, OtherMessagesAreNotInitiations) {
  const WgKey responder = must_key();
  for (size_t size : {size_t{0}, size_t{1}, size_t{92}, size_t{147}, size_t{149}, size_t{1500}}) {
    std::vector<uint8_t> m(size, 0);
    if (!m.empty()) m[0] = 1;
    auto r = read_initiation(m, responder);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->rejection, Rejection::not_an_initiation) << size;
  }
  std::vector<uint8_t> response(kInitiationSize, 0);
  response[0] = 2;  // a handshake response of the wrong size is still no initiation
  EXPECT_EQ(read_initiation(response, responder)->rejection, Rejection::not_an_initiation);
}

TEST(NoiseInitiation, ALowOrderEphemeralIsRefusedNotCrashed) {
  const WgKey initiator = must_key(), responder = must_key(), ephemeral = must_key();
  auto m = make_initiation(initiator, pub(responder), ephemeral, 1, kStamp);
  ASSERT_TRUE(m.ok());
  auto bad = *m;
  std::fill(bad.begin() + 8, bad.begin() + 40, 0);  // the all-zero point
  auto mac1 = compute_mac1(pub(responder), bad);
  ASSERT_TRUE(mac1.ok());
  std::copy(mac1->begin(), mac1->end(), bad.begin() + 116);
  auto r = read_initiation(bad, responder);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rejection, Rejection::undecryptable);
}

// A Responder keeps one keyed MAC context for every message: each check
// must give what a fresh computation gives, for its own messages and for
// foreign ones in any order (a context that kept state between messages
// would fail here).
TEST(NoiseResponder, Mac1AndReadAgreeWithTheOneShotFunctions) {
  const WgKey responder_key = must_key(), other = must_key();
  auto responder = Responder::create(responder_key);
  ASSERT_TRUE(responder.ok()) << responder.error().message;
  EXPECT_EQ(responder->public_key(), pub(responder_key));
  for (int i = 0; i < 20; ++i) {
    const WgKey initiator = must_key();
    const bool mine = i % 3 != 1;
    auto m = make_initiation(initiator, mine ? pub(responder_key) : pub(other), must_key(), static_cast<uint32_t>(i),
                             encode_tai64n({1700000000 + i, 0}));
    ASSERT_TRUE(m.ok());
    if (i % 5 == 4) (*m)[30] ^= 1;  // a bit flipped: mac1 no longer right
    auto fresh = compute_mac1(pub(responder_key), *m);
    ASSERT_TRUE(fresh.ok());
    const bool want = std::equal(fresh->begin(), fresh->end(), m->begin() + 116);
    EXPECT_EQ(want, mine && i % 5 != 4) << i;
    auto got = responder->mac1_matches(*m);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(*got, want) << i;
    auto read = responder->read(*m);
    auto once = read_initiation(*m, responder_key);
    ASSERT_TRUE(read.ok() && once.ok());
    EXPECT_EQ(read->ok, once->ok) << i;
    EXPECT_EQ(read->ok, want) << i;
    if (read->ok) {
      EXPECT_EQ(read->initiation.initiator_static, pub(initiator));
      EXPECT_EQ(decode_tai64n(read->initiation.timestamp)->unix_seconds, 1700000000 + i);
    }
  }
  // Not an initiation at all: no mac1 to check.
  std::vector<uint8_t> short_one(100, 1);
  EXPECT_FALSE(*responder->mac1_matches(short_one));
}

TEST(NoiseTai64n, DecodesWhatWireGuardWrites) {
  // 2026-12-01 13:30:00 UTC = 1796131800; label 0x400000000000000a + that.
  const std::array<uint8_t, 12> stamp = {0x40, 0, 0, 0, 0x6b, 0x0e, 0xcb, 0xe2, 0x01, 0, 0, 0};
  auto t = decode_tai64n(stamp);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->unix_seconds, 1796131800);
  EXPECT_EQ(t->nanoseconds, 1u << 24);
  EXPECT_EQ(encode_tai64n(*t), stamp);
  // The order of the bytes is the order of the times.
  EXPECT_LT(encode_tai64n({100, 999999999}), encode_tai64n({101, 0}));
  EXPECT_LT(*decode_tai64n(encode_tai64n({100, 5})), *decode_tai64n(encode_tai64n({100, 6})));
}

TEST(NoiseTai64n, RefusesWhatNoClientSends) {
  EXPECT_FALSE(decode_tai64n({}).has_value());  // label 0: long before 1970
  auto before_1970 = encode_tai64n({0, 0});
  before_1970[7] -= 1;  // label 2^62 + 9
  EXPECT_FALSE(decode_tai64n(before_1970).has_value());
  EXPECT_EQ(decode_tai64n(encode_tai64n({0, 0}))->unix_seconds, 0);
  auto nanos = encode_tai64n({1, 0});
  nanos[8] = 0x3b, nanos[9] = 0x9a, nanos[10] = 0xca, nanos[11] = 0x00;  // 10^9
  EXPECT_FALSE(decode_tai64n(nanos).has_value());
  std::array<uint8_t, 12> huge{};
  std::fill(huge.begin(), huge.begin() + 8, 0xff);
  EXPECT_FALSE(decode_tai64n(huge).has_value());
}

// --- a real wireguard-go initiates --------------------------------------------

int run(const std::string& cmd) { return std::system(cmd.c_str()); }

// In a forked child, in a network namespace of its own: a wireguard-go
// interface with `initiator` whose one peer (`responder_public`) is at
// 127.0.0.1:port, a UDP socket bound there, and one datagram into the
// tunnel, which makes wireguard-go send a handshake initiation to the
// socket. The child writes what the socket received to `out_fd`.
void capture_in_child(const WgKey& initiator, const WgKey& responder_public, int out_fd, const std::string& ifname) {
  if (::unshare(CLONE_NEWNET) != 0) _exit(10);
  if (run("ip link set lo up") != 0) _exit(11);
  const std::string dir = "/tmp/" + ifname;
  run("rm -rf " + dir + " && mkdir -p " + dir);
  {
    std::ofstream key(dir + "/key");
    key << initiator.to_base64() << "\n";
  }
  int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  at.sin_port = 0;
  socklen_t len = sizeof at;
  if (udp < 0 || ::bind(udp, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 ||
      ::getsockname(udp, reinterpret_cast<sockaddr*>(&at), &len) != 0) {
    _exit(12);
  }
  pid_t wg = ::fork();
  if (wg == 0) {
    int null = ::open("/dev/null", O_WRONLY);  // its banner and log, not the test's output
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execl("/usr/bin/wireguard-go", "wireguard-go", "-f", ifname.c_str(), static_cast<char*>(nullptr));
    _exit(13);
  }
  int status = 14;
  for (int i = 0; i < 100 && run("wg show " + ifname + " >/dev/null 2>&1") != 0; ++i) ::usleep(50000);
  if (run("wg set " + ifname + " private-key " + dir + "/key peer " + responder_public.to_base64() +
          " endpoint 127.0.0.1:" + std::to_string(ntohs(at.sin_port)) + " allowed-ips 10.99.0.2/32") == 0 &&
      run("ip addr add 10.99.0.1/24 dev " + ifname + " && ip link set " + ifname + " up") == 0) {
    int probe = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    ::inet_pton(AF_INET, "10.99.0.2", &to.sin_addr);
    (void)::sendto(probe, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    pollfd p{udp, POLLIN, 0};
    std::vector<uint8_t> buf(2048);
    if (::poll(&p, 1, 5000) == 1) {
      ssize_t n = ::recv(udp, buf.data(), buf.size(), 0);
      if (n > 0 && ::write(out_fd, buf.data(), static_cast<size_t>(n)) == n) status = 0;
    }
  }
  ::kill(wg, SIGTERM);
  ::waitpid(wg, nullptr, 0);
  run("rm -rf " + dir + " /var/run/wireguard/" + ifname + ".sock");
  _exit(status);
}

TEST(NoiseInitiation, ReadsAnInitiationFromARealWireguardGo) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (a network namespace and a TUN device)";
  if (::access("/usr/bin/wireguard-go", X_OK) != 0) GTEST_SKIP() << "wireguard-go is not installed";
  const WgKey initiator = must_key(), responder = must_key();
  const std::string ifname = "wgnz" + std::to_string(::getpid() % 100000);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    capture_in_child(initiator, pub(responder), fds[1], ifname);
  }
  ::close(fds[1]);
  std::vector<uint8_t> got(2048);
  size_t total = 0;
  ssize_t n;
  while ((n = ::read(fds[0], got.data() + total, got.size() - total)) > 0) total += static_cast<size_t>(n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "capture failed, status " << status;
  got.resize(total);
  ASSERT_EQ(got.size(), kInitiationSize);
  auto r = read_initiation(got, responder);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->ok) << to_string(r->rejection);
  EXPECT_EQ(r->initiation.initiator_static, pub(initiator));
  // Its TAI64N timestamp is the client's wall clock now, decoded with the
  // 2^62 + 10 epoch (a wrong offset would be 10 s off), the nanoseconds
  // rounded down to a multiple of 2^24 as wireguard-go does.
  const int64_t before = ::time(nullptr);
  auto stamp = decode_tai64n(r->initiation.timestamp);
  ASSERT_TRUE(stamp.has_value());
  EXPECT_LE(stamp->unix_seconds, before + 1);
  EXPECT_GE(stamp->unix_seconds, before - 5);
  EXPECT_EQ(stamp->nanoseconds % (1u << 24), 0u) << stamp->nanoseconds;
  // And a gateway that is not its peer sees only a foreign mac1.
  auto other = read_initiation(got, must_key());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->rejection, Rejection::bad_mac1);
}

}  // namespace
}  // namespace wgate::noise
