// A Slack-compatible incoming-webhook Notifier (also Mattermost, Rocket.Chat,
// Teams' "incoming webhook" connectors, or any HTTP endpoint): one JSON POST
// per alert, over libcurl.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "notify/notifier.h"
#include "util/result.h"

namespace wgate::notify {

struct WebhookConfig {
  // http:// or https://. Its path and query are secret (a Slack webhook's
  // path is its token): errors and target() show "https://host/…" only.
  std::string url;
  long timeout_ms = 10000;          // the whole request
  long connect_timeout_ms = 5000;
  std::string ca_file;              // PEM bundle to trust instead of the system's; empty: system CAs
  // nullopt: the proxy environment variables (https_proxy, all_proxy,
  // no_proxy) as libcurl reads them; "": no proxy; else this proxy URL.
  std::optional<std::string> proxy;
  std::string channel = "webhook";  // the outbox channel it serves
};

// Checks the config (the URL parses, is http or https and names a host;
// positive timeouts) and makes the notifier. Errors never quote the URL.
// TLS peer and host verification is always on; redirects are not followed
// (a 3xx is a failure: a webhook that moved must be reconfigured, and the
// body is not re-posted to wherever a redirect points).
Result<std::unique_ptr<Notifier>> make_webhook_notifier(WebhookConfig config);

// The body POSTed for an alert (Content-Type: application/json):
//   {"text": "<subject>\n<text>" with &, <, > escaped as Slack requires,
//    "kind", "dedup_key", "key_id", "person", "device", "group",
//    "created_at", "expires_at", "last_handshake_at", "due_at"}
// (times are Unix seconds or null; no e-mail address: chat channels are
// wider audiences). Receivers that ignore unknown fields (Slack does) show
// the text; others may use the fields, and dedup_key to drop a repeat after
// a crash (outbox.h). The same key is sent as header X-Wgate-Dedup-Key.
nlohmann::json webhook_payload(const Alert& alert);

}  // namespace wgate::notify
