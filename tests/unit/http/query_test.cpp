#include "http/query.h"

#include <gtest/gtest.h>

namespace wgate::http {
namespace {

TEST(PercentDecode, DecodesAndRefusesMalformedEscapes) {
  EXPECT_EQ(*percent_decode("a%20b%2Fc%41%e2%82%ac", false), "a b/cA\xe2\x82\xac");
  EXPECT_EQ(*percent_decode("a+b", false), "a+b");
  EXPECT_EQ(*percent_decode("a+b", true), "a b");
  EXPECT_EQ(*percent_decode("%2B", true), "+");
  EXPECT_EQ(*percent_decode("", true), "");
  for (const char* bad : {"%", "%4", "a%", "%g0", "%0g", "%%", "%00", "a%00b"})
    EXPECT_FALSE(percent_decode(bad, true).ok()) << bad;
}

TEST(PercentEncode, RoundTrips) {
  std::string all;
  for (int c = 1; c < 256; ++c) all.push_back(static_cast<char>(c));
  std::string enc = percent_encode(all);
  EXPECT_EQ(enc.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%"),
            std::string::npos);
  EXPECT_EQ(*percent_decode(enc, false), all);
  EXPECT_EQ(percent_encode("a b/c~"), "a%20b%2Fc~");
}

TEST(ParseQuery, KeepsOrderAndRepeatedKeys) {
  auto q = parse_query("b=2&a=1&&a=3&flag&empty=&x%3Dy=%26");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->get("a"), "1");
  EXPECT_EQ(q->get_all("a"), (std::vector<std::string_view>{"1", "3"}));
  EXPECT_EQ(q->get("flag"), "");
  EXPECT_EQ(q->get("empty"), "");
  EXPECT_EQ(q->get("x=y"), "&");
  EXPECT_FALSE(q->get("missing"));
  EXPECT_EQ(q->size(), 6u);
  EXPECT_EQ(q->items().front().first, "b");
  EXPECT_EQ(parse_query("")->size(), 0u);
}

TEST(ParseQuery, Limits) {
  std::string many;
  for (int i = 0; i < 101; ++i) many += "k=v&";
  EXPECT_FALSE(parse_query(many).ok());
  EXPECT_TRUE(parse_query(many, QueryLimits{.max_pairs = 101}).ok());
  EXPECT_FALSE(parse_query("a=%zz").ok());
  EXPECT_FALSE(parse_query("a%=1").ok());
}

}  // namespace
}  // namespace wgate::http
