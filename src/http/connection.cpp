#include "http/connection.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <array>
#include <exception>
#include <string>
#include <type_traits>

namespace wgate::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<tcp::socket>;
using error_code = beast::error_code;

// After a response that closes the connection we read and drop what the
// client still sends, for at most this long and this much, so that closing
// with unread input (a reset) cannot destroy the response in flight.
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr std::size_t kLingerBytes = 1 << 20;

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

template <class Stream>
Stream make_stream(tcp::socket socket, ServerState& state) {
  if constexpr (std::is_same_v<Stream, TlsStream>)
    return Stream(std::move(socket), *state.tls);
  else
    return socket;
}

// Every member is touched only from handlers on the socket's strand.
template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Connection(std::shared_ptr<ServerState> state, tcp::socket socket)
      : state_(std::move(state)),
        stream_(make_stream<Stream>(std::move(socket), *state_)),
        deadline_(stream_.get_executor()) {
    ++state_->open;
    error_code ec;
    auto peer = beast::get_lowest_layer(stream_).remote_endpoint(ec);
    if (!ec) {
      remote_address_ = peer.address().to_string();
      remote_port_ = peer.port();
    }
  }
  ~Connection() { --state_->open; }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void run() {
    arm(state_->options.read_timeout);  // covers the handshake and the first request
    if constexpr (kTls)
      stream_.async_handshake(asio::ssl::stream_base::server,
                              beast::bind_front_handler(&Connection::on_handshake, this->shared_from_this()));
    else
      read_header();
  }

  auto get_executor() { return stream_.get_executor(); }

 private:
  const wire::Limits& limits() const { return state_->limits; }

  // One deadline at a time; a later arm() replaces it. When it passes, the
  // pending operation is cancelled and its handler sees timed_out_.
  void arm(std::chrono::milliseconds d) {
    ++generation_;
    timed_out_ = false;
    deadline_.expires_after(d);
    deadline_.async_wait([weak = this->weak_from_this(), gen = generation_](error_code ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self || gen != self->generation_) return;
      self->timed_out_ = true;
      error_code ignored;
      beast::get_lowest_layer(self->stream_).cancel(ignored);
    });
  }

  void on_handshake(error_code ec) {
    if (ec) return close_now();
    read_header();
  }

  // Between requests of a kept-alive connection: the idle timeout runs until
  // the next request's first byte, the read timeout from then on.
  void wait_for_next() {
    if (buffer_.size() > 0) {  // pipelined: already here
      arm(state_->options.read_timeout);
      return read_header();
    }
    arm(state_->options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            beast::bind_front_handler(&Connection::on_first_bytes, this->shared_from_this()));
  }

  void on_first_bytes(error_code ec, std::size_t n) {
    if (ec) return close_now();  // idle timeout, the client left, or stop
    buffer_.commit(n);
    arm(state_->options.read_timeout);
    read_header();
  }

  void read_header() {
    parser_.emplace();
    wire::configure_parser(*parser_, limits());
    match_ = RouteMatch{};
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Connection::on_header, this->shared_from_this()));
  }

  void on_header(error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    int status = wire::check_header(*parser_, limits());
    if (status == 0) status = wire::route(state_->router, *parser_, limits(), match_);
    if (status != 0) {
      // The stream stays in step only when there is no body left unread.
      bool keep = (status == 404 || status == 405) && parser_->is_done() && parser_->get().keep_alive();
      return refuse(status, keep);
    }
    const auto& h = parser_->get();
    if (!parser_->is_done() && h.version() == 11 && iequals(sv(h[bhttp::field::expect]), "100-continue")) {
      continue_ = bhttp::response<bhttp::empty_body>(bhttp::status::continue_, 11);
      return bhttp::async_write(stream_, continue_,
                                beast::bind_front_handler(&Connection::on_continue_sent, this->shared_from_this()));
    }
    read_body();
  }

  void on_continue_sent(error_code ec, std::size_t) {
    if (ec) return close_now();
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Connection::on_body, this->shared_from_this()));
  }

  void on_body(error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    dispatch();
  }

  void on_read_error(error_code ec) {
    bool got_bytes = buffer_.size() > 0 || (parser_ && parser_->got_some());
    if (timed_out_) {
      if (got_bytes) return refuse(408, false);
      return close_now();
    }
    // The client left (cleanly or mid-request), or the server stops.
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
        ec.category() != bhttp::make_error_code(bhttp::error::bad_method).category())
      return close_now();
    std::string_view buffered(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    refuse(wire::status_for_read_error(ec, buffered, limits()), false);
  }

  void dispatch() {
    const auto& h = parser_->get();
    bool head = h.method() == bhttp::verb::head;
    unsigned version = h.version();
    bool keep = h.keep_alive();
    auto request = wire::to_request(*parser_, match_, limits());
    if (!request) return refuse(400, false);
    request->remote_address = remote_address_;
    request->remote_port = remote_port_;
    request->tls = kTls;
    request->secure = kTls || state_->options.behind_tls_proxy;

    std::optional<Response> response;
    try {
      response = (*match_.handler)(*request);
    } catch (const std::exception& e) {
      report("handler for " + request->method + " " + request->path + " threw: " + e.what());
    } catch (...) {
      report("handler for " + request->method + " " + request->path + " threw a non-exception");
    }
    if (!response) return refuse(500, keep, version);
    auto res = wire::to_wire_response(std::move(*response), head, version, keep, state_->options.security);
    if (!res) {
      report("handler for " + request->method + " " + request->path + ": " + res.error().message);
      return refuse(500, keep, version);
    }
    send(std::move(*res));
  }

  void refuse(int status, bool keep, unsigned version = 0) {
    if (version == 0) version = (parser_ && parser_->is_header_done()) ? parser_->get().version() : 11;
    if (version != 10) version = 11;  // never answer in a version we do not speak
    // An API client reads errors as JSON; the target is known once the
    // request line is read (before that nobody can tell an API request).
    bool json = false;
    // (A body over the limit is refused while the header is being finished:
    // the target is parsed by then, though the header is not "done".)
    if (parser_ && !state_->options.json_error_prefix.empty()) {
      const auto target = parser_->get().target();
      json = std::string_view(target.data(), target.size()).starts_with(state_->options.json_error_prefix);
    }
    send(wire::error_response(status, version, keep, state_->options.security,
                              status == 405 ? std::string_view(match_.allow) : std::string_view(), json));
  }

  void send(wire::WireResponse res) {
    close_after_write_ = !res.keep_alive();
    res_.emplace(std::move(res));
    arm(state_->options.write_timeout);
    bhttp::async_write(stream_, *res_, beast::bind_front_handler(&Connection::on_write, this->shared_from_this()));
  }

  void on_write(error_code ec, std::size_t) {
    res_.reset();
    if (ec) return close_now();
    if (close_after_write_) return close_gracefully();
    wait_for_next();
  }

  void close_gracefully() {
    if constexpr (kTls) {
      arm(state_->options.write_timeout);
      stream_.async_shutdown([self = this->shared_from_this()](error_code) { self->close_now(); });
    } else {
      error_code ec;
      stream_.shutdown(tcp::socket::shutdown_send, ec);
      if (ec) return close_now();
      arm(std::min(kLingerTime, state_->options.read_timeout));
      linger();
    }
  }

  void linger() {
    stream_.async_read_some(asio::buffer(discard_), [self = this->shared_from_this()](error_code ec, std::size_t n) {
      self->lingered_ += n;
      if (ec || self->lingered_ > kLingerBytes) return self->close_now();
      self->linger();
    });
  }

  void close_now() {
    deadline_.cancel();
    error_code ignored;
    beast::get_lowest_layer(stream_).close(ignored);
  }

  void report(const std::string& what) {
    if (!state_->options.on_error) return;
    try {
      state_->options.on_error(what);
    } catch (...) {  // a failing logger must not take the connection down
    }
  }

  std::shared_ptr<ServerState> state_;
  Stream stream_;
  asio::steady_timer deadline_;
  beast::flat_buffer buffer_;
  std::optional<wire::Parser> parser_;
  RouteMatch match_;
  std::optional<wire::WireResponse> res_;
  bhttp::response<bhttp::empty_body> continue_;
  std::array<char, 4096> discard_{};
  std::size_t lingered_ = 0;
  std::string remote_address_;
  std::uint16_t remote_port_ = 0;
  std::uint64_t generation_ = 0;
  bool timed_out_ = false;
  bool close_after_write_ = false;
};

template <class Stream>
void launch(std::shared_ptr<ServerState> state, tcp::socket socket) {
  auto c = std::make_shared<Connection<Stream>>(std::move(state), std::move(socket));
  asio::dispatch(c->get_executor(), [c] { c->run(); });
}

}  // namespace

void start_connection(std::shared_ptr<ServerState> state, tcp::socket socket) {
  if (state->tls)
    launch<TlsStream>(std::move(state), std::move(socket));
  else
    launch<tcp::socket>(std::move(state), std::move(socket));
}

}  // namespace wgate::http
