#include "notify/dispatcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <vector>

#include "fakes.h"
#include "notify/memory_outbox.h"
#include "sample_alert.h"

namespace wgate::notify::testing {
namespace {

constexpr UnixTime kT0 = 1'000'000;

struct Events {
  std::mutex mu;
  std::vector<DispatchEvent> list;
  std::function<void(const DispatchEvent&)> sink() {
    return [this](const DispatchEvent& e) {
      std::lock_guard l(mu);
      list.push_back(e);
    };
  }
  std::vector<DispatchEvent::Type> types() {
    std::lock_guard l(mu);
    std::vector<DispatchEvent::Type> out;
    for (auto& e : list) out.push_back(e.type);
    return out;
  }
};

using Type = DispatchEvent::Type;

// One dispatcher with one fake notifier ("webhook") over `outbox`.
struct Rig {
  Rig(MemoryOutbox& outbox, int fail_first, DispatchPolicy policy = {}, UnixTime run_until = kT0 + 100'000) {
    auto c = std::make_unique<FakeClock>(kT0, run_until);
    clock = c.get();
    auto n = std::make_unique<FakeNotifier>("webhook", clock, fail_first);
    notifier = n.get();
    std::vector<std::unique_ptr<Notifier>> ns;
    ns.push_back(std::move(n));
    dispatcher = std::make_unique<Dispatcher>(outbox, std::move(ns), policy, std::move(c), events.sink());
  }
  FakeClock* clock;
  FakeNotifier* notifier;
  Events events;
  std::unique_ptr<Dispatcher> dispatcher;
};

Delivery the_delivery(MemoryOutbox& outbox) {
  auto all = outbox.list(10);
  EXPECT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
  return all->empty() ? Delivery{} : all->front();
}

TEST(Dispatcher, AReceiverThatFailsTwiceThenSucceedsGetsTheAlertOnceAfterBackingOff) {
  MemoryOutbox outbox;
  Rig rig(outbox, /*fail_first=*/2);
  // Raised before the start: an idle worker's fake time would run ahead.
  auto added = rig.dispatcher->raise({sample_alert(7)}, kT0);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, 1u);
  rig.dispatcher->start();
  ASSERT_TRUE(eventually([&] { return the_delivery(outbox).status == DeliveryStatus::delivered; }));
  rig.dispatcher->stop();

  auto calls = rig.notifier->calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].at, kT0);
  EXPECT_EQ(calls[1].at, kT0 + 10);       // back-off 10 s
  EXPECT_EQ(calls[2].at, kT0 + 10 + 30);  // then 30 s
  EXPECT_EQ(rig.notifier->successes(), 1);
  const Delivery d = the_delivery(outbox);
  EXPECT_EQ(d.attempts, 3);
  EXPECT_EQ(d.delivered_at, kT0 + 40);
  EXPECT_EQ(d.last_error, "fake webhook: HTTP 500 (fake, call 2)");
  EXPECT_EQ(rig.events.types(), (std::vector<Type>{Type::retry, Type::retry, Type::delivered}));
  std::lock_guard l(rig.events.mu);
  EXPECT_EQ(rig.events.list[0].next_attempt_at, kT0 + 10);
  EXPECT_EQ(rig.events.list[1].next_attempt_at, kT0 + 40);
  EXPECT_EQ(rig.events.list[2].attempts, 3);
}

TEST(Dispatcher, RaisingTheSameAlertsAgainSendsNothingMore) {
  MemoryOutbox outbox;
  Rig rig(outbox, 0);
  rig.dispatcher->start();
  ASSERT_TRUE(rig.dispatcher->raise({sample_alert(7)}, kT0).ok());
  ASSERT_TRUE(eventually([&] { return rig.notifier->successes() == 1; }));
  for (int i = 0; i < 5; ++i) {
    auto again = rig.dispatcher->raise({sample_alert(7)}, kT0 + i);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, 0u);
  }
  // A new dispatcher (a restart) has not seen it, asks the outbox, which
  // knows it was delivered.
  rig.dispatcher->stop();
  Rig second(outbox, 0);
  second.dispatcher->start();
  auto after_restart = second.dispatcher->raise({sample_alert(7)}, kT0 + 100);
  ASSERT_TRUE(after_restart.ok());
  EXPECT_EQ(*after_restart, 0u);
  second.dispatcher->wake();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  second.dispatcher->stop();
  EXPECT_TRUE(second.notifier->calls().empty());
  EXPECT_EQ(rig.notifier->calls().size(), 1u);
}

