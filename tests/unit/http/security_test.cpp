#include "http/security.h"

#include <gtest/gtest.h>

#include <set>

namespace wgate::http {
namespace {

TEST(SecurityHeaders, DefaultsWithoutOverridingTheHandler) {
  Response r = Response::text("x");
  r.set_header("Cache-Control", "no-cache");
  apply_security_headers(r, SecurityHeaders{});
  EXPECT_EQ(r.headers.get("Content-Security-Policy"), kDefaultContentSecurityPolicy);
  EXPECT_EQ(r.headers.get("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r.headers.get("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(r.headers.get("X-Frame-Options"), "DENY");
  EXPECT_EQ(r.headers.get("Cache-Control"), "no-cache");
  EXPECT_NE(std::string(kDefaultContentSecurityPolicy).find("script-src 'self';"), std::string::npos);
  EXPECT_EQ(std::string(kDefaultContentSecurityPolicy).find("unsafe-inline"), std::string::npos);
}

TEST(Csrf, TokensAreRandomAndCompareInConstantTime) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto t = make_csrf_token();
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->size(), 43u);
    EXPECT_EQ(t->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
    seen.insert(*t);
  }
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_TRUE(tokens_equal("abc", "abc"));
  EXPECT_FALSE(tokens_equal("abc", "abd"));
  EXPECT_FALSE(tokens_equal("abc", "abcd"));
  EXPECT_TRUE(tokens_equal("", ""));
}

Request post(std::vector<std::pair<std::string, std::string>> headers, std::string body = "") {
  Request q;
  q.method = "POST";
  q.headers.add("Host", "vpn.example.com");
  for (auto& [k, v] : headers) q.headers.add(k, v);
  q.body = std::move(body);
  return q;
}

TEST(Csrf, SameOriginByFetchMetadataOriginOrReferer) {
  CsrfPolicy own;  // derived from Host and Request::secure
  Request q = post({{"Origin", "http://vpn.example.com"}});
  EXPECT_TRUE(check_same_origin(q, own).ok());
  q.secure = true;  // now we are https: http is another origin
  EXPECT_FALSE(check_same_origin(q, own).ok());
  EXPECT_TRUE(check_same_origin(post({{"Origin", "HTTPS://VPN.example.com"}}), CsrfPolicy{{"https://vpn.example.com"}}).ok());
  EXPECT_FALSE(check_same_origin(post({{"Origin", "null"}}), own).ok());
  EXPECT_FALSE(check_same_origin(post({{"Origin", "http://vpn.example.com.evil"}}), own).ok());
  EXPECT_TRUE(check_same_origin(post({{"Sec-Fetch-Site", "same-origin"}, {"Origin", "null"}}), own).ok());
  EXPECT_FALSE(check_same_origin(post({{"Sec-Fetch-Site", "same-site"}}), own).ok());
  EXPECT_TRUE(check_same_origin(post({{"Referer", "http://vpn.example.com/ui/keys?x"}}), own).ok());
  EXPECT_FALSE(check_same_origin(post({{"Referer", "http://vpn.example.com.evil/ui"}}), own).ok());
  EXPECT_FALSE(check_same_origin(post({{"Referer", "garbage"}}), own).ok());
  EXPECT_TRUE(check_same_origin(post({}), own).ok());  // not a browser
  Request no_host;
  no_host.headers.add("Origin", "http://vpn.example.com");
  EXPECT_FALSE(check_same_origin(no_host, own).ok());
}

TEST(Csrf, TokenFromHeaderOrForm) {
  CsrfPolicy p{{"https://vpn.example.com"}};
  auto with = [](std::vector<std::pair<std::string, std::string>> extra, std::string body = "") {
    extra.emplace_back("Origin", "https://vpn.example.com");
    return post(std::move(extra), std::move(body));
  };
  EXPECT_TRUE(check_csrf(with({{"X-CSRF-Token", "t0k"}}), "t0k", p).ok());
  EXPECT_FALSE(check_csrf(with({{"X-CSRF-Token", "t0K"}}), "t0k", p).ok());
  EXPECT_FALSE(check_csrf(with({}), "t0k", p).ok());
  EXPECT_FALSE(check_csrf(with({{"X-CSRF-Token", ""}}), "", p).ok());  // no session token: nothing matches
  EXPECT_TRUE(check_csrf(with({{"Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"}},
                              "name=x&csrf_token=t0k"),
                         "t0k", p)
                  .ok());
  EXPECT_FALSE(check_csrf(with({{"Content-Type", "application/x-www-form-urlencoded"}}, "csrf_token=bad"), "t0k", p).ok());
  EXPECT_FALSE(check_csrf(with({{"Content-Type", "text/plain"}}, "csrf_token=t0k"), "t0k", p).ok());
  Request wrong_origin = post({{"Origin", "https://evil.example"}, {"X-CSRF-Token", "t0k"}});
  EXPECT_FALSE(check_csrf(wrong_origin, "t0k", p).ok());
  Request get = wrong_origin;
  get.method = "GET";
  EXPECT_TRUE(check_csrf(get, "t0k", p).ok());  // safe methods change nothing
}

}  // namespace
}  // namespace wgate::http
