// Outbox: the persisted queue of alert deliveries, one per (alert, channel).
//
// The daemon enqueues what alerts_due() returns (cheap, idempotent: the same
// alert again changes nothing); the Dispatcher (dispatcher.h) takes what is
// due, sends it outside any transaction, and records the outcome. Because
// the queue lives in the store, a restart loses no alert, and because a
// delivered row is never pending again, an alert that was delivered is
// never sent again.
//
// Delivery semantics: exactly once per (alert, channel) while the process
// lives; across a crash, at least once: a crash between a receiver's "ok"
// and mark_delivered() leaves the delivery pending, and the next start sends
// it again. (No outbox can close that window for a receiver without an
// idempotency key; the senders pass the dedup_key along: the webhook JSON
// carries it, the e-mail's Message-ID is derived from it.)
//
// Threads: enqueue() is called from the daemon's loop while the Dispatcher's
// thread calls due()/mark_*(): every method may be called from any thread,
// concurrently. One Dispatcher consumes an outbox at a time (due() does not
// claim rows).
//
// Implementations: MemoryOutbox (memory_outbox.h, tests); the SQLite one
// lives with the store. What the SQLite implementation must guarantee:
//
//  1. Idempotency in the schema, not in the caller: a UNIQUE index on
//     (dedup_key, channel) of the deliveries, and dedup_key the primary key
//     of the alerts; enqueue() uses INSERT ... ON CONFLICT DO NOTHING (or
//     INSERT OR IGNORE) for both, in one IMMEDIATE transaction, so two
//     processes enqueuing the same alert at once create one row each.
//  2. enqueue() of a dedup_key seen for the first time writes one audit
//     record in the same transaction (actor "agent", action
//     "alert.<kind>", subject "<person>/<device>", detail = the alert's
//     `details` JSON), also when `channels` is empty: the audit log hears
//     every alert once, whether or not any channel is configured.
//  3. Each mark_*() is its own short transaction that changes only a row
//     that is still pending (`... WHERE id = ? AND status = 'pending'`):
//     a delivered row never becomes pending or failed again. When no
//     pending row had that id: mark_delivered() of a delivered row returns
//     ok and changes nothing (so recording a success can be retried after an
//     error whose commit did happen); anything else is an error (unknown id,
//     mark_failed() of a final row, mark_delivered() of a failed row).
//  4. due() reads in one statement (no transaction held afterwards; the
//     Dispatcher sends between due() and mark_*(), and must never hold a
//     write lock across a network call). Order: next_attempt_at, then id.
//     Index: (status, next_attempt_at).
//  5. Durability: committed before returning (WAL with synchronous=NORMAL
//     or stronger), so an enqueue() that returned survives a crash.
//  6. Its own sqlite3 connection (Store objects are single-threaded), with a
//     busy timeout, since the CLI and the daemon write the same file.
//  7. Rows are kept after delivery (they are what makes a still-due alert
//     "already sent"); pruning, if ever, only rows whose key is revoked or
//     long expired, since alerts_due() would not return them again.
//
// Suggested tables:
//   CREATE TABLE alerts (
//     dedup_key  TEXT PRIMARY KEY,
//     kind       TEXT NOT NULL,
//     key_id     INTEGER NOT NULL,
//     payload    TEXT NOT NULL,      -- alert_to_json(alert), alerts.h
//     created_at INTEGER NOT NULL);
//   CREATE TABLE alert_deliveries (
//     id              INTEGER PRIMARY KEY,
//     dedup_key       TEXT NOT NULL REFERENCES alerts(dedup_key),
//     channel         TEXT NOT NULL,  -- "webhook", "email"
//     status          TEXT NOT NULL CHECK (status IN ('pending','delivered','failed')),
//     attempts        INTEGER NOT NULL DEFAULT 0,
//     created_at      INTEGER NOT NULL,
//     next_attempt_at INTEGER NOT NULL,
//     last_attempt_at INTEGER,
//     delivered_at    INTEGER,
//     last_error      TEXT NOT NULL DEFAULT '',
//     UNIQUE (dedup_key, channel));
//   CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_at);
// MemoryOutbox is the reference behaviour; tests/unit/notify/outbox_test.cpp
// states it as tests that a SQLite implementation can run too
// (outbox_contract_tests.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "notify/alerts.h"
#include "util/result.h"

namespace wgate::notify {

enum class DeliveryStatus {
  pending,    // waiting for its next attempt
  delivered,  // the receiver accepted it; final
  failed,     // given up after the last attempt (last_error says why); final
};
const char* to_string(DeliveryStatus status);

struct Delivery {
  int64_t id = 0;
  std::string channel;
  Alert alert;  // as enqueued; alert.dedup_key identifies it
  DeliveryStatus status = DeliveryStatus::pending;
  int attempts = 0;  // sends tried: failed ones, plus the one that succeeded
  UnixTime created_at = 0;
  UnixTime next_attempt_at = 0;  // while pending
  std::optional<UnixTime> last_attempt_at;
  std::optional<UnixTime> delivered_at;
  std::string last_error;  // of the newest failed attempt; empty if none
};

struct EnqueueResult {
  bool new_alert = false;                   // first time this dedup_key was enqueued (and audited)
  std::vector<std::string> added_channels;  // channels that got a new delivery
};

class Outbox {
 public:
  virtual ~Outbox() = default;

  // Records `alert` (once per dedup_key) and a pending delivery per channel
  // that has none for this dedup_key yet, due at `now`, attempts 0.
  // Enqueuing an alert again, whatever the state of its deliveries, changes
  // nothing; a channel added later gets its own delivery. Channels are
  // names ("webhook", "email"), distinct.
  virtual Result<EnqueueResult> enqueue(const Alert& alert, const std::vector<std::string>& channels,
                                        UnixTime now) = 0;

  // Up to `limit` pending deliveries with next_attempt_at <= now, by
  // (next_attempt_at, id). Reads only.
  virtual Result<std::vector<Delivery>> due(UnixTime now, size_t limit) = 0;

  // The earliest next_attempt_at of any pending delivery (maybe in the
  // past); nullopt when none is pending. The Dispatcher sleeps until then.
  virtual Result<std::optional<UnixTime>> next_attempt_at() = 0;

  // The receiver accepted delivery `id`: status delivered, attempts + 1,
  // delivered_at = last_attempt_at = now. Only a pending delivery changes;
  // for one already delivered: ok, no change (retrying is safe); unknown or
  // failed for good: an error, no change.
  virtual Status mark_delivered(int64_t id, UnixTime now) = 0;

  // An attempt at `now` failed with `error` (already free of secrets):
  // attempts + 1, last_error, last_attempt_at = now, and either pending
  // again from `next_attempt_at`, or, when that is nullopt, failed for good
  // (the Dispatcher decides when to give up: DispatchPolicy::max_attempts).
  // Only a pending delivery changes; otherwise an error and no change.
  virtual Status mark_failed(int64_t id, const std::string& error, UnixTime now,
                             std::optional<UnixTime> next_attempt_at) = 0;

  // Every delivery, newest first (created_at, then id), at most `limit`: for
  // `wgate alerts` and tests.
  virtual Result<std::vector<Delivery>> list(size_t limit) = 0;
};

}  // namespace wgate::notify
