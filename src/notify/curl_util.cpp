#include "notify/curl_util.h"

#include <algorithm>
#include <cctype>
#include <mutex>

namespace wgate::notify::detail {

Status ensure_curl_global() {
  static std::once_flag once;
  static CURLcode rc = CURLE_OK;
  std::call_once(once, [] { rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (rc != CURLE_OK) return make_error(std::string("libcurl: global init: ") + curl_easy_strerror(rc));
  return ok_status();
}

Result<CurlEasy> make_easy(const std::string& target) {
  WGATE_TRY(ensure_curl_global());
  CurlEasy h(curl_easy_init());
  if (!h) return make_error(target + ": libcurl: cannot create a handle");
  return h;
}

CurlSlist& CurlSlist::operator=(CurlSlist&& other) noexcept {
  if (this != &other) {
    curl_slist_free_all(list_);
    list_ = other.list_;
    other.list_ = nullptr;
  }
  return *this;
}

Status CurlSlist::append(const std::string& item) {
  curl_slist* l = curl_slist_append(list_, item.c_str());
  if (!l) return make_error("libcurl: out of memory building a list");
  list_ = l;
  return ok_status();
}

namespace {

struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

// One part of a parsed URL; empty when the URL has none.
std::string url_part(CURLU* u, CURLUPart part) {
  char* out = nullptr;
  if (curl_url_get(u, part, &out, 0) != CURLUE_OK || !out) return {};
  std::string s(out);
  curl_free(out);
  return s;
}

}  // namespace

Result<UrlParts> parse_url(const std::string& url) {
  WGATE_TRY(ensure_curl_global());
  std::unique_ptr<CURLU, CurlUrlDeleter> u(curl_url());
  if (!u) return make_error("libcurl: out of memory parsing a URL");
  if (CURLUcode rc = curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0); rc != CURLUE_OK) {
    return make_error(std::string("not a valid URL (") + curl_url_strerror(rc) + ")");
  }
  UrlParts p;
  p.scheme = url_part(u.get(), CURLUPART_SCHEME);
  std::transform(p.scheme.begin(), p.scheme.end(), p.scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  p.host = url_part(u.get(), CURLUPART_HOST);
  p.port = url_part(u.get(), CURLUPART_PORT);
  if (p.host.empty()) return make_error("not a valid URL (no host)");
  const std::string path = url_part(u.get(), CURLUPART_PATH);
  const std::string query = url_part(u.get(), CURLUPART_QUERY);
  p.redacted = p.scheme + "://" + p.host + (p.port.empty() ? "" : ":" + p.port);
  if ((!path.empty() && path != "/") || !query.empty()) p.redacted += "/…";

  const std::string user = url_part(u.get(), CURLUPART_USER);
  const std::string password = url_part(u.get(), CURLUPART_PASSWORD);
  p.has_userinfo = !user.empty() || !password.empty();
  p.secrets = {url, path, query, user, password};
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    p.secrets.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return p;
}

std::string scrub(std::string text, const std::vector<std::string>& secrets) {
  std::vector<std::string> sorted = secrets;  // longest first: a URL before its path
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& s : sorted) {
    if (s.size() < 4) continue;
    for (size_t at = text.find(s); at != std::string::npos; at = text.find(s, at + 3)) {
      text.replace(at, s.size(), "…");
    }
  }
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

namespace {

int on_progress(void* clientp, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* stop = static_cast<const std::stop_token*>(clientp);
  return stop->stop_requested() ? 1 : 0;
}

}  // namespace

Status perform(CURL* h, const TransferOptions& o, std::stop_token stop, const std::string& target,
               const std::vector<std::string>& secrets) {
  char errbuf[CURL_ERROR_SIZE] = {};
  CURLcode rc = CURLE_OK;
  auto set = [&rc](CURLcode r) {
    if (rc == CURLE_OK) rc = r;
  };
  set(curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf));
  set(curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o.timeout_ms));
  set(curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, o.connect_timeout_ms));
  set(curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, o.protocols));
  set(curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L));
  set(curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L));
  if (!o.ca_file.empty()) set(curl_easy_setopt(h, CURLOPT_CAINFO, o.ca_file.c_str()));
  if (o.proxy) set(curl_easy_setopt(h, CURLOPT_PROXY, o.proxy->c_str()));
  set(curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L));
  set(curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress));
  set(curl_easy_setopt(h, CURLOPT_XFERINFODATA, &stop));
  if (rc != CURLE_OK) return make_error(target + ": libcurl: " + curl_easy_strerror(rc));

  rc = curl_easy_perform(h);
  // The handle must not keep pointers to this frame (a caller may reuse it).
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, nullptr);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 1L);
  if (rc == CURLE_OK) return ok_status();
  if (rc == CURLE_ABORTED_BY_CALLBACK && stop.stop_requested()) return make_error(target + ": cancelled (stopping)");
  std::string what = curl_easy_strerror(rc);
  if (errbuf[0] != '\0' && what != errbuf) what += ": " + std::string(errbuf);
  std::vector<std::string> all = secrets;
  if (o.proxy) all.push_back(*o.proxy);  // may carry credentials
  return make_error(target + ": " + scrub(what, all));
}

}  // namespace wgate::notify::detail
