// StoreOutbox: the notify::Outbox contract over the store's alert_outbox
// table, so alerts and their deliveries survive a restart and every raised
// alert is in the audit log (the store audits each row it adds).
//
// Each alert gets one row on the internal channel "" that records the
// alert itself (delivered at once, never sent): an alert with no channel
// configured is still recorded, once. Rows of real channels are the
// deliveries.
#pragma once

#include <mutex>

#include "notify/outbox.h"
#include "store/store.h"

namespace wgate::web {

class StoreOutbox final : public notify::Outbox {
 public:
  // `store` is not owned; it must outlive this object, and is only used
  // from the threads that call this object, one at a time (the Dispatcher's
  // worker and the alert loop share it under the caller's lock: see
  // alert_loop.h).
  explicit StoreOutbox(Store& store) : store_(store) {}

  Result<notify::EnqueueResult> enqueue(const notify::Alert& alert, const std::vector<std::string>& channels,
                                        UnixTime now) override;
  Result<std::vector<notify::Delivery>> due(UnixTime now, size_t limit) override;
  Result<std::optional<UnixTime>> next_attempt_at() override;
  Status mark_delivered(int64_t id, UnixTime now) override;
  Status mark_failed(int64_t id, const std::string& error, UnixTime now,
                     std::optional<UnixTime> next_attempt_at) override;
  Result<std::vector<notify::Delivery>> list(size_t limit) override;

 private:
  Store& store_;
};

// Serializes every call of an Outbox with a mutex: the Dispatcher's worker
// and the thread raising alerts share one store connection.
class LockedOutbox final : public notify::Outbox {
 public:
  explicit LockedOutbox(notify::Outbox& inner) : inner_(inner) {}
  Result<notify::EnqueueResult> enqueue(const notify::Alert& a, const std::vector<std::string>& c,
                                        UnixTime now) override {
    std::lock_guard l(mu_);
    return inner_.enqueue(a, c, now);
  }
  Result<std::vector<notify::Delivery>> due(UnixTime now, size_t limit) override {
    std::lock_guard l(mu_);
    return inner_.due(now, limit);
  }
  Result<std::optional<UnixTime>> next_attempt_at() override {
    std::lock_guard l(mu_);
    return inner_.next_attempt_at();
  }
  Status mark_delivered(int64_t id, UnixTime now) override {
    std::lock_guard l(mu_);
    return inner_.mark_delivered(id, now);
  }
  Status mark_failed(int64_t id, const std::string& e, UnixTime now, std::optional<UnixTime> next) override {
    std::lock_guard l(mu_);
    return inner_.mark_failed(id, e, now, next);
  }
  Result<std::vector<notify::Delivery>> list(size_t limit) override {
    std::lock_guard l(mu_);
    return inner_.list(limit);
  }

 private:
  notify::Outbox& inner_;
  std::mutex mu_;
};

}  // namespace wgate::web
