#include "auth/base64url.h"

#include <gtest/gtest.h>

namespace wgate::auth {
namespace {

TEST(Base64url, RoundTripsEveryLengthAndByte) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    auto text = base64url_encode(data);
    EXPECT_EQ(text.find_first_of("+/="), std::string::npos) << text;
    auto back = base64url_decode(text);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, data);
    data.push_back(static_cast<char>(i * 37));
  }
}

TEST(Base64url, KnownValues) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(*base64url_decode("-_8"), "\xfb\xff");
}

TEST(Base64url, RejectsPaddingAndForeignCharacters) {
  for (const char* bad : {"Zg==", "Zm8=", "+_8", "/w", "Zm 9v", "Zm9v\n", "Zm9\0v", "Zm.9"}) {
    auto r = base64url_decode(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find("invalid base64url"), std::string::npos);
    }
  }
  auto nul = base64url_decode(std::string_view("Zm\0v", 4));
  ASSERT_FALSE(nul.ok());
  EXPECT_NE(nul.error().message.find("byte 0 at offset 2"), std::string::npos) << nul.error().message;
}

TEST(Base64url, RejectsImpossibleLengthAndNonCanonicalText) {
  EXPECT_FALSE(base64url_decode("Z").ok());
  EXPECT_FALSE(base64url_decode("Zm9vY").ok());
  EXPECT_TRUE(base64url_decode("QQ").ok());
  auto r = base64url_decode("QR");  // same byte as "QQ", non-zero unused bits
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("non-canonical"), std::string::npos);
  EXPECT_FALSE(base64url_decode("Zm9=").ok());
  EXPECT_FALSE(base64url_decode("Zm-").ok());
}

}  // namespace
}  // namespace wgate::auth
