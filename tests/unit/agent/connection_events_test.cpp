// ConnectionEvents against a real SQLite store: audit records, webhook
// notices through the outbox, stale devices cut off.
#include "agent/connection_events.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "notify/alerts.h"
#include "../scratch_store_test.h"
#include "service/service.h"

namespace wgate {
namespace {

const Actor kRoot{"cli:root"};
constexpr UnixTime kT0 = 1'700'000'000;

const std::string kSections = R"(
[pool]
ipv4 = "10.100.0.0/24"
[networks]
vpc-a = ["10.1.0.0/16"]
[groups.dev]
networks = ["vpc-a"]
interface = "wgt-dev"
port = 51820
table = 1001
)";

class ConnectionEventsTest : public testing::ScratchStoreTest {
 protected:
  void open(const std::string& extra) {
    ASSERT_NO_FATAL_FAILURE(open_scratch("conn-test", kSections + extra));
    ASSERT_TRUE(service::add_user(*store_, config_, {"alice", "alice@example.com", {"dev"}}, kT0, kRoot).ok());
    key_ = *WgKey::generate_private()->public_key();
    service::AddKeyRequest req;
    req.user = "alice";
    req.public_key = key_.to_base64();
    req.device = "laptop";
    auto k = service::add_key(*store_, config_, req, kT0, kRoot);
    ASSERT_TRUE(k.ok()) << k.error().message;
    key_id_ = k->key.id;
  }
  std::map<std::string, WgDeviceState> observed(UnixTime handshake) {
    WgPeerState p;
    p.public_key = key_;
    p.last_handshake_sec = handshake;
    WgDeviceState d;
    d.name = "wgt-dev";
    d.peers.push_back(p);
    return {{"wgt-dev", d}};
  }
  std::vector<AuditRecord> audit(const std::string& action_prefix) {
    auto log = store_->audit_log(1000);
    EXPECT_TRUE(log.ok());
    std::vector<AuditRecord> out;
    for (const auto& r : *log) {
      if (r.action.rfind(action_prefix, 0) == 0) out.push_back(r);
    }
    return out;
  }
  State snapshot() { return *store_->snapshot(); }

  WgKey key_;
  int64_t key_id_ = 0;
};

TEST_F(ConnectionEventsTest, HandshakesBecomeConnectAndDisconnectAuditRecords) {
  open("");
  ConnectionEvents events(config_, *store_);
  EXPECT_TRUE(events.after_full_pass(snapshot(), observed(0), kT0 + 1).empty());  // learns: never seen
  auto e = events.after_full_pass(snapshot(), observed(kT0 + 5), kT0 + 6);
  ASSERT_EQ(e.size(), 1u);
  auto connects = audit("device.connect");
  ASSERT_EQ(connects.size(), 1u);
  EXPECT_EQ(connects[0].subject, "alice/laptop");
  EXPECT_EQ(connects[0].actor, "agent");
  EXPECT_EQ(connects[0].at, kT0 + 5);
  auto detail = nlohmann::json::parse(connects[0].detail);
  EXPECT_EQ(detail["key_id"], key_id_);
  EXPECT_EQ(detail["last_handshake"], kT0 + 5);
  // The store's own record of the handshake (written back by the daemon)
  // counts as well as the observation: nothing new, nothing written.
  ASSERT_TRUE(store_->record_handshakes({{key_id_, kT0 + 5}}).ok());
  EXPECT_TRUE(events.after_full_pass(snapshot(), {}, kT0 + 100).empty());
  // Default idle_after 3m: silent until +185, disconnected at +186.
  EXPECT_TRUE(events.after_full_pass(snapshot(), {}, kT0 + 185).empty());
  e = events.after_full_pass(snapshot(), {}, kT0 + 186);
  ASSERT_EQ(e.size(), 1u);
  auto disconnects = audit("device.disconnect");
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].at, kT0 + 5 + 180);
  // Without notify, nothing goes to the outbox.
  EXPECT_TRUE(store_->list_alerts(100)->empty());
}

