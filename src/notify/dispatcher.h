// Dispatcher: delivers the outbox's alerts on a worker thread of its own, so
// that a slow or dead receiver never holds the reconcile loop.
//
// The daemon, after a pass (or when next_alert_after() says):
//
//   auto alerts = notify::alerts_due(state, policy, now);
//   dispatcher.raise(alerts, now);  // enqueues what is new, wakes the worker
//
// The worker loop: take the outbox's due() deliveries, send each through the
// Notifier of its channel, record mark_delivered() or mark_failed() with
// exponential back-off, give up after DispatchPolicy::max_attempts; then
// sleep until the next delivery is due, a wake(), or stop(). Sending happens
// outside any outbox call (so outside any store transaction), and the
// Dispatcher's own lock is never held while sending or while calling the
// outbox: wake() and raise() return at once whatever a send is doing.
//
// Exactly once: per (alert, channel) a receiver is sent the alert until one
// attempt succeeds, then never again. Should recording the success fail
// (store busy), the Dispatcher remembers the delivery and records it before
// it sends anything else, never resending it; only a crash in between, or a
// stop() while the outbox still fails, can repeat a delivery (outbox.h).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "notify/alerts.h"
#include "notify/notifier.h"
#include "notify/outbox.h"
#include "util/result.h"

namespace wgate::notify {

struct DispatchPolicy {
  // Delay after the n-th failed attempt: backoff[n-1], the last entry for
  // every later one. Seconds.
  std::vector<int64_t> backoff = {10, 30, 120, 600, 1800, 3600};
  // Attempts in all; the one that fails last marks the delivery failed for
  // good, with its error. With the defaults: 12 attempts over ~6.5 hours.
  int max_attempts = 12;
  // Up to this fraction of each delay is added at random (0: none), so
  // that many deliveries failing together do not retry together.
  double jitter = 0.0;
  // Deliveries taken per due() call.
  size_t batch = 32;
  // With nothing pending, look at the outbox again after this long (a
  // delivery enqueued by another process, which cannot wake() us). Seconds.
  int64_t idle_recheck = 60;
  // After an outbox error, try again after this long. Seconds.
  int64_t store_retry = 5;
};

// What happened to one delivery (or to the outbox), for the daemon's log.
// Reported from the worker thread, with no lock held.
struct DispatchEvent {
  enum class Type {
    delivered,    // the receiver accepted it (attempts = how many it took)
    retry,        // an attempt failed; next_attempt_at says when again
    gave_up,      // the last attempt failed; the delivery is failed for good
    store_error,  // an outbox call failed; error says which
  };
  Type type = Type::delivered;
  int64_t delivery_id = 0;
  std::string channel;
  std::string dedup_key;
  int attempts = 0;
  std::optional<UnixTime> next_attempt_at;
  std::string error;  // free of secrets (Notifier::send's contract)
};
const char* to_string(DispatchEvent::Type type);

// Time for the Dispatcher: now, and a wait that wake() and stop() cut
// short. Injected so tests run back-off schedules without sleeping.
class DispatchClock {
 public:
  virtual ~DispatchClock() = default;
  virtual UnixTime now() = 0;
  // Called with `lock` held (it guards what `done` reads): returns when
  // `done()` holds (checked on every notification of `cv`), or once the
  // clock reaches `deadline`. Returns with `lock` held.
  virtual void wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, UnixTime deadline,
                          const std::function<bool()>& done) = 0;
};
// The system's clock (Unix seconds) and a real wait.
std::unique_ptr<DispatchClock> system_dispatch_clock();

class Dispatcher {
 public:
  // `outbox` is not owned and must outlive the Dispatcher. Each notifier
  // serves its channel(); channel names must be distinct. `on_event` may
  // be empty; it is called from the worker thread (and from run_once()'s
  // caller) and must not call back into the Dispatcher.
  Dispatcher(Outbox& outbox, std::vector<std::unique_ptr<Notifier>> notifiers, DispatchPolicy policy = {},
             std::unique_ptr<DispatchClock> clock = system_dispatch_clock(),
             std::function<void(const DispatchEvent&)> on_event = {});
  ~Dispatcher();  // stop()s
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Starts the worker thread. Once per object; later calls do nothing.
  void start();
  // Asks the worker to stop, cuts a send in progress short (libcurl checks
  // at least once a second; the cut delivery stays pending, unchanged) and
  // joins. Idempotent. Deliveries left are the next start's.
  void stop();
  // Makes the worker look at the outbox now (something was enqueued).
  void wake();

  // Enqueues each alert on the channels whose notifier accepts() it (on no
  // channel when none does: the outbox still records it, for the audit
  // log), and wakes the worker when a delivery was added. Alerts this
  // object already enqueued on the same channels are skipped without an
  // outbox call, so calling it on every pass with every due alert is cheap.
  // Returns the number of deliveries added. On an outbox error the alerts
  // not yet enqueued are left for the next call. Any thread; calls are
  // serialized among themselves, not with the worker.
  Result<size_t> raise(const std::vector<Alert>& alerts, UnixTime now);

  // One round of the worker, on the caller's thread: records any success
  // not recorded yet, sends every due delivery (up to `batch`), and
  // returns when the outbox next needs a look. Tests use it directly;
  // never call it while the worker runs.
  UnixTime run_once(std::stop_token stop = {});

 private:
  void loop();
  void report(DispatchEvent event);
  int64_t delay_after(int attempts);
  // Records the success of `id`; on an outbox error remembers it in
  // unrecorded_ and reports. Returns whether it is recorded.
  bool record_delivered(int64_t id, const std::string& channel, const std::string& dedup_key, int attempts,
                        UnixTime at);

  Outbox& outbox_;
  std::map<std::string, std::unique_ptr<Notifier>> notifiers_;  // by channel
  DispatchPolicy policy_;
  std::unique_ptr<DispatchClock> clock_;
  std::function<void(const DispatchEvent&)> on_event_;
  std::mt19937_64 rng_;  // jitter; worker only

  // Sent, accepted, not yet recorded (mark_delivered failed): id -> when,
  // plus what the event needs. Worker only.
  struct Unrecorded {
    UnixTime at;
    std::string channel;
    std::string dedup_key;
    int attempts;
  };
  std::map<int64_t, Unrecorded> unrecorded_;

  std::mutex raise_mu_;
  std::set<std::string> raised_;  // dedup_key + channels; guarded by raise_mu_

  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_pending_ = false;  // guarded by mu_
  bool stopping_ = false;      // guarded by mu_
  std::stop_source stop_source_;
  std::thread worker_;
  std::once_flag started_;
};

}  // namespace wgate::notify
