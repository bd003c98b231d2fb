// Private to the http module: one client connection's life (TLS handshake,
// request after request, timeouts, close), and what all connections share.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>

#include "http/router.h"
#include "http/server.h"
#include "http/wire.h"

namespace wgate::http {

// Read-only after start, except the connection and stream counts.
struct ServerState {
  ServerOptions options;
  Router router;
  wire::Limits limits;
  std::optional<boost::asio::ssl::context> tls;
  std::atomic<std::size_t> open{0};
  std::atomic<std::size_t> streams{0};  // at most options.max_streams
};

// Serves `socket` (whose executor must be a strand) until the client leaves,
// a timeout or an error closes it, or the io_context stops. Counts itself in
// state->open while it lives.
void start_connection(std::shared_ptr<ServerState> state, boost::asio::ip::tcp::socket socket);

}  // namespace wgate::http
