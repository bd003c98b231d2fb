// Message-level tests of the WireGuard generic netlink codec. Expected bytes
// are written out by hand from the layout in <linux/wireguard.h>: nlmsghdr
// (16 bytes), genlmsghdr (4), then nlattrs (4-byte header + payload padded
// to 4; nests carry NLA_F_NESTED). Netlink integers are in host order; the
// literals below are little-endian, as on every platform wgate targets.
#include "netlink/wg_genl.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <sys/socket.h>

#include <bit>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "netlink/socket.h"

namespace wgate::netlink {
namespace {

static_assert(std::endian::native == std::endian::little, "hand-built buffers below are little-endian");

using Bytes = std::vector<uint8_t>;
using ::testing::HasSubstr;

constexpr uint16_t kFamily = 0x1b;

WgKey key_with_seed(uint32_t seed) {
  std::array<uint8_t, 32> b{};
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(seed + i);
  // Make keys of different seeds differ even when seed+i wraps alike.
  b[0] = static_cast<uint8_t>(seed);
  b[1] = static_cast<uint8_t>(seed >> 8);
  b[2] = static_cast<uint8_t>(seed >> 16);
  return WgKey(b);
}

Prefix pfx(const std::string& text) {
  auto p = Prefix::parse(text);
  EXPECT_TRUE(p.ok()) << text;
  return *p;
}

// ---- hand-built TLV helpers (independent of the code under test) ----------

void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

Bytes le16(uint16_t v) { return {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)}; }
Bytes le32(uint32_t v) {
  return {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 24)};
}
Bytes le64(uint64_t v) {
  Bytes b = le32(static_cast<uint32_t>(v));
  append(b, le32(static_cast<uint32_t>(v >> 32)));
  return b;
}
Bytes key_bytes(const WgKey& k) { return Bytes(k.bytes().begin(), k.bytes().end()); }

// nlattr: len (header + unpadded payload), type, payload, zero padding.
Bytes attr(uint16_t type, const Bytes& payload) {
  Bytes b = le16(static_cast<uint16_t>(4 + payload.size()));
  append(b, le16(type));
  append(b, payload);
  while (b.size() % 4) b.push_back(0);
  return b;
}
Bytes nest(uint16_t type, const std::vector<Bytes>& children) {
  Bytes payload;
  for (const auto& c : children) append(payload, c);
  return attr(type | NLA_F_NESTED, payload);
}
Bytes str_attr(uint16_t type, const std::string& s) {
  Bytes p(s.begin(), s.end());
  p.push_back(0);
  return attr(type, p);
}
// nlmsghdr + genlmsghdr + attributes.
Bytes message(uint16_t type, uint16_t flags, uint32_t seq, uint8_t cmd, const std::vector<Bytes>& attrs) {
  Bytes body = {cmd, 1, 0, 0};
  for (const auto& a : attrs) append(body, a);
  Bytes m = le32(static_cast<uint32_t>(16 + body.size()));
  append(m, le16(type));
  append(m, le16(flags));
  append(m, le32(seq));
  append(m, le32(0));
  append(m, body);
  return m;
}

Bytes allowed_ip_v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t cidr) {
  return nest(0, {attr(WGALLOWEDIP_A_FAMILY, le16(AF_INET)), attr(WGALLOWEDIP_A_IPADDR, {a, b, c, d}),
                  attr(WGALLOWEDIP_A_CIDR_MASK, {cidr})});
}

const nlmsghdr* as_nlh(const Bytes& b) { return reinterpret_cast<const nlmsghdr*>(b.data()); }

nlmsghdr header_of(const Bytes& b) {
  nlmsghdr h;
  std::memcpy(&h, b.data(), sizeof(h));
  return h;
}

// ---- set: exact bytes -------------------------------------------------------

