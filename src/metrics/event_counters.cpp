#include "metrics/event_counters.h"

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>
#include <utility>

#include "notify/alerts.h"

namespace wgate::metrics {
namespace {

constexpr const char* kOther = "other";

// The fixed label values. Alert kinds come from notify::AlertKind; the
// channels are the two notifiers' (notify/webhook.h, notify/smtp.h); flow
// reasons are service::flow_reason_name()'s, each under the verdict the
// filter gives it (bpf/filter_abi.h).
const std::vector<std::string> kLoginResults = {"success", "failure"};
const std::vector<std::string> kLoginKinds = {"browser", "cli"};
const std::vector<std::string> kChannels = {"webhook", "email"};
const std::vector<std::string> kVerdicts = {"allowed", "denied"};
const std::vector<std::pair<std::string, std::string>> kFlowReasons = {
    {"allowed", "rule"},       {"allowed", "fragment-ok"}, {"denied", "no-device"},  {"denied", "no-rule"},
    {"denied", "proto-port"},  {"denied", "malformed"},    {"denied", "fragment"},   {"denied", "icmp-error"},
    {"denied", "not-ipv4"},
};

std::vector<std::string> alert_kinds() {
  using notify::AlertKind;
  std::vector<std::string> out;
  for (AlertKind k : {AlertKind::never_activated, AlertKind::expiry_reminder, AlertKind::expired_in_use,
                      AlertKind::device_connected, AlertKind::device_disconnected, AlertKind::stale_key_knock}) {
    out.emplace_back(notify::to_string(k));
  }
  return out;
}

std::string known_or_other(const std::string& value, const std::vector<std::string>& known) {
  return std::find(known.begin(), known.end(), value) != known.end() ? value : kOther;
}

// One counter's rows folded onto its label sets: (a, b) -> value, with
// values outside `known_a` / `known_b` (empty: anything goes) as "other".
using Folded = std::map<std::pair<std::string, std::string>, uint64_t>;
Folded fold(const std::vector<EventCount>& rows, const char* counter, const std::vector<std::string>& known_a,
            const std::vector<std::string>& known_b) {
  Folded out;
  for (const auto& r : rows) {
    if (r.counter != counter) continue;
    std::string a = known_a.empty() ? r.a : known_or_other(r.a, known_a);
    std::string b = known_b.empty() ? r.b : known_or_other(r.b, known_b);
    out[{std::move(a), std::move(b)}] += r.value;
  }
  return out;
}

// The samples of a two-label family: every fixed pair (zeros included),
// then the "other" pairs that hold something.
std::vector<Sample> pair_samples(Folded folded, const std::vector<std::pair<std::string, std::string>>& fixed,
                                 const std::string& label_a, const std::string& label_b) {
  std::vector<Sample> out;
  for (const auto& key : fixed) {
    auto it = folded.find(key);
    out.push_back({{{label_a, key.first}, {label_b, key.second}},
                   it == folded.end() ? 0.0 : static_cast<double>(it->second)});
    if (it != folded.end()) folded.erase(it);
  }
  for (const auto& [key, value] : folded) {  // outside the fixed set: "other" (fold() made them so)
    if (value != 0) out.push_back({{{label_a, key.first}, {label_b, key.second}}, static_cast<double>(value)});
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> product(const std::vector<std::string>& a,
                                                         const std::vector<std::string>& b) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& x : a) {
    for (const auto& y : b) out.emplace_back(x, y);
  }
  return out;
}

Family counter_family(std::string name, std::string help, std::vector<Sample> samples) {
  return Family{std::move(name), std::move(help), MetricType::counter, std::move(samples), {}};
}

}  // namespace

std::vector<Family> event_families(const EventCounters& c) {
  std::vector<Family> out;
  if (c.available) {
    const auto& rows = c.rows;
    out.push_back(counter_family(
        "wgate_logins_total",
        "SSO logins by result and kind (browser: the web page; cli: `wgate login`'s device flow), as audited.",
        pair_samples(fold(rows, kCounterLogin, kLoginResults, kLoginKinds), product(kLoginResults, kLoginKinds),
                     "result", "kind")));

    const auto kinds = alert_kinds();
    const auto channel_kinds = product(kChannels, kinds);
    out.push_back(counter_family("wgate_alerts_sent_total", "Alert deliveries the receiver accepted, by channel and alert kind.",
                                 pair_samples(fold(rows, kCounterAlertSent, kChannels, kinds), channel_kinds,
                                              "channel", "kind")));
    out.push_back(counter_family(
        "wgate_alerts_failed_total",
        "Alert deliveries given up after their last attempt failed, by channel and alert kind.",
        pair_samples(fold(rows, kCounterAlertFailed, kChannels, kinds), channel_kinds, "channel", "kind")));
    out.push_back(counter_family(
        "wgate_alert_attempts_failed_total",
        "Failed delivery attempts (retried later, or the last one), by channel and alert kind.",
        pair_samples(fold(rows, kCounterAlertAttemptFailed, kChannels, kinds), channel_kinds, "channel", "kind")));

    std::vector<std::string> reasons;
    for (const auto& [verdict, reason] : kFlowReasons) reasons.push_back(reason);
    out.push_back(counter_family(
        "wgate_flows_total",
        "Flow records of the eBPF filter by verdict and reason: the first packet of each new allowed flow, and "
        "denied packets (rate-limited per source; wgate_filter_packets_total counts every packet).",
        pair_samples(fold(rows, kCounterFlow, kVerdicts, reasons), kFlowReasons, "verdict", "reason")));

    for (const auto& [name, counter, help] :
         {std::tuple{"wgate_filter_packets_total", kCounterFilterPackets,
                     "Packets the eBPF filter passed (allowed) and dropped (denied), from its per-source counters."},
          std::tuple{"wgate_filter_bytes_total", kCounterFilterBytes,
                     "Bytes (IP total length) the eBPF filter passed (allowed) and dropped (denied)."}}) {
      const Folded folded = fold(rows, counter, kVerdicts, {});
      std::vector<Sample> samples;
      for (const auto& v : kVerdicts) {
        uint64_t sum = 0;  // b is unused ("")
        for (const auto& [key, value] : folded) {
          if (key.first == v) sum += value;
        }
        samples.push_back({{{"verdict", v}}, static_cast<double>(sum)});
      }
      out.push_back(counter_family(name, help, std::move(samples)));
    }
  }
  out.push_back(counter_family("wgate_event_read_errors_total",
                               "Scrapes that could not read the store's event counters (the previous values were shown).",
                               {{{}, static_cast<double>(c.read_errors)}}));
  return out;
}

EventReader store_event_reader(std::string store_path) {
  auto store = std::make_shared<std::unique_ptr<Store>>();
  return [store, path = std::move(store_path)]() -> Result<std::vector<EventCount>> {
    if (!*store) {
      WGATE_ASSIGN_OR_RETURN(*store, open_sqlite_store(path, StoreOpen::existing));
    }
    auto rows = (*store)->event_counts();
    if (!rows) store->reset();  // a broken connection: open afresh next time
    return rows;
  };
}

}  // namespace wgate::metrics
