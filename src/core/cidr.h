// IP addresses and prefixes (CIDR) for IPv4 and IPv6.
//
// Value types, no I/O. Addresses are stored in network byte order in a 16-byte
// array; IPv4 uses the first 4 bytes. All parsing is strict: "10.0.0.1/33",
// "10.0.0.01" or trailing junk are errors that name the input.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"

namespace wgate {

enum class IpFamily : uint8_t { v4 = 4, v6 = 6 };

class IpAddress {
 public:
  IpAddress() = default;
  static IpAddress v4(uint32_t host_order);
  static IpAddress from_bytes(IpFamily family, const uint8_t* bytes);
  static Result<IpAddress> parse(std::string_view text);

  IpFamily family() const { return family_; }
  bool is_v4() const { return family_ == IpFamily::v4; }
  int bit_width() const { return is_v4() ? 32 : 128; }
  int byte_width() const { return is_v4() ? 4 : 16; }
  const uint8_t* bytes() const { return bytes_.data(); }
  // Host-order value of an IPv4 address; undefined for IPv6.
  uint32_t v4_value() const;
  std::string to_string() const;

  // Adds `n` to the address (wrapping inside its width); used by IPAM.
  IpAddress plus(uint64_t n) const;
  // Zeroes every bit after the first `prefix_len`.
  IpAddress masked(int prefix_len) const;

  auto operator<=>(const IpAddress&) const = default;

 private:
  IpFamily family_ = IpFamily::v4;
  std::array<uint8_t, 16> bytes_{};
};

class Prefix {
 public:
  Prefix() = default;
  // `address` is masked to `length`; callers that must reject host bits use parse().
  Prefix(IpAddress address, int length);
  // Parses "a.b.c.d/n" or "x::/n". A bare address is a host prefix (/32, /128).
  // Host bits set after the prefix length ("10.0.0.1/8") are an error.
  static Result<Prefix> parse(std::string_view text);

  const IpAddress& address() const { return address_; }
  int length() const { return length_; }
  IpFamily family() const { return address_.family(); }
  std::string to_string() const;

  bool contains(const IpAddress& ip) const;
  bool contains(const Prefix& other) const;
  bool overlaps(const Prefix& other) const;
  // Number of addresses, saturating at 2^63 for huge IPv6 prefixes.
  uint64_t size() const;
  // The n-th address of the prefix (0 = network address).
  IpAddress nth(uint64_t n) const { return address_.plus(n); }

  auto operator<=>(const Prefix&) const = default;

 private:
  IpAddress address_;
  int length_ = 0;
};

}  // namespace wgate
