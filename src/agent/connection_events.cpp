#include "agent/connection_events.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "core/time_text.h"
#include "notify/alerts.h"
#include "service/stale_devices.h"

namespace wgate {
namespace {

const Actor kAgent{"agent"};

// How often disable_stale_after is applied: staleness is counted in days,
// and each check reads the whole store.
constexpr int64_t kStaleCheckEvery = 3600;

}  // namespace

std::vector<DeviceHandshake> device_handshakes(const State& state,
                                               const std::map<std::string, WgDeviceState>& observed) {
  std::map<WgKey, int64_t> seen_by_key;
  for (const auto& [name, dev] : observed) {
    for (const auto& p : dev.peers) {
      if (p.last_handshake_sec > 0) {
        auto& t = seen_by_key[p.public_key];
        t = std::max(t, p.last_handshake_sec);
      }
    }
  }
  std::map<int64_t, std::string> user_names;
  for (const auto& u : state.users) user_names[u.id] = u.name;
  std::map<int64_t, DeviceHandshake> by_device;
  for (const auto& d : state.devices) {
    if (!d.current()) continue;
    DeviceHandshake h;
    h.device_id = d.id;
    h.user = user_names.count(d.user_id) ? user_names[d.user_id] : std::string();
    h.device = d.name;
    by_device.emplace(d.id, std::move(h));
  }
  for (const auto& k : state.keys) {
    auto it = by_device.find(k.device_id);
    if (it == by_device.end()) continue;
    UnixTime t = k.last_handshake_at.value_or(0);
    if (auto s = seen_by_key.find(k.public_key); s != seen_by_key.end()) t = std::max<UnixTime>(t, s->second);
    if (t > it->second.last_handshake) {
      it->second.last_handshake = t;
      it->second.key_id = k.id;
    }
  }
  std::vector<DeviceHandshake> out;
  out.reserve(by_device.size());
  for (auto& [id, h] : by_device) out.push_back(std::move(h));
  return out;
}

ConnectionEvents::ConnectionEvents(const Config& config, Store& store)
    : config_(config), store_(store), tracker_(config.connections.idle_after_seconds) {}

std::vector<ConnectionEvent> ConnectionEvents::after_full_pass(const State& state,
                                                               const std::map<std::string, WgDeviceState>& observed,
                                                               UnixTime now) {
  auto events = tracker_.update(device_handshakes(state, observed), now);
  for (const auto& e : events) write(e, state, now);
  if (config_.connections.disable_stale_after_seconds &&
      (!last_stale_check_ || now - *last_stale_check_ >= kStaleCheckEvery)) {
    last_stale_check_ = now;
    auto cut = service::disable_stale_devices(store_, config_, now, kAgent);
    if (!cut) {
      spdlog::warn("disabling stale devices: {}", cut.error().message);
    } else {
      for (const auto& s : *cut) {
        spdlog::info("device {}/{} silent since {}: {} key(s) revoked (disable_stale_after)", s.user, s.device.name,
                     format_utc(s.silent_since), s.live_keys.size());
      }
    }
  }
  return events;
}

void ConnectionEvents::write(const ConnectionEvent& e, const State& state, UnixTime now) {
  const bool up = e.type == ConnectionEvent::Type::connected;
  const std::string subject = e.user + "/" + e.device;
  spdlog::info("device {} {} at {} (last handshake {})", subject, to_string(e.type), format_utc(e.at),
               format_utc(e.last_handshake));
  nlohmann::json detail = {{"device_id", e.device_id},
                           {"key_id", e.key_id},
                           {"last_handshake", e.last_handshake},
                           {"idle_after", config_.connections.idle_after_seconds},
                           {"observed_at", now}};
  if (auto st = store_.append_audit(e.at, kAgent, up ? "device.connect" : "device.disconnect", subject, detail.dump());
      !st) {
    spdlog::warn("auditing {} of {}: {}", to_string(e.type), subject, st.error().message);
  }
  if (!config_.connections.notify) return;

  notify::Alert a;
  a.kind = up ? notify::AlertKind::device_connected : notify::AlertKind::device_disconnected;
  a.key_id = e.key_id;
  a.device_id = e.device_id;
  a.user_name = e.user;
  a.device_name = e.device;
  for (const auto& u : state.users) {
    if (u.name == e.user) {
      a.user_id = u.id;
      a.user_email = u.email;
    }
  }
  for (const auto& k : state.keys) {
    if (k.id == e.key_id) {
      a.group = k.group;
      a.key_created_at = k.created_at;
      a.key_expires_at = k.expires_at;
    }
  }
  a.last_handshake_at = e.last_handshake;
  a.due_at = e.at;
  a.dedup_key = std::string(notify::to_string(a.kind)) + ":" + std::to_string(e.device_id) + "@" + std::to_string(e.at);
  a.subject = "wgate: " + subject + (up ? " connected" : " disconnected");
  a.text = up ? "Device " + subject + " connected at " + format_utc(e.at) + " (key " + std::to_string(e.key_id) + ")."
              : "Device " + subject + " disconnected: no handshake since " + format_utc(e.last_handshake) + ".";
  a.details = {{"kind", notify::to_string(a.kind)}, {"dedup_key", a.dedup_key}, {"person", e.user},
               {"device", e.device},                {"key_id", e.key_id},       {"at", e.at},
               {"last_handshake_at", e.last_handshake}};
  OutboxEntry entry;
  entry.dedup_key = a.dedup_key;
  entry.channel = "webhook";  // the channel name of notify::make_webhook_notifier's default
  entry.kind = notify::to_string(a.kind);
  if (a.user_id) entry.user_id = a.user_id;
  if (a.key_id) entry.key_id = a.key_id;
  entry.payload = notify::alert_to_json(a).dump();
  entry.created_at = now;
  entry.next_attempt_at = now;
  if (auto added = store_.enqueue_alert(entry); !added) {
    spdlog::warn("queueing the {} notice of {}: {}", to_string(e.type), subject, added.error().message);
  }
}

}  // namespace wgate
