#include "http/router.h"

#include <gtest/gtest.h>

namespace wgate::http {
namespace {

Handler named(std::string name) {
  return [name](const Request&) { return Response::text(name); };
}

std::string call(const RouteMatch& m) { return m.handler ? (*m.handler)(Request{}).body : "<none>"; }

TEST(Router, MatchesLiteralsAndParameters) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/", named("root")).ok());
  ASSERT_TRUE(r.add("GET", "/api/v1/keys/{id}", named("key")).ok());
  ASSERT_TRUE(r.add("GET", "/api/v1/keys/new", named("new")).ok());
  ASSERT_TRUE(r.add("GET", "/users/{user}/devices/{device}", named("device")).ok());
  ASSERT_TRUE(r.add("GET", "/ui/", named("ui")).ok());

  auto m = r.match("GET", "/");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(call(*m), "root");

  m = r.match("GET", "/api/v1/keys/42");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(call(*m), "key");
  EXPECT_EQ(m->params, (std::vector<std::pair<std::string, std::string>>{{"id", "42"}}));

  m = r.match("GET", "/api/v1/keys/new");  // the literal wins
  EXPECT_EQ(call(*m), "new");

  m = r.match("GET", "/users/al%20ice/devices/a%2Fb");  // decoded per segment
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->params, (std::vector<std::pair<std::string, std::string>>{{"user", "al ice"}, {"device", "a/b"}}));

  EXPECT_EQ(r.match("GET", "/ui/")->kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(r.match("GET", "/ui")->kind, RouteMatch::Kind::kNotFound);      // no trailing-slash guessing
  EXPECT_EQ(r.match("GET", "/api/v1/keys/")->kind, RouteMatch::Kind::kFound);  // an empty {id}
  EXPECT_EQ(r.match("GET", "/api/v1/keys/1/2")->kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(r.match("GET", "/api/v1/../v1/keys/1")->kind, RouteMatch::Kind::kNotFound);
}

TEST(Router, MethodNotAllowedListsTheMethods) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/keys/{id}", named("get")).ok());
  ASSERT_TRUE(r.add("DELETE", "/keys/{id}", named("delete")).ok());
  ASSERT_TRUE(r.add("POST", "/keys/new", named("post")).ok());
  auto m = r.match("PUT", "/keys/7");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(m->allow, "DELETE, GET, HEAD");
  // "new" is also an {id}: DELETE falls to the parameter route.
  EXPECT_EQ(call(*r.match("DELETE", "/keys/new")), "delete");
  EXPECT_EQ(r.match("PUT", "/keys/new")->allow, "DELETE, GET, HEAD, POST");
  EXPECT_EQ(r.match("get", "/keys/1")->kind, RouteMatch::Kind::kMethodNotAllowed);  // methods are case-sensitive
}

TEST(Router, HeadUsesGetUnlessItHasItsOwn) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/a", named("get a")).ok());
  ASSERT_TRUE(r.add("GET", "/b", named("get b")).ok());
  ASSERT_TRUE(r.add("HEAD", "/b", named("head b")).ok());
  EXPECT_EQ(call(*r.match("HEAD", "/a")), "get a");
  EXPECT_EQ(call(*r.match("HEAD", "/b")), "head b");
}

TEST(Router, RefusesBadPatternsAndDuplicates) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/keys/{id}", named("a")).ok());
  EXPECT_FALSE(r.add("GET", "/keys/{other}", named("b")).ok());  // same shape
  EXPECT_TRUE(r.add("POST", "/keys/{id}", named("c")).ok());
  EXPECT_FALSE(r.add("GET", "keys", named("d")).ok());
  EXPECT_FALSE(r.add("GET", "/a/{x}/{x}", named("d")).ok());
  EXPECT_FALSE(r.add("GET", "/a/{}", named("d")).ok());
  EXPECT_FALSE(r.add("GET", "/a/{b-c}", named("d")).ok());
  EXPECT_FALSE(r.add("GET", "/a/x{b}", named("d")).ok());
  EXPECT_FALSE(r.add("", "/a", named("d")).ok());
  EXPECT_FALSE(r.add("G T", "/a", named("d")).ok());
  EXPECT_EQ(r.size(), 2u);
}

TEST(Router, BadEscapesAreErrors) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/a/{x}", named("a")).ok());
  EXPECT_FALSE(r.match("GET", "/a/%").ok());
  EXPECT_FALSE(r.match("GET", "/a/%4").ok());
  EXPECT_FALSE(r.match("GET", "/a/%zz").ok());
  EXPECT_FALSE(r.match("GET", "/a/%00").ok());
  EXPECT_FALSE(r.match("GET", "a").ok());
  EXPECT_EQ(r.match("GET", "/a/1+2")->params[0].second, "1+2");  // '+' is literal in paths
}

TEST(Router, LargestBodyLimit) {
  Router r;
  EXPECT_EQ(r.largest_body_limit(100), 100u);
  ASSERT_TRUE(r.add("POST", "/a", named("a"), RouteOptions{.body_limit = 10}).ok());
  EXPECT_EQ(r.largest_body_limit(100), 100u);
  ASSERT_TRUE(r.add("POST", "/b", named("b"), RouteOptions{.body_limit = 1000}).ok());
  EXPECT_EQ(r.largest_body_limit(100), 1000u);
}

}  // namespace
}  // namespace wgate::http