TEST(WgGenlSet, OnePeerOneAllowedIpMatchesHandBuiltBytes) {
  WgKey key = key_with_seed(0x01);
  WgDeviceUpdate u;
  u.name = "wg0";
  u.listen_port = 51820;
  WgPeerUpdate p;
  p.public_key = key;
  p.replace_allowed_ips = true;
  p.endpoint = "192.0.2.1:51820";
  p.persistent_keepalive = 25;
  p.allowed_ips = {pfx("10.0.0.2/32")};
  u.peers.push_back(p);

  auto msgs = encode_set_device(u, kFamily, 7, 4096);
  ASSERT_TRUE(msgs.ok()) << msgs.error().message;
  ASSERT_EQ(msgs->size(), 1u);

  Bytes expected = {
      // nlmsghdr: len 148, type 0x1b, flags REQUEST|ACK (0x5), seq 7, pid 0
      0x94, 0x00, 0x00, 0x00, 0x1b, 0x00, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      // genlmsghdr: cmd WG_CMD_SET_DEVICE (1), version 1
      0x01, 0x01, 0x00, 0x00,
      // WGDEVICE_A_IFNAME (2), len 8: "wg0\0"
      0x08, 0x00, 0x02, 0x00, 'w', 'g', '0', 0x00,
      // WGDEVICE_A_LISTEN_PORT (6), len 6: 51820 = 0xca6c, 2 bytes padding
      0x06, 0x00, 0x06, 0x00, 0x6c, 0xca, 0x00, 0x00,
      // WGDEVICE_A_PEERS (8 | NLA_F_NESTED), len 112
      0x70, 0x00, 0x08, 0x80,
      //   peer 0 (0 | NLA_F_NESTED), len 108
      0x6c, 0x00, 0x00, 0x80,
      //     WGPEER_A_PUBLIC_KEY (1), len 36
      0x24, 0x00, 0x01, 0x00};
  // key_with_seed(1): bytes 1..32, then the first three overwritten by seed.
  Bytes kb = key_bytes(key);
  ASSERT_EQ(kb[0], 0x01);
  ASSERT_EQ(kb[31], 0x20);
  append(expected, kb);
  append(expected, {
                       // WGPEER_A_FLAGS (3), len 8: REPLACE_ALLOWEDIPS (2)
                       0x08, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00,
                       // WGPEER_A_ENDPOINT (4), len 20: sockaddr_in{AF_INET, port 51820 big-endian, 192.0.2.1}
                       0x14, 0x00, 0x04, 0x00, 0x02, 0x00, 0xca, 0x6c, 0xc0, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00,
                       0x00, 0x00, 0x00, 0x00, 0x00,
                       // WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL (5), len 6: 25, padding
                       0x06, 0x00, 0x05, 0x00, 0x19, 0x00, 0x00, 0x00,
                       // WGPEER_A_ALLOWEDIPS (9 | NLA_F_NESTED), len 32
                       0x20, 0x00, 0x09, 0x80,
                       //   allowed IP 0 (0 | NLA_F_NESTED), len 28
                       0x1c, 0x00, 0x00, 0x80,
                       //     WGALLOWEDIP_A_FAMILY (1), len 6: AF_INET (2), padding
                       0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
                       //     WGALLOWEDIP_A_IPADDR (2), len 8: 10.0.0.2
                       0x08, 0x00, 0x02, 0x00, 0x0a, 0x00, 0x00, 0x02,
                       //     WGALLOWEDIP_A_CIDR_MASK (3), len 5: 32, padding
                       0x05, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x00,
                   });
  ASSERT_EQ(expected.size(), 148u);
  EXPECT_EQ((*msgs)[0], expected);
}

TEST(WgGenlSet, DeviceAttributesAndRemovedPeerBytes) {
  WgKey priv = key_with_seed(0x40);
  WgKey peer_key = key_with_seed(0x80);
  WgDeviceUpdate u;
  u.name = "wgate-eng";
  u.private_key = priv;
  u.fwmark = 0x77;
  u.replace_peers = true;
  WgPeerUpdate p;
  p.public_key = peer_key;
  p.remove = true;
  p.endpoint = "192.0.2.1:1";  // ignored for a removed peer
  p.allowed_ips = {pfx("10.0.0.2/32")};
  u.peers.push_back(p);

  auto msgs = encode_set_device(u, kFamily, 1);
  ASSERT_TRUE(msgs.ok()) << msgs.error().message;
  ASSERT_EQ(msgs->size(), 1u);

  Bytes peer = nest(0, {attr(WGPEER_A_PUBLIC_KEY, key_bytes(peer_key)), attr(WGPEER_A_FLAGS, le32(WGPEER_F_REMOVE_ME))});
  Bytes expected = message(kFamily, NLM_F_REQUEST | NLM_F_ACK, 1, WG_CMD_SET_DEVICE,
                           {str_attr(WGDEVICE_A_IFNAME, "wgate-eng"), attr(WGDEVICE_A_PRIVATE_KEY, key_bytes(priv)),
                            attr(WGDEVICE_A_FWMARK, le32(0x77)), attr(WGDEVICE_A_FLAGS, le32(WGDEVICE_F_REPLACE_PEERS)),
                            nest(WGDEVICE_A_PEERS, {peer})});
  EXPECT_EQ((*msgs)[0], expected);
}

TEST(WgGenlSet, Ipv6EndpointAndAllowedIpRoundTrip) {
  WgDeviceUpdate u;
  u.name = "wg1";
  WgPeerUpdate p;
  p.public_key = key_with_seed(9);
  p.endpoint = "[2001:db8::1]:51820";
  p.allowed_ips = {pfx("fd00::/64"), pfx("10.1.0.0/16")};
  u.peers.push_back(p);
  auto msgs = encode_set_device(u, kFamily, 1);
  ASSERT_TRUE(msgs.ok()) << msgs.error().message;
  ASSERT_EQ(msgs->size(), 1u);
  auto back = decode_set_device(as_nlh((*msgs)[0]));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->name, "wg1");
  ASSERT_EQ(back->peers.size(), 1u);
  EXPECT_EQ(back->peers[0].endpoint, "[2001:db8::1]:51820");
  EXPECT_EQ(back->peers[0].allowed_ips, p.allowed_ips);
  EXPECT_FALSE(back->peers[0].replace_allowed_ips);
  EXPECT_FALSE(back->peers[0].persistent_keepalive.has_value());
}

