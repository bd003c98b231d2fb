// TLS termination with a self-signed certificate made here (OpenSSL), and a
// Beast client that verifies it: on 127.0.0.1 only.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "http/cookie.h"
#include "http/event_stream.h"
#include "http/server.h"
#include "test_client.h"

namespace wgate::http {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

struct TempDir {
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "wgate-tls-XXXXXX").string();
    path = ::mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

// A P-256 key and a self-signed certificate for IP 127.0.0.1, as PEM files.
bool write_self_signed(const std::string& cert_path, const std::string& key_path) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) return false;
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (!ext) return false;
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return false;
  std::unique_ptr<FILE, decltype(&fclose)> cf(std::fopen(cert_path.c_str(), "w"), fclose);
  std::unique_ptr<FILE, decltype(&fclose)> kf(std::fopen(key_path.c_str(), "w"), fclose);
  return cf && kf && PEM_write_X509(cf.get(), cert.get()) == 1 &&
         PEM_write_PrivateKey(kf.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path.empty());
    cert_ = dir_.path + "/cert.pem";
    key_ = dir_.path + "/key.pem";
    ASSERT_TRUE(write_self_signed(cert_, key_));
    Router r;
    ASSERT_TRUE(r.add("GET", "/login", [](const Request& q) {
                   auto cookie = build_set_cookie("session", "abc", CookieOptions::for_request(q));
                   return Response::text(q.tls ? "tls" : "plain").add_header("Set-Cookie", cookie.ok() ? *cookie : "");
                 }).ok());
    ASSERT_TRUE(r.add("GET", "/events", [](const Request&) {
                   struct Three final : EventProducer {
                     int n = 0;
                     std::optional<std::chrono::milliseconds> tick(EventSink& sink) override {
                       if (n == 3) return std::nullopt;
                       ++n;
                       sink.send(format_event("n", std::to_string(n)));
                       return 5ms;
                     }
                   };
                   return Response::event_stream(std::make_shared<Three>());
                 }).ok());
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.read_timeout = 500ms;
    o.tls = TlsOptions{cert_, key_};
    auto s = HttpServer::start(o, std::move(r));
    ASSERT_TRUE(s.ok()) << s.error().message;
    server_ = std::move(*s);
  }

  TempDir dir_;
  std::string cert_, key_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(TlsTest, ServesOverVerifiedTlsWithSecureCookies) {
  asio::io_context ioc;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(cert_);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<asio::ip::tcp::socket> stream(ioc, ctx);
  stream.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
  stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), server_->port()});
  stream.handshake(asio::ssl::stream_base::client);
  for (int i = 0; i < 2; ++i) {  // keep-alive over TLS
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/login", 11};
    req.set(bhttp::field::host, "127.0.0.1");
    bhttp::write(stream, req);
    boost::beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream, buffer, res);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "tls");
    EXPECT_EQ(res[bhttp::field::set_cookie], "session=abc; Path=/; Secure; HttpOnly; SameSite=Lax");
    EXPECT_EQ(std::string(res["Content-Security-Policy"]), std::string(kDefaultContentSecurityPolicy));
  }
}

// An event stream over TLS: the events, then a clean end (close_notify: a
// close-delimited body over TLS is only complete with it).
TEST_F(TlsTest, EventStreamEndsWithCloseNotify) {
  asio::io_context ioc;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(cert_);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<asio::ip::tcp::socket> stream(ioc, ctx);
  stream.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
  stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), server_->port()});
  stream.handshake(asio::ssl::stream_base::client);
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/events", 11};
  req.set(bhttp::field::host, "127.0.0.1");
  bhttp::write(stream, req);
  boost::beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  boost::beast::error_code ec;
  bhttp::read(stream, buffer, res, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(std::string(res[bhttp::field::content_type]), "text/event-stream");
  EXPECT_EQ(res.body(), format_event("n", "1") + format_event("n", "2") + format_event("n", "3"));
  for (int i = 0; i < 200 && server_->open_streams() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->open_streams(), 0u);
}

TEST_F(TlsTest, PlainTextAndStalledHandshakesAreClosed) {
  testing::TestClient plain(server_->port());
  plain.send(testing::get_request("/login"));
  EXPECT_TRUE(plain.closed_within(2s));
  testing::TestClient stalled(server_->port());  // never says hello
  EXPECT_TRUE(stalled.closed_within(2s));
  for (int i = 0; i < 100 && server_->open_connections() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->open_connections(), 0u);
}

TEST(TlsStart, RefusesAKeyThatDoesNotMatch) {
  TempDir dir;
  ASSERT_TRUE(write_self_signed(dir.path + "/a.pem", dir.path + "/a.key"));
  ASSERT_TRUE(write_self_signed(dir.path + "/b.pem", dir.path + "/b.key"));
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.tls = TlsOptions{dir.path + "/a.pem", dir.path + "/b.key"};
  auto s = HttpServer::start(o, Router());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("b.key"), std::string::npos) << s.error().message;
}

}  // namespace
}  // namespace wgate::http
