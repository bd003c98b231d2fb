// Logins, alert deliveries, flows and the filter's counters as /metrics
// shows them: events made through the service functions (and the
// dispatcher over the store's outbox) against a real SQLite store, scraped
// through DaemonMetrics with a store connection of its own, as the daemon
// does while `wgate web` writes.
#include "metrics/event_counters.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <optional>
#include <sstream>
#include <tuple>

#include "../scratch_store_test.h"
#include "core/secrets.h"
#include "metrics/daemon_metrics.h"
#include "notify/dispatcher.h"
#include "service/service.h"
#include "service/sso.h"
#include "store/interface_keys.h"
#include "store/sqlite_schema.h"
#include "web/store_outbox.h"

namespace wgate::metrics {
namespace {

using service::DevicePollAnswer;
using service::VerifiedIdentity;

class FakeIdp : public service::IdentityProvider {
 public:
  std::string issuer() const override { return "https://idp.test"; }
  Result<std::string> authorization_url(const std::string& state, const std::string& nonce,
                                        const std::string& challenge) override {
    last_nonce = nonce;
    last_challenge = challenge;
    return "https://idp.test/auth?state=" + state;
  }
  Result<VerifiedIdentity> complete_code_login(const std::string& code, const std::string& verifier,
                                               const std::string& nonce) override {
    if (code != "good-code") return make_error("invalid_grant: bad code");
    if (pkce_challenge_s256(verifier) != last_challenge || nonce != last_nonce) return make_error("mismatch");
    return identity;
  }
  Result<service::DeviceAuthorization> start_device_login() override {
    return service::DeviceAuthorization{"dev-code", "ABCD-EFGH", "https://idp.test/device", "", 600, 5};
  }
  Result<DevicePollAnswer> poll_device_login(const std::string&) override {
    if (polls.empty()) return make_error("no scripted answer");
    DevicePollAnswer a = polls.front();
    polls.pop_front();
    return a;
  }
  Result<service::CheckAnswer> check(const std::string&, const std::string&) override {
    return service::CheckAnswer{true, {"/eng/dev"}, "", ""};
  }
  Result<service::LogoutNotice> validate_logout_token(const std::string&) override {
    return make_error("bad signature");
  }

  VerifiedIdentity identity{"https://idp.test", "sub-alice", "alice", "alice@example.com", {"/eng/dev"}, "sid-1", ""};
  std::deque<DevicePollAnswer> polls;
  std::string last_nonce, last_challenge;
};

const std::string kSections = R"(
[pool]
ipv4 = "10.100.0.0/28"
per_user = 4
[networks]
vpc-a = ["10.1.0.0/16"]
[groups.dev]
networks = ["vpc-a"]
interface = "wgm-dev"
port = 51820
table = 1001
[oidc]
issuer = "https://idp.test"
client_id = "wgate"
[oidc.group_map]
"/eng/dev" = ["dev"]
[web]
public_url = "https://vpn.example.com"
[flows]
retention = "1h"
)";

// A notifier that accepts every alert, or refuses every one.
class ScriptedNotifier : public notify::Notifier {
 public:
  ScriptedNotifier(std::string channel, bool works) : channel_(std::move(channel)), works_(works) {}
  const std::string& channel() const override { return channel_; }
  std::string target() const override { return "test:" + channel_; }
  Status send(const notify::Alert&, std::stop_token) override {
    ++sent;
    return works_ ? ok_status() : make_error("receiver said no");
  }
  int sent = 0;

