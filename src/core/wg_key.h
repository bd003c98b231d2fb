// WireGuard keys (Curve25519, 32 bytes) and their two text forms:
// base64 (what `wg` and wg-quick configs use) and lowercase hex (what the UAPI
// socket uses).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace wgate {

class WgKey {
 public:
  static constexpr size_t kSize = 32;
  WgKey() = default;
  explicit WgKey(const std::array<uint8_t, kSize>& bytes) : bytes_(bytes) {}

  static Result<WgKey> from_base64(std::string_view text);
  static Result<WgKey> from_hex(std::string_view text);
  // A fresh private key from OpenSSL's CSPRNG (X25519).
  static Result<WgKey> generate_private();

  std::string to_base64() const;
  std::string to_hex() const;
  // The X25519 public key of this private key.
  Result<WgKey> public_key() const;

  bool is_zero() const;
  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }
  auto operator<=>(const WgKey&) const = default;

 private:
  std::array<uint8_t, kSize> bytes_{};
};

}  // namespace wgate
