// RateLimiter: a token bucket per key (e.g. per client address, per user
// name) for login endpoints.
//
// Thread-safe (one mutex; a check is a hash lookup). Memory is bounded:
// at most `max_keys` buckets; a full bucket is the same as no bucket, so
// those are dropped first, then the least recently used.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace wgate::http {

struct RateLimitOptions {
  double burst = 5;              // bucket size: requests allowed at once
  double per_second = 5.0 / 60;  // refill rate: 5 a minute
  std::size_t max_keys = 10000;
};

class RateLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `clock` defaults to std::chrono::steady_clock::now; tests inject their own.
  explicit RateLimiter(RateLimitOptions options, Clock clock = {});

  // Takes one token from `key`'s bucket: true if there was one.
  bool allow(std::string_view key);

  // How long until `key` has a token again (zero if it has one now); for a
  // Retry-After header.
  std::chrono::seconds retry_after(std::string_view key);

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point updated;    // tokens are as of this time
    std::chrono::steady_clock::time_point last_used;  // for evicting the least recently used
  };
  Bucket& bucket_locked(const std::string& key, std::chrono::steady_clock::time_point now);
  void refill(Bucket& b, std::chrono::steady_clock::time_point now) const;
  void make_room_locked(std::chrono::steady_clock::time_point now);

  const RateLimitOptions options_;
  const Clock clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mu_
};

}  // namespace wgate::http
