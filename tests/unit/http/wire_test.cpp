// The request pipeline without sockets (wire::parse_request_bytes runs the
// connection's steps on bytes), and what reaches the wire from a Response.
#include "http/wire.h"

#include <gtest/gtest.h>

namespace wgate::http::wire {
namespace {

Router echo_router() {
  Router r;
  EXPECT_TRUE(r.add("GET", "/x/{id}", [](const Request& q) { return Response::text(std::string(q.param("id"))); }).ok());
  EXPECT_TRUE(r.add("POST", "/x", [](const Request& q) { return Response::text(q.body); }).ok());
  EXPECT_TRUE(r.add("POST", "/small", [](const Request& q) { return Response::text(q.body); },
                    RouteOptions{.body_limit = 4})
                  .ok());
  return r;
}

TEST(Wire, StatusesOfRefusals) {
  Router r = echo_router();
  Limits limits;
  struct Case {
    std::string bytes;
    int status;
  };
  std::vector<Case> cases = {
      {"GET /x/1 HTTP/1.1\r\nHost: h\r\n\r\n", 0},
      {"GET /x/1 HTTP/1.1\r\nHost: h\r\n", 400},  // the stream ended mid-header
      {"", 400},
      {"GET /x/1 HTTP/1.0\r\n\r\n", 0},  // 1.0 needs no Host
      {"GET /x/1 HTTP/1.1\r\nHost: h\r\nBad Header: v\r\n\r\n", 400},
      {"GET /x/1 HTTP/1.1\r\nHost: h\r\n folded: v\r\n\r\n", 400},
      {"GET /y HTTP/1.1\r\nHost: h\r\n\r\n", 404},
      {"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 405},
      {"POST /x HTTP/1.1\r\nHost: h\r\n\r\n", 411},
      {"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
      {"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nab", 400},  // body cut short
      {"POST /small HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde", 413},
      {"POST /small HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n", 413},
      {"POST /small HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
      {"POST /small HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"POST /small HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400},
      {"GET /" + std::string(4100, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", 414},
      {"GET /" + std::string(9000, 'a'), 414},  // the request line alone is over the header limit
      {"GET / HTTP/1.1\r\n" + std::string(9000, 'h'), 431},
      {"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
  };
  for (const Case& c : cases) {
    Outcome o = parse_request_bytes(c.bytes, r, limits);
    EXPECT_EQ(o.status, c.status) << c.bytes.substr(0, 60);
    EXPECT_TRUE(o.response.starts_with("HTTP/1.1 ")) << c.bytes.substr(0, 60);
  }
}

TEST(Wire, RequestFields) {
  Router r = echo_router();
  Outcome o = parse_request_bytes(
      "POST /x?a=1&a=2 HTTP/1.1\r\nhost: h\r\nX-Multi: 1\r\nx-multi: 2\r\nCookie: s=v\r\nContent-Length: 4\r\n\r\nbody",
      r, Limits{});
  ASSERT_EQ(o.status, 0);
  EXPECT_EQ(o.request.method, "POST");
  EXPECT_EQ(o.request.target, "/x?a=1&a=2");
  EXPECT_EQ(o.request.path, "/x");
  EXPECT_EQ(o.request.query.get_all("a"), (std::vector<std::string_view>{"1", "2"}));
  EXPECT_EQ(o.request.headers.get("HOST"), "h");
  EXPECT_EQ(o.request.headers.get_all("X-MULTI"), (std::vector<std::string_view>{"1", "2"}));
  EXPECT_EQ(o.request.cookie("s"), "v");
  EXPECT_EQ(o.request.body, "body");
  EXPECT_NE(o.response.find("\r\n\r\nbody"), std::string::npos);
}

TEST(Wire, ResponseFraming) {
  SecurityHeaders sec;
  Response r = Response::text("hello");
  r.set_header("Content-Length", "999");  // framing is the server's
  auto w = to_wire_response(r, false, 11, true, sec);
  ASSERT_TRUE(w.ok());
  std::string bytes = serialize(*w);
  EXPECT_TRUE(bytes.starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_NE(bytes.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_EQ(bytes.find("999"), std::string::npos);
  EXPECT_TRUE(bytes.ends_with("\r\n\r\nhello"));

  auto head = to_wire_response(Response::text("hello"), true, 11, true, sec);
  EXPECT_TRUE(serialize(*head).ends_with("Content-Length: 5\r\n\r\n"));

  Response no_content = Response::text("ignored", 204);
  EXPECT_TRUE(serialize(*to_wire_response(no_content, false, 11, true, sec)).ends_with("\r\n\r\n"));
  EXPECT_EQ(serialize(*to_wire_response(no_content, false, 11, true, sec)).find("Content-Length"), std::string::npos);

  auto closing = to_wire_response(Response::text("x"), false, 11, false, sec);
  EXPECT_NE(serialize(*closing).find("Connection: close\r\n"), std::string::npos);

  EXPECT_TRUE(serialize(*to_wire_response(Response::status_only(429), false, 11, true, sec))
                  .starts_with("HTTP/1.1 429 Too Many Requests\r\n"));
  EXPECT_FALSE(to_wire_response(Response::text("x", 100), false, 11, true, sec).ok());
  EXPECT_FALSE(to_wire_response(Response::text("x", 600), false, 11, true, sec).ok());
  EXPECT_FALSE(to_wire_response(Response::redirect("/a\r\nX: y"), false, 11, true, sec).ok());
  EXPECT_FALSE(to_wire_response(Response::text("x").set_header("Bad Name", "v"), false, 11, true, sec).ok());
  EXPECT_TRUE(to_wire_response(Response::text("x", 299), false, 11, true, sec).ok());  // no reason phrase known
}

TEST(Wire, HandlerExceptionIs500) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("x"); }).ok());
  EXPECT_EQ(parse_request_bytes("GET /boom HTTP/1.1\r\nHost: h\r\n\r\n", r, Limits{}).status, 500);
}

}  // namespace
}  // namespace wgate::http::wire