TEST_F(ConnectionEventsTest, NotifyQueuesWebhookNoticesOnce) {
  open("[alerts]\nwebhook_url = \"http://127.0.0.1:9/hook\"\n[connections]\nnotify = true\nidle_after = \"5m\"\n");
  ConnectionEvents events(config_, *store_);
  events.after_full_pass(snapshot(), observed(0), kT0 + 1);
  ASSERT_EQ(events.after_full_pass(snapshot(), observed(kT0 + 5), kT0 + 6).size(), 1u);
  auto rows = *store_->list_alerts(100);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].channel, "webhook");
  EXPECT_EQ(rows[0].kind, "device_connected");
  // The payload is an alert the web process's dispatcher can read back.
  auto alert = notify::alert_from_json(nlohmann::json::parse(rows[0].payload));
  ASSERT_TRUE(alert.ok()) << alert.error().message;
  EXPECT_EQ(alert->kind, notify::AlertKind::device_connected);
  EXPECT_EQ(alert->user_name, "alice");
  EXPECT_EQ(alert->device_name, "laptop");
  EXPECT_EQ(alert->group, "dev");
  EXPECT_NE(alert->subject.find("alice/laptop connected"), std::string::npos) << alert->subject;
  // Idle for 5m (the configured threshold), then the disconnect notice.
  EXPECT_TRUE(events.after_full_pass(snapshot(), observed(kT0 + 5), kT0 + 305).empty());
  ASSERT_EQ(events.after_full_pass(snapshot(), observed(kT0 + 5), kT0 + 306).size(), 1u);
  rows = *store_->list_alerts(100);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].kind == "device_disconnected" || rows[1].kind == "device_disconnected", true);
}

TEST_F(ConnectionEventsTest, DisableStaleAfterRevokesKeysOnceAndAudits) {
  open("[connections]\nstale_after = \"1d\"\ndisable_stale_after = \"2d\"\n");
  ConnectionEvents events(config_, *store_);
  events.after_full_pass(snapshot(), {}, kT0 + 86400);  // one day silent: listed, not cut
  EXPECT_TRUE(store_->find_key(key_id_)->value().active_at(kT0 + 86400));
  events.after_full_pass(snapshot(), {}, kT0 + 2 * 86400);
  auto key = store_->find_key(key_id_)->value();
  EXPECT_TRUE(key.revoked_at.has_value());
  auto cut = audit("device.disable_stale");
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_EQ(cut[0].subject, "alice/laptop");
  EXPECT_EQ(audit("key.revoke").size(), 1u);
  // An hour later: checked again, nothing left to cut.
  events.after_full_pass(snapshot(), {}, kT0 + 2 * 86400 + 3600);
  EXPECT_EQ(audit("device.disable_stale").size(), 1u);
}

TEST(DeviceHandshakes, NewestOfStoreAndObservationPerDevice) {
  State s;
  s.users.push_back(User{});
  s.users[0].id = 1;
  s.users[0].name = "bob";
  Device d;
  d.id = 5;
  d.user_id = 1;
  d.name = "phone";
  s.devices.push_back(d);
  WgKey k1 = *WgKey::generate_private()->public_key();
  WgKey k2 = *WgKey::generate_private()->public_key();
  Key a;
  a.id = 10;
  a.device_id = 5;
  a.public_key = k1;
  a.last_handshake_at = 500;
  Key b = a;
  b.id = 11;
  b.public_key = k2;
  b.last_handshake_at = std::nullopt;
  s.keys = {a, b};
  WgDeviceState dev;
  WgPeerState p;
  p.public_key = k2;
  p.last_handshake_sec = 700;
  dev.peers.push_back(p);
  auto hs = device_handshakes(s, {{"wg0", dev}});
  ASSERT_EQ(hs.size(), 1u);
  EXPECT_EQ(hs[0].user, "bob");
  EXPECT_EQ(hs[0].device, "phone");
  EXPECT_EQ(hs[0].last_handshake, 700);
  EXPECT_EQ(hs[0].key_id, 11);
  hs = device_handshakes(s, {});
  EXPECT_EQ(hs[0].last_handshake, 500);
  EXPECT_EQ(hs[0].key_id, 10);
}

}  // namespace
}  // namespace wgate