TEST(Dispatcher, GivesUpAfterMaxAttemptsWithTheLastError) {
  MemoryOutbox outbox;
  DispatchPolicy p;
  p.max_attempts = 3;
  Rig rig(outbox, /*fail_first=*/100, p);
  ASSERT_TRUE(rig.dispatcher->raise({sample_alert(7)}, kT0).ok());
  rig.dispatcher->start();
  ASSERT_TRUE(eventually([&] { return the_delivery(outbox).status == DeliveryStatus::failed; }));
  // Time runs on (idle rechecks) but nothing is sent again.
  ASSERT_TRUE(eventually([&] { return rig.clock->now() >= kT0 + 1000; }));
  rig.dispatcher->stop();
  const Delivery d = the_delivery(outbox);
  EXPECT_EQ(d.attempts, 3);
  EXPECT_EQ(d.last_error, "fake webhook: HTTP 500 (fake, call 3)");
  EXPECT_EQ(d.last_attempt_at, kT0 + 40);
  EXPECT_EQ(rig.notifier->calls().size(), 3u);
  EXPECT_EQ(rig.events.types(), (std::vector<Type>{Type::retry, Type::retry, Type::gave_up}));
}

TEST(Dispatcher, BackOffFollowsThePolicyAndRepeatsItsLastStep) {
  MemoryOutbox outbox;
  DispatchPolicy p;
  p.backoff = {10, 30, 120, 600};
  p.max_attempts = 7;
  p.idle_recheck = 1'000'000;  // so run_once() returns the next attempt's time
  Rig rig(outbox, 100, p);
  ASSERT_TRUE(rig.dispatcher->raise({sample_alert(7)}, kT0).ok());
  std::vector<UnixTime> nexts;
  for (int i = 0; i < 7; ++i) {
    const UnixTime next = rig.dispatcher->run_once();
    nexts.push_back(next);
    rig.clock->set(next);
  }
  EXPECT_EQ(nexts, (std::vector<UnixTime>{kT0 + 10, kT0 + 40, kT0 + 160, kT0 + 760, kT0 + 1360, kT0 + 1960,
                                          kT0 + 1960 + 1'000'000}));  // given up: the idle recheck
  EXPECT_EQ(the_delivery(outbox).status, DeliveryStatus::failed);
  EXPECT_EQ(the_delivery(outbox).attempts, 7);
}

TEST(Dispatcher, JitterAddsAtMostItsFractionOfTheDelay) {
  MemoryOutbox outbox;
  DispatchPolicy p;
  p.backoff = {100};
  p.jitter = 0.5;
  p.max_attempts = 1000;
  Rig rig(outbox, 1000, p);
  ASSERT_TRUE(rig.dispatcher->raise({sample_alert(7)}, kT0).ok());
  bool varied = false;
  UnixTime prev_delay = -1;
  for (int i = 0; i < 50; ++i) {
    const UnixTime now = rig.clock->now();
    const UnixTime next = rig.dispatcher->run_once();
    const UnixTime delay = the_delivery(outbox).next_attempt_at - now;
    EXPECT_GE(delay, 100);
    EXPECT_LE(delay, 150);
    if (prev_delay >= 0 && delay != prev_delay) varied = true;
    prev_delay = delay;
    rig.clock->set(the_delivery(outbox).next_attempt_at);
    (void)next;
  }
  EXPECT_TRUE(varied);
}

