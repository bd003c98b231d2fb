// Cookies: parsing the Cookie request header and building Set-Cookie.
//
// Pure functions. Session cookies default to HttpOnly, SameSite=Lax, Path=/;
// `secure` comes from the request (Request::secure: TLS here or configured
// behind a TLS proxy), so a cookie is never marked Secure on plain HTTP the
// browser would then drop, nor left unmarked behind TLS.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.h"

namespace wgate::http {

struct Request;

// Parses one Cookie header value ("a=1; b=2") and appends to `out`. Pairs
// that are not name=value with a token name are skipped (browsers send what
// other sites' scripts set); surrounding double quotes of a value are
// removed; values are not decoded. Stops once `out` holds `max_cookies`.
void parse_cookie_header(std::string_view header, std::vector<std::pair<std::string, std::string>>& out,
                         std::size_t max_cookies = 50);

enum class SameSite { kLax, kStrict, kNone };

struct CookieOptions {
  bool secure = false;
  bool http_only = true;
  SameSite same_site = SameSite::kLax;
  std::string path = "/";
  // Absent: a session cookie (gone when the browser closes).
  std::optional<std::chrono::seconds> max_age;

  // Options for a cookie sent in answer to `request` (Secure as the request).
  static CookieOptions for_request(const Request& request);
};

// The value of a Set-Cookie header. Errors: a name that is not a token, a
// value with characters outside RFC 6265's cookie-octet, SameSite=None
// without Secure, a `__Host-` or `__Secure-` name without Secure (or, for
// `__Host-`, with a Path other than "/"), a Path with ';' or control chars.
Result<std::string> build_set_cookie(std::string_view name, std::string_view value, const CookieOptions& options);

// A Set-Cookie that deletes `name` (empty value, Max-Age=0), with the same
// Path/Secure attributes it was set with.
Result<std::string> build_clear_cookie(std::string_view name, const CookieOptions& options);

}  // namespace wgate::http
