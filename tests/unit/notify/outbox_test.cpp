#include <gtest/gtest.h>

#include "notify/memory_outbox.h"
#include "outbox_contract.h"

namespace wgate::notify::testing {
namespace {

INSTANTIATE_TEST_SUITE_P(Memory, OutboxContract,
                         ::testing::Values(OutboxFactory{"memory", [] { return std::make_unique<MemoryOutbox>(); }}),
                         [](const auto& info) { return info.param.name; });

TEST(MemoryOutbox, AuditsEachAlertOnceWhateverItsChannels) {
  MemoryOutbox outbox;
  ASSERT_TRUE(outbox.enqueue(sample_alert(7), {}, 100).ok());
  ASSERT_TRUE(outbox.enqueue(sample_alert(7), {"webhook"}, 200).ok());
  ASSERT_TRUE(outbox.enqueue(sample_alert(8), {"webhook", "email"}, 300).ok());
  ASSERT_TRUE(outbox.enqueue(sample_alert(8), {"webhook", "email"}, 400).ok());
  auto audited = outbox.audited();
  ASSERT_EQ(audited.size(), 2u);
  EXPECT_EQ(audited[0].dedup_key, "never_activated:7");
  EXPECT_EQ(audited[1].dedup_key, "never_activated:8");
}

TEST(MemoryOutbox, InjectedFaultsFailAndChangeNothing) {
  MemoryOutbox outbox;
  ASSERT_TRUE(outbox.enqueue(sample_alert(7), {"webhook"}, 100).ok());
  outbox.fail_next_due(1);
  EXPECT_FALSE(outbox.due(100, 10).ok());
  auto d = outbox.due(100, 10);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 1u);
  const int64_t id = (*d)[0].id;
  outbox.fail_next_mark_failed(1);
  EXPECT_FALSE(outbox.mark_failed(id, "x", 100, 110).ok());
  outbox.fail_next_mark_delivered(2);
  EXPECT_FALSE(outbox.mark_delivered(id, 100).ok());
  EXPECT_FALSE(outbox.mark_delivered(id, 100).ok());
  auto all = outbox.list(10);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)[0].status, DeliveryStatus::pending);
  EXPECT_EQ((*all)[0].attempts, 0);
  EXPECT_TRUE(outbox.mark_delivered(id, 100).ok());
}

}  // namespace
}  // namespace wgate::notify::testing
