// Crafted IPv4 packets for the filter's verdict tests, built byte by byte so
// that every field (IHL, options, total length, fragment bits) can be wrong
// on purpose.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace wgate::bpf::testing {

using Bytes = std::vector<uint8_t>;

inline void put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

inline uint32_t addr(const std::string& text) {
  in_addr a{};
  inet_pton(AF_INET, text.c_str(), &a);
  return a.s_addr;  // network order
}

struct Ip {
  std::string src{};
  std::string dst{};
  uint8_t proto = IPPROTO_TCP;
  uint16_t id = 1;
  uint16_t frag_offset = 0;  // in 8-byte units
  bool more_fragments = false;
  Bytes options{};           // padded by the caller to a multiple of 4
  int ihl_override = -1;     // -1: from the options
  int tot_len_override = -1; // -1: the real length
};

inline uint16_t checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t{p[i]} << 8 | p[i + 1];
  if (n & 1) sum += uint32_t{p[n - 1]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// An IPv4 header (with options) followed by `payload`.
inline Bytes ipv4(const Ip& ip, const Bytes& payload) {
  const size_t hlen = 20 + ip.options.size();
  Bytes b(hlen, 0);
  const int ihl = ip.ihl_override >= 0 ? ip.ihl_override : static_cast<int>(hlen / 4);
  b[0] = static_cast<uint8_t>(0x40 | (ihl & 0xf));
  put16(b, 2, static_cast<uint16_t>(ip.tot_len_override >= 0 ? ip.tot_len_override : hlen + payload.size()));
  put16(b, 4, ip.id);
  put16(b, 6, static_cast<uint16_t>((ip.more_fragments ? 0x2000 : 0) | (ip.frag_offset & 0x1fff)));
  b[8] = 64;
  b[9] = ip.proto;
  uint32_t s = addr(ip.src), d = addr(ip.dst);
  std::memcpy(&b[12], &s, 4);
  std::memcpy(&b[16], &d, 4);
  std::copy(ip.options.begin(), ip.options.end(), b.begin() + 20);
  put16(b, 10, checksum(b.data(), hlen));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

inline Bytes tcp(uint16_t sport, uint16_t dport) {
  Bytes b(20, 0);
  put16(b, 0, sport);
  put16(b, 2, dport);
  b[12] = 5 << 4;
  b[13] = 0x02;  // SYN
  return b;
}

inline Bytes udp(uint16_t sport, uint16_t dport, size_t data = 0) {
  Bytes b(8 + data, 0);
  put16(b, 0, sport);
  put16(b, 2, dport);
  put16(b, 4, static_cast<uint16_t>(8 + data));
  return b;
}

// An ICMP header (type, code, 4 bytes of rest) followed by `body`.
inline Bytes icmp(uint8_t type, uint8_t code, const Bytes& body = {}) {
  Bytes b(8, 0);
  b[0] = type;
  b[1] = code;
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

inline Bytes cut(Bytes b, size_t n) {
  b.resize(n);
  return b;
}

// BPF_PROG_TEST_RUN for tc programs takes an Ethernet frame: the kernel
// parses the link header (eth_type_trans sets skb->protocol from its
// EtherType), sets the network header after it, and pushes it back before
// the program runs. The filter reads relative to the network header, so the
// same program sees the IP header here and on L3 devices (WireGuard, TUN),
// whose packets have no link header at all.
inline Bytes frame(const Bytes& l3, uint16_t ethertype = 0x0800) {
  Bytes f(14, 0);
  f[0] = 0x02;  // locally administered unicast destination
  f[6] = 0x02;
  put16(f, 12, ethertype);
  f.insert(f.end(), l3.begin(), l3.end());
  return f;
}

}  // namespace wgate::bpf::testing
