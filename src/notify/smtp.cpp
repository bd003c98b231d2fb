#include "notify/smtp.h"

#include <time.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>

#include "core/time_text.h"
#include "notify/curl_util.h"

namespace wgate::notify {

namespace {

bool valid_address(const std::string& a) {
  if (a.empty() || a.size() > 254) return false;
  const size_t at = a.find('@');
  if (at == 0 || at == std::string::npos || at + 1 == a.size() || a.find('@', at + 1) != std::string::npos) {
    return false;
  }
  for (unsigned char c : a) {
    if (c <= 0x20 || c == 0x7f || std::strchr("<>()[],;:\\\"", c)) return false;
  }
  return true;
}

// Header values are one line: a CR or LF in a name or subject would start a
// header of its own.
std::string one_line(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return out;
}

std::string base64(std::string_view in) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// RFC 2047: ASCII stays as it is; anything else becomes base64 encoded
// words of at most 45 bytes each (75 characters encoded), split between
// UTF-8 characters, folded onto continuation lines.
std::string encode_header_text(const std::string& s) {
  if (std::all_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x80; })) return s;
  std::string out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = std::min(start + 45, s.size());
    while (end < s.size() && end > start + 1 && (uint8_t(s[end]) & 0xC0) == 0x80) --end;  // not inside a character
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(std::string_view(s).substr(start, end - start)) + "?=";
    start = end;
  }
  return out;
}

std::string rfc5322_date(UnixTime t) {
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

// Wraps at spaces to lines of at most ~76 characters (SMTP allows 998; mail
// readers like less), CRLF ends.
std::string wrap(const std::string& text) {
  std::string out, line;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(start, end - start);
    if (!line.empty() && line.size() + 1 + word.size() > 76) {
      out += line + "\r\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
    start = end + 1;
  }
  if (!line.empty()) out += line + "\r\n";
  return out;
}

std::string message_id(const SmtpConfig& config, const Alert& alert) {
  std::string id;
  for (char c : alert.dedup_key) id += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '.';
  return "<wgate." + id + "@" + config.from.substr(config.from.find('@') + 1) + ">";
}

struct Upload {
  const std::string* data;
  size_t pos = 0;
};

size_t on_read(char* buffer, size_t size, size_t n, void* userp) {
  auto* u = static_cast<Upload*>(userp);
  const size_t len = std::min(size * n, u->data->size() - u->pos);
  std::memcpy(buffer, u->data->data() + u->pos, len);
  u->pos += len;
  return len;
}

class SmtpNotifier : public Notifier {
 public:
  SmtpNotifier(SmtpConfig config, detail::UrlParts url) : config_(std::move(config)), url_(std::move(url)) {
    secrets_ = url_.secrets;
    secrets_.push_back(config_.password);
  }

  const std::string& channel() const override { return config_.channel; }
  std::string target() const override { return "email " + url_.redacted; }
  bool accepts(const Alert& alert) const override { return !smtp_recipients(config_, alert).empty(); }

  Status send(const Alert& alert, std::stop_token stop) override {
    const std::string tgt = target();
    const auto recipients = smtp_recipients(config_, alert);
    if (recipients.empty()) return make_error(tgt + ": no recipient (the owner has no e-mail address and no `to`)");
    // Everything the transfer points at is declared before the handle, so
    // the handle goes first.
    detail::CurlSlist rcpt;
    for (const auto& r : recipients) WGATE_TRY(rcpt.append("<" + r + ">"));
    const std::string message = smtp_message(config_, alert, recipients, static_cast<UnixTime>(::time(nullptr)));
    Upload upload{&message};
    const std::string mail_from = "<" + config_.from + ">";
    WGATE_ASSIGN_OR_RETURN(detail::CurlEasy h, detail::make_easy(tgt));

    CURLcode rc = CURLE_OK;
    auto set = [&rc](CURLcode r) {
      if (rc == CURLE_OK) rc = r;
    };
    set(curl_easy_setopt(h.get(), CURLOPT_URL, config_.url.c_str()));
    if (url_.scheme == "smtp") {
      set(curl_easy_setopt(h.get(), CURLOPT_USE_SSL, static_cast<long>(config_.starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE)));
    }
    if (!config_.username.empty()) {
      set(curl_easy_setopt(h.get(), CURLOPT_USERNAME, config_.username.c_str()));
      set(curl_easy_setopt(h.get(), CURLOPT_PASSWORD, config_.password.c_str()));
    }
    set(curl_easy_setopt(h.get(), CURLOPT_MAIL_FROM, mail_from.c_str()));
    set(curl_easy_setopt(h.get(), CURLOPT_MAIL_RCPT, rcpt.get()));
    set(curl_easy_setopt(h.get(), CURLOPT_UPLOAD, 1L));
    set(curl_easy_setopt(h.get(), CURLOPT_READFUNCTION, on_read));
    set(curl_easy_setopt(h.get(), CURLOPT_READDATA, &upload));
    set(curl_easy_setopt(h.get(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size())));
    if (rc != CURLE_OK) return make_error(tgt + ": libcurl: " + curl_easy_strerror(rc));

    detail::TransferOptions options;
    options.protocols = "smtp,smtps";
    options.timeout_ms = config_.timeout_ms;
    options.connect_timeout_ms = config_.connect_timeout_ms;
    options.ca_file = config_.ca_file;
    options.proxy = config_.proxy;
    // A failed RCPT fails the whole transfer before DATA (libcurl's default,
    // CURLOPT_MAIL_RCPT_ALLOWFAILS off): nobody got it, so a retry sends
    // nobody a second copy.
    return detail::perform(h.get(), options, stop, tgt, secrets_);
  }

 private:
  SmtpConfig config_;
  detail::UrlParts url_;
  std::vector<std::string> secrets_;
};

}  // namespace

