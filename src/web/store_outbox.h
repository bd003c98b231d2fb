// StoreOutbox: the notify::Outbox contract over the store's alert_outbox
// table, so alerts and their deliveries survive a restart and every raised
// alert is in the audit log (the store audits each row it adds).
//
// Each alert gets one row on the internal channel "" that records the
// alert itself (stored as delivered, never sent): an alert with no channel
// configured is still recorded, once. Rows of real channels are the
// deliveries.
#pragma once

#include <mutex>

#include "notify/outbox.h"
#include "store/store.h"

namespace wgate::web {

class StoreOutbox final : public notify::Outbox {
 public:
  // `store` is not owned and must outlive this object; this object is its
  // only user. Calls are serialized here (the Dispatcher's worker and the
  // thread raising alerts share the one connection).
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
  std::mutex mu_;
};

}  // namespace wgate::web
