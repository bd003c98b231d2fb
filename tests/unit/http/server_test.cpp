// The server for real, on 127.0.0.1 with a port of its choosing, through raw
// sockets: routing, the 4xx contract, timeouts, keep-alive and pipelining,
// the connection limit, security headers, CSRF, assets, stop().
#include "http/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "http/cookie.h"
#include "http/rate_limiter.h"
#include "http/security.h"
#include "http/static_assets.h"
#include "http_test_assets.h"
#include "test_client.h"

namespace wgate::http {
namespace {

using namespace std::chrono_literals;
using testing::get_request;
using testing::TestClient;

Router test_router() {
  Router r;
  auto must = [](Status s) { ASSERT_TRUE(s.ok()) << s.error().message; };
  must(r.add("GET", "/hello", [](const Request&) { return Response::text("hello"); }));
  must(r.add("GET", "/api/v1/keys/{id}", [](const Request& q) { return Response::json(std::string(q.param("id"))); }));
  must(r.add("DELETE", "/api/v1/keys/{id}", [](const Request&) { return Response::status_only(204); }));
  must(r.add("POST", "/api/v1/keys", [](const Request& q) {
    return Response::text("got " + std::to_string(q.body.size()) + " " + q.body.substr(0, 16));
  }));
  must(r.add("POST", "/big", [](const Request& q) { return Response::text(std::to_string(q.body.size())); },
             RouteOptions{.body_limit = 1 << 20}));
  must(r.add("GET", "/echo", [](const Request& q) {
    std::string out = "path=" + q.path + "\n";
    for (const auto& [k, v] : q.query.items()) out += "q:" + k + "=" + v + "\n";
    for (const auto& [k, v] : q.cookies) out += "c:" + k + "=" + v + "\n";
    out += "remote=" + q.remote_address + "\n";
    out += std::string("ua=") + std::string(q.headers.get("user-agent").value_or("")) + "\n";
    return Response::text(out);
  }));
  must(r.add("GET", "/throw", [](const Request&) -> Response { throw std::runtime_error("secret detail"); }));
  must(r.add("GET", "/bad-header", [](const Request&) {
    return Response::text("x").set_header("X-Injected", "a\r\nSet-Cookie: evil=1");
  }));
  must(r.add("GET", "/login", [](const Request& q) {
    auto cookie = build_set_cookie("session", "abc", CookieOptions::for_request(q));
    return Response::redirect("/").add_header("Set-Cookie", cookie.ok() ? *cookie : "");
  }));
  must(r.add("POST", "/form", [](const Request& q) {
    auto ok = check_csrf(q, "tok123", CsrfPolicy{});
    if (!ok) return Response::text(ok.error().message, 403);
    return Response::text("done");
  }));
  auto limiter = std::make_shared<RateLimiter>(RateLimitOptions{.burst = 3, .per_second = 0.001});
  must(r.add("POST", "/rate", [limiter](const Request& q) {
    if (!limiter->allow(q.remote_address))
      return Response::text("slow down", 429).set_header("Retry-After",
                                                         std::to_string(limiter->retry_after(q.remote_address).count()));
    return Response::text("ok");
  }));
  StaticAssets assets(embedded::http_test_assets());
  must(assets.add_routes(r, "/ui/"));
  return r;
}

ServerOptions test_options() {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.read_timeout = 2s;
  o.write_timeout = 2s;
  o.idle_timeout = 2s;
  o.threads = 2;
  return o;
}

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions options = test_options()) {
    options.on_error = [this](std::string_view what) {
      std::lock_guard lock(mu_);
      errors_.emplace_back(what);
    };
    auto s = HttpServer::start(std::move(options), test_router());
    ASSERT_TRUE(s.ok()) << s.error().message;
    server_ = std::move(*s);
    ASSERT_NE(server_->port(), 0);
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  // One request on a fresh connection.
  std::optional<testing::WireReply> ask(const std::string& request) {
    TestClient c(server_->port());
    c.send(request);
    return c.read_reply();
  }

  std::vector<std::string> errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }

  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::vector<std::string> errors_;
};

