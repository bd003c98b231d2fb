// Fuzz target: raw bytes as one HTTP request on a fresh connection, through
// the same steps the server runs (parse, header checks, routing, body,
// query/form/cookie decoding) into a small router with parameters.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/router.h"
#include "http/wire.h"

namespace {

const wgate::http::Router& router() {
  static const wgate::http::Router r = [] {
    wgate::http::Router out;
    auto echo = [](const wgate::http::Request& q) {
      std::string body = q.path;
      for (const auto& [k, v] : q.cookies) body += k + "=" + v + ";";
      return wgate::http::Response::text(body);
    };
    (void)out.add("GET", "/", echo);
    (void)out.add("GET", "/api/v1/keys/{id}", echo);
    (void)out.add("POST", "/api/v1/keys", echo, {.body_limit = 1024});
    (void)out.add("POST", "/auth/backchannel-logout", echo);
    return out;
  }();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  wgate::http::wire::Limits limits;
  limits.header_limit = 2048;
  limits.target_limit = 512;
  limits.body_limit = 4096;
  limits.max_body_limit = 4096;
  auto outcome = wgate::http::wire::parse_request_bytes(bytes, router(), limits);
  // Every outcome is an HTTP/1.1 response: a refusal or the handler's.
  if (!outcome.response.starts_with("HTTP/1.1 ")) __builtin_trap();
  return 0;
}
