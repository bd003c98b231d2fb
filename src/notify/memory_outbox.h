// MemoryOutbox: the Outbox (outbox.h) in memory, for tests and as the
// reference behaviour of its contract. Thread-safe (one mutex). Nothing
// survives the object; "restart" in tests means a new Dispatcher over the
// same MemoryOutbox.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "notify/outbox.h"

namespace wgate::notify {

class MemoryOutbox : public Outbox {
 public:
  Result<EnqueueResult> enqueue(const Alert& alert, const std::vector<std::string>& channels, UnixTime now) override;
  Result<std::vector<Delivery>> due(UnixTime now, size_t limit) override;
  Result<std::optional<UnixTime>> next_attempt_at() override;
  Status mark_delivered(int64_t id, UnixTime now) override;
  Status mark_failed(int64_t id, const std::string& error, UnixTime now,
                     std::optional<UnixTime> next_attempt_at) override;
  Result<std::vector<Delivery>> list(size_t limit) override;

  // What the SQLite implementation writes to the audit log: each alert,
  // once, in the order first enqueued.
  std::vector<Alert> audited() const;

  // Fault injection: the next `n` calls of that method fail with a store
  // error and change nothing.
  void fail_next_due(int n);
  void fail_next_mark_delivered(int n);
  void fail_next_mark_failed(int n);

 private:
  mutable std::mutex mu_;
  std::vector<Alert> audited_;                               // guarded by mu_
  std::set<std::string> alerts_;                             // dedup keys; guarded by mu_
  std::map<int64_t, Delivery> deliveries_;                   // by id; guarded by mu_
  std::set<std::pair<std::string, std::string>> by_key_;     // (dedup_key, channel); guarded by mu_
  int64_t next_id_ = 1;                                      // guarded by mu_
  int fail_due_ = 0, fail_delivered_ = 0, fail_failed_ = 0;  // guarded by mu_
};

}  // namespace wgate::notify
