// Request and Response: the HTTP messages handlers see, as plain values.
//
// Nothing here knows Boost: the server (server.cpp, wire.cpp) converts
// between these and Beast's messages. Handlers get a fully parsed, validated
// Request (path decoded, parameters, query, cookies) and return a Response;
// the server adds framing (Content-Length, Connection) and the default
// security headers (security.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/query.h"

namespace wgate::http {

class EventProducer;  // event_stream.h

// An ordered list of header fields with case-insensitive names. Repeated
// fields (Set-Cookie on a response, several Cookie lines on a request) are
// kept as separate entries, in order.
class HeaderMap {
 public:
  // The first value of `name`, if present.
  std::optional<std::string_view> get(std::string_view name) const;
  // Every value of `name`, in order.
  std::vector<std::string_view> get_all(std::string_view name) const;
  bool contains(std::string_view name) const { return get(name).has_value(); }

  // Replaces every field named `name` with one field.
  void set(std::string_view name, std::string_view value);
  // Appends a field, keeping existing ones of that name.
  void add(std::string_view name, std::string_view value);
  void remove(std::string_view name);

  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// Case-insensitive ASCII comparison (header names, methods, tokens).
bool iequals(std::string_view a, std::string_view b);

struct Request {
  std::string method;  // as sent, case-sensitive per RFC 9110 ("GET")
  std::string target;  // the raw request-target ("/a%20b?x=1")
  std::string path;    // the target's path, percent-decoded
  // Values of the matched route's `{name}` segments, percent-decoded.
  std::vector<std::pair<std::string, std::string>> params;
  QueryParams query;
  HeaderMap headers;
  // Cookie name -> value from every Cookie header; the first of a repeated
  // name wins (browsers send the most specific path first).
  std::vector<std::pair<std::string, std::string>> cookies;
  std::string body;
  std::string remote_address;  // the peer's IP address, no port
  std::uint16_t remote_port = 0;
  bool tls = false;     // this connection is TLS
  bool secure = false;  // TLS here, or the server is configured behind a TLS proxy

  // The value of path parameter `name` ("" when the route has none).
  std::string_view param(std::string_view name) const;
  // The value of cookie `name`, if sent.
  std::optional<std::string_view> cookie(std::string_view name) const;
};

struct Response {
  int status = 200;
  HeaderMap headers;
  std::string body;
  // Set: an event stream (event_stream.h); `body` is ignored, the server
  // sends the header and then what the producer sends over time.
  std::shared_ptr<EventProducer> stream;

  // 200-style responses with a Content-Type; `body` is sent as is (JSON is
  // serialized by the caller, HTML escaped by the caller).
  static Response json(std::string body, int status = 200);
  static Response html(std::string body, int status = 200);
  static Response text(std::string body, int status = 200);
  // A redirect (303 See Other by default: after a POST the browser GETs).
  // `location` must not contain CR or LF (the server answers 500 if it does).
  static Response redirect(std::string_view location, int status = 303);
  // `status` with its reason phrase as a text/plain body ("404 Not Found").
  static Response status_only(int status);
  // 200, Content-Type: text/event-stream, Cache-Control: no-store,
  // X-Accel-Buffering: no (a buffering proxy such as nginx would hold the
  // events back), events from `producer` (not null).
  static Response event_stream(std::shared_ptr<EventProducer> producer);

  Response& set_header(std::string_view name, std::string_view value) {
    headers.set(name, value);
    return *this;
  }
  Response& add_header(std::string_view name, std::string_view value) {
    headers.add(name, value);
    return *this;
  }
};

// The reason phrase of a status code ("Not Found"), "" for unknown codes.
std::string_view reason_phrase(int status);

// Whether a header name is an RFC 9110 token and a value has no CR, LF or
// NUL: what the server checks before sending a handler's headers.
bool valid_header_name(std::string_view name);
bool valid_header_value(std::string_view value);

}  // namespace wgate::http
