#include "core/wg_key.h"

#include <gtest/gtest.h>

namespace wgate {
namespace {

// RFC 7748 section 6.1 test vector (Alice's key pair).
constexpr const char* kPrivHex = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr const char* kPubHex = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";

TEST(WgKey, DerivesPublicKeyPerRfc7748) {
  auto priv = WgKey::from_hex(kPrivHex);
  ASSERT_TRUE(priv.ok());
  auto pub = priv->public_key();
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub->to_hex(), kPubHex);
}

TEST(WgKey, Base64RoundTrip) {
  auto k = *WgKey::from_hex(kPubHex);
  std::string b64 = k.to_base64();
  EXPECT_EQ(b64.size(), 44u);
  auto back = WgKey::from_base64(b64);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, k);
}

TEST(WgKey, RejectsMalformed) {
  EXPECT_FALSE(WgKey::from_base64("short=").ok());
  EXPECT_FALSE(WgKey::from_base64(std::string(44, '!')).ok());
  EXPECT_FALSE(WgKey::from_hex("zz").ok());
  EXPECT_FALSE(WgKey::from_hex(std::string(64, 'g')).ok());
  // Non-canonical base64: last symbol carries bits beyond the 256 key bits.
  std::string b64 = WgKey::from_hex(kPubHex)->to_base64();
  b64[42] = b64[42] == 'B' ? 'C' : 'B';
  auto r = WgKey::from_base64(b64);
  if (r.ok()) {
    EXPECT_EQ(r->to_base64(), b64);
  }
}

TEST(WgKey, GeneratesClampedDistinctKeys) {
  auto a = WgKey::generate_private();
  auto b = WgKey::generate_private();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->bytes()[0] & 7, 0);
  EXPECT_EQ(a->bytes()[31] & 0xC0, 0x40);
}

}  // namespace
}  // namespace wgate