 private:
  std::string channel_;
  bool works_;
};

notify::Alert alert_of(notify::AlertKind kind, const std::string& dedup) {
  notify::Alert a;
  a.kind = kind;
  a.key_id = 1;
  a.user_id = 1;
  a.user_name = "alice";
  a.device_name = "laptop";
  a.group = "dev";
  a.dedup_key = dedup;
  a.subject = "s";
  a.text = "t";
  a.details = nlohmann::json::object();
  return a;
}

service::FlowObservation flow(const char* src, bool allowed, uint8_t reason, UnixTime at) {
  service::FlowObservation o;
  o.event.src = *IpAddress::parse(src);
  o.event.dst = *IpAddress::parse("10.1.0.9");
  o.event.time = std::chrono::system_clock::time_point(std::chrono::seconds(at));
  o.event.proto = 6;
  o.event.sport = 40000;
  o.event.dport = allowed ? 22 : 5432;
  o.event.allowed = allowed;
  o.event.reason = reason;
  o.interface = "wgm-dev";
  return o;
}

// The value of one series (exact name and labels) in exposition text.
std::optional<double> value_of(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

class EventCountersTest : public testing::ScratchStoreTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(open_scratch("event-counters", kSections));
    ASSERT_TRUE(InterfaceKeys(config_.server.state_dir).create_or_adopt("wgm-dev", std::nullopt).ok());
    metrics_.set_event_reader(store_event_reader(config_.server.store_path));
  }
  // A scrape of the daemon's /metrics (its own store connection).
  std::string scrape() {
    auto text = render_snapshot(*metrics_.scrape());
    EXPECT_TRUE(text.ok()) << (text.ok() ? "" : text.error().message);
    return text.ok() ? *text : "";
  }
  double value(const std::string& series) {
    auto v = value_of(scrape(), series);
    EXPECT_TRUE(v.has_value()) << "no series " << series;
    return v.value_or(-1);
  }

  void browser_login_ok(UnixTime now) {
    auto start = service::begin_browser_login(*store_, config_, idp_, "/self", now);
    ASSERT_TRUE(start.ok()) << start.error().message;
    auto done = service::complete_browser_login(*store_, config_, idp_, start->state, start->state, "good-code", now + 1);
    ASSERT_TRUE(done.ok()) << done.error().message;
  }

  FakeIdp idp_;
  DaemonMetrics metrics_{"test"};
};

TEST_F(EventCountersTest, LoginsByResultAndKind) {
  // Every series exists from the start, at zero.
  const std::string text = scrape();
  for (const char* s : {R"(wgate_logins_total{result="success",kind="browser"})",
                        R"(wgate_logins_total{result="success",kind="cli"})",
                        R"(wgate_logins_total{result="failure",kind="browser"})",
                        R"(wgate_logins_total{result="failure",kind="cli"})"}) {
    EXPECT_EQ(value_of(text, s), 0.0) << s;
  }
  EXPECT_NE(text.find("# TYPE wgate_logins_total counter"), std::string::npos);

  browser_login_ok(1000);
  browser_login_ok(1100);
  // A callback without state, and one with a bad code: failures.
  EXPECT_FALSE(service::complete_browser_login(*store_, config_, idp_, "", "", "", 1200).ok());
  auto start = service::begin_browser_login(*store_, config_, idp_, "/", 1300);
  ASSERT_TRUE(start.ok());
  EXPECT_FALSE(service::complete_browser_login(*store_, config_, idp_, start->state, start->state, "bad", 1301).ok());
  // The CLI's device flow: one denied, one done.
  auto denied = service::begin_device_login(*store_, config_, idp_, "laptop", 2000);
  ASSERT_TRUE(denied.ok());
  idp_.polls = {DevicePollAnswer{DevicePollAnswer::State::denied, std::nullopt}};
  ASSERT_TRUE(service::poll_device_login(*store_, config_, idp_, denied->handle, 2010).ok());
  auto cli = service::begin_device_login(*store_, config_, idp_, "laptop", 3000);
  ASSERT_TRUE(cli.ok());
  idp_.polls = {DevicePollAnswer{DevicePollAnswer::State::done, idp_.identity}};
  auto done = service::poll_device_login(*store_, config_, idp_, cli->handle, 3010);
  ASSERT_TRUE(done.ok()) << done.error().message;
  ASSERT_EQ(done->state, service::DeviceLoginPoll::State::done);

  const std::string after = scrape();
  EXPECT_EQ(value_of(after, R"(wgate_logins_total{result="success",kind="browser"})"), 2.0);
  EXPECT_EQ(value_of(after, R"(wgate_logins_total{result="failure",kind="browser"})"), 2.0);
  EXPECT_EQ(value_of(after, R"(wgate_logins_total{result="success",kind="cli"})"), 1.0);
  EXPECT_EQ(value_of(after, R"(wgate_logins_total{result="failure",kind="cli"})"), 1.0);
  // No names in these series.
  EXPECT_EQ(after.find("alice"), std::string::npos);
}