TEST(WgGenlSet, RejectsBadInput) {
  WgDeviceUpdate u;
  u.name = "wg0";
  WgPeerUpdate p;
  p.public_key = key_with_seed(1);
  for (const char* bad : {"192.0.2.1", "192.0.2.1:0", "192.0.2.1:65536", "2001:db8::1:51820", "[192.0.2.1]:5",
                          "[2001:db8::1]51820", "host:51820", "192.0.2.1:5x"}) {
    p.endpoint = bad;
    u.peers = {p};
    auto r = encode_set_device(u, kFamily, 1);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_THAT(r.error().message, HasSubstr("endpoint")) << bad;
    }
  }
  p.endpoint.reset();
  u.peers = {p};
  u.name = "a-name-that-is-too-long";
  EXPECT_FALSE(encode_set_device(u, kFamily, 1).ok());
  u.name = "";
  EXPECT_FALSE(encode_set_device(u, kFamily, 1).ok());
  u.name = "wg0";
  // 64 bytes hold the headers and the name but not one 80-byte peer.
  auto small = encode_set_device(u, kFamily, 1, 64);
  ASSERT_FALSE(small.ok());
  EXPECT_THAT(small.error().message, HasSubstr("max_message_size"));
  EXPECT_FALSE(encode_set_device(u, kFamily, 1, 70000).ok());
}

TEST(WgGenlSet, EmptyUpdateEncodesToNothing) {
  WgDeviceUpdate u;
  u.name = "wg0";
  auto msgs = encode_set_device(u, kFamily, 1);
  ASSERT_TRUE(msgs.ok());
  EXPECT_TRUE(msgs->empty());
}

// ---- set: splitting ---------------------------------------------------------

// One peer fragment as the kernel would see it, plus where it came from.
struct Fragment {
  size_t message;
  WgPeerUpdate peer;
};

struct Decoded {
  std::vector<WgDeviceUpdate> messages;
  std::vector<Fragment> fragments;
};

// Decodes every message and checks the invariants every split must keep.
Decoded decode_all(const std::vector<Bytes>& msgs, uint32_t first_seq, size_t max_size) {
  Decoded d;
  for (size_t i = 0; i < msgs.size(); ++i) {
    const Bytes& m = msgs[i];
    EXPECT_LE(m.size(), max_size) << "message " << i;
    nlmsghdr h = header_of(m);
    EXPECT_EQ(h.nlmsg_len, m.size());
    EXPECT_EQ(h.nlmsg_type, kFamily);
    EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
    EXPECT_EQ(h.nlmsg_seq, first_seq + i);
    auto u = decode_set_device(as_nlh(m));
    EXPECT_TRUE(u.ok()) << (u.ok() ? "" : u.error().message);
    if (!u.ok()) continue;
    for (const auto& p : u->peers) d.fragments.push_back({i, p});
    d.messages.push_back(*u);
  }
  return d;
}

// Merges fragments back into peers the way the kernel applies them: a
// fragment that repeats the previous message's last peer continues it.
std::vector<WgPeerUpdate> merge_fragments(const Decoded& d) {
  std::vector<WgPeerUpdate> peers;
  size_t last_message = SIZE_MAX;
  for (const auto& f : d.fragments) {
    bool first_in_message = f.message != last_message;
    last_message = f.message;
    if (first_in_message && !peers.empty() && peers.back().public_key == f.peer.public_key) {
      EXPECT_FALSE(f.peer.replace_allowed_ips) << "REPLACE_ALLOWEDIPS repeated in a continuation";
      EXPECT_FALSE(f.peer.remove);
      EXPECT_FALSE(f.peer.endpoint.has_value());
      EXPECT_FALSE(f.peer.persistent_keepalive.has_value());
      EXPECT_FALSE(f.peer.allowed_ips.empty()) << "continuation without allowed IPs";
      auto& ips = peers.back().allowed_ips;
      ips.insert(ips.end(), f.peer.allowed_ips.begin(), f.peer.allowed_ips.end());
    } else {
      peers.push_back(f.peer);
    }
  }
  return peers;
}

WgDeviceUpdate many_peers(size_t n) {
  WgDeviceUpdate u;
  u.name = "wg0";
  u.private_key = key_with_seed(0xabcdef);
  u.listen_port = 51820;
  u.replace_peers = true;
  for (size_t i = 0; i < n; ++i) {
    WgPeerUpdate p;
    p.public_key = key_with_seed(static_cast<uint32_t>(i + 1));
    p.replace_allowed_ips = true;
    if (i % 3 == 0) p.endpoint = "198.51.100." + std::to_string(i % 250 + 1) + ":51820";
    if (i % 5 == 0) p.persistent_keepalive = 25;
    uint32_t host = 0x0a000000u + static_cast<uint32_t>(i) + 1;
    p.allowed_ips = {Prefix(IpAddress::v4(host), 32)};
    u.peers.push_back(p);
  }
  return u;
}