std::vector<std::string> smtp_recipients(const SmtpConfig& config, const Alert& alert) {
  std::vector<std::string> out;
  if (config.to_owner && valid_address(alert.user_email)) out.push_back(alert.user_email);
  for (const auto& t : config.to) {
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  return out;
}

std::string smtp_message(const SmtpConfig& config, const Alert& alert, const std::vector<std::string>& recipients,
                         UnixTime now) {
  std::string to;
  for (const auto& r : recipients) to += (to.empty() ? "" : ", ") + r;
  std::string m;
  m += "Date: " + rfc5322_date(now) + "\r\n";
  m += "From: " + config.from + "\r\n";
  m += "To: " + to + "\r\n";
  m += "Subject: " + encode_header_text(one_line(alert.subject)) + "\r\n";
  m += "Message-ID: " + message_id(config, alert) + "\r\n";
  m += "Auto-Submitted: auto-generated\r\n";  // RFC 3834: no vacation replies to a robot
  m += "X-Wgate-Dedup-Key: " + one_line(alert.dedup_key) + "\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "Content-Transfer-Encoding: 8bit\r\n";
  m += "\r\n";
  m += wrap(one_line(alert.text));
  m += "\r\n";
  m += "Person:         " + one_line(alert.user_name) + "\r\n";
  m += "Device:         " + one_line(alert.device_name) + "\r\n";
  m += "Key:            " + std::to_string(alert.key_id) + " (group " + one_line(alert.group) + ")\r\n";
  m += "Created:        " + format_utc(alert.key_created_at) + "\r\n";
  m += "Expires:        " + (alert.key_expires_at ? format_utc(alert.key_expires_at) : std::string("never")) + "\r\n";
  m += "Last handshake: " + (alert.last_handshake_at ? format_utc(*alert.last_handshake_at) : std::string("none")) +
       "\r\n";
  m += "Alert:          " + one_line(alert.dedup_key) + "\r\n";
  return m;
}

Result<std::unique_ptr<Notifier>> make_smtp_notifier(SmtpConfig config) {
  auto url = detail::parse_url(config.url);
  if (!url) return url.error().with_context("SMTP URL");
  const std::string where = "email " + url->redacted;
  if (url->scheme != "smtp" && url->scheme != "smtps") {
    return make_error("SMTP URL " + url->redacted + ": the scheme must be smtp or smtps");
  }
  if (url->has_userinfo) return make_error(where + ": credentials go in username and password, not in the URL");
  if (!valid_address(config.from)) return make_error(where + ": `from` is not an e-mail address: " + one_line(config.from));
  for (const auto& t : config.to) {
    if (!valid_address(t)) return make_error(where + ": `to` entry is not an e-mail address: " + one_line(t));
  }
  if (config.to.empty() && !config.to_owner) return make_error(where + ": no recipient: set `to`, or `to_owner`");
  if (!config.password.empty() && config.username.empty()) return make_error(where + ": a password without a username");
  if (!config.password.empty() && url->scheme == "smtp" && !config.starttls) {
    return make_error(where + ": refusing to send the SMTP password without TLS: use smtps://, or starttls");
  }
  if (config.timeout_ms <= 0 || config.connect_timeout_ms <= 0) return make_error(where + ": timeouts must be positive");
  if (config.channel.empty()) return make_error(where + ": empty channel name");
  return std::unique_ptr<Notifier>(std::make_unique<SmtpNotifier>(std::move(config), std::move(*url)));
}

}  // namespace wgate::notify