TEST_F(ServerTest, RoutesWithParametersAndQuery) {
  start();
  auto r = ask(get_request("/hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  EXPECT_EQ(r->headers.get("Content-Type"), "text/plain; charset=utf-8");

  r = ask(get_request("/api/v1/keys/a%2Fb%20c"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "a/b c");

  r = ask(get_request("/echo?x=1&tag=a&tag=b%26c&sp=a+b", "Cookie: a=1; b=\"two\"\r\nCookie: c=3\r\nUser-Agent: t\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "path=/echo\nq:x=1\nq:tag=a\nq:tag=b&c\nq:sp=a b\nc:a=1\nc:b=two\nc:c=3\nremote=127.0.0.1\nua=t\n");
}

TEST_F(ServerTest, NotFoundAndMethodNotAllowed) {
  start();
  auto r = ask(get_request("/nope"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = ask("POST /api/v1/keys/7 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->headers.get("Allow"), "DELETE, GET, HEAD");
  r = ask("DELETE /api/v1/keys/7 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_FALSE(r->headers.contains("Content-Length"));
}

TEST_F(ServerTest, MalformedRequestsGetA4xxAndAClose) {
  start();
  struct Case {
    std::string request;
    int status;
  };
  std::vector<Case> cases = {
      {"HELLO\r\n\r\n", 400},
      {"GET /hello HTTP/1.1\r\n\r\n", 400},                                  // no Host
      {"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},            // two Hosts
      {"GET http://example.com/hello HTTP/1.1\r\nHost: x\r\n\r\n", 400},    // absolute-form: no proxy here
      {"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},                        // bad escape
      {"GET /echo?a=%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400},                  // NUL
      {"GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", 400},
      {"POST /api/v1/keys HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"POST /api/v1/keys HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST /api/v1/keys HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"POST /api/v1/keys HTTP/1.1\r\nHost: x\r\n\r\nbody", 411},
      {"POST /api/v1/keys HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n", 413},
      {"GET /" + std::string(5000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
      {"GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
      {"GET /hello HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(10000, 'p') + "\r\n\r\n", 431},
  };
  for (const Case& c : cases) {
    TestClient client(server_->port());
    client.send(c.request);
    auto r = client.read_reply();
    ASSERT_TRUE(r) << c.request.substr(0, 80);
    EXPECT_EQ(r->status, c.status) << c.request.substr(0, 80);
    EXPECT_EQ(r->headers.get("Connection"), "close") << c.request.substr(0, 80);
    EXPECT_TRUE(client.closed_within(3s)) << c.request.substr(0, 80);
  }
  EXPECT_TRUE(errors().empty());
}

TEST_F(ServerTest, BodiesWithinLimitsChunkedAndPerRoute) {
  start();
  auto r = ask("POST /api/v1/keys HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "got 5 hello");
  r = ask("POST /api/v1/keys HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "got 5 abcde");
  // Chunked over the limit: no length to refuse early, so 413 mid-body.
  std::string chunk(40000, 'z');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  std::string big = "POST /api/v1/keys HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  big += std::string(size_line) + chunk + "\r\n" + size_line + chunk + "\r\n0\r\n\r\n";
  r = ask(big);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  // A route with its own, larger limit.
  r = ask("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + std::string(200000, 'b'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "200000");
  r = ask("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(ServerTest, ExpectContinueGetsA100First) {
  start();
  TestClient c(server_->port());
  c.send("POST /api/v1/keys HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  auto interim = c.read_reply();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  c.send("abc");
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "got 3 abc");
}

TEST_F(ServerTest, HeadHasTheLengthButNoBody) {
  start();
  TestClient c(server_->port());
  c.send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  auto r = c.read_reply(5s, /*head=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.get("Content-Length"), "5");
  c.send(get_request("/hello"));  // the stream is still in step
  r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello");
}

TEST_F(ServerTest, SlowlorisIsCutByTheReadTimeout) {
  auto o = test_options();
  o.read_timeout = 500ms;
  start(o);
  TestClient c(server_->port());
  c.send("GET /hello HTTP/1.1\r\nHost: x\r\n");
  auto begin = std::chrono::steady_clock::now();
  // One header byte every 100 ms: each is progress, none is a request.
  std::optional<testing::WireReply> r;
  for (int i = 0; i < 30 && !r; ++i) {
    if (!c.send("X")) break;
    r = c.read_reply(100ms);
  }
  auto took = std::chrono::steady_clock::now() - begin;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_LT(took, 1500ms);
  EXPECT_TRUE(c.closed_within(2s));

  // A connection that sends nothing is closed without an answer.
  TestClient silent(server_->port());
  EXPECT_TRUE(silent.closed_within(2s));
  EXPECT_TRUE(silent.pending().empty());
}

TEST_F(ServerTest, KeepAlivePipeliningAndIdleTimeout) {
  auto o = test_options();
  o.idle_timeout = 300ms;
  start(o);
  TestClient c(server_->port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(get_request("/hello")));
    auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "hello");
    EXPECT_NE(r->headers.get("Connection"), "close");
  }
  // Three requests in one write come back in order.
  ASSERT_TRUE(c.send(get_request("/api/v1/keys/1") + get_request("/nope") + get_request("/api/v1/keys/3")));
  auto r1 = c.read_reply();
  auto r2 = c.read_reply();
  auto r3 = c.read_reply();
  ASSERT_TRUE(r1 && r2 && r3);
  EXPECT_EQ(r1->body, "1");
  EXPECT_EQ(r2->status, 404);
  EXPECT_EQ(r3->body, "3");
  // Idle past the keep-alive timeout: closed.
  EXPECT_TRUE(c.closed_within(2s));

  // HTTP/1.0 without keep-alive closes after the answer.
  TestClient old(server_->port());
  old.send("GET /hello HTTP/1.0\r\n\r\n");
  auto r = old.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello");
  EXPECT_TRUE(old.closed_within(1s));
}

TEST_F(ServerTest, ConnectionLimitAnswers503AboveIt) {
  auto o = test_options();
  o.max_connections = 8;
  start(o);
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(std::make_unique<TestClient>(server_->port()));
    ASSERT_TRUE(clients.back()->send(get_request("/hello")));
    auto r = clients.back()->read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(server_->open_connections(), 8u);
  TestClient extra(server_->port());
  auto r = extra.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_TRUE(extra.closed_within(1s));

  clients.pop_back();  // a slot frees up once the server sees the close
  for (int i = 0; i < 100 && server_->open_connections() >= 8; ++i) std::this_thread::sleep_for(10ms);
  TestClient again(server_->port());
  again.send(get_request("/hello"));
  r = again.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, ManyConcurrentClients) {
  auto o = test_options();
  o.max_connections = 64;
  start(o);
  constexpr int kClients = 48;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::vector<std::unique_ptr<TestClient>> mine;
      for (int i = 0; i < kClients / 4; ++i) mine.push_back(std::make_unique<TestClient>(server_->port()));
      for (int round = 0; round < 5; ++round)
        for (auto& c : mine) {
          c->send(get_request("/api/v1/keys/" + std::to_string(round)));
          auto r = c->read_reply();
          if (r && r->status == 200 && r->body == std::to_string(round)) ++ok;
        }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kClients * 5);
}

TEST_F(ServerTest, SecurityHeadersOnEveryResponse) {
  start();
  for (const std::string& req :
       {get_request("/hello"), get_request("/nope"), std::string("POST /api/v1/keys HTTP/1.1\r\nHost: x\r\n\r\n")}) {
    auto r = ask(req);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->headers.get("Content-Security-Policy"), kDefaultContentSecurityPolicy) << r->status;
    EXPECT_EQ(r->headers.get("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(r->headers.get("Referrer-Policy"), "no-referrer");
    EXPECT_EQ(r->headers.get("X-Frame-Options"), "DENY");
    EXPECT_EQ(r->headers.get("Cache-Control"), "no-store");
    EXPECT_FALSE(r->headers.contains("Server"));
  }
}

TEST_F(ServerTest, HandlerFailuresBecome500WithoutDetails) {
  start();
  TestClient c(server_->port());
  c.send(get_request("/throw"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body.find("secret"), std::string::npos);
  c.send(get_request("/hello"));  // the connection survives
  r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  r = ask(get_request("/bad-header"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_FALSE(r->headers.contains("X-Injected"));
  EXPECT_FALSE(r->headers.contains("Set-Cookie"));
  auto e = errors();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_NE(e[0].find("secret detail"), std::string::npos);
  EXPECT_NE(e[1].find("X-Injected"), std::string::npos);
}

TEST_F(ServerTest, CookiesAreSecureOnlyBehindTls) {
  start();
  auto r = ask(get_request("/login"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  EXPECT_EQ(r->headers.get("Location"), "/");
  EXPECT_EQ(r->headers.get("Set-Cookie"), "session=abc; Path=/; HttpOnly; SameSite=Lax");
  server_->stop();

  auto o = test_options();
  o.behind_tls_proxy = true;
  start(o);
  r = ask(get_request("/login"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->headers.get("Set-Cookie"), "session=abc; Path=/; Secure; HttpOnly; SameSite=Lax");
}

TEST_F(ServerTest, CsrfAcceptsOwnOriginWithTokenRejectsTheRest) {
  start();
  auto post = [&](std::string_view headers, std::string_view body = "") {
    return ask("POST /form HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
               std::string(headers) + "\r\n" + std::string(body));
  };
  auto r = post("Origin: http://127.0.0.1\r\nX-CSRF-Token: tok123\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = post("Sec-Fetch-Site: same-origin\r\nOrigin: null\r\nContent-Type: application/x-www-form-urlencoded\r\n",
           "a=1&csrf_token=tok123");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = post("Origin: http://127.0.0.1\r\nX-CSRF-Token: tok124\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = post("Origin: http://127.0.0.1\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = post("Origin: https://evil.example\r\nX-CSRF-Token: tok123\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = post("Sec-Fetch-Site: cross-site\r\nX-CSRF-Token: tok123\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
}

TEST_F(ServerTest, RateLimitedRoute) {
  start();
  TestClient c(server_->port());
  std::vector<int> statuses;
  for (int i = 0; i < 5; ++i) {
    c.send("POST /rate HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    auto r = c.read_reply();
    ASSERT_TRUE(r);
    statuses.push_back(r->status);
    if (r->status == 429) {
      EXPECT_TRUE(r->headers.contains("Retry-After"));
    }
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200, 429, 429}));
}

TEST_F(ServerTest, EmbeddedAssetsWithEtags) {
  start();
  TestClient c(server_->port());
  c.send(get_request("/ui/app.js"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "console.log(\"wgate\");\n");
  EXPECT_EQ(r->headers.get("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(r->headers.get("Cache-Control"), "no-cache");
  auto etag = r->headers.get("ETag");
  ASSERT_TRUE(etag);
  std::string tag(*etag);
  EXPECT_EQ(tag.size(), 34u);

  c.send(get_request("/ui/app.js", "If-None-Match: \"other\", " + tag + "\r\n"));
  r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 304);
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(r->headers.get("ETag"), tag);

  c.send(get_request("/ui/"));
  r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->headers.get("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r->body.find("<title>wgate</title>"), std::string::npos);

  c.send(get_request("/ui/empty.txt"));
  r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.get("Content-Length"), "0");
}

TEST_F(ServerTest, StopClosesOpenConnections) {
  auto o = test_options();
  o.idle_timeout = 60s;
  o.read_timeout = 60s;
  start(o);
  std::vector<std::unique_ptr<TestClient>> idle;
  for (int i = 0; i < 5; ++i) {
    idle.push_back(std::make_unique<TestClient>(server_->port()));
    idle.back()->send(get_request("/hello"));
    ASSERT_TRUE(idle.back()->read_reply());
  }
  TestClient half(server_->port());
  half.send("GET /hello HTTP/1.1\r\nHost:");
  TestClient silent(server_->port());
  for (int i = 0; i < 100 && server_->open_connections() < 7; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->open_connections(), 7u);

  auto begin = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
  EXPECT_EQ(server_->open_connections(), 0u);
  for (auto& c : idle) EXPECT_TRUE(c->closed_within(1s));
  EXPECT_TRUE(half.closed_within(1s));
  EXPECT_TRUE(silent.closed_within(1s));
  server_->stop();  // idempotent
}

TEST(ServerStart, RefusesBadOptionsAndBusyPorts) {
  ServerOptions o;
  o.listen = "localhost:80";
  EXPECT_FALSE(HttpServer::start(o, Router()).ok());
  o.listen = "127.0.0.1:99999";
  EXPECT_FALSE(HttpServer::start(o, Router()).ok());
  o.listen = "127.0.0.1";
  EXPECT_FALSE(HttpServer::start(o, Router()).ok());
  o.listen = "127.0.0.1:0";
  o.threads = 0;
  EXPECT_FALSE(HttpServer::start(o, Router()).ok());
  o.threads = 1;
  o.tls = TlsOptions{"/nonexistent/cert.pem", "/nonexistent/key.pem"};
  auto bad_tls = HttpServer::start(o, Router());
  ASSERT_FALSE(bad_tls.ok());
  EXPECT_NE(bad_tls.error().message.find("cert.pem"), std::string::npos);
  o.tls.reset();

  auto first = HttpServer::start(o, Router());
  ASSERT_TRUE(first.ok());
  o.listen = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = HttpServer::start(o, Router());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().sys_errno, EADDRINUSE);

  o.listen = "[::1]:0";
  auto v6 = HttpServer::start(o, Router());
  if (v6.ok()) {  // hosts without IPv6 loopback skip this
    EXPECT_NE((*v6)->port(), 0);
  }
}

}  // namespace
}  // namespace wgate::http