void check_many_peers(size_t n, size_t max_size) {
  SCOPED_TRACE("peers=" + std::to_string(n) + " max=" + std::to_string(max_size));
  WgDeviceUpdate u = many_peers(n);
  auto msgs = encode_set_device(u, kFamily, 100, max_size);
  ASSERT_TRUE(msgs.ok()) << msgs.error().message;
  // A peer here takes at most 116 bytes, so messages must be well filled.
  size_t per_message = (max_size - 64) / 116;
  EXPECT_GT(msgs->size(), 1u);
  EXPECT_LE(msgs->size(), n / per_message + 1);

  Decoded d = decode_all(*msgs, 100, max_size);
  ASSERT_EQ(d.messages.size(), msgs->size());
  for (size_t i = 0; i < d.messages.size(); ++i) {
    const auto& m = d.messages[i];
    EXPECT_EQ(m.name, "wg0");
    EXPECT_EQ(m.replace_peers, i == 0) << "message " << i;
    EXPECT_EQ(m.private_key.has_value(), i == 0) << "message " << i;
    EXPECT_EQ(m.listen_port.has_value(), i == 0) << "message " << i;
    EXPECT_FALSE(m.peers.empty()) << "message " << i;
  }
  // Single-IP peers are never split: each key appears exactly once.
  ASSERT_EQ(d.fragments.size(), n);
  std::set<WgKey> seen;
  for (size_t i = 0; i < n; ++i) {
    const auto& got = d.fragments[i].peer;
    const auto& want = u.peers[i];
    EXPECT_TRUE(seen.insert(got.public_key).second) << "duplicate peer " << i;
    EXPECT_EQ(got.public_key, want.public_key) << i;
    EXPECT_TRUE(got.replace_allowed_ips) << i;
    EXPECT_EQ(got.allowed_ips, want.allowed_ips) << i;
    EXPECT_EQ(got.endpoint, want.endpoint) << i;
    EXPECT_EQ(got.persistent_keepalive, want.persistent_keepalive) << i;
  }
}

TEST(WgGenlSet, SplitsThousandPeers) { check_many_peers(1000, kWgDefaultMessageSize); }
TEST(WgGenlSet, SplitsTenThousandPeers) { check_many_peers(10000, kWgDefaultMessageSize); }
TEST(WgGenlSet, SplitsTenThousandPeersLargeMessages) { check_many_peers(10000, 8192); }

TEST(WgGenlSet, SplitsOnePeerWithSixHundredAllowedIps) {
  WgDeviceUpdate u;
  u.name = "wg0";
  u.replace_peers = true;
  WgPeerUpdate before;
  before.public_key = key_with_seed(1);
  before.allowed_ips = {pfx("10.9.0.1/32")};
  WgPeerUpdate big;
  big.public_key = key_with_seed(2);
  big.replace_allowed_ips = true;
  big.endpoint = "[2001:db8::2]:443";
  big.persistent_keepalive = 15;
  for (uint32_t i = 0; i < 600; ++i) {
    if (i % 4 == 3) {
      auto v6 = IpAddress::parse("fd00::" + std::to_string(i + 1));
      ASSERT_TRUE(v6.ok());
      big.allowed_ips.push_back(Prefix(*v6, 128));
    } else {
      big.allowed_ips.push_back(Prefix(IpAddress::v4(0x0a100000u + i), 32));
    }
  }
  WgPeerUpdate after;
  after.public_key = key_with_seed(3);
  after.replace_allowed_ips = true;
  after.allowed_ips = {pfx("10.9.0.3/32")};
  u.peers = {before, big, after};

  auto msgs = encode_set_device(u, kFamily, 1);
  ASSERT_TRUE(msgs.ok()) << msgs.error().message;
  EXPECT_GE(msgs->size(), 4u);  // ~19 KB of allowed IPs
  Decoded d = decode_all(*msgs, 1, kWgDefaultMessageSize);

  std::vector<size_t> big_fragments;
  for (size_t i = 0; i < d.fragments.size(); ++i) {
    if (d.fragments[i].peer.public_key == big.public_key) big_fragments.push_back(i);
  }
  ASSERT_GE(big_fragments.size(), 4u);
  for (size_t j = 0; j < big_fragments.size(); ++j) {
    const auto& f = d.fragments[big_fragments[j]];
    EXPECT_EQ(f.peer.replace_allowed_ips, j == 0) << "fragment " << j;
    EXPECT_EQ(f.peer.endpoint.has_value(), j == 0) << "fragment " << j;
    EXPECT_EQ(f.peer.persistent_keepalive.has_value(), j == 0) << "fragment " << j;
    // Each fragment sits in its own message, leading every later one.
    if (j > 0) {
      EXPECT_EQ(f.message, d.fragments[big_fragments[j - 1]].message + 1);
      EXPECT_TRUE(big_fragments[j] == 0 || d.fragments[big_fragments[j] - 1].message != f.message);
    }
  }
  auto merged = merge_fragments(d);
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_EQ(merged[0].public_key, before.public_key);
  EXPECT_EQ(merged[1].public_key, big.public_key);
  EXPECT_EQ(merged[1].allowed_ips, big.allowed_ips);
  EXPECT_EQ(merged[1].endpoint, big.endpoint);
  EXPECT_TRUE(merged[1].replace_allowed_ips);
  EXPECT_EQ(merged[2].public_key, after.public_key);
  EXPECT_TRUE(merged[2].replace_allowed_ips);
  EXPECT_TRUE(d.messages[0].replace_peers);
  for (size_t i = 1; i < d.messages.size(); ++i) EXPECT_FALSE(d.messages[i].replace_peers);
}

// ---- get ------------------------------------------------------------------

