// The Outbox contract (src/notify/outbox.h) as tests, run against any
// implementation. MemoryOutbox instantiates them in outbox_test.cpp; the
// SQLite outbox can do the same from its own test file:
//
//   #include "../notify/outbox_contract.h"
//   INSTANTIATE_TEST_SUITE_P(Sqlite, OutboxContract,
//       ::testing::Values(OutboxFactory{"sqlite", [] { return ...fresh store's outbox...; }}),
//       [](const auto& info) { return info.param.name; });
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "notify/outbox.h"
#include "sample_alert.h"

namespace wgate::notify::testing {

struct OutboxFactory {
  std::string name;
  std::function<std::unique_ptr<Outbox>()> make;  // an empty outbox each call
};
// Test names show the implementation's name, not the object's bytes.
inline void PrintTo(const OutboxFactory& f, std::ostream* os) { *os << f.name; }

class OutboxContract : public ::testing::TestWithParam<OutboxFactory> {
 protected:
  void SetUp() override { outbox_ = GetParam().make(); }

  std::vector<Delivery> due(UnixTime now, size_t limit = 100) {
    auto r = outbox_->due(now, limit);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : std::vector<Delivery>{};
  }
  Delivery only(const std::string& channel) {
    auto all = outbox_->list(100);
    EXPECT_TRUE(all.ok());
    for (const auto& d : *all) {
      if (d.channel == channel) return d;
    }
    ADD_FAILURE() << "no delivery on " << channel;
    return {};
  }
  size_t count() {
    auto all = outbox_->list(1000);
    EXPECT_TRUE(all.ok());
    return all.ok() ? all->size() : 0;
  }

  std::unique_ptr<Outbox> outbox_;
};

TEST_P(OutboxContract, EnqueueMakesOnePendingDeliveryPerChannelDueAtOnce) {
  auto r = outbox_->enqueue(sample_alert(7), {"webhook", "email"}, 100);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->new_alert);
  EXPECT_EQ(r->added_channels, (std::vector<std::string>{"webhook", "email"}));
  auto d = due(100);
  ASSERT_EQ(d.size(), 2u);
  for (const auto& x : d) {
    EXPECT_EQ(x.status, DeliveryStatus::pending);
    EXPECT_EQ(x.attempts, 0);
    EXPECT_EQ(x.created_at, 100);
    EXPECT_EQ(x.next_attempt_at, 100);
    EXPECT_EQ(x.alert.dedup_key, "never_activated:7");
    EXPECT_FALSE(x.last_attempt_at.has_value());
    EXPECT_FALSE(x.delivered_at.has_value());
  }
  EXPECT_TRUE(due(99).empty());
}

TEST_P(OutboxContract, EnqueueIsIdempotentByDedupKeyAndChannel) {
  ASSERT_TRUE(outbox_->enqueue(sample_alert(7), {"webhook", "email"}, 100).ok());
  auto again = outbox_->enqueue(sample_alert(7), {"webhook", "email"}, 200);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->new_alert);
  EXPECT_TRUE(again->added_channels.empty());
  EXPECT_EQ(count(), 2u);
  EXPECT_EQ(only("webhook").created_at, 100);  // the first enqueue's row, untouched
  // Another alert about the same key is another event.
  auto other = outbox_->enqueue(sample_alert(7, AlertKind::expiry_reminder), {"webhook"}, 200);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->new_alert);
  EXPECT_EQ(count(), 3u);
}

TEST_P(OutboxContract, AnAlertThatWasDeliveredIsNeverPendingAgain) {
  ASSERT_TRUE(outbox_->enqueue(sample_alert(7), {"webhook"}, 100).ok());
  const int64_t id = due(100).at(0).id;
  ASSERT_TRUE(outbox_->mark_delivered(id, 110).ok());
  auto again = outbox_->enqueue(sample_alert(7), {"webhook"}, 500);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->added_channels.empty());
  EXPECT_TRUE(due(10'000).empty());
  EXPECT_FALSE(outbox_->mark_failed(id, "late failure", 120, 130).ok());  // final stays final
  auto d = only("webhook");
  EXPECT_EQ(d.status, DeliveryStatus::delivered);
  EXPECT_EQ(d.attempts, 1);
  EXPECT_EQ(d.delivered_at, 110);
  // Recording the success again (a retry after an error whose commit did
  // happen) is harmless.
  EXPECT_TRUE(outbox_->mark_delivered(id, 140).ok());
  EXPECT_EQ(only("webhook").delivered_at, 110);
  EXPECT_EQ(only("webhook").attempts, 1);
}

TEST_P(OutboxContract, AChannelAddedLaterGetsItsOwnDelivery) {
  ASSERT_TRUE(outbox_->enqueue(sample_alert(7), {"webhook"}, 100).ok());
  ASSERT_TRUE(outbox_->mark_delivered(due(100).at(0).id, 101).ok());
  auto r = outbox_->enqueue(sample_alert(7), {"webhook", "email"}, 200);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->new_alert);
  EXPECT_EQ(r->added_channels, std::vector<std::string>{"email"});
  auto d = due(200);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].channel, "email");
}

TEST_P(OutboxContract, AnAlertWithoutChannelsIsRecordedOnce) {
  auto r = outbox_->enqueue(sample_alert(7), {}, 100);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->new_alert);
  EXPECT_TRUE(r->added_channels.empty());
  EXPECT_EQ(count(), 0u);
  auto again = outbox_->enqueue(sample_alert(7), {}, 200);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->new_alert);
}

