#include "http/security.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>

#include "http/query.h"

namespace wgate::http {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// "https://host:port/path?q" -> "https://host:port"; "" when not absolute.
std::string origin_of_url(std::string_view url) {
  std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) return "";
  std::size_t authority_end = url.find_first_of("/?#", scheme_end + 3);
  return lower(url.substr(0, authority_end));
}

bool origin_allowed(std::string_view origin, const Request& request, const CsrfPolicy& policy) {
  std::string o = lower(origin);
  if (policy.allowed_origins.empty()) {
    auto host = request.headers.get("Host");
    if (!host || host->empty()) return false;
    return o == lower(std::string(request.secure ? "https://" : "http://") + std::string(*host));
  }
  for (const std::string& allowed : policy.allowed_origins)
    if (o == lower(allowed)) return true;
  return false;
}

}  // namespace

void apply_security_headers(Response& response, const SecurityHeaders& policy) {
  auto set_default = [&](std::string_view name, std::string_view value) {
    if (!response.headers.contains(name)) response.headers.set(name, value);
  };
  if (!policy.content_security_policy.empty())
    set_default("Content-Security-Policy", policy.content_security_policy);
  set_default("X-Content-Type-Options", "nosniff");
  set_default("Referrer-Policy", "no-referrer");
  set_default("X-Frame-Options", "DENY");
  set_default("Cache-Control", "no-store");
}

Result<std::string> make_csrf_token() {
  std::array<unsigned char, 32> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) return make_error("RAND_bytes failed");
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned bits = 0;
  int nbits = 0;
  for (unsigned char b : raw) {
    bits = (bits << 8) | b;
    nbits += 8;
    while (nbits >= 6) {
      nbits -= 6;
      out.push_back(kAlphabet[(bits >> nbits) & 0x3f]);
    }
  }
  if (nbits > 0) out.push_back(kAlphabet[(bits << (6 - nbits)) & 0x3f]);
  return out;
}

bool tokens_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status check_same_origin(const Request& request, const CsrfPolicy& policy) {
  if (auto site = request.headers.get("Sec-Fetch-Site")) {
    if (iequals(*site, "same-origin")) return ok_status();
    return make_error("Sec-Fetch-Site is '" + std::string(*site) + "'");
  }
  if (auto origin = request.headers.get("Origin")) {
    if (origin_allowed(*origin, request, policy)) return ok_status();
    return make_error("Origin '" + std::string(*origin) + "' is not allowed");
  }
  if (auto referer = request.headers.get("Referer")) {
    std::string origin = origin_of_url(*referer);
    if (!origin.empty() && origin_allowed(origin, request, policy)) return ok_status();
    return make_error("Referer is not from an allowed origin");
  }
  return ok_status();
}

Status check_csrf(const Request& request, std::string_view session_token, const CsrfPolicy& policy) {
  if (request.method == "GET" || request.method == "HEAD" || request.method == "OPTIONS") return ok_status();
  WGATE_TRY(check_same_origin(request, policy));
  if (session_token.empty()) return make_error("no CSRF token for this session");
  if (auto presented = request.headers.get(policy.header)) {
    if (tokens_equal(*presented, session_token)) return ok_status();
    return make_error("CSRF token does not match");
  }
  std::string_view type = request.headers.get("Content-Type").value_or("");
  type = type.substr(0, type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  if (iequals(type, "application/x-www-form-urlencoded")) {
    auto form = parse_query(request.body);
    if (!form) return form.error().with_context("form body");
    if (auto presented = form->get(policy.form_field)) {
      if (tokens_equal(*presented, session_token)) return ok_status();
      return make_error("CSRF token does not match");
    }
  }
  return make_error("no CSRF token in the request");
}

}  // namespace wgate::http