TEST(WgGenlGet, RequestBytes) {
  Bytes expected = {
      // nlmsghdr: len 28, type 0x1b, flags REQUEST|ACK|DUMP (0x305), seq 9
      0x1c, 0x00, 0x00, 0x00, 0x1b, 0x00, 0x05, 0x03, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      // genlmsghdr: cmd WG_CMD_GET_DEVICE (0), version 1
      0x00, 0x01, 0x00, 0x00,
      // WGDEVICE_A_IFNAME, len 8, "wg0\0"
      0x08, 0x00, 0x02, 0x00, 'w', 'g', '0', 0x00};
  EXPECT_EQ(encode_get_device("wg0", kFamily, 9), expected);
}

Bytes timespec_bytes(int64_t sec, int64_t nsec) {
  Bytes b = le64(static_cast<uint64_t>(sec));
  append(b, le64(static_cast<uint64_t>(nsec)));
  return b;
}

Bytes sockaddr_in_bytes(std::array<uint8_t, 4> ip, uint16_t port) {
  Bytes b = le16(AF_INET);
  b.push_back(static_cast<uint8_t>(port >> 8));
  b.push_back(static_cast<uint8_t>(port));
  b.insert(b.end(), ip.begin(), ip.end());
  b.resize(16, 0);
  return b;
}

Bytes sockaddr_in6_bytes(std::array<uint8_t, 16> ip, uint16_t port) {
  Bytes b = le16(AF_INET6);
  b.push_back(static_cast<uint8_t>(port >> 8));
  b.push_back(static_cast<uint8_t>(port));
  append(b, le32(0));  // flowinfo
  b.insert(b.end(), ip.begin(), ip.end());
  append(b, le32(0));  // scope id
  return b;
}

struct DumpFixture {
  WgKey priv = key_with_seed(0x10);
  WgKey pub = key_with_seed(0x11);
  WgKey a = key_with_seed(0x20);
  WgKey b = key_with_seed(0x30);
  WgKey c = key_with_seed(0x40);

  Bytes first() const {
    std::array<uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8};
    v6[15] = 1;
    std::array<uint8_t, 16> fd{0xfd};
    fd[15] = 1;
    Bytes peer_a = nest(0, {attr(WGPEER_A_PUBLIC_KEY, key_bytes(a)), attr(WGPEER_A_PRESHARED_KEY, Bytes(32, 0)),
                            attr(WGPEER_A_LAST_HANDSHAKE_TIME, timespec_bytes(1700000000, 123)),
                            attr(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, le16(25)),
                            attr(WGPEER_A_TX_BYTES, le64(1000)), attr(WGPEER_A_RX_BYTES, le64(0x100000000ull)),
                            attr(WGPEER_A_PROTOCOL_VERSION, le32(1)),
                            attr(WGPEER_A_ENDPOINT, sockaddr_in6_bytes(v6, 51820)),
                            nest(WGPEER_A_ALLOWEDIPS,
                                 {allowed_ip_v4(10, 0, 0, 1, 32),
                                  nest(0, {attr(WGALLOWEDIP_A_FAMILY, le16(AF_INET6)),
                                           attr(WGALLOWEDIP_A_IPADDR, Bytes(fd.begin(), fd.end())),
                                           attr(WGALLOWEDIP_A_CIDR_MASK, {128})})})});
    Bytes peer_b = nest(0, {attr(WGPEER_A_PUBLIC_KEY, key_bytes(b)),
                            attr(WGPEER_A_ENDPOINT, sockaddr_in_bytes({192, 0, 2, 7}, 4500)),
                            attr(WGPEER_A_TX_BYTES, le64(5)), attr(WGPEER_A_RX_BYTES, le64(6)),
                            nest(WGPEER_A_ALLOWEDIPS, {allowed_ip_v4(10, 0, 0, 2, 32)})});
    return message(kFamily, NLM_F_MULTI, 9, WG_CMD_GET_DEVICE,
                   {attr(WGDEVICE_A_LISTEN_PORT, le16(51820)), attr(WGDEVICE_A_FWMARK, le32(0x77)),
                    attr(WGDEVICE_A_IFINDEX, le32(5)), str_attr(WGDEVICE_A_IFNAME, "wg0"),
                    attr(WGDEVICE_A_PRIVATE_KEY, key_bytes(priv)), attr(WGDEVICE_A_PUBLIC_KEY, key_bytes(pub)),
                    nest(WGDEVICE_A_PEERS, {peer_a, peer_b})});
  }
  // The kernel's continuation: peer b again (key + allowed IPs only), then c.
  Bytes second() const {
    Bytes peer_b = nest(0, {attr(WGPEER_A_PUBLIC_KEY, key_bytes(b)),
                            nest(WGPEER_A_ALLOWEDIPS, {allowed_ip_v4(10, 0, 1, 0, 24), allowed_ip_v4(10, 0, 2, 0, 24)})});
    Bytes peer_c = nest(0, {attr(WGPEER_A_PUBLIC_KEY, key_bytes(c))});
    return message(kFamily, NLM_F_MULTI, 9, WG_CMD_GET_DEVICE, {nest(WGDEVICE_A_PEERS, {peer_b, peer_c})});
  }
};