TEST(Dispatcher, ANewDispatcherOverTheSameOutboxPicksUpPendingDeliveries) {
  MemoryOutbox outbox;
  {
    Rig first(outbox, /*fail_first=*/100, {}, /*run_until=*/kT0);  // time does not move: one attempt
    first.dispatcher->start();
    ASSERT_TRUE(first.dispatcher->raise({sample_alert(7), sample_alert(8)}, kT0).ok());
    ASSERT_TRUE(eventually([&] { return first.notifier->calls().size() == 2; }));
    first.dispatcher->stop();  // "crash" with both pending
  }
  auto all = outbox.list(10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  for (const auto& d : *all) {
    EXPECT_EQ(d.status, DeliveryStatus::pending);
    EXPECT_EQ(d.attempts, 1);
    EXPECT_EQ(d.next_attempt_at, kT0 + 10);
  }

  Rig second(outbox, 0);
  second.dispatcher->start();  // nothing raised: it finds them in the outbox
  ASSERT_TRUE(eventually([&] { return second.notifier->successes() == 2; }));
  second.dispatcher->stop();
  all = outbox.list(10);
  for (const auto& d : *all) {
    EXPECT_EQ(d.status, DeliveryStatus::delivered);
    EXPECT_EQ(d.attempts, 2);
    EXPECT_EQ(d.delivered_at, kT0 + 10);  // not before its back-off
  }
}

TEST(Dispatcher, ASuccessThatCouldNotBeRecordedIsRecordedLaterNeverResent) {
  MemoryOutbox outbox;
  DispatchPolicy p;
  p.store_retry = 5;
  Rig rig(outbox, 0, p);
  ASSERT_TRUE(rig.dispatcher->raise({sample_alert(7)}, kT0).ok());
  outbox.fail_next_mark_delivered(2);
  EXPECT_EQ(rig.dispatcher->run_once(), kT0 + 5);  // sent; recording failed
  EXPECT_EQ(rig.dispatcher->run_once(), kT0 + 5);  // recording failed again; nothing sent
  EXPECT_EQ(the_delivery(outbox).status, DeliveryStatus::pending);
  rig.dispatcher->run_once();  // recorded
  rig.dispatcher->run_once();
  EXPECT_EQ(rig.notifier->calls().size(), 1u);
  const Delivery d = the_delivery(outbox);
  EXPECT_EQ(d.status, DeliveryStatus::delivered);
  EXPECT_EQ(d.attempts, 1);
  EXPECT_EQ(rig.events.types(), (std::vector<Type>{Type::store_error, Type::store_error, Type::delivered}));
}

TEST(Dispatcher, StopRecordsASuccessThatCouldNotBeRecordedYet) {
  MemoryOutbox outbox;
  Rig rig(outbox, 0, {}, /*run_until=*/kT0);  // the store retry never comes: time stands still
  ASSERT_TRUE(rig.dispatcher->raise({sample_alert(7)}, kT0).ok());
  outbox.fail_next_mark_delivered(1);
  rig.dispatcher->start();
  ASSERT_TRUE(eventually([&] { return rig.events.types().size() == 1; }));
  EXPECT_EQ(the_delivery(outbox).status, DeliveryStatus::pending);
  rig.dispatcher->stop();
  EXPECT_EQ(the_delivery(outbox).status, DeliveryStatus::delivered);
  EXPECT_EQ(rig.notifier->calls().size(), 1u);
}

TEST(Dispatcher, AnOutboxErrorBacksOffTheWholeRound) {
  MemoryOutbox outbox;
  DispatchPolicy p;
  p.store_retry = 7;
  Rig rig(outbox, 0, p);
  ASSERT_TRUE(rig.dispatcher->raise({sample_alert(7)}, kT0).ok());
  outbox.fail_next_due(1);
  EXPECT_EQ(rig.dispatcher->run_once(), kT0 + 7);
  EXPECT_TRUE(rig.notifier->calls().empty());
  rig.dispatcher->run_once();
  EXPECT_EQ(rig.notifier->successes(), 1);

  // A failed attempt that cannot be recorded: the round ends, the delivery
  // stays as it was and is tried again after store_retry.
  MemoryOutbox outbox2;
  Rig rig2(outbox2, 1, p);
  ASSERT_TRUE(rig2.dispatcher->raise({sample_alert(7)}, kT0).ok());
  outbox2.fail_next_mark_failed(1);
  EXPECT_EQ(rig2.dispatcher->run_once(), kT0 + 7);
  EXPECT_EQ(the_delivery(outbox2).attempts, 0);
  rig2.clock->set(kT0 + 7);
  rig2.dispatcher->run_once();
  EXPECT_EQ(the_delivery(outbox2).status, DeliveryStatus::delivered);
}

TEST(Dispatcher, AChannelWithoutANotifierFailsAndBacksOff) {
  MemoryOutbox outbox;
  Rig rig(outbox, 0);
  ASSERT_TRUE(outbox.enqueue(sample_alert(7), {"sms"}, kT0).ok());  // e.g. a channel removed from the config
  EXPECT_EQ(rig.dispatcher->run_once(), kT0 + 10);
  const Delivery d = the_delivery(outbox);
  EXPECT_EQ(d.attempts, 1);
  EXPECT_EQ(d.last_error, "no notifier serves channel 'sms' (not configured)");
}

TEST(Dispatcher, AnAlertNoNotifierAcceptsIsRecordedWithoutDeliveries) {
  MemoryOutbox outbox;
  Rig rig(outbox, 0);
  rig.notifier->refuse_person = "alice";
  auto added = rig.dispatcher->raise({sample_alert(7)}, kT0);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, 0u);
  EXPECT_EQ(outbox.audited().size(), 1u);  // the audit log still hears of it
  auto all = outbox.list(10);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

TEST(Dispatcher, RaiseKeepsWhatItCouldNotEnqueueForTheNextCall) {
  class FlakyOutbox : public MemoryOutbox {
   public:
    Result<EnqueueResult> enqueue(const Alert& a, const std::vector<std::string>& c, UnixTime now) override {
      if (fail_enqueue-- > 0) return make_error("database is locked");
      return MemoryOutbox::enqueue(a, c, now);
    }
    int fail_enqueue = 0;
  };
  FlakyOutbox outbox;
  Rig rig(outbox, 0);
  outbox.fail_enqueue = 1;
  auto r = rig.dispatcher->raise({sample_alert(7), sample_alert(8)}, kT0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("never_activated:7"), std::string::npos);
  auto again = rig.dispatcher->raise({sample_alert(7), sample_alert(8)}, kT0);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 2u);
}

