#include "notify/webhook.h"

#include <utility>

#include "notify/curl_util.h"

namespace wgate::notify {

namespace {

// Slack's mrkdwn needs exactly these three escaped.
std::string slack_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
  return out;
}

constexpr size_t kMaxResponseKept = 4096;  // enough for any webhook's error text
constexpr size_t kMaxResponseQuoted = 200;

size_t on_body(char* data, size_t size, size_t n, void* userp) {
  auto* body = static_cast<std::string*>(userp);
  const size_t len = size * n;
  if (body->size() < kMaxResponseKept) body->append(data, std::min(len, kMaxResponseKept - body->size()));
  return len;  // read and drop the rest: a long answer is not an error
}

class WebhookNotifier : public Notifier {
 public:
  WebhookNotifier(WebhookConfig config, detail::UrlParts url) : config_(std::move(config)), url_(std::move(url)) {}

  const std::string& channel() const override { return config_.channel; }
  std::string target() const override { return "webhook " + url_.redacted; }

  Status send(const Alert& alert, std::stop_token stop) override {
    const std::string tgt = target();
    // Everything the transfer points at is declared before the handle, so
    // the handle goes first.
    detail::CurlSlist headers;
    WGATE_TRY(headers.append("Content-Type: application/json"));
    WGATE_TRY(headers.append("Expect:"));  // no 100-continue round trip (and its 1 s wait on servers without it)
    WGATE_TRY(headers.append("X-Wgate-Dedup-Key: " + alert.dedup_key));
    const std::string body = webhook_payload(alert).dump();
    std::string response;
    WGATE_ASSIGN_OR_RETURN(detail::CurlEasy h, detail::make_easy(tgt));

    CURLcode rc = CURLE_OK;
    auto set = [&rc](CURLcode r) {
      if (rc == CURLE_OK) rc = r;
    };
    set(curl_easy_setopt(h.get(), CURLOPT_URL, config_.url.c_str()));
    set(curl_easy_setopt(h.get(), CURLOPT_POST, 1L));
    set(curl_easy_setopt(h.get(), CURLOPT_POSTFIELDS, body.c_str()));
    set(curl_easy_setopt(h.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size())));
    set(curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, headers.get()));
    set(curl_easy_setopt(h.get(), CURLOPT_USERAGENT, "wgate"));
    set(curl_easy_setopt(h.get(), CURLOPT_FOLLOWLOCATION, 0L));
    set(curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, on_body));
    set(curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &response));
    if (rc != CURLE_OK) return make_error(tgt + ": libcurl: " + curl_easy_strerror(rc));

    detail::TransferOptions options;
    options.protocols = "http,https";
    options.timeout_ms = config_.timeout_ms;
    options.connect_timeout_ms = config_.connect_timeout_ms;
    options.ca_file = config_.ca_file;
    options.proxy = config_.proxy;
    WGATE_TRY(detail::perform(h.get(), options, stop, tgt, url_.secrets));

    long code = 0;
    curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300) return ok_status();
    std::string quoted = detail::scrub(response.substr(0, kMaxResponseQuoted), url_.secrets);
    return make_error(tgt + ": HTTP " + std::to_string(code) + (quoted.empty() ? "" : ": " + quoted));
  }

 private:
  WebhookConfig config_;
  detail::UrlParts url_;
};

}  // namespace

nlohmann::json webhook_payload(const Alert& a) {
  auto time_or_null = [](UnixTime t) { return t ? nlohmann::json(t) : nlohmann::json(nullptr); };
  return {
      {"text", slack_escape(a.subject) + "\n" + slack_escape(a.text)},
      {"kind", to_string(a.kind)},
      {"dedup_key", a.dedup_key},
      {"key_id", a.key_id},
      {"person", a.user_name},
      {"device", a.device_name},
      {"group", a.group},
      {"created_at", a.key_created_at},
      {"expires_at", time_or_null(a.key_expires_at)},
      {"last_handshake_at", a.last_handshake_at ? nlohmann::json(*a.last_handshake_at) : nlohmann::json(nullptr)},
      {"due_at", a.due_at},
  };
}

Result<std::unique_ptr<Notifier>> make_webhook_notifier(WebhookConfig config) {
  auto url = detail::parse_url(config.url);
  if (!url) return url.error().with_context("webhook URL");
  if (url->scheme != "http" && url->scheme != "https") {
    return make_error("webhook URL " + url->redacted + ": the scheme must be http or https");
  }
  if (config.timeout_ms <= 0 || config.connect_timeout_ms <= 0) {
    return make_error("webhook " + url->redacted + ": timeouts must be positive");
  }
  if (config.channel.empty()) return make_error("webhook " + url->redacted + ": empty channel name");
  return std::unique_ptr<Notifier>(std::make_unique<WebhookNotifier>(std::move(config), std::move(*url)));
}

}  // namespace wgate::notify