TEST_F(EventCountersTest, AlertsSentAndFailedThroughTheDispatcher) {
  web::StoreOutbox outbox(*store_);
  std::vector<std::unique_ptr<notify::Notifier>> notifiers;
  notifiers.push_back(std::make_unique<ScriptedNotifier>("webhook", true));
  notifiers.push_back(std::make_unique<ScriptedNotifier>("email", false));
  notify::DispatchPolicy policy;
  policy.backoff = {0};  // retry at once: run_once() again takes it
  policy.max_attempts = 2;
  notify::Dispatcher dispatcher(outbox, std::move(notifiers), policy);
  ASSERT_TRUE(dispatcher.raise({alert_of(notify::AlertKind::never_activated, "never_activated:1")}, 1000).ok());

  EXPECT_EQ(value(R"(wgate_alerts_sent_total{channel="webhook",kind="never_activated"})"), 0.0);
  dispatcher.run_once();  // webhook delivered; email's first attempt fails
  std::string text = scrape();
  EXPECT_EQ(value_of(text, R"(wgate_alerts_sent_total{channel="webhook",kind="never_activated"})"), 1.0);
  EXPECT_EQ(value_of(text, R"(wgate_alerts_sent_total{channel="email",kind="never_activated"})"), 0.0);
  EXPECT_EQ(value_of(text, R"(wgate_alert_attempts_failed_total{channel="email",kind="never_activated"})"), 1.0);
  EXPECT_EQ(value_of(text, R"(wgate_alerts_failed_total{channel="email",kind="never_activated"})"), 0.0);

  dispatcher.run_once();  // email's second and last attempt fails: given up
  text = scrape();
  EXPECT_EQ(value_of(text, R"(wgate_alert_attempts_failed_total{channel="email",kind="never_activated"})"), 2.0);
  EXPECT_EQ(value_of(text, R"(wgate_alerts_failed_total{channel="email",kind="never_activated"})"), 1.0);
  EXPECT_EQ(value_of(text, R"(wgate_alerts_sent_total{channel="webhook",kind="never_activated"})"), 1.0);
  // Nothing is sent twice, nothing counted twice.
  dispatcher.run_once();
  EXPECT_EQ(value(R"(wgate_alerts_sent_total{channel="webhook",kind="never_activated"})"), 1.0);
  // Every (channel, kind) pair is written, zeros included.
  EXPECT_EQ(value(R"(wgate_alerts_failed_total{channel="webhook",kind="stale_key_knock"})"), 0.0);
}

