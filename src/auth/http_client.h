// HttpClient: the auth module's only way to the network (OpenID provider
// discovery, JWKS, token, device authorization and userinfo endpoints), an
// interface so that tests and the rest of wgate can pass fakes; and its
// libcurl implementation.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.h"

namespace wgate::auth {

struct HttpResponse {
  int status = 0;            // the HTTP status code
  std::string body;          // at most HttpOptions::max_body_bytes
  std::string content_type;  // the Content-Type header, "" when absent
};

// Request headers as (name, value) pairs, sent in this order.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;
// Form fields (or query parameters) as (name, value) pairs, in this order.
using FormFields = std::vector<std::pair<std::string, std::string>>;

// Every method answers any HTTP status as a response (a 400 with an OAuth
// error body is an answer, not a failure); an Error means no complete
// response arrived: bad URL, refused scheme, connection, TLS, timeout,
// oversized body. Errors name the method and the URL without its query,
// fragment or user info (where secrets travel), never a header or body.
//
// Implementations must be safe to call from several threads at once.
class HttpClient {
 public:
  virtual ~HttpClient() = default;

  virtual Result<HttpResponse> get(const std::string& url, const HttpHeaders& headers) = 0;

  // POSTs `fields` as application/x-www-form-urlencoded (every byte outside
  // [A-Za-z0-9-._~] percent-encoded, names and values alike).
  virtual Result<HttpResponse> post_form(const std::string& url, const FormFields& fields,
                                         const HttpHeaders& headers) = 0;

  // POSTs `json_text` as application/json, unchanged.
  virtual Result<HttpResponse> post_json(const std::string& url, const std::string& json_text,
                                         const HttpHeaders& headers) = 0;
};

struct HttpOptions {
  std::chrono::milliseconds connect_timeout{5'000};
  // The whole request, connection to last byte.
  std::chrono::milliseconds total_timeout{15'000};
  // A PEM bundle of trusted CAs instead of the system's (a private IdP).
  std::optional<std::string> ca_file;
  // Certificate and host name verification; only a test against a
  // throwaway IdP has any business turning it off.
  bool verify_tls = true;
  // A longer body fails the request (discovery documents and JWKS are a
  // few KB).
  size_t max_body_bytes = 1 << 20;
  // Redirects a GET follows (never to another scheme than http/https, and
  // from https only to https). POSTs never follow one: a token request's
  // secrets go to the URL configured, nowhere else.
  int max_get_redirects = 3;
  // Whether libcurl honours http_proxy/https_proxy/no_proxy.
  bool use_environment_proxy = true;
  std::string user_agent = "wgate";
};

// The libcurl HttpClient. Refuses URLs other than http:// and https:// (at
// the request and in libcurl's protocol list), header names or values with
// CR or LF, and bodies above max_body_bytes. One easy handle per request:
// thread-safe, no connection reuse (requests to a provider are rare).
// Errors: libcurl cannot initialise, or `options` are out of range.
Result<std::unique_ptr<HttpClient>> make_curl_http_client(const HttpOptions& options);

// Ok for an absolute http:// or https:// URL with a host that libcurl
// parses; an Error naming the problem otherwise.
Status check_http_url(std::string_view url);

// `url` for messages and logs: scheme, host, port and path only, or
// "(invalid URL)".
std::string url_for_messages(std::string_view url);

// "a=1&b=x%20y": the fields percent-encoded (libcurl's escaping), joined.
std::string form_urlencode(const FormFields& fields);

// `url` with `params` appended to its query (after any query it has),
// encoded as form_urlencode does. Error when `url` fails check_http_url.
Result<std::string> url_with_query(const std::string& url, const FormFields& params);

}  // namespace wgate::auth
