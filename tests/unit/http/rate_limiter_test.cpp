#include "http/rate_limiter.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace wgate::http {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  RateLimiter::Clock fn() {
    return [this] { return now; };
  }
};

TEST(RateLimiter, BurstThenRefill) {
  FakeClock clock;
  RateLimiter limiter(RateLimitOptions{.burst = 3, .per_second = 0.5}, clock.fn());
  EXPECT_TRUE(limiter.allow("1.2.3.4"));
  EXPECT_TRUE(limiter.allow("1.2.3.4"));
  EXPECT_TRUE(limiter.allow("1.2.3.4"));
  EXPECT_FALSE(limiter.allow("1.2.3.4"));
  EXPECT_EQ(limiter.retry_after("1.2.3.4"), 2s);
  EXPECT_TRUE(limiter.allow("5.6.7.8"));  // keys are independent
  clock.now += 1s;
  EXPECT_FALSE(limiter.allow("1.2.3.4"));
  EXPECT_EQ(limiter.retry_after("1.2.3.4"), 1s);
  clock.now += 1s;
  EXPECT_TRUE(limiter.allow("1.2.3.4"));
  EXPECT_FALSE(limiter.allow("1.2.3.4"));
  clock.now += 1h;  // refills to the burst, not beyond
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.allow("1.2.3.4"));
  EXPECT_FALSE(limiter.allow("1.2.3.4"));
  EXPECT_EQ(limiter.retry_after("never-seen"), 0s);
}

TEST(RateLimiter, ClockGoingBackwardsGivesNothing) {
  FakeClock clock;
  clock.now += 1h;
  RateLimiter limiter(RateLimitOptions{.burst = 1, .per_second = 1}, clock.fn());
  EXPECT_TRUE(limiter.allow("k"));
  clock.now -= 30min;
  EXPECT_FALSE(limiter.allow("k"));
}

TEST(RateLimiter, MemoryIsBounded) {
  FakeClock clock;
  RateLimiter limiter(RateLimitOptions{.burst = 2, .per_second = 0.001, .max_keys = 10}, clock.fn());
  for (int i = 0; i < 1000; ++i) {
    clock.now += 1ms;
    limiter.allow("k" + std::to_string(i));
  }
  // The least recently used were evicted: an old key starts afresh, a recent
  // one is still limited.
  EXPECT_TRUE(limiter.allow("k999"));
  EXPECT_FALSE(limiter.allow("k999"));
  EXPECT_TRUE(limiter.allow("k0"));
  EXPECT_TRUE(limiter.allow("k0"));
}

TEST(RateLimiter, ConcurrentUseCountsEveryToken) {
  RateLimiter limiter(RateLimitOptions{.burst = 1000, .per_second = 0});
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i)
        if (limiter.allow("shared")) ++allowed;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 1000);
}

}  // namespace
}  // namespace wgate::http
