// KnockWatcher: whose key is knocking. Reads captured WireGuard handshake
// initiations (dataplane/initiation_source.h), recovers the initiator's
// static public key with the private key of the interface that owns the
// destination port (noise/initiation.h), and when that key is a person's
// expired or revoked key, raises a "log in again" notice
// (notify::stale_key_knock_alert, through the alert outbox, which audits
// each notice once).
//
// Costs, cheapest first: a port wgate does not own is never captured; mac1
// (one keyed BLAKE2s with the interface's cached public key) sorts out
// traffic that is not for this interface before any Diffie-Hellman; at most
// `decrypts_per_sec` messages with a right mac1 are decrypted per second (a
// flood with the public interface key costs a bounded amount of CPU; the
// rest are counted as rate_limited). Nothing is logged per packet: every
// outcome is a counter (metrics: wgate_handshake_initiations_total).
//
// Notices: at most one per key per hour in this process (it remembers when
// it last raised one per key), and at most one per key and clock hour
// across restarts (the dedup_key). Not thread-safe: one thread calls it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "core/model.h"
#include "core/wg_key.h"
#include "dataplane/initiation_source.h"
#include "notify/alerts.h"
#include "util/result.h"

namespace wgate {

class Store;

// What one captured initiation turned out to be (the metric's label).
enum class KnockResult {
  valid,          // an active key
  expired_key,    // a key past its expiry
  revoked_key,    // a revoked key
  unknown_key,    // decrypted, but no key in the store has it
  bad_mac1,       // not for this interface (or not WireGuard at all)
  undecryptable,  // mac1 right, decryption failed (forged or corrupted)
  rate_limited,   // mac1 right, over the decryption budget: not looked at
  no_interface,   // no interface key for the port (not created yet)
};
inline constexpr size_t kKnockResults = 8;
const char* to_string(KnockResult r);

struct KnockOptions {
  uint32_t decrypts_per_sec = 200;    // budget for messages that pass mac1
  int64_t notice_interval = 3600;     // seconds between two notices about one key
};

class KnockWatcher {
 public:
  // `interface_by_port`: each wgate WireGuard listen port and its
  // interface. `private_key` loads an interface's private key; it is called
  // the first time a port is knocked at and again after a failure (the
  // daemon creates the key file at its first pass), the key is kept
  // afterwards. `raise` enqueues a notice (an outbox or a Dispatcher behind
  // it); its error is returned by handle() and the notice is tried again at
  // the next knock. `on_result` (may be empty) hears every result.
  KnockWatcher(std::map<uint16_t, std::string> interface_by_port,
               std::function<Result<WgKey>(const std::string& interface)> private_key,
               std::function<Status(const notify::Alert&, UnixTime)> raise, KnockOptions options = {},
               std::function<void(KnockResult)> on_result = {});

  struct Outcome {
    KnockResult result = KnockResult::bad_mac1;
    std::optional<int64_t> key_id;  // the store's key, when known
    bool noticed = false;           // a notice was raised for it now
  };
  // Looks at one initiation against `state` (the store's current intent)
  // at wall time `now`. Errors only for the crypto library or `raise`.
  Result<Outcome> handle(const CapturedInitiation& message, const State& state, UnixTime now);

  // The watched ports (for InitiationSource::set_ports()).
  std::set<uint16_t> ports() const;

 private:
  struct Responder {
    WgKey private_key;
    WgKey public_key;
  };
  bool take_decrypt_budget(UnixTime now);

  std::map<uint16_t, std::string> interface_by_port_;
  std::function<Result<WgKey>(const std::string&)> private_key_;
  std::map<std::string, Responder> responders_;  // loaded keys, by interface
  std::function<Status(const notify::Alert&, UnixTime)> raise_;
  KnockOptions options_;
  std::function<void(KnockResult)> on_result_;
  std::map<int64_t, UnixTime> last_notice_;  // key id -> when
  UnixTime budget_second_ = 0;
  uint32_t budget_used_ = 0;
};

// The daemon's side: reads `source` until `stop`, keeping a snapshot of
// `store` (its own connection; re-read when the change token moves) and
// handing each initiation to `watcher`. Errors of single messages go to
// `log` at most once a minute; returns when `stop` is set.
void run_knock_loop(InitiationSource& source, Store& store, KnockWatcher& watcher, const std::atomic<bool>& stop,
                    const std::function<void(const std::string&)>& log);

}  // namespace wgate
