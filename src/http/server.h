// HttpServer: an HTTP/1.1 server (Boost.Beast over Asio) on its own threads.
//
// It knows nothing of wgate's domain: the caller registers routes on a
// Router and hands it over; handlers call the service layer. Plain HTTP is
// meant for running behind a reverse proxy (set behind_tls_proxy so cookies
// are Secure); with `tls` it terminates TLS itself (OpenSSL).
//
// Contract towards clients: a malformed request gets a 4xx (400 bad syntax
// or target, 404, 405 with Allow, 408 read timeout, 411 body without a
// length, 413 body over the route's limit, 414 target too long, 431 header
// too large) and, unless the request was read to its end, the connection is
// closed. A 500 only comes from a handler that threw or answered something
// unsendable (no detail reaches the client; on_error hears it). Every
// response carries the security headers (security.h).
//
//   Router router;
//   WGATE_TRY(router.add("GET", "/healthz", [](const Request&) { return Response::text("ok\n"); }));
//   ServerOptions opts;
//   opts.listen = "127.0.0.1:0";
//   WGATE_ASSIGN_OR_RETURN(auto server, HttpServer::start(opts, std::move(router)));
//   ... server->port() ...; server->stop();
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/query.h"
#include "http/router.h"
#include "http/security.h"
#include "util/result.h"

namespace wgate::http {

struct TlsOptions {
  std::string cert_file;  // PEM, the certificate chain (leaf first)
  std::string key_file;   // PEM private key
};

struct ServerOptions {
  // "ADDRESS:PORT" ("127.0.0.1:8080", "[::1]:8443", "0.0.0.0:80"); a
  // numeric address, no name lookup. Port 0 picks a free port (port()).
  std::string listen = "127.0.0.1:8080";
  // I/O threads; handlers run on them. 1 serializes every handler.
  unsigned threads = 1;
  std::optional<TlsOptions> tls;
  // Plain HTTP here, but clients reach us over TLS through a proxy: marks
  // requests `secure` (so cookies get Secure and CSRF expects https).
  bool behind_tls_proxy = false;

  std::size_t header_limit = 8 * 1024;  // request line + fields: 431
  std::size_t target_limit = 4 * 1024;  // request-target: 414
  std::size_t body_limit = 64 * 1024;   // per route overridable (RouteOptions): 413
  QueryLimits query;
  std::size_t max_cookies = 50;

  // From accepting a connection, or from the first byte of a later request,
  // until the request is read to its end: else 408 and close (slowloris).
  std::chrono::milliseconds read_timeout{10'000};
  // A response (or the TLS handshake's answers) must be taken by the client
  // within this, else the connection is closed.
  std::chrono::milliseconds write_timeout{10'000};
  // A kept-alive connection waits this long for its next request.
  std::chrono::milliseconds idle_timeout{30'000};
  // Connections above this get a 503 and are closed at once.
  std::size_t max_connections = 256;

  // Event streams (event_stream.h): at most this many at once (beyond it a
  // 503); each is closed after stream_lifetime (EventSource clients
  // reconnect, and the handler checks its caller again); a ": keepalive"
  // comment goes out after stream_keepalive without other bytes (proxies
  // drop quiet connections); when more than stream_buffer_limit bytes wait
  // unsent behind a write the client has not taken (or a write takes longer
  // than write_timeout) the client is too slow and is cut off. Memory per
  // stream: the write in flight plus at most this limit (or one event).
  std::size_t max_streams = 32;
  std::chrono::milliseconds stream_lifetime{30 * 60'000};
  std::chrono::milliseconds stream_keepalive{15'000};
  std::size_t stream_buffer_limit = 256 * 1024;

  SecurityHeaders security;
  // Requests whose target starts with this ("/api/") get the server's own
  // errors (404, 405, 413, 400...) as {"error": "..."} JSON; "" : never.
  std::string json_error_prefix;
  // Told about handler exceptions and unsendable responses (what a 500
  // hid) and accept errors. Called on a server thread; may be empty.
  std::function<void(std::string_view)> on_error;
};

class HttpServer {
 public:
  // Binds, listens and starts the threads; returns once the server accepts
  // connections. Errors: bad options, an unusable listen address, a bind
  // failure (errno kept), TLS files that do not load or do not match.
  // `router` is only read from now on.
  static Result<std::unique_ptr<HttpServer>> start(ServerOptions options, Router router);

  // Stops, as stop().
  virtual ~HttpServer() = default;

  // Stops accepting, drops every open connection and event stream (a
  // request in a handler or a producer's tick finishes first, its answer is
  // not sent; the clients see their connections close) and joins the
  // threads.
  // Idempotent. Must not be called from a handler (it would join its own
  // thread).
  virtual void stop() = 0;

  // The bound port (the one picked when `listen` asked for port 0).
  virtual std::uint16_t port() const = 0;
  // Connections open now (for tests and metrics).
  virtual std::size_t open_connections() const = 0;
  // Event streams open now (each also counts as a connection).
  virtual std::size_t open_streams() const = 0;
};

}  // namespace wgate::http
