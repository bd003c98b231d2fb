#include "http/wire.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <exception>
#include <sstream>

#include "http/cookie.h"

namespace wgate::http::wire {
namespace {

std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

// The request-target's path and query ("/a?b" -> "/a", "b").
std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  std::size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

}  // namespace

void configure_parser(Parser& parser, const Limits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(limits.header_limit, UINT32_MAX)));
  parser.body_limit(static_cast<std::uint64_t>(std::max(limits.body_limit, limits.max_body_limit)));
}

int status_for_read_error(const boost::beast::error_code& ec, std::string_view buffered, const Limits& limits) {
  if (ec == bhttp::error::header_limit) {
    // Still in the request line (no line end yet, or a line longer than a
    // target may be): the URI is what is too long.
    // Beast may already have consumed a finished request line, so what is
    // buffered can start with a header field ("Name: value"): then the
    // fields are what is too large.
    std::size_t eol = buffered.find('\n');
    std::string_view first = buffered.substr(0, eol);
    std::size_t colon = first.find(':');
    if (colon != std::string_view::npos && first.substr(0, colon).find(' ') == std::string_view::npos) return 431;
    if (eol == std::string_view::npos || eol > limits.target_limit) return 414;
    return 431;
  }
  if (ec == bhttp::error::body_limit) return 413;
  return 400;
}

int check_header(const Parser& parser, const Limits& limits) {
  const auto& h = parser.get();
  if (h.version() != 10 && h.version() != 11) return 400;
  std::string_view target = sv(h.target());
  if (target.size() > limits.target_limit) return 414;
  if (target.empty() || target.front() != '/') return 400;  // only origin-form: we are no proxy
  std::size_t hosts = h.count(bhttp::field::host);
  if (hosts > 1 || (h.version() == 11 && hosts == 0)) return 400;
  // Beast unfolds obsolete line folding into the previous field's value
  // (as CR LF and whitespace kept in the value); RFC 9112 5.2 lets a server
  // refuse it, and a folded value is one a proxy may read differently.
  for (const auto& field : h) {
    std::string_view value = sv(field.value());
    if (value.find_first_of("\r\n") != std::string_view::npos) return 400;
  }
  if (hosts == 1 && sv(h[bhttp::field::host]).find_first_of(" \t") != std::string_view::npos) return 400;
  if (h.count(bhttp::field::transfer_encoding) > 0) {
    // Any coding but a lone "chunked" is one we cannot frame: a request a
    // proxy in front of us might read differently (smuggling).
    if (h.version() == 10 || !parser.chunked()) return 400;
    auto te = sv(h[bhttp::field::transfer_encoding]);
    while (!te.empty() && (te.front() == ' ' || te.front() == '\t')) te.remove_prefix(1);
    while (!te.empty() && (te.back() == ' ' || te.back() == '\t')) te.remove_suffix(1);
    if (!iequals(te, "chunked")) return 400;
  }
  std::string_view method = sv(h.method_string());
  bool needs_length = method == "POST" || method == "PUT" || method == "PATCH";
  if (needs_length && !parser.content_length() && !parser.chunked()) return 411;
  return 0;
}

int route(const Router& router, Parser& parser, const Limits& limits, RouteMatch& match) {
  const auto& h = parser.get();
  auto m = router.match(sv(h.method_string()), split_target(sv(h.target())).first);
  if (!m) return 400;
  match = std::move(*m);
  if (match.kind == RouteMatch::Kind::kNotFound) return 404;
  if (match.kind == RouteMatch::Kind::kMethodNotAllowed) return 405;
  std::size_t limit = match.options.body_limit.value_or(limits.body_limit);
  if (auto length = parser.content_length(); length && *length > limit) return 413;
  parser.body_limit(static_cast<std::uint64_t>(limit));
  return 0;
}

Result<Request> to_request(Parser& parser, RouteMatch& match, const Limits& limits) {
  auto msg = parser.release();
  Request r;
  r.method = std::string(sv(msg.method_string()));
  r.target = std::string(sv(msg.target()));
  auto [raw_path, raw_query] = split_target(r.target);
  auto path = percent_decode(raw_path, false);
  if (!path) return path.error().with_context("path");
  r.path = std::move(*path);
  auto query = parse_query(raw_query, limits.query);
  if (!query) return query.error().with_context("query");
  r.query = std::move(*query);
  for (const auto& field : msg) r.headers.add(sv(field.name_string()), sv(field.value()));
  for (std::string_view cookie : r.headers.get_all("Cookie")) parse_cookie_header(cookie, r.cookies, limits.max_cookies);
  r.params = std::move(match.params);
  r.body = std::move(msg.body());
  return r;
}