TEST(WgGenlDump, MergesMultiMessageDump) {
  DumpFixture f;
  WgDeviceDumpParser parser;
  Bytes m1 = f.first();
  Bytes m2 = f.second();
  ASSERT_TRUE(parser.feed(as_nlh(m1)).ok());
  Status st = parser.feed(as_nlh(m2));
  ASSERT_TRUE(st.ok()) << st.error().message;
  WgDeviceState s = parser.take();
  EXPECT_EQ(s.name, "wg0");
  EXPECT_EQ(s.ifindex, 5);
  EXPECT_EQ(s.private_key, f.priv);
  EXPECT_EQ(s.public_key, f.pub);
  EXPECT_EQ(s.listen_port, 51820);
  EXPECT_EQ(s.fwmark, 0x77u);
  ASSERT_EQ(s.peers.size(), 3u);

  const auto& a = s.peers[0];
  EXPECT_EQ(a.public_key, f.a);
  EXPECT_EQ(a.endpoint, "[2001:db8::1]:51820");
  EXPECT_EQ(a.persistent_keepalive, 25);
  EXPECT_EQ(a.last_handshake_sec, 1700000000);
  EXPECT_EQ(a.last_handshake_nsec, 123);
  EXPECT_EQ(a.tx_bytes, 1000u);
  EXPECT_EQ(a.rx_bytes, 0x100000000ull);
  EXPECT_EQ(a.allowed_ips, (std::vector<Prefix>{pfx("10.0.0.1/32"), pfx("fd00::1/128")}));

  const auto& b = s.peers[1];
  EXPECT_EQ(b.public_key, f.b);
  EXPECT_EQ(b.endpoint, "192.0.2.7:4500");
  EXPECT_EQ(b.tx_bytes, 5u);
  EXPECT_EQ(b.rx_bytes, 6u);
  EXPECT_EQ(b.last_handshake_sec, 0);
  EXPECT_EQ(b.allowed_ips, (std::vector<Prefix>{pfx("10.0.0.2/32"), pfx("10.0.1.0/24"), pfx("10.0.2.0/24")}));

  const auto& c = s.peers[2];
  EXPECT_EQ(c.public_key, f.c);
  EXPECT_TRUE(c.allowed_ips.empty());
  EXPECT_EQ(c.endpoint, "");
}

TEST(WgGenlDump, ResetForgetsEverything) {
  DumpFixture f;
  WgDeviceDumpParser parser;
  Bytes m1 = f.first();
  ASSERT_TRUE(parser.feed(as_nlh(m1)).ok());
  parser.reset();
  EXPECT_TRUE(parser.state().peers.empty());
  EXPECT_EQ(parser.state().name, "");
  ASSERT_TRUE(parser.feed(as_nlh(m1)).ok());
  EXPECT_EQ(parser.state().peers.size(), 2u);  // not 4, and nothing merged into stale peers
}

TEST(WgGenlDump, DecodesWhatTheSetEncoderWrites) {
  // The kernel's dump repeats the set layout for peers; reusing the
  // encoder's bytes as a reply (with the GET command) checks both agree.
  WgDeviceUpdate u = many_peers(3);
  auto msgs = encode_set_device(u, kFamily, 1);
  ASSERT_TRUE(msgs.ok());
  Bytes m = (*msgs)[0];
  m[16] = WG_CMD_GET_DEVICE;
  WgDeviceDumpParser parser;
  Status st = parser.feed(as_nlh(m));
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(parser.state().peers.size(), 3u);
  EXPECT_EQ(parser.state().peers[0].endpoint, "198.51.100.1:51820");
  EXPECT_EQ(parser.state().peers[2].allowed_ips, u.peers[2].allowed_ips);
  EXPECT_EQ(parser.state().private_key, u.private_key);
}

// ---- malformed replies ----------------------------------------------------

Status feed_one(const Bytes& m) {
  WgDeviceDumpParser parser;
  return parser.feed(as_nlh(m));
}

Bytes reply_with_peer(const std::vector<Bytes>& peer_attrs) {
  return message(kFamily, NLM_F_MULTI, 1, WG_CMD_GET_DEVICE, {nest(WGDEVICE_A_PEERS, {nest(0, peer_attrs)})});
}

TEST(WgGenlDump, RejectsWrongKeyLength) {
  Status st = feed_one(reply_with_peer({attr(WGPEER_A_PUBLIC_KEY, Bytes(31, 1))}));
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("WGPEER_A_PUBLIC_KEY"));
  st = feed_one(message(kFamily, 0, 1, WG_CMD_GET_DEVICE, {attr(WGDEVICE_A_PRIVATE_KEY, Bytes(33, 1))}));
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("WGDEVICE_A_PRIVATE_KEY"));
}

