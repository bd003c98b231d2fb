// Notifier: one delivery channel (a webhook, e-mail). The Dispatcher
// (dispatcher.h) sends each delivery of a channel through the Notifier that
// serves it.
//
// Implementations: make_webhook_notifier() (webhook.h),
// make_smtp_notifier() (smtp.h); a fake in tests/unit/notify/fakes.h.
#pragma once

#include <stop_token>
#include <string>

#include "notify/alerts.h"
#include "util/result.h"

namespace wgate::notify {

class Notifier {
 public:
  virtual ~Notifier() = default;

  // The channel this notifier serves ("webhook", "email"): the outbox's
  // deliveries of this channel come here. Constant for the object's life.
  virtual const std::string& channel() const = 0;

  // Where it sends, for logs and errors, never a secret:
  // "webhook https://hooks.slack.com/…", "email smtps://mail.example.com:465".
  virtual std::string target() const = 0;

  // Whether this channel can carry `alert` at all (e-mail: is there a
  // recipient?). An alert it refuses gets no delivery on this channel
  // (rather than one that fails until the Dispatcher gives up). Called from
  // Dispatcher::raise()'s thread, also while send() runs on another: must
  // only read what does not change.
  virtual bool accepts(const Alert& alert) const { (void)alert; return true; }

  // Sends one alert and waits for the receiver's verdict: ok only when the
  // receiver accepted it (a 2xx answer; the SMTP server's 250 after DATA).
  // Blocks for at most the configured timeout, and returns early with an
  // error once `stop` is requested. Errors name target() and what went
  // wrong, never a secret (password, URL path or query). Not safe to call
  // from two threads at once (the Dispatcher calls from its worker only).
  virtual Status send(const Alert& alert, std::stop_token stop) = 0;
};

}  // namespace wgate::notify
