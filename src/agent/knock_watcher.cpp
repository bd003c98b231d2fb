#include "agent/knock_watcher.h"

#include <algorithm>
#include <ctime>
#include <tuple>

#include "noise/initiation.h"
#include "store/store.h"

namespace wgate {

const char* to_string(KnockResult r) {
  switch (r) {
    case KnockResult::valid: return "valid";
    case KnockResult::expired_key: return "expired_key";
    case KnockResult::revoked_key: return "revoked_key";
    case KnockResult::unknown_key: return "unknown_key";
    case KnockResult::bad_mac1: return "bad_mac1";
    case KnockResult::undecryptable: return "undecryptable";
    case KnockResult::rate_limited: return "rate_limited";
    case KnockResult::no_interface: return "no_interface";
    case KnockResult::stale_timestamp: return "stale_timestamp";
    case KnockResult::replayed: return "replayed";
  }
  return "unknown";
}

namespace {

// The key with this public key: an active one when there is one, else the
// newest (a public key is registered again only after its old row ended).
const Key* key_with(const State& state, const WgKey& public_key, UnixTime now) {
  const Key* best = nullptr;
  for (const auto& k : state.keys) {
    if (k.public_key != public_key) continue;
    if (!best) {
      best = &k;
      continue;
    }
    const bool a = k.active_at(now), b = best->active_at(now);
    if (a != b ? a : std::tie(k.created_at, k.id) > std::tie(best->created_at, best->id)) best = &k;
  }
  return best;
}

// When an inactive key stopped working: the earlier of its expiry and its
// revocation.
UnixTime stopped_at(const Key& key) {
  if (!key.revoked_at) return key.expires_at;
  if (key.expires_at == 0) return *key.revoked_at;
  return std::min(key.expires_at, *key.revoked_at);
}

}  // namespace

KnockWatcher::KnockWatcher(std::map<uint16_t, std::string> interface_by_port,
                           std::function<Result<WgKey>(const std::string&)> private_key,
                           std::function<Status(const notify::Alert&, UnixTime)> raise, KnockOptions options,
                           std::function<void(KnockResult)> on_result)
    : interface_by_port_(std::move(interface_by_port)),
      private_key_(std::move(private_key)),
      raise_(std::move(raise)),
      options_(options),
      on_result_(std::move(on_result)) {}

std::set<uint16_t> KnockWatcher::ports() const {
  std::set<uint16_t> out;
  for (const auto& [port, name] : interface_by_port_) out.insert(port);
  return out;
}

void KnockWatcher::remember_notices(const std::map<int64_t, UnixTime>& raised) {
  for (const auto& [key_id, at] : raised) {
    auto [it, added] = last_notice_.emplace(key_id, at);
    if (!added) it->second = std::max(it->second, at);
  }
}

Result<std::map<int64_t, UnixTime>> recent_knock_notices(Store& store, UnixTime since) {
  const std::string kind = notify::to_string(notify::AlertKind::stale_key_knock);
  std::map<int64_t, UnixTime> out;
  AlertPageQuery page;
  page.limit = 500;
  for (;;) {
    WGATE_ASSIGN_OR_RETURN(auto rows, store.alerts_page(page));
    for (const auto& e : rows) {
      if (e.created_at < since - 3600) return out;
      if (e.kind != kind || !e.key_id || e.created_at < since) continue;
      auto [it, added] = out.emplace(*e.key_id, e.created_at);
      if (!added) it->second = std::max(it->second, e.created_at);
    }
    if (rows.size() < page.limit) return out;
    page.before_id = rows.back().id;
  }
}

bool KnockWatcher::take_decrypt_budget(UnixTime now, const IpAddress& source) {
  if (now != budget_second_) {
    budget_second_ = now;
    budget_used_ = 0;
    prefix_used_.clear();
  }
  if (budget_used_ >= options_.decrypts_per_sec) return false;
  uint32_t& prefix = prefix_used_[source.masked(source.is_v4() ? 24 : 64)];
  if (prefix >= options_.decrypts_per_prefix_per_sec) return false;
  ++prefix;
  ++budget_used_;
  return true;
}

Result<KnockWatcher::Outcome> KnockWatcher::handle(const CapturedInitiation& message, const State& state,
                                                   UnixTime now) {
  Outcome out;
  auto finish = [&](KnockResult r) {
    out.result = r;
    if (on_result_) on_result_(r);
    return out;
  };
  auto it = interface_by_port_.find(message.dport);
  if (it == interface_by_port_.end()) return finish(KnockResult::no_interface);
  auto r = responders_.find(it->second);
  if (r == responders_.end()) {
    auto priv = private_key_(it->second);
    if (!priv) return finish(KnockResult::no_interface);  // not created yet: try again next time
    WGATE_ASSIGN_OR_RETURN(auto responder, noise::Responder::create(*priv));
    r = responders_.emplace(it->second, std::move(responder)).first;
  }
  noise::Responder& iface = r->second;

  WGATE_ASSIGN_OR_RETURN(bool mac1_ok, iface.mac1_matches(message.message));
  if (!mac1_ok) return finish(KnockResult::bad_mac1);
  if (!take_decrypt_budget(now, message.src)) return finish(KnockResult::rate_limited);
  WGATE_ASSIGN_OR_RETURN(auto read, iface.decrypt(message.message));  // mac1 checked above
  if (!read.ok) {
    return finish(KnockResult::undecryptable);
  }

  const Key* key = key_with(state, read.initiation.initiator_static, now);
  if (!key) return finish(KnockResult::unknown_key);
  out.key_id = key->id;
  if (key->active_at(now)) return finish(KnockResult::valid);
  const KnockResult result = key->revoked_at ? KnockResult::revoked_key : KnockResult::expired_key;

  // Replays (see the header): a timestamp from before the key stopped
  // working (less the clock allowance), or one not newer than the newest
  // seen from this key, is no knock.
  const auto& stamp = read.initiation.timestamp;
  const auto sent = noise::decode_tai64n(stamp);
  if (!sent || sent->unix_seconds < stopped_at(*key) - options_.clock_skew_allowance) {
    return finish(KnockResult::stale_timestamp);
  }
  auto newest = newest_timestamp_.find(key->id);
  if (newest != newest_timestamp_.end() && !(stamp > newest->second)) return finish(KnockResult::replayed);
  newest_timestamp_[key->id] = stamp;

  auto last = last_notice_.find(key->id);
  if (last != last_notice_.end() && now - last->second < options_.notice_interval) return finish(result);
  if (auto alert = notify::stale_key_knock_alert(state, key->id, now)) {
    WGATE_TRY(raise_(*alert, now));
    last_notice_[key->id] = now;
    out.noticed = true;
  }
  return finish(result);
}

void run_knock_loop(InitiationSource& source, Store& store, KnockWatcher& watcher, const std::atomic<bool>& stop,
                    const std::function<void(const std::string&)>& log,
                    const std::function<void(const CaptureCounters&)>& on_capture) {
  CaptureCounters reported;
  std::time_t last_counted = 0;
  auto count_capture = [&] {
    const std::time_t now = std::time(nullptr);
    if (!on_capture || now == last_counted) return;
    last_counted = now;
    auto c = source.counters();
    if (!c) return;  // next second
    on_capture({c->copied - reported.copied, c->source_limited - reported.source_limited,
                c->global_limited - reported.global_limited, c->ring_full - reported.ring_full});
    reported = *c;
  };
  std::optional<State> state;
  std::optional<uint64_t> token;
  std::time_t last_log = 0;
  auto report = [&](const std::string& what) {
    const std::time_t now = std::time(nullptr);
    if (now - last_log < 60) return;  // a persistent problem: once a minute
    last_log = now;
    if (log) log(what);
  };
  while (!stop.load()) {
    auto batch = source.wait(std::chrono::milliseconds(200));
    count_capture();
    if (!batch) {
      report("handshake capture: " + batch.error().message);
      continue;
    }
    if (batch->empty()) continue;
    // Re-read the intent only when someone committed since the last read.
    auto t = store.change_token();
    if (!t) {
      report("handshake capture: store: " + t.error().message);
    } else if (!state || !token || *t != *token) {
      auto snap = store.snapshot();
      if (!snap) {
        report("handshake capture: store: " + snap.error().message);
      } else {
        state = std::move(*snap);
        token = *t;
      }
    }
    if (!state) continue;
    const UnixTime now = static_cast<UnixTime>(std::time(nullptr));
    for (const auto& m : *batch) {
      auto r = watcher.handle(m, *state, now);
      if (!r) report("handshake capture: " + r.error().message);
    }
  }
}

}  // namespace wgate
