#include "notify/memory_outbox.h"

#include <algorithm>
#include <tuple>

namespace wgate::notify {

namespace {

Error injected(const char* what) { return make_error(std::string("outbox: ") + what + ": database is locked (injected)"); }

}  // namespace

Result<EnqueueResult> MemoryOutbox::enqueue(const Alert& alert, const std::vector<std::string>& channels,
                                            UnixTime now) {
  std::lock_guard lock(mu_);
  EnqueueResult r;
  if (alerts_.insert(alert.dedup_key).second) {
    r.new_alert = true;
    audited_.push_back(alert);
  }
  for (const auto& channel : channels) {
    if (!by_key_.emplace(alert.dedup_key, channel).second) continue;
    Delivery d;
    d.id = next_id_++;
    d.channel = channel;
    d.alert = alert;
    d.created_at = now;
    d.next_attempt_at = now;
    deliveries_.emplace(d.id, std::move(d));
    r.added_channels.push_back(channel);
  }
  return r;
}

Result<std::vector<Delivery>> MemoryOutbox::due(UnixTime now, size_t limit) {
  std::lock_guard lock(mu_);
  if (fail_due_ > 0) {
    --fail_due_;
    return injected("due");
  }
  std::vector<Delivery> out;
  for (const auto& [id, d] : deliveries_) {
    if (d.status == DeliveryStatus::pending && d.next_attempt_at <= now) out.push_back(d);
  }
  std::sort(out.begin(), out.end(), [](const Delivery& a, const Delivery& b) {
    return std::tie(a.next_attempt_at, a.id) < std::tie(b.next_attempt_at, b.id);
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

Result<std::optional<UnixTime>> MemoryOutbox::next_attempt_at() {
  std::lock_guard lock(mu_);
  std::optional<UnixTime> next;
  for (const auto& [id, d] : deliveries_) {
    if (d.status == DeliveryStatus::pending && (!next || d.next_attempt_at < *next)) next = d.next_attempt_at;
  }
  return next;
}

Status MemoryOutbox::mark_delivered(int64_t id, UnixTime now) {
  std::lock_guard lock(mu_);
  if (fail_delivered_ > 0) {
    --fail_delivered_;
    return injected("mark_delivered");
  }
  auto it = deliveries_.find(id);
  if (it == deliveries_.end()) return make_error("outbox: no delivery " + std::to_string(id));
  Delivery& d = it->second;
  if (d.status == DeliveryStatus::delivered) return ok_status();
  if (d.status != DeliveryStatus::pending) {
    return make_error("outbox: delivery " + std::to_string(id) + " is " + to_string(d.status) + ", not pending");
  }
  d.status = DeliveryStatus::delivered;
  ++d.attempts;
  d.delivered_at = now;
  d.last_attempt_at = now;
  return ok_status();
}

Status MemoryOutbox::mark_failed(int64_t id, const std::string& error, UnixTime now,
                                 std::optional<UnixTime> next_attempt_at) {
  std::lock_guard lock(mu_);
  if (fail_failed_ > 0) {
    --fail_failed_;
    return injected("mark_failed");
  }
  auto it = deliveries_.find(id);
  if (it == deliveries_.end()) return make_error("outbox: no delivery " + std::to_string(id));
  Delivery& d = it->second;
  if (d.status != DeliveryStatus::pending) {
    return make_error("outbox: delivery " + std::to_string(id) + " is " + to_string(d.status) + ", not pending");
  }
  ++d.attempts;
  d.last_error = error;
  d.last_attempt_at = now;
  if (next_attempt_at) {
    d.next_attempt_at = *next_attempt_at;
  } else {
    d.status = DeliveryStatus::failed;
  }
  return ok_status();
}

Result<std::vector<Delivery>> MemoryOutbox::list(size_t limit) {
  std::lock_guard lock(mu_);
  std::vector<Delivery> out;
  for (const auto& [id, d] : deliveries_) out.push_back(d);
  std::sort(out.begin(), out.end(), [](const Delivery& a, const Delivery& b) {
    return std::tie(a.created_at, a.id) > std::tie(b.created_at, b.id);
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::vector<Alert> MemoryOutbox::audited() const {
  std::lock_guard lock(mu_);
  return audited_;
}

void MemoryOutbox::fail_next_due(int n) {
  std::lock_guard lock(mu_);
  fail_due_ = n;
}
void MemoryOutbox::fail_next_mark_delivered(int n) {
  std::lock_guard lock(mu_);
  fail_delivered_ = n;
}
void MemoryOutbox::fail_next_mark_failed(int n) {
  std::lock_guard lock(mu_);
  fail_failed_ = n;
}

}  // namespace wgate::notify
