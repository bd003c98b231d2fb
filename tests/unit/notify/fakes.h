// Fakes for the notify tests: a clock that jumps instead of sleeping, a
// Notifier that follows a script, and a wait helper for threaded tests.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "notify/dispatcher.h"
#include "notify/notifier.h"

namespace wgate::notify::testing {

// Time stands still until the Dispatcher waits; a wait for a deadline up to
// `run_until` jumps there at once (and is logged); a later deadline blocks
// for real until wake() or stop(). So a back-off schedule runs in
// microseconds, and an idle dispatcher parks instead of spinning.
class FakeClock : public DispatchClock {
 public:
  FakeClock(UnixTime start, UnixTime run_until) : now_(start), run_until_(run_until) {}

  UnixTime now() override { return now_.load(); }
  void wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, UnixTime deadline,
                  const std::function<bool()>& done) override {
    if (done()) return;
    if (deadline <= run_until_.load()) {
      {
        std::lock_guard l(log_mu_);
        waits_.push_back(deadline);
      }
      UnixTime cur = now_.load();
      while (cur < deadline && !now_.compare_exchange_weak(cur, deadline)) {
      }
      return;
    }
    cv.wait(lock, done);
  }

  void set(UnixTime t) { now_ = t; }
  void set_run_until(UnixTime t) { run_until_ = t; }
  std::vector<UnixTime> waits() const {
    std::lock_guard l(log_mu_);
    return waits_;
  }

 private:
  std::atomic<UnixTime> now_;
  std::atomic<UnixTime> run_until_;
  mutable std::mutex log_mu_;
  std::vector<UnixTime> waits_;
};

// A Notifier that fails its first `fail_first` sends ("HTTP 500 (fake)"),
// then succeeds; every call is logged with the clock's time. With `hang`,
// a send blocks until its stop token is triggered. Thread-safe.
class FakeNotifier : public Notifier {
 public:
  struct Call {
    UnixTime at;
    std::string dedup_key;
    bool ok;
  };

  FakeNotifier(std::string channel, DispatchClock* clock, int fail_first = 0)
      : channel_(std::move(channel)), clock_(clock), fail_first_(fail_first) {}

  const std::string& channel() const override { return channel_; }
  std::string target() const override { return "fake " + channel_; }
  bool accepts(const Alert& alert) const override { return alert.user_name != refuse_person; }

  Status send(const Alert& alert, std::stop_token stop) override {
    if (hang) {
      in_send = true;
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock l(m);
      cv.wait(l, stop, [] { return false; });
      in_send = false;
      return make_error(target() + ": cancelled (stopping)");
    }
    std::lock_guard lock(mu_);
    const bool ok = static_cast<int>(calls_.size()) >= fail_first_;
    calls_.push_back(Call{clock_ ? clock_->now() : 0, alert.dedup_key, ok});
    if (ok) return ok_status();
    return make_error(target() + ": HTTP 500 (fake, call " + std::to_string(calls_.size()) + ")");
  }

  std::vector<Call> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int successes() const {
    auto c = calls();
    return static_cast<int>(std::count_if(c.begin(), c.end(), [](const Call& x) { return x.ok; }));
  }

  std::atomic<bool> hang{false};
  std::atomic<bool> in_send{false};
  std::string refuse_person;  // accepts() is false for alerts about this person; set before use

 private:
  std::string channel_;
  DispatchClock* clock_;
  int fail_first_;
  mutable std::mutex mu_;
  std::vector<Call> calls_;
};

// Polls `pred` until it holds or `timeout` passes; returns its last value.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace wgate::notify::testing
