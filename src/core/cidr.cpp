#include "core/cidr.h"

#include <arpa/inet.h>

#include <charconv>

namespace wgate {

IpAddress IpAddress::v4(uint32_t host_order) {
  IpAddress a;
  a.family_ = IpFamily::v4;
  a.bytes_[0] = static_cast<uint8_t>(host_order >> 24);
  a.bytes_[1] = static_cast<uint8_t>(host_order >> 16);
  a.bytes_[2] = static_cast<uint8_t>(host_order >> 8);
  a.bytes_[3] = static_cast<uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::from_bytes(IpFamily family, const uint8_t* bytes) {
  IpAddress a;
  a.family_ = family;
  for (int i = 0; i < (family == IpFamily::v4 ? 4 : 16); ++i) a.bytes_[i] = bytes[i];
  return a;
}

Result<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string and is strict (no leading zeros
  // in IPv4 octets, no trailing junk), which is what we want.
  std::string s(text);
  IpAddress a;
  if (s.find(':') == std::string::npos) {
    a.family_ = IpFamily::v4;
    if (inet_pton(AF_INET, s.c_str(), a.bytes_.data()) == 1) return a;
  } else {
    a.family_ = IpFamily::v6;
    if (inet_pton(AF_INET6, s.c_str(), a.bytes_.data()) == 1) return a;
  }
  return make_error("'" + s + "' is not an IP address");
}

uint32_t IpAddress::v4_value() const {
  return (uint32_t{bytes_[0]} << 24) | (uint32_t{bytes_[1]} << 16) | (uint32_t{bytes_[2]} << 8) |
         uint32_t{bytes_[3]};
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof(buf));
  return buf;
}

IpAddress IpAddress::plus(uint64_t n) const {
  IpAddress r = *this;
  unsigned carry = 0;
  for (int i = byte_width() - 1; i >= 0; --i) {
    unsigned sum = unsigned{r.bytes_[i]} + static_cast<unsigned>(n & 0xff) + carry;
    r.bytes_[i] = static_cast<uint8_t>(sum);
    carry = sum >> 8;
    n >>= 8;
  }
  return r;
}

IpAddress IpAddress::masked(int prefix_len) const {
  IpAddress r = *this;
  for (int i = 0; i < byte_width(); ++i) {
    int bits_here = prefix_len - i * 8;
    if (bits_here >= 8) continue;
    if (bits_here <= 0) {
      r.bytes_[i] = 0;
    } else {
      r.bytes_[i] &= static_cast<uint8_t>(0xff << (8 - bits_here));
    }
  }
  return r;
}

Prefix::Prefix(IpAddress address, int length) : address_(address.masked(length)), length_(length) {}

Result<Prefix> Prefix::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) return make_error("'" + std::string(text) + "' is not a CIDR prefix (bad address)");
  int length = addr->bit_width();
  if (slash != std::string_view::npos) {
    auto len_text = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), length);
    if (len_text.empty() || ec != std::errc() || ptr != len_text.data() + len_text.size() ||
        length < 0 || length > addr->bit_width()) {
      return make_error("'" + std::string(text) + "' is not a CIDR prefix (prefix length must be 0.." +
                        std::to_string(addr->bit_width()) + ")");
    }
  }
  if (addr->masked(length) != *addr) {
    return make_error("'" + std::string(text) + "' has host bits set; did you mean " +
                      Prefix(*addr, length).to_string() + "?");
  }
  return Prefix(*addr, length);
}

std::string Prefix::to_string() const { return address_.to_string() + "/" + std::to_string(length_); }

bool Prefix::contains(const IpAddress& ip) const {
  return ip.family() == family() && ip.masked(length_) == address_;
}

bool Prefix::contains(const Prefix& other) const {
  return other.family() == family() && other.length_ >= length_ && contains(other.address_);
}

bool Prefix::overlaps(const Prefix& other) const { return contains(other) || other.contains(*this); }

uint64_t Prefix::size() const {
  int host_bits = address_.bit_width() - length_;
  if (host_bits >= 63) return uint64_t{1} << 63;
  return uint64_t{1} << host_bits;
}

}  // namespace wgate
