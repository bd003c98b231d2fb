#include "http/server.h"

#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <charconv>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "http/connection.h"

namespace wgate::http {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

Error ec_error(const error_code& ec, const std::string& what) {
  return Error{what + ": " + ec.message(), ec.category() == boost::system::system_category() ? ec.value() : 0};
}

Result<tcp::endpoint> parse_listen(std::string_view listen) {
  std::size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos) return make_error("listen '" + std::string(listen) + "' is not ADDRESS:PORT");
  std::string_view host = listen.substr(0, colon);
  std::string_view port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto [end, err] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || err != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
    return make_error("listen '" + std::string(listen) + "': bad port");
  error_code ec;
  auto address = asio::ip::make_address(std::string(host), ec);
  if (ec) return make_error("listen '" + std::string(listen) + "': '" + std::string(host) + "' is not an IP address");
  return tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

Status validate(const ServerOptions& o) {
  if (o.threads < 1 || o.threads > 64) return make_error("threads must be 1..64");
  if (o.header_limit < 256) return make_error("header_limit below 256 bytes");
  if (o.target_limit < 16 || o.target_limit >= o.header_limit)
    return make_error("target_limit must be at least 16 and below header_limit");
  if (o.max_connections < 1) return make_error("max_connections must be at least 1");
  using std::chrono::milliseconds;
  if (o.read_timeout <= milliseconds(0) || o.write_timeout <= milliseconds(0) || o.idle_timeout <= milliseconds(0))
    return make_error("timeouts must be positive");
  if (o.stream_lifetime <= milliseconds(0) || o.stream_keepalive <= milliseconds(0))
    return make_error("stream_lifetime and stream_keepalive must be positive");
  if (o.stream_buffer_limit < 1024) return make_error("stream_buffer_limit below 1024 bytes");
  return ok_status();
}

Result<asio::ssl::context> make_tls_context(const TlsOptions& tls) {
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  error_code ec;
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                      asio::ssl::context::single_dh_use,
                  ec);
  if (ec) return ec_error(ec, "TLS options");
  ctx.use_certificate_chain_file(tls.cert_file, ec);
  if (ec) return ec_error(ec, "TLS certificate " + tls.cert_file);
  ctx.use_private_key_file(tls.key_file, asio::ssl::context::pem, ec);
  if (ec) return ec_error(ec, "TLS key " + tls.key_file);
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1)
    return make_error("TLS key " + tls.key_file + " does not match certificate " + tls.cert_file);
  return ctx;
}

class ServerImpl final : public HttpServer {
 public:
  explicit ServerImpl(std::shared_ptr<ServerState> state)
      : state_(std::move(state)),
        ioc_(std::make_unique<asio::io_context>(static_cast<int>(state_->options.threads))),
        acceptor_(std::in_place, *ioc_),
        retry_(std::in_place, *ioc_) {}

  ~ServerImpl() override { stop(); }

  Status listen(const tcp::endpoint& endpoint) {
    error_code ec;
    acceptor_->open(endpoint.protocol(), ec);
    if (ec) return ec_error(ec, "socket");
    acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (ec) return ec_error(ec, "SO_REUSEADDR");
    acceptor_->bind(endpoint, ec);
    if (ec) return ec_error(ec, "bind " + state_->options.listen);
    acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return ec_error(ec, "listen " + state_->options.listen);
    port_ = acceptor_->local_endpoint(ec).port();
    if (ec) return ec_error(ec, "local address");
    return ok_status();
  }

  void run() {
    accept();
    for (unsigned i = 0; i < state_->options.threads; ++i) threads_.emplace_back([this] { run_loop(); });
  }

  void stop() override {
    std::call_once(stopped_, [this] {
      ioc_->stop();
      for (std::thread& t : threads_) t.join();
      // The I/O objects go before their io_context, whose destruction then
      // destroys the pending handlers and with them every connection (the
      // clients see their connection closed now, not at ~HttpServer).
      acceptor_.reset();
      retry_.reset();
      ioc_.reset();
    });
  }

  std::uint16_t port() const override { return port_; }
  std::size_t open_connections() const override { return state_->open.load(); }
  std::size_t open_streams() const override { return state_->streams.load(); }

 private:
  // run() only throws when a handler does; ours catch their own, so this is
  // a last line (bad_alloc): report and go on serving.
  void run_loop() {
    while (true) {
      try {
        ioc_->run();
        return;
      } catch (const std::exception& e) {
        report(std::string("server thread: ") + e.what());
      } catch (...) {
        report("server thread: unknown exception");
      }
    }
  }

  void accept() {
    acceptor_->async_accept(asio::make_strand(*ioc_), [this](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        // Out of descriptors or memory: try again shortly instead of spinning.
        report("accept: " + ec.message());
        retry_->expires_after(std::chrono::milliseconds(100));
        retry_->async_wait([this](error_code wait_ec) {
          if (!wait_ec) accept();
        });
        return;
      }
      if (state_->open.load() >= state_->options.max_connections)
        reject(std::move(socket));
      else
        start_connection(state_, std::move(socket));
      accept();
    });
  }

  // Over the limit: a canned 503 if the socket takes it at once (plain HTTP
  // only: TLS would need a handshake), then close. Best effort by design:
  // spending more on a client we have no room for is what the limit avoids.
  void reject(tcp::socket socket) {
    if (!state_->tls) {
      error_code ec;
      socket.non_blocking(true, ec);
      if (!ec) socket.write_some(asio::buffer(overloaded_), ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
    }
    error_code ignored;
    socket.close(ignored);
  }

  void report(const std::string& what) {
    if (!state_->options.on_error) return;
    try {
      state_->options.on_error(what);
    } catch (...) {
    }
  }

  std::shared_ptr<ServerState> state_;
  std::unique_ptr<asio::io_context> ioc_;
  std::optional<tcp::acceptor> acceptor_;  // reset before ioc_ by stop()
  std::optional<asio::steady_timer> retry_;
  std::vector<std::thread> threads_;
  std::once_flag stopped_;
  std::uint16_t port_ = 0;
  std::string overloaded_ = wire::serialize(wire::error_response(503, 11, false, state_->options.security));
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::start(ServerOptions options, Router router) {
  WGATE_TRY(validate(options));
  WGATE_ASSIGN_OR_RETURN(tcp::endpoint endpoint, parse_listen(options.listen));
  auto state = std::make_shared<ServerState>();
  if (options.tls) {
    WGATE_ASSIGN_OR_RETURN(auto ctx, make_tls_context(*options.tls));
    state->tls.emplace(std::move(ctx));
  }
  state->limits.header_limit = options.header_limit;
  state->limits.target_limit = options.target_limit;
  state->limits.body_limit = options.body_limit;
  state->limits.max_body_limit = router.largest_body_limit(options.body_limit);
  state->limits.query = options.query;
  state->limits.max_cookies = options.max_cookies;
  state->options = std::move(options);
  state->router = std::move(router);

  auto server = std::make_unique<ServerImpl>(std::move(state));
  WGATE_TRY(server->listen(endpoint));
  server->run();
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace wgate::http
