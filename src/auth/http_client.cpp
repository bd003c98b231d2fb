#include "auth/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

namespace wgate::auth {

namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct CurluDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlFree {
  void operator()(char* p) const { curl_free(p); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;
using CurluPtr = std::unique_ptr<CURLU, CurluDeleter>;
using CurlString = std::unique_ptr<char, CurlFree>;

// A URL libcurl parsed, or nullptr.
CurluPtr parse_url(std::string_view url) {
  CurluPtr u(curl_url());
  if (!u) return nullptr;
  std::string text(url);
  if (text.find('\0') != std::string::npos) return nullptr;
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) return nullptr;
  return u;
}

std::optional<std::string> url_part(CURLU* u, CURLUPart part) {
  char* raw = nullptr;
  if (curl_url_get(u, part, &raw, 0) != CURLUE_OK || raw == nullptr) return std::nullopt;
  CurlString owned(raw);
  return std::string(raw);
}

std::string escape(std::string_view s) {
  if (s.empty()) return "";
  // The handle argument is ignored since libcurl 7.82 (Debian 12: 7.88).
  CurlString out(curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size())));
  return out ? std::string(out.get()) : std::string();
}

bool has_crlf(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos || s.find('\0') != std::string_view::npos;
}

struct Body {
  std::string data;
  size_t max = 0;
  bool overflow = false;
};

size_t write_body(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* body = static_cast<Body*>(userdata);
  size_t n = size * nmemb;
  if (n > body->max - body->data.size()) {
    body->overflow = true;
    return 0;  // libcurl ends the transfer with CURLE_WRITE_ERROR
  }
  body->data.append(ptr, n);
  return n;
}

class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(HttpOptions options) : options_(std::move(options)) {}

  Result<HttpResponse> get(const std::string& url, const HttpHeaders& headers) override {
    return perform("GET", url, headers, nullptr, nullptr);
  }

  Result<HttpResponse> post_form(const std::string& url, const FormFields& fields,
                                 const HttpHeaders& headers) override {
    std::string body = form_urlencode(fields);
    return perform("POST", url, headers, &body, "application/x-www-form-urlencoded");
  }

  Result<HttpResponse> post_json(const std::string& url, const std::string& json_text,
                                 const HttpHeaders& headers) override {
    return perform("POST", url, headers, &json_text, "application/json");
  }

 private:
  Result<HttpResponse> perform(const char* method, const std::string& url, const HttpHeaders& headers,
                               const std::string* body, const char* content_type) {
    const std::string where = std::string(method) + " " + url_for_messages(url);
    if (auto st = check_http_url(url); !st.ok()) return st.error().with_context(where);

    CurlPtr curl(curl_easy_init());
    if (!curl) return make_error(where + ": curl_easy_init failed");

    SlistPtr header_list;
    auto add_header = [&](const std::string& line) {
      // Appending returns the list's head: the one we hold, or the first node.
      curl_slist* head = curl_slist_append(header_list.get(), line.c_str());
      if (head == nullptr) return false;
      if (!header_list) header_list.reset(head);
      return true;
    };
    bool headers_ok = true;
    if (content_type != nullptr) headers_ok &= add_header(std::string("Content-Type: ") + content_type);
    for (const auto& [name, value] : headers) {
      if (name.empty() || has_crlf(name) || has_crlf(value) || name.find(':') != std::string::npos) {
        return make_error(where + ": invalid header (an empty name, CR, LF or NUL, or ':' in the name)");
      }
      headers_ok &= add_header(name + ": " + value);
    }
    if (!headers_ok) return make_error(where + ": out of memory for headers");

    const bool is_get = body == nullptr;
    CurluPtr parsed = parse_url(url);
    const bool https = url_part(parsed.get(), CURLUPART_SCHEME) == "https";
    Body received;
    received.max = options_.max_body_bytes;
    char errbuf[CURL_ERROR_SIZE] = {0};

    CURL* c = curl.get();
    CURLcode rc = CURLE_OK;
    auto set = [&](CURLoption option, auto value) {
      if (rc == CURLE_OK) rc = curl_easy_setopt(c, option, value);
    };
    set(CURLOPT_ERRORBUFFER, errbuf);
    set(CURLOPT_URL, url.c_str());
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
    set(CURLOPT_TIMEOUT_MS, static_cast<long>(options_.total_timeout.count()));
    set(CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
    set(CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
    if (options_.ca_file) set(CURLOPT_CAINFO, options_.ca_file->c_str());
    set(CURLOPT_USERAGENT, options_.user_agent.c_str());
    set(CURLOPT_WRITEFUNCTION, &write_body);
    set(CURLOPT_WRITEDATA, static_cast<void*>(&received));
    set(CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_body_bytes));
    if (!options_.use_environment_proxy) set(CURLOPT_PROXY, "");
    if (header_list) set(CURLOPT_HTTPHEADER, header_list.get());
    if (is_get && options_.max_get_redirects > 0) {
      set(CURLOPT_FOLLOWLOCATION, 1L);
      set(CURLOPT_MAXREDIRS, static_cast<long>(options_.max_get_redirects));
      set(CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https");
    } else {
      set(CURLOPT_FOLLOWLOCATION, 0L);
    }
    if (!is_get) {
      set(CURLOPT_POST, 1L);
      set(CURLOPT_POSTFIELDS, body->data());
      set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    }
    if (rc != CURLE_OK) return make_error(where + ": setting up the request: " + curl_easy_strerror(rc));

    rc = curl_easy_perform(c);
    if (received.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
      return make_error(where + ": response body exceeds " + std::to_string(options_.max_body_bytes) + " bytes");
    }
    if (rc != CURLE_OK) {
      std::string detail = errbuf[0] != '\0' ? std::string(": ") + errbuf : "";
      while (!detail.empty() && detail.back() == '\n') detail.pop_back();
      return make_error(where + ": " + curl_easy_strerror(rc) + detail);
    }
    HttpResponse response;
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    char* type = nullptr;
    if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type != nullptr) {
      response.content_type = type;
    }
    response.body = std::move(received.data);
    return response;
  }

  const HttpOptions options_;
};

}  // namespace

