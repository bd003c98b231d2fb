// An e-mail Notifier: one message per alert, to the key's owner and/or
// fixed recipients, over SMTP with libcurl.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "notify/notifier.h"
#include "util/result.h"

namespace wgate::notify {

struct SmtpConfig {
  // smtp://host[:port] (submission, 587 or 25) or smtps://host[:port]
  // (implicit TLS, 465). A path, if any, is the name sent in EHLO.
  std::string url;
  // For smtp:// only: require STARTTLS before anything else is sent (on by
  // default; a server that does not offer it fails the delivery rather than
  // getting the message in clear text). smtps:// is always TLS.
  bool starttls = true;
  std::string from;             // "wgate@example.com": envelope sender and From:
  std::vector<std::string> to;  // fixed recipients (the admins); may be empty
  bool to_owner = true;         // also the key's owner, when they have an e-mail address
  // AUTH (PLAIN/LOGIN/... as the server offers) when `username` is set.
  // A password is only ever sent over TLS: a config that would send it in
  // clear (smtp:// without STARTTLS) is refused.
  std::string username;
  std::string password;
  long timeout_ms = 30000;  // the whole session
  long connect_timeout_ms = 10000;
  std::string ca_file;  // PEM bundle to trust instead of the system's; empty: system CAs
  // nullopt: the proxy environment variables (https_proxy, all_proxy,
  // no_proxy) as libcurl reads them; "": no proxy; else this proxy URL.
  std::optional<std::string> proxy;
  std::string channel = "email";
};

// Checks the config (URL scheme smtp or smtps with a host; addresses are
// plain addr-specs with one '@' and no spaces, angle brackets or line
// breaks; a password only with TLS and a username; at least one possible
// recipient) and makes the notifier. Errors never quote the password.
Result<std::unique_ptr<Notifier>> make_smtp_notifier(SmtpConfig config);

// The recipients of `alert`: the owner (when to_owner and their address is
// valid), then `config.to`, without repeats. Empty: the notifier does not
// accept the alert.
std::vector<std::string> smtp_recipients(const SmtpConfig& config, const Alert& alert);

// The message as sent (RFC 5322, CRLF line ends, UTF-8 text/plain, 8bit):
// Date (`now`), From, To, Subject (RFC 2047 encoded when not ASCII),
// Message-ID (from the dedup_key, so a repeat after a crash is recognisable
// as the same message), and the alert's text, its fields, and the
// dedup_key. Line breaks in header values are replaced by spaces (no header
// injection). Dot-stuffing is libcurl's job.
std::string smtp_message(const SmtpConfig& config, const Alert& alert, const std::vector<std::string>& recipients,
                         UnixTime now);

}  // namespace wgate::notify
