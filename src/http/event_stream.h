// Server-Sent Events (text/event-stream): what a handler returns to stream
// events to a client over time instead of one whole message.
//
// A handler answers Response::event_stream(producer). The server sends the
// header at once and then calls the producer's tick() on the connection's
// own executor (a strand; no thread is held between ticks): first right
// after the header, then after each delay tick() returns. Bytes the
// producer sends are queued and written in order. The server bounds every
// stream (ServerOptions): how many may be open (beyond it: 503), how long
// one may live (then it is closed: EventSource clients reconnect), how much
// may wait unsent (a client that does not read is cut off), and sends
// ": keepalive" comments when the stream was quiet. Stopping the server
// drops every stream (the client sees the connection close).
//
// Framing: close-delimited (no Content-Length, no chunked coding,
// "Connection: close"). A stream ends only by closing anyway, an SSE event
// carries its own end (the blank line; a client drops an unfinished last
// one), and raw event bytes are what a proxy or `curl -N` passes through
// unchanged; the connection is never reused, so chunked framing would buy
// nothing but bytes. HTTP/1.0 clients get the same.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace wgate::http {

// Where a producer's events go. Valid only during the tick() it was passed
// to; used only on that call's thread.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // Queues `text` (already in the event-stream format: format_event,
  // format_comment). false when the stream is over: the client left, or
  // more than ServerOptions::stream_buffer_limit waits unsent (the stream
  // is then cut); the producer should return nullopt.
  virtual bool send(std::string text) = 0;
};

// The source of one stream's events. Owned by the connection that serves
// the stream; destroyed when the stream ends, on a server thread (or on the
// thread calling HttpServer::stop). Never called concurrently with itself.
class EventProducer {
 public:
  virtual ~EventProducer() = default;
  // Sends what is due into `sink`; returns the delay until the next call,
  // or nullopt to end the stream (what was sent is still delivered). An
  // exception ends the stream too (ServerOptions::on_error hears it). Runs
  // on a server thread: it should not block for long.
  virtual std::optional<std::chrono::milliseconds> tick(EventSink& sink) = 0;
};

// One event: "event: <name>\n" (when not empty), "id: <id>\n" (when not
// empty), one "data: <line>\n" per line of `data` (split at LF, CR LF or
// CR; one empty data line for empty data), then an empty line. CR, LF and
// NUL are dropped from `name` and `id` (they would end the field early or,
// for NUL, make clients ignore the id).
std::string format_event(std::string_view name, std::string_view data, std::string_view id = {});

// A comment line clients ignore (": <text>\n\n"); CR and LF in `text` are
// dropped.
std::string format_comment(std::string_view text);

}  // namespace wgate::http