TEST(Dispatcher, TakesABatchAtATimeAndComesBackAtOnceForMore) {
  MemoryOutbox outbox;
  DispatchPolicy p;
  p.batch = 2;
  Rig rig(outbox, 0, p);
  ASSERT_TRUE(rig.dispatcher->raise({sample_alert(1), sample_alert(2), sample_alert(3)}, kT0).ok());
  EXPECT_EQ(rig.dispatcher->run_once(), kT0);  // a full batch: maybe more
  EXPECT_EQ(rig.notifier->calls().size(), 2u);
  EXPECT_EQ(rig.dispatcher->run_once(), kT0 + 60);  // the rest; then idle
  EXPECT_EQ(rig.notifier->calls().size(), 3u);
}

TEST(Dispatcher, AnIdleWorkerSleepsUntilWoken) {
  MemoryOutbox outbox;
  Rig rig(outbox, 0, {}, /*run_until=*/kT0);  // any wait blocks for real
  rig.dispatcher->start();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_TRUE(outbox.enqueue(sample_alert(7), {"webhook"}, kT0).ok());  // behind its back
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_TRUE(rig.notifier->calls().empty());
  rig.dispatcher->wake();
  ASSERT_TRUE(eventually([&] { return rig.notifier->successes() == 1; }));
  rig.dispatcher->stop();
}

TEST(Dispatcher, AHangingReceiverNeverBlocksTheCallerAndStopCutsItShort) {
  MemoryOutbox outbox;
  Rig rig(outbox, 0);
  rig.notifier->hang = true;
  rig.dispatcher->start();
  ASSERT_TRUE(rig.dispatcher->raise({sample_alert(7)}, kT0).ok());
  ASSERT_TRUE(eventually([&] { return rig.notifier->in_send.load(); }));

  const auto t = std::chrono::steady_clock::now();
  auto r = rig.dispatcher->raise({sample_alert(8)}, kT0);  // enqueues and wakes while a send hangs
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 1u);
  rig.dispatcher->wake();
  EXPECT_LT(std::chrono::steady_clock::now() - t, std::chrono::milliseconds(500));

  rig.dispatcher->stop();
  EXPECT_FALSE(rig.notifier->in_send.load());
  auto all = outbox.list(10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  for (const auto& d : *all) {
    EXPECT_EQ(d.status, DeliveryStatus::pending);  // the cut send is not counted as the receiver's failure
    EXPECT_EQ(d.attempts, 0);
  }
  EXPECT_TRUE(rig.events.types().empty());
}

TEST(Dispatcher, StopBeforeStartAndTwiceIsFine) {
  MemoryOutbox outbox;
  Rig rig(outbox, 0);
  rig.dispatcher->stop();
  rig.dispatcher->start();  // after stop: does nothing
  rig.dispatcher->stop();
  SUCCEED();
}

}  // namespace
}  // namespace wgate::notify::testing
