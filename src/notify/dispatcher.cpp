#include "notify/dispatcher.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <utility>

namespace wgate::notify {

const char* to_string(DispatchEvent::Type type) {
  switch (type) {
    case DispatchEvent::Type::delivered: return "delivered";
    case DispatchEvent::Type::retry: return "retry";
    case DispatchEvent::Type::gave_up: return "gave_up";
    case DispatchEvent::Type::store_error: return "store_error";
  }
  return "unknown";
}

namespace {

class SystemDispatchClock : public DispatchClock {
 public:
  UnixTime now() override { return static_cast<UnixTime>(std::time(nullptr)); }
  void wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, UnixTime deadline,
                  const std::function<bool()>& done) override {
    // At most a day at a time: keeps the time_point far from overflow.
    deadline = std::min(deadline, now() + 86400);
    cv.wait_until(lock, std::chrono::system_clock::from_time_t(static_cast<std::time_t>(deadline)), done);
  }
};

}  // namespace

std::unique_ptr<DispatchClock> system_dispatch_clock() { return std::make_unique<SystemDispatchClock>(); }

Dispatcher::Dispatcher(Outbox& outbox, std::vector<std::unique_ptr<Notifier>> notifiers, DispatchPolicy policy,
                       std::unique_ptr<DispatchClock> clock, std::function<void(const DispatchEvent&)> on_event)
    : outbox_(outbox),
      policy_(std::move(policy)),
      clock_(std::move(clock)),
      on_event_(std::move(on_event)),
      rng_(std::random_device{}()) {
  for (auto& n : notifiers) {
    if (n) notifiers_.emplace(n->channel(), std::move(n));  // a repeated channel: the first one serves it
  }
  if (policy_.backoff.empty()) policy_.backoff = {0};
  policy_.max_attempts = std::max(policy_.max_attempts, 1);
  policy_.batch = std::max<size_t>(policy_.batch, 1);
  policy_.idle_recheck = std::max<int64_t>(policy_.idle_recheck, 1);
  policy_.store_retry = std::max<int64_t>(policy_.store_retry, 1);
}

Dispatcher::~Dispatcher() { stop(); }

void Dispatcher::start() {
  std::call_once(started_, [this] {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    worker_ = std::thread([this] { loop(); });
  });
}

void Dispatcher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_source_.request_stop();
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Dispatcher::wake() {
  {
    std::lock_guard lock(mu_);
    wake_pending_ = true;
  }
  cv_.notify_all();
}

void Dispatcher::report(DispatchEvent event) {
  if (on_event_) on_event_(event);
}

int64_t Dispatcher::delay_after(int attempts) {
  const size_t i = std::min(static_cast<size_t>(std::max(attempts, 1) - 1), policy_.backoff.size() - 1);
  int64_t delay = std::max<int64_t>(policy_.backoff[i], 0);
  if (policy_.jitter > 0 && delay > 0) {
    std::uniform_int_distribution<int64_t> extra(0, static_cast<int64_t>(static_cast<double>(delay) * policy_.jitter));
    delay += extra(rng_);
  }
  return delay;
}

Result<size_t> Dispatcher::raise(const std::vector<Alert>& alerts, UnixTime now) {
  size_t added = 0;
  {
    std::lock_guard lock(raise_mu_);
    for (const Alert& alert : alerts) {
      std::vector<std::string> channels;
      std::string seen = alert.dedup_key;
      for (const auto& [channel, notifier] : notifiers_) {
        if (!notifier->accepts(alert)) continue;
        channels.push_back(channel);
        seen += "\n" + channel;
      }
      if (raised_.count(seen)) continue;
      auto r = outbox_.enqueue(alert, channels, now);
      if (!r) {
        if (added) wake();
        return r.error().with_context("enqueuing alert " + alert.dedup_key);
      }
      raised_.insert(std::move(seen));
      added += r->added_channels.size();
    }
  }
  if (added) wake();
  return added;
}

