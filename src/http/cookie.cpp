#include "http/cookie.h"

#include <algorithm>

#include "http/message.h"

namespace wgate::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 6265 cookie-octet: no CTLs, whitespace, DQUOTE, comma, semicolon or
// backslash.
bool cookie_octets(std::string_view v) {
  for (unsigned char c : v)
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\') return false;
  return true;
}

}  // namespace

void parse_cookie_header(std::string_view header, std::vector<std::pair<std::string, std::string>>& out,
                         std::size_t max_cookies) {
  while (!header.empty() && out.size() < max_cookies) {
    std::size_t semi = header.find(';');
    std::string_view pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = trim(pair.substr(0, eq));
    std::string_view value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    if (!valid_header_name(name) || !cookie_octets(value)) continue;
    out.emplace_back(name, value);
  }
}

CookieOptions CookieOptions::for_request(const Request& request) {
  CookieOptions o;
  o.secure = request.secure;
  return o;
}

Result<std::string> build_set_cookie(std::string_view name, std::string_view value, const CookieOptions& options) {
  if (!valid_header_name(name)) return make_error("cookie name is not a token");
  if (!cookie_octets(value)) return make_error("cookie value has characters outside cookie-octet");
  if (options.same_site == SameSite::kNone && !options.secure) return make_error("SameSite=None needs Secure");
  bool host_prefix = name.starts_with("__Host-");
  if ((host_prefix || name.starts_with("__Secure-")) && !options.secure)
    return make_error("a __Host-/__Secure- cookie needs Secure");
  if (host_prefix && options.path != "/") return make_error("a __Host- cookie needs Path=/");
  if (options.path.empty() || options.path.front() != '/' || options.path.find(';') != std::string::npos ||
      !valid_header_value(options.path))
    return make_error("bad cookie path");
  for (unsigned char c : options.path)
    if (c < 0x20 || c == 0x7f) return make_error("bad cookie path");

  std::string out;
  out.append(name).append("=").append(value);
  out.append("; Path=").append(options.path);
  if (options.max_age) out.append("; Max-Age=").append(std::to_string(std::max<long long>(0, options.max_age->count())));
  if (options.secure) out.append("; Secure");
  if (options.http_only) out.append("; HttpOnly");
  switch (options.same_site) {
    case SameSite::kLax: out.append("; SameSite=Lax"); break;
    case SameSite::kStrict: out.append("; SameSite=Strict"); break;
    case SameSite::kNone: out.append("; SameSite=None"); break;
  }
  return out;
}

Result<std::string> build_clear_cookie(std::string_view name, const CookieOptions& options) {
  CookieOptions o = options;
  o.max_age = std::chrono::seconds(0);
  return build_set_cookie(name, "", o);
}

}  // namespace wgate::http