TEST(WgGenlDump, RejectsBadFieldLengths) {
  Bytes key = attr(WGPEER_A_PUBLIC_KEY, Bytes(32, 1));
  struct Case {
    Bytes reply;
    const char* names;
  };
  std::vector<Case> cases = {
      {reply_with_peer({key, attr(WGPEER_A_RX_BYTES, le32(1))}), "WGPEER_A_RX_BYTES"},
      {reply_with_peer({key, attr(WGPEER_A_LAST_HANDSHAKE_TIME, le64(1))}), "WGPEER_A_LAST_HANDSHAKE_TIME"},
      {reply_with_peer({key, attr(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, le32(1))}),
       "WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL"},
      {reply_with_peer({key, attr(WGPEER_A_ENDPOINT, Bytes(8, 0))}), "WGPEER_A_ENDPOINT"},
      {reply_with_peer({key, attr(WGPEER_A_ENDPOINT, sockaddr_in_bytes({1, 2, 3, 4}, 1))}), ""},  // valid
      {reply_with_peer({key, attr(WGPEER_A_ENDPOINT, [] {
                               Bytes b = le16(AF_INET6);
                               b.resize(16, 0);  // a sockaddr, too short for sockaddr_in6
                               return b;
                             }())}),
       "WGPEER_A_ENDPOINT"},
      {reply_with_peer({key, nest(WGPEER_A_ALLOWEDIPS,
                                  {nest(0, {attr(WGALLOWEDIP_A_FAMILY, le16(AF_INET)),
                                            attr(WGALLOWEDIP_A_IPADDR, Bytes(16, 0)),
                                            attr(WGALLOWEDIP_A_CIDR_MASK, {32})})})}),
       "WGALLOWEDIP_A_IPADDR"},
      {reply_with_peer({key, nest(WGPEER_A_ALLOWEDIPS, {allowed_ip_v4(10, 0, 0, 0, 33)})}), "WGALLOWEDIP_A_CIDR_MASK"},
      {reply_with_peer({key, nest(WGPEER_A_ALLOWEDIPS, {nest(0, {attr(WGALLOWEDIP_A_FAMILY, le16(AF_INET))})})}),
       "allowed IP"},
      {reply_with_peer({attr(WGPEER_A_TX_BYTES, le64(1))}), "WGPEER_A_PUBLIC_KEY"},
      {message(kFamily, 0, 1, WG_CMD_GET_DEVICE, {attr(WGDEVICE_A_IFNAME, {'w', 'g'})}), "WGDEVICE_A_IFNAME"},
      {message(kFamily, 0, 1, WG_CMD_GET_DEVICE, {attr(WGDEVICE_A_LISTEN_PORT, le32(1))}), "WGDEVICE_A_LISTEN_PORT"},
      {message(kFamily, 0, 1, WG_CMD_GET_DEVICE, {attr(WGDEVICE_A_IFINDEX, le16(1))}), "WGDEVICE_A_IFINDEX"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    Status st = feed_one(cases[i].reply);
    if (std::string(cases[i].names).empty()) {
      EXPECT_TRUE(st.ok()) << "case " << i << ": " << st.error().message;
    } else {
      ASSERT_FALSE(st.ok()) << "case " << i;
      EXPECT_THAT(st.error().message, HasSubstr(cases[i].names)) << "case " << i;
    }
  }
}

TEST(WgGenlDump, RejectsNestOverrunningItsParent) {
  Bytes m = reply_with_peer({attr(WGPEER_A_PUBLIC_KEY, Bytes(32, 1))});
  // Layout: 20 bytes of headers, PEERS nest header at 20, peer nest at 24.
  // Grow the peer nest's length past the PEERS nest that contains it.
  ASSERT_EQ(m[22], WGDEVICE_A_PEERS);
  uint16_t peer_len = static_cast<uint16_t>(m[24] | (m[25] << 8));
  uint16_t bigger = peer_len + 8;
  m[24] = static_cast<uint8_t>(bigger);
  m[25] = static_cast<uint8_t>(bigger >> 8);
  Status st = feed_one(m);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("overruns"));

  // A PEERS nest claiming more than the message holds.
  Bytes m2 = reply_with_peer({attr(WGPEER_A_PUBLIC_KEY, Bytes(32, 1))});
  m2[20] = static_cast<uint8_t>(m2[20] + 4);
  st = feed_one(m2);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("overruns"));

  // An attribute length below the 4-byte header, named as such (it used to
  // be reported as an overrun).
  Bytes m3 = message(kFamily, 0, 1, WG_CMD_GET_DEVICE, {attr(WGDEVICE_A_IFINDEX, le32(1))});
  m3[20] = 2;
  st = feed_one(m3);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("attribute 1 has length 2, less than its 4-byte header"));
}

TEST(WgGenlDump, RejectsTruncatedMessagesAtEveryLength) {
  DumpFixture f;
  Bytes full = f.first();
  // Offsets where a top-level attribute ends (with or without its padding,
  // which the last attribute may lack): only there is a shorter message
  // still well formed.
  std::set<size_t> boundaries;
  size_t off = 20;
  boundaries.insert(off);
  while (off < full.size()) {
    size_t len = full[off] | (full[off + 1] << 8);
    for (size_t end = off + len; end <= off + ((len + 3) & ~size_t{3}); ++end) boundaries.insert(end);
    off += (len + 3) & ~size_t{3};
  }
  ASSERT_EQ(off, full.size());
  for (size_t n = 0; n < full.size(); ++n) {
    Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    cut.resize(std::max<size_t>(n, 16), 0);  // feed() may read the nlmsghdr
    uint32_t len32 = static_cast<uint32_t>(n < 16 ? 16 : n);
    std::memcpy(cut.data(), &len32, 4);
    Status st = feed_one(cut);
    EXPECT_EQ(st.ok(), boundaries.count(n) == 1) << "length " << n;
  }
}

