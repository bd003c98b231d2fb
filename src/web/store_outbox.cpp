#include "web/store_outbox.h"

#include <limits>

namespace wgate::web {
namespace {

// The channel of the row that records the alert itself.
constexpr const char* kRecordChannel = "";

Result<notify::Delivery> to_delivery(const OutboxEntry& e) {
  notify::Delivery d;
  d.id = e.id;
  d.channel = e.channel;
  auto json = nlohmann::json::parse(e.payload, nullptr, false);
  if (json.is_discarded()) return make_error("alert outbox row " + std::to_string(e.id) + ": payload is not JSON");
  auto alert = notify::alert_from_json(json);
  if (!alert) return alert.error().with_context("alert outbox row " + std::to_string(e.id));
  d.alert = std::move(*alert);
  d.status = e.delivered_at ? notify::DeliveryStatus::delivered
             : e.failed_at  ? notify::DeliveryStatus::failed
                            : notify::DeliveryStatus::pending;
  d.attempts = e.attempts;
  d.created_at = e.created_at;
  d.next_attempt_at = e.next_attempt_at;
  d.delivered_at = e.delivered_at;
  d.last_attempt_at = e.last_attempt_at;
  d.last_error = e.last_error;
  return d;
}

OutboxEntry entry_for(const notify::Alert& alert, const std::string& channel, UnixTime now) {
  OutboxEntry e;
  e.dedup_key = alert.dedup_key;
  e.channel = channel;
  e.kind = notify::to_string(alert.kind);
  if (alert.user_id) e.user_id = alert.user_id;
  if (alert.key_id) e.key_id = alert.key_id;
  e.payload = notify::alert_to_json(alert).dump();
  e.created_at = now;
  e.next_attempt_at = now;
  return e;
}

}  // namespace

Result<notify::EnqueueResult> StoreOutbox::enqueue(const notify::Alert& alert, const std::vector<std::string>& channels,
                                                   UnixTime now) {
  std::lock_guard lock(mu_);
  notify::EnqueueResult result;
  OutboxEntry record = entry_for(alert, kRecordChannel, now);
  record.delivered_at = now;  // recorded, never sent: never due
  WGATE_ASSIGN_OR_RETURN(result.new_alert, store_.enqueue_alert(record));
  for (const auto& channel : channels) {
    if (channel.empty()) return make_error("an alert channel needs a name");
    WGATE_ASSIGN_OR_RETURN(bool added, store_.enqueue_alert(entry_for(alert, channel, now)));
    if (added) result.added_channels.push_back(channel);
  }
  return result;
}

Result<std::vector<notify::Delivery>> StoreOutbox::due(UnixTime now, size_t limit) {
  std::lock_guard lock(mu_);
  WGATE_ASSIGN_OR_RETURN(auto rows, store_.due_alerts(now, limit));
  std::vector<notify::Delivery> out;
  for (const auto& e : rows) {
    if (e.channel == kRecordChannel) continue;
    WGATE_ASSIGN_OR_RETURN(auto d, to_delivery(e));
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::optional<UnixTime>> StoreOutbox::next_attempt_at() {
  std::lock_guard lock(mu_);
  WGATE_ASSIGN_OR_RETURN(auto rows, store_.due_alerts(std::numeric_limits<UnixTime>::max(), 1));
  if (rows.empty()) return std::optional<UnixTime>{};
  return std::optional<UnixTime>{rows.front().next_attempt_at};
}

Status StoreOutbox::mark_delivered(int64_t id, UnixTime now) {
  std::lock_guard lock(mu_);
  return store_.mark_alert_delivered(id, now);
}

Status StoreOutbox::mark_failed(int64_t id, const std::string& error, UnixTime now,
                                std::optional<UnixTime> next_attempt_at) {
  std::lock_guard lock(mu_);
  return store_.mark_alert_failed(id, error, next_attempt_at.value_or(now), !next_attempt_at.has_value(), now);
}

Result<std::vector<notify::Delivery>> StoreOutbox::list(size_t limit) {
  std::lock_guard lock(mu_);
  WGATE_ASSIGN_OR_RETURN(auto rows, store_.list_alerts(std::numeric_limits<int32_t>::max()));
  std::vector<notify::Delivery> out;
  for (const auto& e : rows) {
    if (e.channel == kRecordChannel) continue;
    if (out.size() >= limit) break;
    WGATE_ASSIGN_OR_RETURN(auto d, to_delivery(e));
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace wgate::web