bool Dispatcher::record_delivered(int64_t id, const std::string& channel, const std::string& dedup_key, int attempts,
                                  UnixTime at) {
  Status s = outbox_.mark_delivered(id, at);
  if (!s) {
    unrecorded_[id] = Unrecorded{at, channel, dedup_key, attempts};
    report({DispatchEvent::Type::store_error, id, channel, dedup_key, attempts, std::nullopt,
            "recording delivery " + std::to_string(id) + " (sent; will not be sent again): " + s.error().message});
    return false;
  }
  unrecorded_.erase(id);
  report({DispatchEvent::Type::delivered, id, channel, dedup_key, attempts, std::nullopt, {}});
  return true;
}

UnixTime Dispatcher::run_once(std::stop_token stop) {
  UnixTime now = clock_->now();
  const UnixTime store_retry_at = now + policy_.store_retry;

  // A success not recorded yet comes first: until it is, the outbox still
  // lists the delivery as pending, and we must not send it again.
  for (auto it = unrecorded_.begin(); it != unrecorded_.end();) {
    const auto [id, u] = *it++;
    if (!record_delivered(id, u.channel, u.dedup_key, u.attempts, u.at)) return store_retry_at;
  }

  auto due = outbox_.due(now, policy_.batch);
  if (!due) {
    report({DispatchEvent::Type::store_error, 0, {}, {}, 0, std::nullopt, "taking due deliveries: " + due.error().message});
    return store_retry_at;
  }
  for (const Delivery& d : *due) {
    if (stop.stop_requested()) return now;
    const int attempts = d.attempts + 1;
    Status sent = make_error("no notifier serves channel '" + d.channel + "' (not configured)");
    if (auto n = notifiers_.find(d.channel); n != notifiers_.end()) sent = n->second->send(d.alert, stop);
    if (!sent && stop.stop_requested()) return now;  // cut short by stop(): not the receiver's failure
    const UnixTime at = clock_->now();
    if (sent) {
      if (!record_delivered(d.id, d.channel, d.alert.dedup_key, attempts, at)) return store_retry_at;
      continue;
    }
    std::optional<UnixTime> next;
    if (attempts < policy_.max_attempts) next = at + delay_after(attempts);
    if (Status s = outbox_.mark_failed(d.id, sent.error().message, at, next); !s) {
      report({DispatchEvent::Type::store_error, d.id, d.channel, d.alert.dedup_key, attempts, std::nullopt,
              "recording a failed attempt of delivery " + std::to_string(d.id) + ": " + s.error().message});
      return store_retry_at;
    }
    report({next ? DispatchEvent::Type::retry : DispatchEvent::Type::gave_up, d.id, d.channel, d.alert.dedup_key,
            attempts, next, sent.error().message});
  }

  now = clock_->now();
  if (due->size() >= policy_.batch) return now;  // maybe more due already
  auto next = outbox_.next_attempt_at();
  if (!next) {
    report({DispatchEvent::Type::store_error, 0, {}, {}, 0, std::nullopt,
            "reading the next attempt time: " + next.error().message});
    return now + policy_.store_retry;
  }
  const UnixTime idle = now + policy_.idle_recheck;
  return next->has_value() ? std::min(**next, idle) : idle;
}

void Dispatcher::loop() {
  std::stop_token stop = stop_source_.get_token();
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
      wake_pending_ = false;
    }
    const UnixTime next = run_once(stop);
    std::unique_lock lock(mu_);
    auto done = [this] { return stopping_ || wake_pending_; };
    if (done()) continue;
    if (next <= clock_->now()) continue;
    clock_->wait_until(lock, cv_, next, done);
  }
  // One last try at successes not recorded yet: what is left here is sent
  // again after a restart.
  for (auto it = unrecorded_.begin(); it != unrecorded_.end();) {
    const auto [id, u] = *it++;
    record_delivered(id, u.channel, u.dedup_key, u.attempts, u.at);
  }
}

}  // namespace wgate::notify