TEST(WgGenlDump, RejectsTrailingGarbageAndWrongCommand) {
  Bytes m = message(kFamily, 0, 1, WG_CMD_GET_DEVICE, {attr(WGDEVICE_A_IFINDEX, le32(1))});
  m.push_back(0xff);
  m.push_back(0xff);
  uint32_t len = static_cast<uint32_t>(m.size());
  std::memcpy(m.data(), &len, 4);
  Status st = feed_one(m);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("truncated"));

  Bytes wrong_cmd = message(kFamily, 0, 1, WG_CMD_SET_DEVICE, {});
  EXPECT_FALSE(feed_one(wrong_cmd).ok());
  Bytes control = message(NLMSG_ERROR, 0, 1, WG_CMD_GET_DEVICE, {});
  EXPECT_FALSE(feed_one(control).ok());
}

TEST(WgGenlDump, SkipsUnknownAttributes) {
  Bytes m = message(kFamily, 0, 1, WG_CMD_GET_DEVICE,
                    {attr(200, Bytes(7, 0xee)), attr(WGDEVICE_A_IFINDEX, le32(3)),
                     nest(WGDEVICE_A_PEERS, {nest(0, {attr(77, {1}), attr(WGPEER_A_PUBLIC_KEY, Bytes(32, 2))})})});
  WgDeviceDumpParser parser;
  Status st = parser.feed(as_nlh(m));
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(parser.state().ifindex, 3);
  EXPECT_EQ(parser.state().peers.size(), 1u);
}

// ---- genl controller ------------------------------------------------------

TEST(WgGenlCtrl, GetFamilyRequestBytes) {
  Bytes expected = {
      // nlmsghdr: len 36, type GENL_ID_CTRL (0x10), flags REQUEST|ACK, seq 3
      0x24, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      // genlmsghdr: CTRL_CMD_GETFAMILY (3), version 1
      0x03, 0x01, 0x00, 0x00,
      // CTRL_ATTR_FAMILY_NAME (2), len 14: "wireguard\0", 2 bytes padding
      0x0e, 0x00, 0x02, 0x00, 'w', 'i', 'r', 'e', 'g', 'u', 'a', 'r', 'd', 0x00, 0x00, 0x00};
  EXPECT_EQ(encode_get_family("wireguard", 3), expected);
}

TEST(WgGenlCtrl, ParsesFamilyId) {
  Bytes reply = message(GENL_ID_CTRL, 0, 3, CTRL_CMD_NEWFAMILY,
                        {str_attr(CTRL_ATTR_FAMILY_NAME, "wireguard"), attr(CTRL_ATTR_FAMILY_ID, le16(0x22)),
                         attr(CTRL_ATTR_VERSION, le32(1)), attr(CTRL_ATTR_HDRSIZE, le32(0)),
                         nest(CTRL_ATTR_OPS, {nest(1, {attr(1, le32(0)), attr(2, le32(0x1e))})})});
  auto id = parse_family_id(as_nlh(reply));
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(*id, 0x22);

  Bytes no_id = message(GENL_ID_CTRL, 0, 3, CTRL_CMD_NEWFAMILY, {str_attr(CTRL_ATTR_FAMILY_NAME, "wireguard")});
  EXPECT_FALSE(parse_family_id(as_nlh(no_id)).ok());
  Bytes bad_len = message(GENL_ID_CTRL, 0, 3, CTRL_CMD_NEWFAMILY, {attr(CTRL_ATTR_FAMILY_ID, le32(0x22))});
  auto r = parse_family_id(as_nlh(bad_len));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("CTRL_ATTR_FAMILY_ID"));
}

}  // namespace
}  // namespace wgate::netlink

// ---- against the running kernel (no root needed) ---------------------------

namespace wgate::netlink {
namespace {

// The controller resolves its own family, "nlctrl", to GENL_ID_CTRL: a real
// kernel accepts encode_get_family's bytes and parse_family_id reads its reply.
TEST(WgGenlKernel, ResolvesNlctrlThroughTheController) {
  auto sock = MnlSocket::open(NETLINK_GENERIC);
  if (!sock.ok()) GTEST_SKIP() << "no generic netlink socket: " << sock.error().message;
  Bytes req = encode_get_family("nlctrl", sock->next_seq());
  std::optional<uint16_t> id;
  Status st = sock->request(as_nlh(req), [&](const nlmsghdr* nlh) -> Status {
    auto r = parse_family_id(nlh);
    if (!r.ok()) return r.error();
    id = *r;
    return ok_status();
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(*id, GENL_ID_CTRL);

  // An unknown family is an error with the kernel's errno, not a crash.
  Bytes bogus = encode_get_family("wgate-nofam", sock->next_seq());
  st = sock->request(as_nlh(bogus), [&](const nlmsghdr* nlh) -> Status {
    return parse_family_id(nlh).ok() ? ok_status() : make_error("bad reply");
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().sys_errno, ENOENT);
}

}  // namespace
}  // namespace wgate::netlink
