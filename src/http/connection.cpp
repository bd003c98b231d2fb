#include "http/connection.h"

#include "http/event_stream.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>
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

#include <algorithm>
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

// One of ServerState::streams, held while a stream is open.
class StreamSlot {
 public:
  // A slot, or nullopt when max_streams are open.
  static std::optional<StreamSlot> take(const std::shared_ptr<ServerState>& state) {
    // Count first, then check: two threads cannot both take the last slot.
    if (state->streams.fetch_add(1) >= state->options.max_streams) {
      --state->streams;
      return std::nullopt;
    }
    return StreamSlot(state);
  }
  StreamSlot(StreamSlot&& o) noexcept : state_(std::move(o.state_)) {}
  StreamSlot& operator=(StreamSlot&& o) noexcept {
    std::swap(state_, o.state_);
    return *this;
  }
  StreamSlot(const StreamSlot&) = delete;
  ~StreamSlot() {
    if (state_) --state_->streams;
  }

 private:
  explicit StreamSlot(std::shared_ptr<ServerState> state) : state_(std::move(state)) {}
  std::shared_ptr<ServerState> state_;
};

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
        deadline_(stream_.get_executor()),
        tick_timer_(stream_.get_executor()),
        sink_(*this) {
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
    api_target_ = false;
    wire::configure_parser(*parser_, limits());
    match_ = RouteMatch{};
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Connection::on_header, this->shared_from_this()));
  }

  void on_header(error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    {
      const auto target = parser_->get().target();
      const auto& prefix = state_->options.json_error_prefix;
      api_target_ = !prefix.empty() && std::string_view(target.data(), target.size()).starts_with(prefix);
    }
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
    if (response->stream) return start_stream(std::move(*response), head, version, request->path);
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
    // (Once the handler ran, the parser's message is gone: api_target_.)
    bool json = api_target_;
    // (A body over the limit is refused while the header is being finished:
    // the target is parsed by then, though the header is not "done".)
    if (parser_ && !state_->options.json_error_prefix.empty()) {
      const auto target = parser_->get().target();
      json = json || std::string_view(target.data(), target.size()).starts_with(state_->options.json_error_prefix);
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

  // --- event streams (event_stream.h) ------------------------------------
  // A stream's life: the header and each event are appended to pending_
  // and written one write at a time (inflight_); a read stays posted to
  // see the client leave; tick_timer_ wakes the producer, sends keepalives
  // and ends the stream at its lifetime. Ending flushes what is queued and
  // closes; aborting (client gone, too slow, server error) closes at once.

  class Sink final : public EventSink {
   public:
    explicit Sink(Connection& c) : c_(c) {}
    bool send(std::string text) override { return c_.queue(std::move(text)); }

   private:
    Connection& c_;
  };

  using Clock = std::chrono::steady_clock;

  void start_stream(Response response, bool head, unsigned version, const std::string& path) {
    auto producer = std::move(response.stream);
    auto res = wire::to_wire_stream_head(std::move(response), version, state_->options.security);
    if (!res) {
      report("handler for GET " + path + ": " + res.error().message);
      return refuse(500, false, version);
    }
    // HEAD: the header is the whole answer; no slot, no producer.
    if (head) return send(std::move(*res));
    slot_ = StreamSlot::take(state_);
    if (!slot_) return refuse(503, false, version);
    producer_ = std::move(producer);
    streaming_ = true;
    const auto now = Clock::now();
    stream_end_at_ = now + state_->options.stream_lifetime;
    next_tick_at_ = now;
    last_queued_ = now;
    deadline_.cancel();  // the request's read timeout; writes arm their own
    ++generation_;
    pending_ = wire::serialize(*res);
    flush();
    watch_client();
    on_stream_timer({});  // the producer's first tick, right after the header
  }

  // Appends to what is to be sent. false (and the stream is cut) when the
  // stream is over or the client is too slow.
  bool queue(std::string text) {
    if (!streaming_ || ending_) return false;
    if (!pending_.empty() && pending_.size() + text.size() > state_->options.stream_buffer_limit) {
      report("event stream to " + remote_address_ + ": the client does not read; cut off");
      abort_stream();
      return false;
    }
    pending_ += text;
    last_queued_ = Clock::now();
    flush();
    return true;
  }

  void flush() {
    if (writing_ || pending_.empty() || !streaming_) return;
    writing_ = true;
    inflight_.swap(pending_);
    pending_.clear();
    arm(state_->options.write_timeout);
    asio::async_write(stream_, asio::buffer(inflight_),
                      beast::bind_front_handler(&Connection::on_stream_write, this->shared_from_this()));
  }

  void on_stream_write(error_code ec, std::size_t) {
    writing_ = false;
    inflight_.clear();
    if (!streaming_) return;  // aborted meanwhile: closed already
    if (ec) return abort_stream();
    if (!pending_.empty()) return flush();
    // Nothing in flight: no write deadline until the next write.
    ++generation_;
    deadline_.cancel();
    if (ending_) finish_stream();
  }

  // A read stays posted while streaming: it ends when the client closes
  // (or resets), so its slot is freed at once rather than at the next
  // write. What a client sends meanwhile is dropped, within a bound.
  void watch_client() {
    stream_.async_read_some(asio::buffer(discard_), [self = this->shared_from_this()](error_code ec, std::size_t n) {
      if (!self->streaming_) return;
      self->lingered_ += n;
      if (ec || self->lingered_ > kLingerBytes) return self->abort_stream();
      self->watch_client();
    });
  }

  void on_stream_timer(error_code ec) {
    if (ec || !streaming_ || ending_) return;
    auto now = Clock::now();
    if (now >= stream_end_at_) return end_stream();  // its lifetime is over: the client reconnects
    if (now >= next_tick_at_) {
      std::optional<std::chrono::milliseconds> next;
      // Our own reference: a send that cuts the stream drops producer_
      // while the producer is still running.
      auto producer = producer_;
      try {
        next = producer->tick(sink_);
      } catch (const std::exception& e) {
        report(std::string("event stream producer threw: ") + e.what());
      } catch (...) {
        report("event stream producer threw a non-exception");
      }
      if (!streaming_ || ending_) return;  // cut off while it sent
      if (!next) return end_stream();
      now = Clock::now();
      next_tick_at_ = now + std::max(*next, std::chrono::milliseconds(0));
    }
    if (now - last_queued_ >= state_->options.stream_keepalive && !queue(format_comment("keepalive"))) return;
    auto wake = std::min({next_tick_at_, last_queued_ + state_->options.stream_keepalive, stream_end_at_});
    tick_timer_.expires_at(wake);
    tick_timer_.async_wait(beast::bind_front_handler(&Connection::on_stream_timer, this->shared_from_this()));
  }

  // Ends the stream after what is queued is written.
  void end_stream() {
    if (!streaming_ || ending_) return;
    ending_ = true;
    tick_timer_.cancel();
    producer_.reset();
    if (!writing_ && pending_.empty()) finish_stream();
  }

  void finish_stream() {
    streaming_ = false;
    slot_.reset();
    // The watching read must be gone before the TLS shutdown or the
    // linger read start; its handler sees streaming_ false and returns.
    error_code ignored;
    beast::get_lowest_layer(stream_).cancel(ignored);
    close_gracefully();
  }

  // Ends the stream now, unsent bytes dropped.
  void abort_stream() {
    if (!streaming_) return;
    streaming_ = false;
    ending_ = true;
    tick_timer_.cancel();
    producer_.reset();
    slot_.reset();
    // A reset, not a FIN: what waits unsent in the kernel for a client that
    // does not read is dropped now instead of being held for minutes.
    error_code ignored;
    beast::get_lowest_layer(stream_).set_option(asio::socket_base::linger(true, 0), ignored);
    close_now();
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
  // Event stream state (start_stream).
  asio::steady_timer tick_timer_;
  Sink sink_;
  std::shared_ptr<EventProducer> producer_;
  std::optional<StreamSlot> slot_;
  std::string pending_;   // queued, not yet written
  std::string inflight_;  // being written
  Clock::time_point stream_end_at_{};
  Clock::time_point next_tick_at_{};
  Clock::time_point last_queued_{};
  bool api_target_ = false;  // the request's target starts with json_error_prefix
  bool streaming_ = false;
  bool ending_ = false;
  bool writing_ = false;
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
