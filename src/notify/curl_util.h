// Private to src/notify: owners of libcurl handles, URL redaction, and one
// perform() with the settings every sender shares. Not part of the module's
// interface.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace wgate::notify::detail {

// curl_global_init, once per process, before the first handle (libcurl
// keeps a reference count, so another module calling it too is fine).
Status ensure_curl_global();

struct CurlEasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

// A new easy handle, or an error naming `target`.
Result<CurlEasy> make_easy(const std::string& target);

// The move-only owner of a curl_slist (header lists, SMTP recipients).
class CurlSlist {
 public:
  CurlSlist() = default;
  CurlSlist(CurlSlist&& other) noexcept : list_(other.list_) { other.list_ = nullptr; }
  CurlSlist& operator=(CurlSlist&& other) noexcept;
  CurlSlist(const CurlSlist&) = delete;
  CurlSlist& operator=(const CurlSlist&) = delete;
  ~CurlSlist() { curl_slist_free_all(list_); }

  Status append(const std::string& item);
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

// A URL taken apart by libcurl's own parser (so we judge the URL exactly as
// the transfer will use it).
struct UrlParts {
  std::string scheme;  // lower case: "https", "smtps"
  std::string host;    // "[::1]" for IPv6
  std::string port;    // empty when the URL names none
  // scheme://host[:port], then "/…" when the URL has a path or query: the
  // path of a Slack-style webhook is its secret token, and userinfo is never
  // shown. The only form of the URL in errors and logs.
  std::string redacted;
  bool has_userinfo = false;  // user[:password]@ in the URL
  // The URL's secret parts (path, path segments, query, user, password, the
  // whole URL), for scrub().
  std::vector<std::string> secrets;
};
// Errors do not repeat the URL (it may hold secrets): "not a valid URL".
Result<UrlParts> parse_url(const std::string& url);

// `text` with every occurrence of every secret (of 4 characters or more)
// replaced by "…", and control characters by spaces: for messages that
// quote a server or libcurl.
std::string scrub(std::string text, const std::vector<std::string>& secrets);

// Runs the transfer set up on `h`, with the settings every sender shares:
// no signals, the timeouts, TLS peer and host verification on (`ca_file`
// replaces the system CAs when set), only `protocols` ("http,https"), the
// proxy choice, and an abort when `stop` is requested (checked at least
// once a second).
// Errors: "<target>: <what libcurl said>", scrubbed of `secrets`.
struct TransferOptions {
  const char* protocols = "";
  long timeout_ms = 10000;
  long connect_timeout_ms = 5000;
  std::string ca_file;
  // nullopt: libcurl's proxy environment variables (https_proxy, all_proxy,
  // no_proxy); "": no proxy whatever the environment says; else this proxy.
  std::optional<std::string> proxy;
};
Status perform(CURL* h, const TransferOptions& options, std::stop_token stop, const std::string& target,
               const std::vector<std::string>& secrets);

}  // namespace wgate::notify::detail
