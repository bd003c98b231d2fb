// The libcurl HttpClient against a tiny HTTP server on 127.0.0.1 in a
// thread of the test (never any other address).
#include "auth/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "util/fd.h"

namespace wgate::auth {
namespace {

using namespace std::chrono_literals;

struct ServedRequest {
  std::string method;
  std::string target;
  std::string head;  // request line and headers
  std::string body;

  // The value of header `name` (case-insensitive), or "(absent)".
  std::string header(const std::string& name) const {
    std::string lower_head = head;
    std::string key = "\r\n" + name + ":";
    for (auto* s : {&lower_head, &key}) {
      for (char& c : *s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    size_t at = lower_head.find(key);
    if (at == std::string::npos) return "(absent)";
    size_t start = at + key.size();
    size_t end = head.find("\r\n", start);
    std::string v = head.substr(start, end - start);
    while (!v.empty() && v.front() == ' ') v.erase(v.begin());
    return v;
  }
};

struct Reply {
  std::string raw;  // the whole HTTP response, as sent
  std::chrono::milliseconds delay{0};
};

inline Reply ok_reply(const std::string& body, const std::string& type = "application/json") {
  return {"HTTP/1.1 200 OK\r\nContent-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\nConnection: close\r\n\r\n" + body};
}

// One connection at a time; stops (and joins) when destroyed.
class LoopbackServer {
 public:
  using Handler = std::function<Reply(const ServedRequest&)>;

  explicit LoopbackServer(Handler handler) : handler_(std::move(handler)) {
    listener_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(listener_.valid());
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listener_.get(), 8), 0);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~LoopbackServer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  int port() const { return port_; }
  std::vector<ServedRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  bool stopping() {
    std::lock_guard lock(mu_);
    return stop_;
  }

  void run() {
    while (!stopping()) {
      pollfd p{listener_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn.valid()) continue;
      ServedRequest req;
      if (!read_request(conn.get(), req)) continue;
      {
        std::lock_guard lock(mu_);
        requests_.push_back(req);
      }
      Reply reply = handler_(req);
      {
        std::unique_lock lock(mu_);
        if (cv_.wait_for(lock, reply.delay, [this] { return stop_; })) return;
      }
      size_t sent = 0;
      while (sent < reply.raw.size()) {
        ssize_t n = ::send(conn.get(), reply.raw.data() + sent, reply.raw.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;  // the client gave up (timeout, body cap)
        sent += static_cast<size_t>(n);
      }
    }
  }

  static bool read_request(int fd, ServedRequest& req) {
    std::string data;
    char buf[4096];
    size_t head_end = std::string::npos;
    size_t want = 0;
    for (;;) {
      if (head_end == std::string::npos) {
        head_end = data.find("\r\n\r\n");
        if (head_end != std::string::npos) {
          req.head = data.substr(0, head_end);
          std::string cl = req.header("Content-Length");
          want = head_end + 4 + (cl == "(absent)" ? 0 : std::stoul(cl));
        }
      }
      if (head_end != std::string::npos && data.size() >= want) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) return false;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      data.append(buf, static_cast<size_t>(n));
    }
    req.body = data.substr(head_end + 4, want - head_end - 4);
    size_t sp1 = req.head.find(' ');
    size_t sp2 = req.head.find(' ', sp1 + 1);
    req.method = req.head.substr(0, sp1);
    req.target = req.head.substr(sp1 + 1, sp2 - sp1 - 1);
    return true;
  }

  Handler handler_;
  UniqueFd listener_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<ServedRequest> requests_;
};

HttpOptions test_options() {
  HttpOptions o;
  o.connect_timeout = 2s;
  o.total_timeout = 5s;
  o.use_environment_proxy = false;  // a proxy in the environment must not see loopback tests
  return o;
}

std::unique_ptr<HttpClient> client(const HttpOptions& options = test_options()) {
  auto c = make_curl_http_client(options);
  EXPECT_TRUE(c.ok()) << c.error().message;
  return c.ok() ? std::move(c).value() : nullptr;
}

TEST(CurlHttpClient, GetReturnsStatusBodyAndContentType) {
  LoopbackServer server([](const ServedRequest& r) {
    if (r.target == "/missing") return Reply{"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"};
    return ok_reply(R"({"issuer":"x"})", "application/json; charset=utf-8");
  });
  auto http = client();
  auto r = http->get(server.url("/.well-known/openid-configuration"), {{"Accept", "application/json"}, {"X-Test", "1"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"issuer":"x"})");
  EXPECT_EQ(r->content_type, "application/json; charset=utf-8");
  auto req = server.requests().at(0);
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/.well-known/openid-configuration");
  EXPECT_EQ(req.header("Accept"), "application/json");
  EXPECT_EQ(req.header("X-Test"), "1");
  EXPECT_EQ(req.header("User-Agent"), "wgate");

  r = http->get(server.url("/missing"), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "no");
  EXPECT_EQ(r->content_type, "");
}

TEST(CurlHttpClient, PostFormEscapesNamesAndValues) {
  LoopbackServer server([](const ServedRequest&) { return ok_reply("{}"); });
  auto http = client();
  auto r = http->post_form(server.url("/token"),
                           {{"grant_type", "authorization_code"},
                            {"redirect_uri", "https://vpn.example.com/cb?a=1&b=2"},
                            {"a b", "c+d e/\xc3\xbc~._-"},
                            {"empty", ""}},
                           {{"Authorization", "Basic eDp5"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto req = server.requests().at(0);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(req.header("Authorization"), "Basic eDp5");
  EXPECT_EQ(req.body,
            "grant_type=authorization_code&redirect_uri=https%3A%2F%2Fvpn.example.com%2Fcb%3Fa%3D1%26b%3D2"
            "&a%20b=c%2Bd%20e%2F%C3%BC~._-&empty=");
}

TEST(CurlHttpClient, PostJsonSendsTheBodyUnchanged) {
  LoopbackServer server([](const ServedRequest&) { return ok_reply("{}"); });
  auto http = client();
  ASSERT_TRUE(http->post_json(server.url("/hook"), R"({"a":[1,2],"b":"c d"})", {}).ok());
  auto req = server.requests().at(0);
  EXPECT_EQ(req.header("Content-Type"), "application/json");
  EXPECT_EQ(req.body, R"({"a":[1,2],"b":"c d"})");
}

TEST(CurlHttpClient, TotalTimeoutIsEnforcedAndTheErrorHidesTheQuery) {
  LoopbackServer server([](const ServedRequest&) {
    Reply r = ok_reply("{}");
    r.delay = 3s;
    return r;
  });
  HttpOptions o = test_options();
  o.total_timeout = 300ms;
  auto http = client(o);
  auto start = std::chrono::steady_clock::now();
  auto r = http->get(server.url("/slow?code=SECRET-CODE&state=s"), {});
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_LT(took, 2s);
  EXPECT_EQ(r.error().message.rfind("GET " + server.url("/slow") + ": Timeout was reached", 0), 0u)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("SECRET"), std::string::npos);
}

TEST(CurlHttpClient, BodyAboveTheCapFails) {
  const std::string big(100'000, 'x');
  LoopbackServer server([&](const ServedRequest& r) {
    if (r.target == "/chunked") {
      // No Content-Length: the cap must hold while the body streams in.
      std::string raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
      for (int i = 0; i < 10; ++i) raw += "2710\r\n" + std::string(10'000, 'y') + "\r\n";
      return Reply{raw + "0\r\n\r\n"};
    }
    if (r.target == "/exact") return ok_reply(std::string(1000, 'z'));
    return ok_reply(big);
  });
  HttpOptions o = test_options();
  o.max_body_bytes = 1000;
  auto http = client(o);
  auto r = http->get(server.url("/big"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "GET " + server.url("/big") + ": response body exceeds 1000 bytes");
  r = http->get(server.url("/chunked"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "GET " + server.url("/chunked") + ": response body exceeds 1000 bytes");
  r = http->get(server.url("/exact"), {});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body.size(), 1000u);
}

TEST(CurlHttpClient, PostsAreNeverRedirected) {
  LoopbackServer server([](const ServedRequest& r) {
    if (r.target == "/old") return Reply{"HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n"};
    return ok_reply("new");
  });
  auto http = client();
  auto r = http->post_form(server.url("/old"), {{"code", "c"}}, {});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(server.requests().size(), 1u);

  // A GET follows (within the limit) ...
  r = http->get(server.url("/old"), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "new");
  // ... unless told not to.
  HttpOptions o = test_options();
  o.max_get_redirects = 0;
  r = client(o)->get(server.url("/old"), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 302);
}

TEST(CurlHttpClient, RedirectToAnotherSchemeIsRefused) {
  LoopbackServer server([](const ServedRequest&) {
    return Reply{"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n"};
  });
  auto r = client()->get(server.url("/x"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.rfind("GET " + server.url("/x") + ": ", 0), 0u) << r.error().message;
}

TEST(CurlHttpClient, OnlyHttpAndHttpsUrls) {
  auto http = client();
  for (const char* url : {"file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/", "dict://127.0.0.1/",
                          "ldap://127.0.0.1/"}) {
    auto r = http->get(url, {});
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_NE(r.error().message.find("only http and https URLs are allowed"), std::string::npos) << r.error().message;
  }
  for (const char* url : {"", "not a url", "/relative/path", "http://"}) {
    EXPECT_FALSE(http->get(url, {}).ok()) << url;
  }
}

TEST(CurlHttpClient, HeaderInjectionIsRefused) {
  LoopbackServer server([](const ServedRequest&) { return ok_reply("{}"); });
  auto http = client();
  auto r = http->get(server.url("/x"), {{"Authorization", "Bearer a\r\nX-Evil: 1"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("invalid header"), std::string::npos);
  EXPECT_FALSE(http->get(server.url("/x"), {{"X-A:B", "1"}}).ok());
  EXPECT_FALSE(http->get(server.url("/x"), {{"", "1"}}).ok());
  EXPECT_TRUE(server.requests().empty());
}

TEST(CurlHttpClient, ConnectionRefusedNamesTheUrl) {
  int port = 0;
  {
    LoopbackServer gone([](const ServedRequest&) { return ok_reply(""); });
    port = gone.port();
  }  // closed: nothing listens there now
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/token";
  auto r = client()->post_form(url + "?client_secret=x", {}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.rfind("POST " + url + ": Couldn't connect to server", 0), 0u) << r.error().message;
  EXPECT_EQ(r.error().message.find("client_secret"), std::string::npos);
}

TEST(CurlHttpClient, OptionsAreChecked) {
  HttpOptions o = test_options();
  o.total_timeout = 0ms;
  EXPECT_FALSE(make_curl_http_client(o).ok());
  o = test_options();
  o.max_body_bytes = 0;
  EXPECT_FALSE(make_curl_http_client(o).ok());
}

TEST(HttpUrls, ForMessagesOnlySchemeHostPortAndPath) {
  EXPECT_EQ(url_for_messages("https://user:pw@idp.example.com:8443/token?code=x#frag"),
            "https://idp.example.com:8443/token");
  EXPECT_EQ(url_for_messages("https://idp.example.com"), "https://idp.example.com/");
  EXPECT_EQ(url_for_messages("no url"), "(invalid URL)");
}

TEST(HttpUrls, FormEncodingAndQueries) {
  EXPECT_EQ(form_urlencode({}), "");
  EXPECT_EQ(form_urlencode({{"a", "1"}, {"b", "x y&z"}}), "a=1&b=x%20y%26z");
  EXPECT_EQ(*url_with_query("https://idp.example.com/auth", {{"a", "1"}}), "https://idp.example.com/auth?a=1");
  EXPECT_EQ(*url_with_query("https://idp.example.com/auth?x=y", {{"a", "b c"}}),
            "https://idp.example.com/auth?x=y&a=b%20c");
  EXPECT_FALSE(url_with_query("https://idp.example.com/auth#f", {{"a", "1"}}).ok());
  EXPECT_FALSE(url_with_query("javascript:alert(1)", {{"a", "1"}}).ok());
  EXPECT_TRUE(check_http_url("HTTPS://IDP.EXAMPLE.COM/x").ok());
}

}  // namespace
}  // namespace wgate::auth
