#include "core/cidr.h"

#include <gtest/gtest.h>

namespace wgate {
namespace {

TEST(Cidr, ParsesIpv4AndIpv6) {
  auto p = Prefix::parse("10.1.0.0/16");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->to_string(), "10.1.0.0/16");
  EXPECT_EQ(p->length(), 16);
  EXPECT_TRUE(p->address().is_v4());
  auto v6 = Prefix::parse("fd00:1::/64");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->to_string(), "fd00:1::/64");
  EXPECT_FALSE(v6->address().is_v4());
}

TEST(Cidr, BareAddressIsHostPrefix) {
  EXPECT_EQ(Prefix::parse("10.0.0.7")->to_string(), "10.0.0.7/32");
  EXPECT_EQ(Prefix::parse("fd00::7")->to_string(), "fd00::7/128");
}

TEST(Cidr, RejectsBadInputWithClearErrors) {
  for (const char* bad : {"10.0.0.0/33", "10.0.0/8", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", "", "/8",
                          "999.0.0.0/8", "fd00::/129", "10.0.0.01/32"}) {
    auto r = Prefix::parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find(std::string("'") + bad + "'"), std::string::npos) << r.error().message;
    }
  }
}

TEST(Cidr, RejectsHostBitsAndSuggestsNetwork) {
  auto r = Prefix::parse("10.1.2.3/16");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("10.1.0.0/16"), std::string::npos);
}

TEST(Cidr, ContainsAndOverlaps) {
  auto a = *Prefix::parse("10.0.0.0/8");
  auto b = *Prefix::parse("10.1.0.0/16");
  auto c = *Prefix::parse("10.2.0.0/16");
  auto d = *Prefix::parse("11.0.0.0/8");
  EXPECT_TRUE(a.contains(b));
  EXPECT_FALSE(b.contains(a));
  EXPECT_TRUE(a.overlaps(b));
  EXPECT_TRUE(b.overlaps(a));
  EXPECT_FALSE(b.overlaps(c));
  EXPECT_FALSE(a.overlaps(d));
  EXPECT_TRUE(b.contains(*IpAddress::parse("10.1.255.255")));
  EXPECT_FALSE(b.contains(*IpAddress::parse("10.2.0.0")));
  // Families never overlap.
  EXPECT_FALSE(Prefix::parse("::/0")->overlaps(*Prefix::parse("0.0.0.0/0")));
  EXPECT_TRUE(Prefix::parse("0.0.0.0/0")->contains(d));
}

TEST(Cidr, SizeAndNth) {
  auto p = *Prefix::parse("10.100.0.0/24");
  EXPECT_EQ(p.size(), 256u);
  EXPECT_EQ(p.nth(1).to_string(), "10.100.0.1");
  EXPECT_EQ(p.nth(255).to_string(), "10.100.0.255");
  EXPECT_EQ(Prefix::parse("10.0.0.0/8")->nth(256 + 2).to_string(), "10.0.1.2");
  EXPECT_EQ(Prefix::parse("fd00::/64")->nth(0x10001).to_string(), "fd00::1:1");
  EXPECT_EQ(Prefix::parse("fd00::/8")->size(), uint64_t{1} << 63);  // saturates
}

TEST(Cidr, MaskingOddLengths) {
  EXPECT_EQ(Prefix(*IpAddress::parse("10.1.2.255"), 23).to_string(), "10.1.2.0/23");
  EXPECT_EQ(Prefix(*IpAddress::parse("10.1.3.255"), 23).to_string(), "10.1.2.0/23");
  EXPECT_EQ(Prefix(*IpAddress::parse("255.255.255.255"), 0).to_string(), "0.0.0.0/0");
}

TEST(Cidr, OrderingIsByFamilyThenAddressThenLength) {
  EXPECT_LT(*Prefix::parse("10.0.0.0/8"), *Prefix::parse("10.0.0.0/16"));
  EXPECT_LT(*IpAddress::parse("10.0.0.9"), *IpAddress::parse("10.0.0.10"));
}

}  // namespace
}  // namespace wgate
