#include "http/cookie.h"

#include <gtest/gtest.h>

#include "http/message.h"

namespace wgate::http {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(ParseCookie, NamesValuesQuotesAndJunk) {
  Pairs out;
  parse_cookie_header("a=1; b=\"two\";c=;  d = 4 ; junk; =x; e f=1; g=a,b; h=ok", out);
  EXPECT_EQ(out, (Pairs{{"a", "1"}, {"b", "two"}, {"c", ""}, {"d", "4"}, {"h", "ok"}}));
  parse_cookie_header("a=2", out);  // a second header appends; first a still wins in Request::cookie
  Request q;
  q.cookies = out;
  EXPECT_EQ(q.cookie("a"), "1");
  EXPECT_FALSE(q.cookie("zzz"));
}

TEST(ParseCookie, StopsAtTheLimit) {
  Pairs out;
  std::string many;
  for (int i = 0; i < 100; ++i) many += "k" + std::to_string(i) + "=v; ";
  parse_cookie_header(many, out, 10);
  EXPECT_EQ(out.size(), 10u);
}

TEST(BuildCookie, Attributes) {
  CookieOptions o;
  EXPECT_EQ(*build_set_cookie("s", "v", o), "s=v; Path=/; HttpOnly; SameSite=Lax");
  o.secure = true;
  o.max_age = std::chrono::hours(1);
  o.path = "/api";
  o.same_site = SameSite::kStrict;
  EXPECT_EQ(*build_set_cookie("s", "v", o), "s=v; Path=/api; Max-Age=3600; Secure; HttpOnly; SameSite=Strict");
  EXPECT_EQ(*build_clear_cookie("s", o), "s=; Path=/api; Max-Age=0; Secure; HttpOnly; SameSite=Strict");
  Request q;
  q.secure = true;
  EXPECT_TRUE(CookieOptions::for_request(q).secure);
}

TEST(BuildCookie, RefusesWhatABrowserWouldMisread) {
  CookieOptions o;
  EXPECT_FALSE(build_set_cookie("a b", "v", o).ok());
  EXPECT_FALSE(build_set_cookie("", "v", o).ok());
  EXPECT_FALSE(build_set_cookie("a", "v;x", o).ok());
  EXPECT_FALSE(build_set_cookie("a", "v\r\nX: y", o).ok());
  EXPECT_FALSE(build_set_cookie("a", "\"q\"", o).ok());
  EXPECT_FALSE(build_set_cookie("__Host-s", "v", o).ok());  // needs Secure
  o.same_site = SameSite::kNone;
  EXPECT_FALSE(build_set_cookie("a", "v", o).ok());
  o.secure = true;
  EXPECT_TRUE(build_set_cookie("a", "v", o).ok());
  o.path = "/x";
  EXPECT_FALSE(build_set_cookie("__Host-s", "v", o).ok());  // needs Path=/
  o.path = "/x; Domain=evil";
  EXPECT_FALSE(build_set_cookie("a", "v", o).ok());
  o.path = "relative";
  EXPECT_FALSE(build_set_cookie("a", "v", o).ok());
}

}  // namespace
}  // namespace wgate::http
