#include "core/wg_key.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

namespace wgate {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<WgKey> WgKey::from_base64(std::string_view text) {
  // 32 bytes encode to exactly 44 characters ending in a single '='.
  // Errors never quote the text: it may be a private key, and errors are logged.
  if (text.size() != 44 || text[43] != '=' || text[42] == '=') {
    return make_error("not a WireGuard key (expected 44 base64 characters ending in '=', got " +
                      std::to_string(text.size()) + ")");
  }
  unsigned char out[33] = {};
  int n = EVP_DecodeBlock(out, reinterpret_cast<const unsigned char*>(text.data()), 44);
  if (n != 33) return make_error("not a WireGuard key (invalid base64)");
  std::array<uint8_t, kSize> bytes{};
  for (size_t i = 0; i < kSize; ++i) bytes[i] = out[i];
  WgKey key(bytes);
  // Reject non-canonical encodings (trailing bits set in the last symbol).
  if (key.to_base64() != text) return make_error("not a WireGuard key (non-canonical base64)");
  return key;
}

Result<WgKey> WgKey::from_hex(std::string_view text) {
  if (text.size() != 2 * kSize) return make_error("hex key must be 64 characters, got " + std::to_string(text.size()));
  std::array<uint8_t, kSize> bytes{};
  for (size_t i = 0; i < kSize; ++i) {
    int hi = hex_digit(text[2 * i]);
    int lo = hex_digit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return make_error("hex key has a non-hex character");
    bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return WgKey(bytes);
}

Result<WgKey> WgKey::generate_private() {
  std::array<uint8_t, kSize> bytes{};
  if (RAND_bytes(bytes.data(), kSize) != 1) return make_error("RAND_bytes failed");
  // Clamp as Curve25519 private keys are (the same as `wg genkey`).
  bytes[0] &= 248;
  bytes[31] = static_cast<uint8_t>((bytes[31] & 127) | 64);
  return WgKey(bytes);
}

std::string WgKey::to_base64() const {
  unsigned char out[45] = {};
  EVP_EncodeBlock(out, bytes_.data(), kSize);
  return std::string(reinterpret_cast<char*>(out), 44);
}

std::string WgKey::to_hex() const {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  s.reserve(2 * kSize);
  for (uint8_t b : bytes_) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

Result<WgKey> WgKey::public_key() const {
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, bytes_.data(), kSize));
  if (!pkey) return make_error("OpenSSL rejected the X25519 private key");
  std::array<uint8_t, kSize> pub{};
  size_t len = kSize;
  if (EVP_PKEY_get_raw_public_key(pkey.get(), pub.data(), &len) != 1 || len != kSize) {
    return make_error("OpenSSL could not derive the X25519 public key");
  }
  return WgKey(pub);
}

bool WgKey::is_zero() const {
  for (uint8_t b : bytes_) {
    if (b) return false;
  }
  return true;
}

}  // namespace wgate
