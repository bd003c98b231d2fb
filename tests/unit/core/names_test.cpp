#include "core/names.h"

#include <gtest/gtest.h>

namespace wgate {
namespace {

TEST(Names, InterfaceNames) {
  for (const char* ok : {"wg0", "wg-dev", "a.b_c", "123456789012345"}) EXPECT_TRUE(check_interface_name(ok).ok()) << ok;
  for (const char* bad : {"", ".", "..", "1234567890123456", "wg/0", "wg 0", "wg:0", "wg\"0", "wg\n"}) {
    auto st = check_interface_name(bad);
    EXPECT_FALSE(st.ok()) << bad;
  }
}

TEST(Names, UserNames) {
  EXPECT_TRUE(check_user_name("alice.smith+ops@example.com").ok());
  EXPECT_FALSE(check_user_name("").ok());
  EXPECT_FALSE(check_user_name(std::string(65, 'a')).ok());
  EXPECT_FALSE(check_user_name("a b").ok());
  EXPECT_FALSE(check_user_name("a'b").ok());
}

TEST(Names, DeviceNames) {
  for (const char* ok : {"laptop", "default", "a", "work-laptop_2.local"}) EXPECT_TRUE(check_device_name(ok).ok()) << ok;
  EXPECT_TRUE(check_device_name(std::string(64, 'd')).ok());
  for (const char* bad : {"", "my laptop", "alice@laptop", "a+b", "a/b", "x\n", "Zo\xc3\xab"}) {
    auto st = check_device_name(bad);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.error().message.find("not a valid device name"), std::string::npos);
  }
  EXPECT_FALSE(check_device_name(std::string(65, 'd')).ok());
}

TEST(Names, TextMustBeUtf8WithoutControls) {
  EXPECT_TRUE(check_text("label", "Zoë's laptop \xe2\x9c\x93", 100).ok());
  EXPECT_TRUE(check_text("label", "\xf0\x9f\x94\x91 key", 100).ok());
  auto st = check_text("label", "tab\there", 100);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("label"), std::string::npos);
  EXPECT_FALSE(check_text("label", "\xff", 100).ok());           // not UTF-8
  EXPECT_FALSE(check_text("label", "\xc0\xaf", 100).ok());       // overlong
  EXPECT_FALSE(check_text("label", "\xed\xa0\x80", 100).ok());   // surrogate
  EXPECT_FALSE(check_text("label", "\xe2\x9c", 100).ok());       // truncated
  EXPECT_FALSE(check_text("label", "\x7f", 100).ok());
  EXPECT_FALSE(check_text("label", std::string(101, 'x'), 100).ok());
}

}  // namespace
}  // namespace wgate