TEST_F(EventCountersTest, FlowsAndFilterCountersSurvivePruning) {
  // alice holds 10.100.0.0/30 (the pool's first block).
  ASSERT_TRUE(service::add_user(*store_, config_, {"alice", "", {"dev"}}, 1, Actor{"cli:root"}).ok());
  const UnixTime t0 = 10'000;
  std::vector<service::FlowObservation> events = {flow("10.100.0.1", true, 0, t0), flow("10.100.0.1", true, 0, t0),
                                                  flow("10.100.0.1", false, 2, t0), flow("10.100.0.1", false, 3, t0),
                                                  flow("10.100.0.1", false, 2, t0)};
  auto recorded = service::record_flows(*store_, config_, events, t0);
  ASSERT_TRUE(recorded.ok()) << recorded.error().message;
  service::TrafficSample sample;
  sample.epoch = 7;
  sample.counters[*IpAddress::parse("10.100.0.1")] = SourceCounters{100, 10'000, 4, 240};
  ASSERT_TRUE(service::record_traffic(*store_, config_, sample, t0).ok());

  std::string text = scrape();
  EXPECT_EQ(value_of(text, R"(wgate_flows_total{verdict="allowed",reason="rule"})"), 2.0);
  EXPECT_EQ(value_of(text, R"(wgate_flows_total{verdict="denied",reason="no-rule"})"), 2.0);
  EXPECT_EQ(value_of(text, R"(wgate_flows_total{verdict="denied",reason="proto-port"})"), 1.0);
  EXPECT_EQ(value_of(text, R"(wgate_flows_total{verdict="denied",reason="no-device"})"), 0.0);
  EXPECT_EQ(value_of(text, R"(wgate_filter_packets_total{verdict="allowed"})"), 100.0);
  EXPECT_EQ(value_of(text, R"(wgate_filter_packets_total{verdict="denied"})"), 4.0);
  EXPECT_EQ(value_of(text, R"(wgate_filter_bytes_total{verdict="allowed"})"), 10'000.0);
  EXPECT_EQ(value_of(text, R"(wgate_filter_bytes_total{verdict="denied"})"), 240.0);

  // Retention deletes every record; the totals stay.
  auto pruned = service::prune_flows(*store_, config_, t0 + 7200);
  ASSERT_TRUE(pruned.ok()) << pruned.error().message;
  ASSERT_EQ(pruned->deleted, 5u);
  // The next sample adds only what the filter counted since (a baseline).
  sample.counters[*IpAddress::parse("10.100.0.1")] = SourceCounters{150, 15'000, 10, 600};
  ASSERT_TRUE(service::record_traffic(*store_, config_, sample, t0 + 7200).ok());
  ASSERT_TRUE(service::record_flows(*store_, config_, {flow("10.100.0.1", false, 2, t0 + 7200)}, t0 + 7200).ok());

  text = scrape();
  EXPECT_EQ(value_of(text, R"(wgate_flows_total{verdict="allowed",reason="rule"})"), 2.0);
  EXPECT_EQ(value_of(text, R"(wgate_flows_total{verdict="denied",reason="no-rule"})"), 3.0);
  EXPECT_EQ(value_of(text, R"(wgate_filter_packets_total{verdict="allowed"})"), 150.0);
  EXPECT_EQ(value_of(text, R"(wgate_filter_packets_total{verdict="denied"})"), 10.0);
  EXPECT_EQ(value_of(text, R"(wgate_filter_bytes_total{verdict="denied"})"), 600.0);
}

// The migration seeds the counters from the rows a store already holds (an
// upgrade keeps the history that is still there): replayed on a store whose
// counters were made by the writes themselves, it must find the same.
TEST_F(EventCountersTest, TheMigrationCountsWhatTheStoreHeld) {
  browser_login_ok(1000);
  EXPECT_FALSE(service::complete_browser_login(*store_, config_, idp_, "", "", "", 1200).ok());
  ASSERT_TRUE(service::add_user(*store_, config_, {"bob", "", {"dev"}}, 1, Actor{"cli:root"}).ok());
  ASSERT_TRUE(service::record_flows(*store_, config_,
                                    {flow("10.100.0.5", true, 0, 5000), flow("10.100.0.5", false, 2, 5000)}, 5000)
                  .ok());
  service::TrafficSample sample;
  sample.epoch = 1;
  sample.counters[*IpAddress::parse("10.100.0.5")] = SourceCounters{9, 900, 3, 300};
  ASSERT_TRUE(service::record_traffic(*store_, config_, sample, 5000).ok());
  web::StoreOutbox outbox(*store_);
  std::vector<std::unique_ptr<notify::Notifier>> notifiers;
  notifiers.push_back(std::make_unique<ScriptedNotifier>("webhook", true));
  notifiers.push_back(std::make_unique<ScriptedNotifier>("email", false));
  notify::DispatchPolicy policy;
  policy.backoff = {0};
  policy.max_attempts = 2;
  notify::Dispatcher dispatcher(outbox, std::move(notifiers), policy);
  ASSERT_TRUE(dispatcher.raise({alert_of(notify::AlertKind::expiry_reminder, "expiry_reminder:1@9")}, 1000).ok());
  dispatcher.run_once();
  dispatcher.run_once();
  auto before = store_->event_counts();
  ASSERT_TRUE(before.ok());
  ASSERT_GE(before->size(), 8u);
  store_.reset();

  // The counters' table as an upgrade finds it: missing. Then the
  // migration that makes it, replayed as shipped.
  std::string_view migration;
  for (auto m : sqlite::migrations()) {
    if (m.find("CREATE TABLE event_counters") != std::string_view::npos) migration = m;
  }
  ASSERT_FALSE(migration.empty());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(config_.server.store_path.c_str(), &db), SQLITE_OK);
  const std::string replay = "BEGIN; DROP TABLE event_counters; " + std::string(migration) + "COMMIT;";
  EXPECT_EQ(sqlite3_exec(db, replay.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);

  store_ = std::move(open_sqlite_store(config_.server.store_path)).value();
  auto after = store_->event_counts();
  ASSERT_TRUE(after.ok()) << after.error().message;
  ASSERT_EQ(after->size(), before->size());
  for (size_t i = 0; i < after->size(); ++i) {
    const auto& a = (*after)[i];
    const auto& b = (*before)[i];
    EXPECT_EQ(std::tie(a.counter, a.a, a.b, a.value), std::tie(b.counter, b.a, b.b, b.value))
        << "row " << i << ": " << a.counter << "/" << a.a << "/" << a.b << " = " << a.value << ", before "
        << b.counter << "/" << b.a << "/" << b.b << " = " << b.value;
  }
}

// A failed read shows the last values (a counter never goes down) and
// counts the error; values outside the fixed label sets go to "other".
TEST(EventFamilies, ReadErrorsKeepTheLastValuesAndUnknownLabelsFold) {
  DaemonMetrics m("test");
  int calls = 0;
  m.set_event_reader([&calls]() -> Result<std::vector<EventCount>> {
    if (++calls == 2) return make_error("database is locked");
    return std::vector<EventCount>{{kCounterLogin, "success", "browser", 3},
                                   {kCounterAlertSent, "sms", "never_activated", 2},
                                   {kCounterAlertSent, "pager", "never_activated", 1},
                                   {kCounterFlow, "denied", "reason-99", 5}};
  });
  auto first = render_snapshot(*m.scrape());
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(value_of(*first, R"(wgate_logins_total{result="success",kind="browser"})"), 3.0);
  EXPECT_EQ(value_of(*first, R"(wgate_alerts_sent_total{channel="other",kind="never_activated"})"), 3.0);
  EXPECT_EQ(value_of(*first, R"(wgate_flows_total{verdict="denied",reason="other"})"), 5.0);
  // "other" is written only when it holds something.
  EXPECT_FALSE(value_of(*first, R"(wgate_alerts_failed_total{channel="other",kind="never_activated"})").has_value());
  EXPECT_EQ(value_of(*first, "wgate_event_read_errors_total"), 0.0);

  auto second = render_snapshot(*m.scrape());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(value_of(*second, R"(wgate_logins_total{result="success",kind="browser"})"), 3.0);
  EXPECT_EQ(value_of(*second, "wgate_event_read_errors_total"), 1.0);

  // snapshot() (what /readyz reads) never touches the store.
  const int before = calls;
  (void)m.snapshot();
  EXPECT_EQ(calls, before);
}

TEST(EventFamilies, LeftOutUntilARead) {
  EventCounters none;
  none.read_errors = 2;
  auto families = event_families(none);
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].name, "wgate_event_read_errors_total");
  // A snapshot without a reader has no event families at all.
  DaemonMetrics m("test");
  auto text = render_snapshot(*m.scrape());
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->find("wgate_logins_total"), std::string::npos);
}

}  // namespace
}  // namespace wgate::metrics
