// Private to the http module (and its fuzz target): the bridge between
// Beast's messages and Request/Response, and the request checks Beast does
// not make. The server's connection code (connection.cpp) and
// parse_request_bytes below run the same steps in the same order:
//   configure_parser -> read header -> check_header -> route -> read body ->
//   to_request -> handler -> to_wire_response.
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"
#include "http/query.h"
#include "http/router.h"
#include "http/security.h"

namespace wgate::http::wire {

namespace bhttp = boost::beast::http;
using Parser = bhttp::request_parser<bhttp::string_body>;
using WireResponse = bhttp::response<bhttp::string_body>;

struct Limits {
  std::size_t header_limit = 8 * 1024;  // request line + header fields
  std::size_t target_limit = 4 * 1024;  // the request-target alone (414 above)
  std::size_t body_limit = 64 * 1024;   // default for routes without their own
  std::size_t max_body_limit = 64 * 1024;  // the largest limit of any route
  QueryLimits query;
  std::size_t max_cookies = 50;
};

// A fresh parser's limits. Beast compares Content-Length with its body limit
// as soon as the header is parsed, so that starts at the largest any route
// allows; the route's own limit is set before the body is read.
void configure_parser(Parser& parser, const Limits& limits);

// The status for a failed read. `buffered` is what had arrived (a header
// that hit the limit while still in its request line is a 414, not a 431).
int status_for_read_error(const boost::beast::error_code& ec, std::string_view buffered, const Limits& limits);

// Checks Beast leaves to us, once the header is parsed: HTTP/1.0 or 1.1, an
// origin-form target within the limit (414), exactly one Host in 1.1, a
// Transfer-Encoding only as "chunked" in 1.1, a length for POST/PUT/PATCH
// (411). 0 when the header is acceptable, else the status to answer.
int check_header(const Parser& parser, const Limits& limits);

// The route for a checked header, and the status when there is none: 400
// (path does not decode), 404, 405 (Allow in `match.allow`), 413
// (Content-Length over the route's limit). On success sets the route's body
// limit on the parser and returns 0.
int route(const Router& router, Parser& parser, const Limits& limits, RouteMatch& match);

// The Request for a fully read message (the body is moved out). Error:
// a query or form that does not decode (answer 400).
Result<Request> to_request(Parser& parser, RouteMatch& match, const Limits& limits);

// A handler's Response as Beast's, with the security headers, framing
// (Content-Length, none and no body for 1xx/204/304, no body for HEAD) and
// `keep_alive`. Error: a status outside 200-599 or a header name or value a
// client could be attacked with (CR/LF): the caller answers 500.
Result<WireResponse> to_wire_response(Response response, bool head_request, unsigned version, bool keep_alive,
                                      const SecurityHeaders& security);

// The header of an event stream (Response::event_stream): checked and given
// the security headers as to_wire_response does, but no Content-Length and
// "Connection: close" (the stream is close-delimited, event_stream.h); the
// body is empty. Error as to_wire_response, or a status other than 200.
Result<WireResponse> to_wire_stream_head(Response response, unsigned version, const SecurityHeaders& security);

// The answer for a request the server refuses itself (a 4xx, 408, 503),
// always closing the connection unless `keep_alive`.
WireResponse error_response(int status, unsigned version, bool keep_alive, const SecurityHeaders& security,
                            std::string_view allow = {},
                            bool json = false);

// The response as bytes on the wire.
std::string serialize(const WireResponse& response);

// What the server would do with `bytes` arriving as one request on a fresh
// connection: the status of the refusal (0 if the request reached a
// handler) and the Request handed to it. Runs the same steps as a
// connection, synchronously; for the fuzz target and tests.
struct Outcome {
  int status = 0;
  Request request;
  std::string response;  // the serialized response (handler's or refusal)
};
Outcome parse_request_bytes(std::string_view bytes, const Router& router, const Limits& limits,
                            const SecurityHeaders& security = {});

}  // namespace wgate::http::wire