TEST_P(OutboxContract, DueIsOrderedByNextAttemptThenIdAndLimited) {
  for (int64_t k = 1; k <= 4; ++k) ASSERT_TRUE(outbox_->enqueue(sample_alert(k), {"webhook"}, 100 + k).ok());
  auto all = due(1000);
  ASSERT_EQ(all.size(), 4u);
  // Reschedule the first to the back, the third for later.
  ASSERT_TRUE(outbox_->mark_failed(all[0].id, "HTTP 500", 110, 150).ok());
  ASSERT_TRUE(outbox_->mark_failed(all[2].id, "HTTP 500", 110, 300).ok());
  auto d = due(200);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].alert.key_id, 2);
  EXPECT_EQ(d[1].alert.key_id, 4);
  EXPECT_EQ(d[2].alert.key_id, 1);
  auto two = due(200, 2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].alert.key_id, 4);
  EXPECT_EQ(due(300).size(), 4u);
}

TEST_P(OutboxContract, MarkFailedCountsAttemptsKeepsTheLastErrorAndReschedules) {
  ASSERT_TRUE(outbox_->enqueue(sample_alert(7), {"webhook"}, 100).ok());
  const int64_t id = due(100).at(0).id;
  ASSERT_TRUE(outbox_->mark_failed(id, "HTTP 500", 100, 110).ok());
  EXPECT_TRUE(due(109).empty());
  ASSERT_TRUE(outbox_->mark_failed(id, "HTTP 503", 110, 140).ok());
  auto d = only("webhook");
  EXPECT_EQ(d.status, DeliveryStatus::pending);
  EXPECT_EQ(d.attempts, 2);
  EXPECT_EQ(d.last_error, "HTTP 503");
  EXPECT_EQ(d.last_attempt_at, 110);
  EXPECT_EQ(d.next_attempt_at, 140);
  auto next = outbox_->next_attempt_at();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, std::optional<UnixTime>(140));
  ASSERT_TRUE(outbox_->mark_delivered(id, 140).ok());
  d = only("webhook");
  EXPECT_EQ(d.status, DeliveryStatus::delivered);
  EXPECT_EQ(d.attempts, 3);
  EXPECT_EQ(d.delivered_at, 140);
  EXPECT_EQ(d.last_attempt_at, 140);
}

TEST_P(OutboxContract, MarkFailedWithoutANextAttemptGivesUpForGood) {
  ASSERT_TRUE(outbox_->enqueue(sample_alert(7), {"webhook"}, 100).ok());
  const int64_t id = due(100).at(0).id;
  ASSERT_TRUE(outbox_->mark_failed(id, "HTTP 404: no_service", 100, std::nullopt).ok());
  auto d = only("webhook");
  EXPECT_EQ(d.status, DeliveryStatus::failed);
  EXPECT_EQ(d.attempts, 1);
  EXPECT_EQ(d.last_error, "HTTP 404: no_service");
  EXPECT_TRUE(due(1'000'000).empty());
  auto next = outbox_->next_attempt_at();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, std::nullopt);
  EXPECT_FALSE(outbox_->mark_delivered(id, 200).ok());
  EXPECT_FALSE(outbox_->mark_failed(id, "again", 200, 300).ok());
  EXPECT_EQ(only("webhook").status, DeliveryStatus::failed);
  // Enqueuing it again does not revive it.
  auto again = outbox_->enqueue(sample_alert(7), {"webhook"}, 300);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->added_channels.empty());
  EXPECT_TRUE(due(1'000'000).empty());
}

TEST_P(OutboxContract, UnknownIdsAreErrors) {
  EXPECT_FALSE(outbox_->mark_delivered(12345, 1).ok());
  EXPECT_FALSE(outbox_->mark_failed(12345, "x", 1, 2).ok());
}

TEST_P(OutboxContract, TheAlertComesBackAsItWasEnqueued) {
  const Alert a = sample_alert(7, AlertKind::expired_in_use);
  ASSERT_TRUE(outbox_->enqueue(a, {"email"}, 100).ok());
  auto d = due(100);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(alert_to_json(d[0].alert), alert_to_json(a));
}

TEST_P(OutboxContract, NextAttemptAtIsTheEarliestPendingOne) {
  auto none = outbox_->next_attempt_at();
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, std::nullopt);
  ASSERT_TRUE(outbox_->enqueue(sample_alert(1), {"webhook"}, 500).ok());
  ASSERT_TRUE(outbox_->enqueue(sample_alert(2), {"webhook"}, 300).ok());
  auto next = outbox_->next_attempt_at();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, std::optional<UnixTime>(300));
}

TEST_P(OutboxContract, ConcurrentEnqueuesOfTheSameAlertMakeOneDelivery) {
  std::vector<std::thread> threads;
  std::atomic<int> new_alerts{0}, added{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto r = outbox_->enqueue(sample_alert(7), {"webhook", "email"}, 100 + i);
        ASSERT_TRUE(r.ok()) << r.error().message;
        new_alerts += r->new_alert ? 1 : 0;
        added += static_cast<int>(r->added_channels.size());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(new_alerts.load(), 1);
  EXPECT_EQ(added.load(), 2);
  EXPECT_EQ(count(), 2u);
}

}  // namespace wgate::notify::testing
