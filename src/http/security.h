// Browser-facing security: default response headers, CSRF checks.
//
// Pure functions, except make_csrf_token (OpenSSL's RNG). Cookies are in
// cookie.h, the login rate limiter in rate_limiter.h.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"
#include "util/result.h"

namespace wgate::http {

// No inline script or style attribute injection can run: scripts only from
// our origin, no plugins, no framing, no <base> rewriting. `img-src data:
// blob:` lets a page draw a QR code on a canvas and show it as an image;
// `blob:` downloads (a generated client config saved through
// URL.createObjectURL) are navigations, which CSP does not restrict.
// `form-action` is left out on purpose: Chrome applies it to the redirects
// after a form POST, which would block a login form's redirect to an IdP.
inline constexpr std::string_view kDefaultContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "img-src 'self' data: blob:";

struct SecurityHeaders {
  std::string content_security_policy = std::string(kDefaultContentSecurityPolicy);
};

// Adds what the response does not set itself: Content-Security-Policy,
// X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer,
// X-Frame-Options: DENY, and Cache-Control: no-store (API and auth answers
// must never be cached; static assets set their own Cache-Control).
void apply_security_headers(Response& response, const SecurityHeaders& policy);

// 32 random bytes (OpenSSL RAND_bytes), base64url without padding: a
// per-session CSRF token. Error only when the RNG fails.
Result<std::string> make_csrf_token();

// Constant-time comparison (CRYPTO_memcmp); different lengths are unequal
// (the length of a token is not a secret).
bool tokens_equal(std::string_view a, std::string_view b);

struct CsrfPolicy {
  // The origins a state-changing request may come from, e.g.
  // "https://vpn.example.com" (scheme://host[:port], no path). Empty: the
  // request's own origin, from its Host header and Request::secure; behind a
  // proxy that rewrites Host, configure this.
  std::vector<std::string> allowed_origins;
  std::string header = "X-CSRF-Token";
  std::string form_field = "csrf_token";
};

// Whether the request comes from our own origin. In order, the first header
// present decides: Sec-Fetch-Site (must be "same-origin"), Origin (must be
// an allowed origin; "null" never is), Referer (its origin must be allowed).
// A request with none of them is accepted: it is not from a browser that
// could be tricked (browsers send Sec-Fetch-Site or Origin with every POST).
// Origin is checked after Sec-Fetch-Site because our own
// Referrer-Policy: no-referrer makes browsers send "Origin: null" even on
// same-origin POSTs. The error says which check failed.
Status check_same_origin(const Request& request, const CsrfPolicy& policy);

// The CSRF check for a state-changing request: GET, HEAD and OPTIONS pass;
// any other method must pass check_same_origin and present `session_token`
// (non-empty) in the policy's header, or in an
// application/x-www-form-urlencoded body's field. The caller answers 403 on
// an error.
Status check_csrf(const Request& request, std::string_view session_token, const CsrfPolicy& policy);

}  // namespace wgate::http
