#include "http/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace wgate::http {

RateLimiter::RateLimiter(RateLimitOptions options, Clock clock)
    : options_(options), clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {}

void RateLimiter::refill(Bucket& b, std::chrono::steady_clock::time_point now) const {
  if (now <= b.updated) return;
  double elapsed = std::chrono::duration<double>(now - b.updated).count();
  b.tokens = std::min(options_.burst, b.tokens + elapsed * options_.per_second);
  b.updated = now;
}

void RateLimiter::make_room_locked(std::chrono::steady_clock::time_point now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    refill(it->second, now);
    it = it->second.tokens >= options_.burst ? buckets_.erase(it) : std::next(it);
  }
  if (buckets_.size() < options_.max_keys || buckets_.empty()) return;
  auto oldest = std::min_element(buckets_.begin(), buckets_.end(),
                                 [](const auto& a, const auto& b) { return a.second.last_used < b.second.last_used; });
  buckets_.erase(oldest);
}

RateLimiter::Bucket& RateLimiter::bucket_locked(const std::string& key, std::chrono::steady_clock::time_point now) {
  auto it = buckets_.find(key);
  if (it != buckets_.end()) {
    refill(it->second, now);
    it->second.last_used = now;
    return it->second;
  }
  if (buckets_.size() >= options_.max_keys) make_room_locked(now);
  return buckets_.emplace(key, Bucket{options_.burst, now, now}).first->second;
}

bool RateLimiter::allow(std::string_view key) {
  auto now = clock_();
  std::lock_guard lock(mu_);
  Bucket& b = bucket_locked(std::string(key), now);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

std::chrono::seconds RateLimiter::retry_after(std::string_view key) {
  auto now = clock_();
  std::lock_guard lock(mu_);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) return std::chrono::seconds(0);
  refill(it->second, now);
  if (it->second.tokens >= 1) return std::chrono::seconds(0);
  if (options_.per_second <= 0) return std::chrono::seconds::max();
  return std::chrono::seconds(static_cast<long long>(std::ceil((1 - it->second.tokens) / options_.per_second)));
}

}  // namespace wgate::http