Status check_http_url(std::string_view url) {
  CurluPtr u = parse_url(url);
  if (!u) return make_error("not a valid absolute URL");
  auto scheme = url_part(u.get(), CURLUPART_SCHEME);
  if (!scheme || (*scheme != "http" && *scheme != "https")) {
    return make_error("only http and https URLs are allowed, not " + (scheme ? *scheme + "://" : "this"));
  }
  auto host = url_part(u.get(), CURLUPART_HOST);
  if (!host || host->empty()) return make_error("URL has no host");
  return ok_status();
}

std::string url_for_messages(std::string_view url) {
  CurluPtr u = parse_url(url);
  if (!u) return "(invalid URL)";
  auto scheme = url_part(u.get(), CURLUPART_SCHEME);
  auto host = url_part(u.get(), CURLUPART_HOST);
  if (!scheme || !host) return "(invalid URL)";
  std::string out = *scheme + "://" + *host;
  if (auto port = url_part(u.get(), CURLUPART_PORT)) out += ":" + *port;
  if (auto path = url_part(u.get(), CURLUPART_PATH)) out += *path;
  return out;
}

std::string form_urlencode(const FormFields& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    out += escape(name);
    out += '=';
    out += escape(value);
  }
  return out;
}

Result<std::string> url_with_query(const std::string& url, const FormFields& params) {
  WGATE_TRY(check_http_url(url));
  // Appended as text: libcurl's URL API would re-encode the escapes in
  // lower case, and the endpoint's own query must stay as the provider
  // wrote it.
  if (url.find('#') != std::string::npos) return make_error("URL " + url_for_messages(url) + " has a fragment");
  std::string extra = form_urlencode(params);
  if (extra.empty()) return url;
  std::string out = url;
  if (out.find('?') == std::string::npos) out += '?';
  else if (out.back() != '?' && out.back() != '&') out += '&';
  return out + extra;
}

Result<std::unique_ptr<HttpClient>> make_curl_http_client(const HttpOptions& options) {
  if (options.connect_timeout.count() <= 0 || options.total_timeout.count() <= 0) {
    return make_error("HTTP timeouts must be positive");
  }
  if (options.max_body_bytes == 0) return make_error("HTTP max_body_bytes must be positive");
  if (options.max_get_redirects < 0) return make_error("HTTP max_get_redirects must not be negative");
  // curl_global_init is not thread-safe on every build: once, here, before
  // any handle exists.
  static std::once_flag once;
  static CURLcode init_rc = CURLE_OK;
  std::call_once(once, [] { init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init_rc != CURLE_OK) return make_error(std::string("curl_global_init: ") + curl_easy_strerror(init_rc));
  return std::unique_ptr<HttpClient>(std::make_unique<CurlHttpClient>(options));
}

}  // namespace wgate::auth