namespace {

// Status, reason and the handler's headers (checked, framing removed) with
// the security headers; no body yet.
Result<WireResponse> wire_head(Response& response, unsigned version, const SecurityHeaders& security) {
  if (response.status < 200 || response.status > 599)
    return make_error("handler answered status " + std::to_string(response.status));
  // Framing is the server's: a handler's own would desynchronize the stream.
  for (std::string_view name : {"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive"})
    response.headers.remove(name);
  for (const auto& [name, value] : response.headers.fields())
    if (!valid_header_name(name) || !valid_header_value(value))
      return make_error("handler set an invalid header '" + name + "'");
  apply_security_headers(response, security);

  WireResponse res{static_cast<bhttp::status>(response.status), version};
  std::string_view reason = reason_phrase(response.status);
  if (!reason.empty()) res.reason(boost::beast::string_view(reason.data(), reason.size()));
  for (const auto& [name, value] : response.headers.fields())
    res.insert(boost::beast::string_view(name), boost::beast::string_view(value));
  return res;
}

}  // namespace

Result<WireResponse> to_wire_stream_head(Response response, unsigned version, const SecurityHeaders& security) {
  if (response.status != 200) return make_error("an event stream answered status " + std::to_string(response.status));
  WGATE_ASSIGN_OR_RETURN(WireResponse res, wire_head(response, version, security));
  res.keep_alive(false);
  return res;
}

Result<WireResponse> to_wire_response(Response response, bool head_request, unsigned version, bool keep_alive,
                                      const SecurityHeaders& security) {
  WGATE_ASSIGN_OR_RETURN(WireResponse res, wire_head(response, version, security));
  bool no_body = response.status == 204 || response.status == 304;
  if (!no_body) {
    res.content_length(response.body.size());
    if (!head_request) res.body() = std::move(response.body);
  }
  res.keep_alive(keep_alive);
  return res;
}

WireResponse error_response(int status, unsigned version, bool keep_alive, const SecurityHeaders& security,
                            std::string_view allow, bool json) {
  Response r = Response::status_only(status);
  if (json) {
    // {"error": "405 Method Not Allowed"}: the phrase has no characters JSON escapes.
    r = Response::json("{\"error\":\"" + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\"}",
                       status);
  }
  if (!allow.empty()) r.headers.set("Allow", allow);
  auto res = to_wire_response(std::move(r), false, version, keep_alive, security);
  return std::move(res).value();  // our own statuses and headers are valid
}

std::string serialize(const WireResponse& response) {
  std::ostringstream os;
  os << response;
  return os.str();
}

Outcome parse_request_bytes(std::string_view bytes, const Router& router, const Limits& limits,
                            const SecurityHeaders& security) {
  Outcome out;
  auto refuse = [&](int status) {
    out.status = status;
    out.response = serialize(error_response(status, 11, false, security));
    return out;
  };
  Parser parser;
  configure_parser(parser, limits);
  boost::beast::error_code ec;
  std::string_view rest = bytes;
  // Feeds `rest` until `done`; the end of the bytes is the end of the stream.
  auto feed = [&](auto done) {
    // The end of the input, as a closed connection would be seen.
    auto end_of_input = [&] {
      // put_eof asserts that some bytes arrived; with none the stream
      // simply ended before a request began.
      if (parser.got_some()) {
        parser.put_eof(ec);
      } else {
        ec = bhttp::error::end_of_stream;
      }
      if (!ec && !done()) ec = bhttp::error::partial_message;
    };
    while (!done()) {
      if (rest.empty()) return end_of_input();
      std::size_t n = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
      rest.remove_prefix(n);
      if (ec == bhttp::error::need_more) ec = {};
      if (ec) return;
      // No progress on what is left: it is not enough (bounded: each turn
      // consumes bytes or ends the loop).
      if (n == 0) return end_of_input();
    }
  };
  feed([&] { return parser.is_header_done(); });
  if (ec) return refuse(status_for_read_error(ec, bytes, limits));
  if (int status = check_header(parser, limits)) return refuse(status);
  RouteMatch match;
  if (int status = route(router, parser, limits, match)) return refuse(status);
  feed([&] { return parser.is_done(); });
  if (ec) return refuse(status_for_read_error(ec, bytes, limits));
  bool head = parser.get().method() == bhttp::verb::head;
  bool keep_alive = parser.get().keep_alive();
  auto request = to_request(parser, match, limits);
  if (!request) return refuse(400);
  out.request = *request;
  Response response;
  try {
    response = (*match.handler)(*request);
  } catch (const std::exception&) {
    return refuse(500);
  }
  // An event stream: its header only (the events come over time).
  auto res = response.stream ? to_wire_stream_head(std::move(response), 11, security)
                             : to_wire_response(std::move(response), head, 11, keep_alive, security);
  if (!res) return refuse(500);
  out.response = serialize(*res);
  return out;
}

}  // namespace wgate::http::wire
