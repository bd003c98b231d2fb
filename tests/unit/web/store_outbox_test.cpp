// The notify::Outbox contract, run against the store-backed outbox over a
// fresh SQLite store each time.
#include <unistd.h>

#include <filesystem>

#include "../notify/outbox_contract.h"
#include "store/store.h"
#include "web/store_outbox.h"

namespace wgate::web {
namespace {

// Owns the store the outbox writes to, and its directory.
class OwningStoreOutbox final : public notify::Outbox {
 public:
  OwningStoreOutbox() {
    char tmpl[] = "/tmp/wgate-outbox-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    auto s = open_sqlite_store(dir_ + "/store.db", StoreOpen::create);
    if (!s) throw std::runtime_error(s.error().message);
    store_ = std::move(*s);
    outbox_ = std::make_unique<StoreOutbox>(*store_);
  }
  ~OwningStoreOutbox() override {
    outbox_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  Result<notify::EnqueueResult> enqueue(const notify::Alert& a, const std::vector<std::string>& c,
                                        UnixTime now) override {
    return outbox_->enqueue(a, c, now);
  }
  Result<std::vector<notify::Delivery>> due(UnixTime now, size_t limit) override { return outbox_->due(now, limit); }
  Result<std::optional<UnixTime>> next_attempt_at() override { return outbox_->next_attempt_at(); }
  Status mark_delivered(int64_t id, UnixTime now) override { return outbox_->mark_delivered(id, now); }
  Status mark_failed(int64_t id, const std::string& e, UnixTime now, std::optional<UnixTime> next) override {
    return outbox_->mark_failed(id, e, now, next);
  }
  Result<std::vector<notify::Delivery>> list(size_t limit) override { return outbox_->list(limit); }

 private:
  std::string dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<StoreOutbox> outbox_;
};

}  // namespace
}  // namespace wgate::web

namespace wgate::notify::testing {
INSTANTIATE_TEST_SUITE_P(Store, OutboxContract,
                         ::testing::Values(OutboxFactory{"store", [] {
                                                           return std::unique_ptr<Outbox>(
                                                               std::make_unique<web::OwningStoreOutbox>());
                                                         }}),
                         [](const auto& info) { return info.param.name; });
}  // namespace wgate::notify::testing
