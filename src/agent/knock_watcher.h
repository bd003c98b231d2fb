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
// rest are counted as rate_limited), and one source prefix (/24, /64) gets at
// most `decrypts_per_prefix_per_sec` of it. Nothing is logged per packet: every
// outcome is a counter (metrics: wgate_handshake_initiations_total).
//
// Replays: an initiation recorded while a key was valid (on café Wi-Fi) and
// replayed after it expired or was revoked must not raise a notice or an
// audit record for a device that is not knocking. The initiation carries
// the client's wall-clock time (TAI64N, encrypted and authenticated with
// its static key, so only the key's holder can write it): it counts as a
// knock only when that time is at or after the moment the key stopped
// working less `clock_skew_allowance`, and later than every timestamp
// already accepted from that key (what WireGuard itself checks per peer).
// The rest are counted (stale_timestamp, replayed), nothing else.
//
// Notices: at most one per key per hour in this process (it remembers when
// it last raised one per key), and at most one per key and clock hour
// across restarts (the dedup_key). Not thread-safe: one thread calls it.
#pragma once

#include <array>
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
#include "noise/initiation.h"
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
  // An expired or revoked key's initiation that is no evidence of a device
  // knocking now (a replay of a recorded one): its timestamp is from before
  // the key stopped working (less the clock allowance) ...
  stale_timestamp,
  // ... or not newer than one already seen from that key.
  replayed,
};
inline constexpr size_t kKnockResults = 10;
const char* to_string(KnockResult r);

struct KnockOptions {
  uint32_t decrypts_per_sec = 200;    // budget for messages that pass mac1
  // The share of it one source prefix (an IPv4 /24, an IPv6 /64: what one
  // site or household holds) may take per second, so a flood from one
  // network cannot starve everyone else's knocks. 20/s: a stale client
  // retries every 5 s, a valid one every 2 minutes, so a NAT with 100
  // stale or 2,000 valid clients behind one address still fits.
  uint32_t decrypts_per_prefix_per_sec = 20;
  int64_t notice_interval = 3600;     // seconds between two notices about one key
  // How far a client's wall clock may lag the gateway's: an initiation of an
  // expired/revoked key counts as a knock only when its timestamp is at or
  // after (the moment the key stopped working - this). Larger lets a replay
  // of an initiation recorded this long before expiry through; smaller
  // delays (never loses: the client retries every 5 s) the notice of a
  // client whose clock lags more, by the difference.
  int64_t clock_skew_allowance = 300;
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

  // Notices raised before this watcher existed (by an earlier instance: a
  // restart on reload, or of the daemon), key id -> when, as
  // recent_knock_notices() reads them from the store, so a restart cannot
  // send a second notice about a key within notice_interval. Keeps the
  // later time per key.
  void remember_notices(const std::map<int64_t, UnixTime>& raised);

 private:
  bool take_decrypt_budget(UnixTime now, const IpAddress& source);

  std::map<uint16_t, std::string> interface_by_port_;
  std::function<Result<WgKey>(const std::string&)> private_key_;
  std::map<std::string, noise::Responder> responders_;  // loaded keys (and their mac1 MAC), by interface
  std::function<Status(const notify::Alert&, UnixTime)> raise_;
  KnockOptions options_;
  std::function<void(KnockResult)> on_result_;
  std::map<int64_t, UnixTime> last_notice_;  // key id -> when
  // key id -> the newest timestamp accepted from that (stale) key; at most
  // one entry per key of the store that knocked.
  std::map<int64_t, std::array<uint8_t, 12>> newest_timestamp_;
  UnixTime budget_second_ = 0;
  uint32_t budget_used_ = 0;
  // Decryptions this second by source prefix; at most decrypts_per_sec
  // entries, cleared each second.
  std::map<IpAddress, uint32_t> prefix_used_;
};

// The stale_key_knock alerts in `store`'s alert outbox (every raised alert
// has a row there, with or without a channel) created at or after `since`:
// key id -> the newest one's time. Reads the outbox newest first, a page at
// a time, and stops an hour of rows before `since` (rows are added in time
// order; the hour covers a clock stepped back). For remember_notices().
Result<std::map<int64_t, UnixTime>> recent_knock_notices(Store& store, UnixTime since);

// The daemon's side: reads `source` until `stop`, keeping a snapshot of
// `store` (its own connection; re-read when the change token moves) and
// handing each initiation to `watcher`. Errors of single messages go to
// `log` at most once a minute; returns when `stop` is set. About once a
// second, `on_capture` (may be empty) gets what the source counted since
// the previous call (source.counters() as a delta).
void run_knock_loop(InitiationSource& source, Store& store, KnockWatcher& watcher, const std::atomic<bool>& stop,
                    const std::function<void(const std::string&)>& log,
                    const std::function<void(const CaptureCounters&)>& on_capture = {});

}  // namespace wgate
