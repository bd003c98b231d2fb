// KnockWatcher's decisions against a real SQLite store: real handshake
// initiations (noise::make_initiation) from keys the store knows in every
// state, and notices into a MemoryOutbox.
#include "agent/knock_watcher.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "noise/initiation.h"
#include "notify/memory_outbox.h"
#include "../scratch_store_test.h"
#include "service/service.h"
#include "store/interface_keys.h"
#include "store/store.h"
#include "web/store_outbox.h"

namespace wgate {
namespace {

const Actor kRoot{"cli:root"};
constexpr uint16_t kDevPort = 51820;
constexpr UnixTime kCreated = 200;
constexpr UnixTime kExpired = kCreated + 3600 + 100;  // keys get --ttl 1h

WgKey must_key() { return *WgKey::generate_private(); }
WgKey pub(const WgKey& k) { return *k.public_key(); }

const std::string kSections = R"(
[pool]
ipv4 = "10.100.0.0/24"
per_user = 4

[networks]
vpc-a = ["10.1.0.0/16"]

[groups.dev]
networks = ["vpc-a"]
interface = "wgt-dev"
port = 51820
table = 1001
)";

class KnockWatcherTest : public testing::ScratchStoreTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(open_scratch("knock-test", kSections));
    auto k = InterfaceKeys(config_.server.state_dir).create_or_adopt("wgt-dev", std::nullopt);
    ASSERT_TRUE(k.ok());
    responder_ = *k;
    make_watcher();
  }
  void make_watcher(KnockOptions options = {}) {
    InterfaceKeys keys(config_.server.state_dir);
    watcher_ = std::make_unique<KnockWatcher>(
        std::map<uint16_t, std::string>{{kDevPort, "wgt-dev"}},
        [keys](const std::string& name) { return keys.load(name); },
        [this](const notify::Alert& a, UnixTime now) -> Status {
          if (fail_raise_) return make_error("outbox unavailable");
          auto r = outbox_.enqueue(a, {"webhook"}, now);
          if (!r) return r.error();
          return ok_status();
        },
        options, [this](KnockResult r) { ++counted_[r]; });
  }

  void add_user(const std::string& name) {
    auto p = service::add_user(*store_, config_, {name, name + "@example.com", {"dev"}}, 100, kRoot);
    ASSERT_TRUE(p.ok()) << p.error().message;
  }
  int64_t add_key(const std::string& user, const WgKey& priv, const std::string& device, UnixTime now = kCreated,
                  std::optional<std::string> ttl = "1h") {
    service::AddKeyRequest r;
    r.user = user;
    r.public_key = pub(priv).to_base64();
    r.device = device;
    r.ttl = std::move(ttl);
    auto k = service::add_key(*store_, config_, r, now, kRoot);
    EXPECT_TRUE(k.ok()) << k.error().message;
    return k.ok() ? k->key.id : 0;
  }

  // An initiation as a client whose wall clock reads `sent` (+ `nanos`) writes it.
  CapturedInitiation knock_from(const WgKey& initiator, const WgKey& to_public, UnixTime sent,
                                uint16_t port = kDevPort, uint32_t nanos = 0) {
    auto m = noise::make_initiation(initiator, to_public, must_key(), 7, noise::encode_tai64n({sent, nanos}));
    EXPECT_TRUE(m.ok());
    CapturedInitiation c;
    c.src = *IpAddress::parse("192.0.2.7");
    c.dst = *IpAddress::parse("192.0.2.1");
    c.sport = 40000;
    c.dport = port;
    c.message = *m;
    return c;
  }

  KnockWatcher::Outcome handle(const CapturedInitiation& c, UnixTime now) {
    auto state = store_->snapshot();
    EXPECT_TRUE(state.ok());
    auto r = watcher_->handle(c, *state, now);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : KnockWatcher::Outcome{};
  }

  size_t notices() { return outbox_.list(1000)->size(); }

  WgKey responder_;
  notify::MemoryOutbox outbox_;
  std::unique_ptr<KnockWatcher> watcher_;
  std::map<KnockResult, int> counted_;
  bool fail_raise_ = false;
};

TEST_F(KnockWatcherTest, ForeignTrafficFailsMac1AndCostsNoNotice) {
  add_user("alice");
  const WgKey alice = must_key();
  add_key("alice", alice, "laptop");
  // Sent to some other WireGuard server's key, to our port.
  auto o = handle(knock_from(alice, pub(must_key()), kExpired), kExpired);
  EXPECT_EQ(o.result, KnockResult::bad_mac1);
  EXPECT_FALSE(o.key_id);
  EXPECT_EQ(notices(), 0u);
  EXPECT_EQ(counted_[KnockResult::bad_mac1], 1);
}

TEST_F(KnockWatcherTest, UnknownKeyIsCountedNotNoticed) {
  auto o = handle(knock_from(must_key(), pub(responder_), kExpired), kExpired);
  EXPECT_EQ(o.result, KnockResult::unknown_key);
  EXPECT_EQ(notices(), 0u);
  EXPECT_EQ(counted_[KnockResult::unknown_key], 1);
}

TEST_F(KnockWatcherTest, ValidKeyRaisesNothing) {
  add_user("alice");
  const WgKey alice = must_key();
  const int64_t id = add_key("alice", alice, "laptop");
  auto o = handle(knock_from(alice, pub(responder_), kCreated + 60), kCreated + 60);
  EXPECT_EQ(o.result, KnockResult::valid);
  EXPECT_EQ(o.key_id, id);
  EXPECT_FALSE(o.noticed);
  EXPECT_EQ(notices(), 0u);
}

TEST_F(KnockWatcherTest, ExpiredKeyIsNoticedOncePerHour) {
  add_user("alice");
  const WgKey alice = must_key();
  const int64_t id = add_key("alice", alice, "laptop");
  auto first = handle(knock_from(alice, pub(responder_), kExpired), kExpired);
  EXPECT_EQ(first.result, KnockResult::expired_key);
  EXPECT_EQ(first.key_id, id);
  EXPECT_TRUE(first.noticed);
  // The client retries every 5 s, for the rest of the hour: no more notices.
  for (UnixTime t = kExpired + 5; t < kExpired + 3600; t += 5) {
    auto again = handle(knock_from(alice, pub(responder_), t), t);
    ASSERT_EQ(again.result, KnockResult::expired_key);
    ASSERT_FALSE(again.noticed) << "at +" << (t - kExpired);
  }
  ASSERT_EQ(notices(), 1u);
  auto d = outbox_.list(10)->front();
  EXPECT_EQ(d.alert.kind, notify::AlertKind::stale_key_knock);
  EXPECT_EQ(d.alert.user_name, "alice");
  EXPECT_EQ(d.alert.device_name, "laptop");
  EXPECT_EQ(d.alert.key_id, id);
  EXPECT_EQ(d.alert.dedup_key, "stale_key_knock:" + std::to_string(id) + "@" + std::to_string(kExpired / 3600));
  EXPECT_NE(d.alert.text.find("log in again"), std::string::npos) << d.alert.text;
  // An hour later, still knocking: a second notice.
  auto later = handle(knock_from(alice, pub(responder_), kExpired + 3600), kExpired + 3600);
  EXPECT_TRUE(later.noticed);
  EXPECT_EQ(notices(), 2u);
}

TEST_F(KnockWatcherTest, RevokedKeyIsNoticed) {
  add_user("alice");
  const WgKey alice = must_key();
  const int64_t id = add_key("alice", alice, "laptop", kCreated, std::nullopt);
  ASSERT_TRUE(service::revoke_key(*store_, id, kCreated + 10, kRoot).ok());
  auto o = handle(knock_from(alice, pub(responder_), kCreated + 20), kCreated + 20);
  EXPECT_EQ(o.result, KnockResult::revoked_key);
  EXPECT_TRUE(o.noticed);
  ASSERT_EQ(notices(), 1u);
  EXPECT_NE(outbox_.list(10)->front().alert.subject.find("revoked"), std::string::npos);
}

TEST_F(KnockWatcherTest, NoNoticeWhenTheDeviceAlreadyHasANewKey) {
  add_user("alice");
  const WgKey old_key = must_key(), new_key = must_key();
  add_key("alice", old_key, "laptop");
  add_key("alice", new_key, "laptop", kExpired - 10);  // she logged in again
  auto o = handle(knock_from(old_key, pub(responder_), kExpired), kExpired);
  EXPECT_EQ(o.result, KnockResult::expired_key);
  EXPECT_FALSE(o.noticed);
  EXPECT_EQ(notices(), 0u);
  // Another device's new key does not count: the laptop still needs one.
  add_user("bob");
  const WgKey bob_old = must_key(), bob_phone = must_key();
  add_key("bob", bob_old, "laptop");
  add_key("bob", bob_phone, "phone", kExpired - 10);
  EXPECT_TRUE(handle(knock_from(bob_old, pub(responder_), kExpired), kExpired).noticed);
}

TEST_F(KnockWatcherTest, NoNoticeForADisabledPerson) {
  add_user("alice");
  const WgKey alice = must_key();
  add_key("alice", alice, "laptop");
  ASSERT_TRUE(service::set_user_disabled(*store_, config_, "alice", true, kCreated + 1, kRoot).ok());
  auto o = handle(knock_from(alice, pub(responder_), kExpired), kExpired);
  // (Whether disabling also revokes her keys is the store's business.)
  EXPECT_TRUE(o.result == KnockResult::expired_key || o.result == KnockResult::revoked_key) << to_string(o.result);
  EXPECT_FALSE(o.noticed);
  EXPECT_EQ(notices(), 0u);
}

TEST_F(KnockWatcherTest, RightMac1ButMangledIsUndecryptable) {
  auto c = knock_from(must_key(), pub(responder_), kExpired);
  c.message[50] ^= 1;  // inside the sealed static key
  auto mac1 = noise::compute_mac1(pub(responder_), c.message);
  ASSERT_TRUE(mac1.ok());
  std::copy(mac1->begin(), mac1->end(), c.message.begin() + 116);
  EXPECT_EQ(handle(c, kExpired).result, KnockResult::undecryptable);
}

TEST_F(KnockWatcherTest, DecryptionsAreBudgetedPerSecond) {
  KnockOptions options;
  options.decrypts_per_sec = 2;
  make_watcher(options);
  EXPECT_EQ(handle(knock_from(must_key(), pub(responder_), 5000), 5000).result, KnockResult::unknown_key);
  EXPECT_EQ(handle(knock_from(must_key(), pub(responder_), 5000), 5000).result, KnockResult::unknown_key);
  EXPECT_EQ(handle(knock_from(must_key(), pub(responder_), 5000), 5000).result, KnockResult::rate_limited);
  // Foreign traffic is sorted out before the budget.
  EXPECT_EQ(handle(knock_from(must_key(), pub(must_key()), 5000), 5000).result, KnockResult::bad_mac1);
  EXPECT_EQ(handle(knock_from(must_key(), pub(responder_), 5001), 5001).result, KnockResult::unknown_key);
}

// One source prefix (an IPv4 /24, an IPv6 /64) gets only its share of the
// decryption budget: a flood from one network (any addresses in it) leaves
// the rest for everyone else's knocks.
TEST_F(KnockWatcherTest, OneSourcePrefixCannotTakeTheWholeBudget) {
  KnockOptions options;
  options.decrypts_per_sec = 8;
  options.decrypts_per_prefix_per_sec = 3;
  make_watcher(options);
  auto from = [&](const std::string& src, UnixTime now) {
    auto c = knock_from(must_key(), pub(responder_), now);
    c.src = *IpAddress::parse(src);
    return handle(c, now).result;
  };
  // A flood from 203.0.113.0/24, each packet from another address.
  int decrypted = 0, limited = 0;
  for (int i = 1; i <= 20; ++i) {
    const auto r = from("203.0.113." + std::to_string(i), 7000);
    (r == KnockResult::unknown_key ? decrypted : limited)++;
  }
  EXPECT_EQ(decrypted, 3);
  EXPECT_EQ(limited, 17);
  // Other networks still get through in the same second.
  EXPECT_EQ(from("198.51.100.7", 7000), KnockResult::unknown_key);
  EXPECT_EQ(from("2001:db8:1:2::1", 7000), KnockResult::unknown_key);
  EXPECT_EQ(from("2001:db8:1:2:ffff::9", 7000), KnockResult::unknown_key);
  EXPECT_EQ(from("2001:db8:1:2::7", 7000), KnockResult::unknown_key);
  EXPECT_EQ(from("2001:db8:1:2::8", 7000), KnockResult::rate_limited);  // the same /64, its 4th
  EXPECT_EQ(from("2001:db8:1:3::1", 7000), KnockResult::unknown_key);   // another /64: 8 in all
  // The global budget still holds over every prefix.
  EXPECT_EQ(from("192.0.2.99", 7000), KnockResult::rate_limited);
  // The next second, the flooded prefix has its share again.
  EXPECT_EQ(from("203.0.113.50", 7001), KnockResult::unknown_key);
  EXPECT_EQ(counted_[KnockResult::rate_limited], 19);
}

TEST_F(KnockWatcherTest, PortWithoutInterfaceKeyYet) {
  // The daemon has not created the ops interface's key yet.
  InterfaceKeys keys(config_.server.state_dir);
  bool exists = false;
  watcher_ = std::make_unique<KnockWatcher>(
      std::map<uint16_t, std::string>{{51821, "wgt-ops"}},
      [&](const std::string& name) -> Result<WgKey> {
        if (!exists) return make_error("no key for " + name + " yet");
        return keys.create_or_adopt(name, std::nullopt);
      },
      [](const notify::Alert&, UnixTime) { return ok_status(); });
  auto unknown = must_key();
  EXPECT_EQ(handle(knock_from(unknown, pub(responder_), 5000, 51821), 5000).result, KnockResult::no_interface);
  exists = true;
  auto ops = *keys.create_or_adopt("wgt-ops", std::nullopt);
  EXPECT_EQ(handle(knock_from(unknown, pub(ops), 5000, 51821), 5000).result, KnockResult::unknown_key);
  EXPECT_EQ(handle(knock_from(unknown, pub(ops), 5000, 9), 5000).result, KnockResult::no_interface);
}

TEST_F(KnockWatcherTest, AFailedRaiseIsRetriedAtTheNextKnock) {
  add_user("alice");
  const WgKey alice = must_key();
  add_key("alice", alice, "laptop");
  fail_raise_ = true;
  auto state = store_->snapshot();
  auto r = watcher_->handle(knock_from(alice, pub(responder_), kExpired), *state, kExpired);
  EXPECT_FALSE(r.ok());
  fail_raise_ = false;
  EXPECT_TRUE(handle(knock_from(alice, pub(responder_), kExpired + 5), kExpired + 5).noticed);
  EXPECT_EQ(notices(), 1u);
}

// An initiation recorded on the network while the key was valid (café
// Wi-Fi) and sent again after it expired, from anywhere, is no knock: its
// timestamp is from before the expiry. The same holds for one sent within
// the clock allowance before expiry but replayed twice.
TEST_F(KnockWatcherTest, ReplaysOfRecordedInitiationsRaiseNothing) {
  add_user("alice");
  const WgKey alice = must_key();
  const int64_t id = add_key("alice", alice, "laptop");
  const UnixTime expiry = kCreated + 3600;
  KnockOptions options;
  options.clock_skew_allowance = 300;
  make_watcher(options);

  // Recorded an hour before the expiry, replayed after it.
  const auto recorded = knock_from(alice, pub(responder_), expiry - 3000);
  auto o = handle(recorded, kExpired);
  EXPECT_EQ(o.result, KnockResult::stale_timestamp);
  EXPECT_EQ(o.key_id, id);
  EXPECT_FALSE(o.noticed);
  // Just outside the allowance.
  EXPECT_EQ(handle(knock_from(alice, pub(responder_), expiry - 301, kDevPort, 999999999), kExpired).result,
            KnockResult::stale_timestamp);
  EXPECT_EQ(notices(), 0u);
  EXPECT_EQ(counted_[KnockResult::stale_timestamp], 2);
  EXPECT_EQ(counted_[KnockResult::expired_key], 0);

  // A client whose clock lags 4 minutes, knocking just after the expiry: a
  // knock (within the allowance).
  const auto lagging = knock_from(alice, pub(responder_), expiry - 240);
  auto first = handle(lagging, expiry + 1);
  EXPECT_EQ(first.result, KnockResult::expired_key);
  EXPECT_TRUE(first.noticed);
  // The same message again (recorded and replayed): not newer than the one
  // seen, so no knock.
  EXPECT_EQ(handle(lagging, expiry + 2).result, KnockResult::replayed);
  // Nor an older one that is still within the allowance.
  EXPECT_EQ(handle(knock_from(alice, pub(responder_), expiry - 250), expiry + 3).result, KnockResult::replayed);
  // The client's next retry (5 s later by its clock) is one.
  EXPECT_EQ(handle(knock_from(alice, pub(responder_), expiry - 235), expiry + 6).result, KnockResult::expired_key);
  // 2^24 ns later in the same second is newer too.
  EXPECT_EQ(handle(knock_from(alice, pub(responder_), expiry - 235, kDevPort, 1u << 24), expiry + 6).result,
            KnockResult::expired_key);
  EXPECT_EQ(counted_[KnockResult::replayed], 2);
  EXPECT_EQ(notices(), 1u);
}

TEST_F(KnockWatcherTest, ReplaysAfterARevocationAreJudgedByTheRevocation) {
  add_user("alice");
  const WgKey alice = must_key();
  const int64_t id = add_key("alice", alice, "laptop", kCreated, std::nullopt);  // never expires
  const UnixTime revoked = kCreated + 1000;
  ASSERT_TRUE(service::revoke_key(*store_, id, revoked, kRoot).ok());
  // Recorded while the key worked, replayed after the revocation.
  EXPECT_EQ(handle(knock_from(alice, pub(responder_), revoked - 600), revoked + 60).result,
            KnockResult::stale_timestamp);
  // A timestamp that is no TAI64N label a client writes (before 1970).
  auto zero = knock_from(alice, pub(responder_), 0);
  auto m = noise::make_initiation(alice, pub(responder_), must_key(), 7, {});
  ASSERT_TRUE(m.ok());
  zero.message = *m;
  EXPECT_EQ(handle(zero, revoked + 60).result, KnockResult::stale_timestamp);
  EXPECT_EQ(notices(), 0u);
  auto o = handle(knock_from(alice, pub(responder_), revoked + 60), revoked + 60);
  EXPECT_EQ(o.result, KnockResult::revoked_key);
  EXPECT_TRUE(o.noticed);
}

// A restart (a reload that changes what the service reads, or of the
// daemon) must not send a second notice within the hour: the new watcher
// remembers the notices in the store's outbox. Without that, a notice at
// 1:58 and a restart at 2:01 would send another (the outbox's dedup key is
// per clock hour).
TEST_F(KnockWatcherTest, ARestartRemembersTheLastHoursNoticesFromTheStore) {
  add_user("alice");
  const WgKey alice = must_key();
  const int64_t id = add_key("alice", alice, "laptop");
  web::StoreOutbox outbox(*store_);
  auto watcher_on_store = [&] {
    InterfaceKeys keys(config_.server.state_dir);
    return std::make_unique<KnockWatcher>(
        std::map<uint16_t, std::string>{{kDevPort, "wgt-dev"}},
        [keys](const std::string& name) { return keys.load(name); },
        [&outbox](const notify::Alert& a, UnixTime now) -> Status {
          auto r = outbox.enqueue(a, {}, now);  // no channel configured: still recorded
          if (!r) return r.error();
          return ok_status();
        });
  };
  auto stored_notices = [&] {
    size_t n = 0;
    auto rows = store_->list_alerts(1000);
    EXPECT_TRUE(rows.ok());
    for (const auto& e : *rows) n += e.kind == "stale_key_knock" && e.channel.empty();
    return n;
  };
  const UnixTime first = 7100;  // 100 s before the clock hour ends
  auto before = watcher_on_store();
  auto state = *store_->snapshot();
  ASSERT_TRUE(before->handle(knock_from(alice, pub(responder_), first), state, first)->noticed);
  ASSERT_EQ(stored_notices(), 1u);

  // Restarted 200 s later, in the next clock hour.
  const UnixTime restart = first + 200;
  auto seen = recent_knock_notices(*store_, restart - 3600);
  ASSERT_TRUE(seen.ok()) << seen.error().message;
  EXPECT_EQ(*seen, (std::map<int64_t, UnixTime>{{id, first}}));
  auto after = watcher_on_store();
  after->remember_notices(*seen);
  auto o = after->handle(knock_from(alice, pub(responder_), restart), state, restart);
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->result, KnockResult::expired_key);
  EXPECT_FALSE(o->noticed);
  EXPECT_FALSE(after->handle(knock_from(alice, pub(responder_), first + 3599), state, first + 3599)->noticed);
  EXPECT_EQ(stored_notices(), 1u);
  // An hour after the first notice: the next one.
  EXPECT_TRUE(after->handle(knock_from(alice, pub(responder_), first + 3600), state, first + 3600)->noticed);
  EXPECT_EQ(stored_notices(), 2u);
  // What the memory prevented: a watcher that does not remember notices at
  // restart time (new clock hour, new dedup key).
  auto forgetful = watcher_on_store();
  EXPECT_TRUE(forgetful->handle(knock_from(alice, pub(responder_), restart + 1), state, restart + 1)->noticed);
}

TEST_F(KnockWatcherTest, RecentKnockNoticesReadsOnlyTheWindowAndTheKind) {
  web::StoreOutbox outbox(*store_);
  auto alert = [](notify::AlertKind kind, int64_t key_id, UnixTime at) {
    notify::Alert a;
    a.kind = kind;
    a.key_id = key_id;
    a.user_id = 1;
    a.user_name = "alice";
    a.device_name = "laptop";
    a.subject = "s";
    a.text = "t";
    a.dedup_key = std::string(notify::to_string(kind)) + ":" + std::to_string(key_id) + "@" + std::to_string(at);
    return a;
  };
  const UnixTime now = 100000;
  ASSERT_TRUE(outbox.enqueue(alert(notify::AlertKind::stale_key_knock, 1, now - 7200), {"webhook"}, now - 7200).ok());
  ASSERT_TRUE(outbox.enqueue(alert(notify::AlertKind::stale_key_knock, 2, now - 3000), {"webhook"}, now - 3000).ok());
  ASSERT_TRUE(outbox.enqueue(alert(notify::AlertKind::stale_key_knock, 2, now - 60), {}, now - 60).ok());
  ASSERT_TRUE(outbox.enqueue(alert(notify::AlertKind::device_connected, 3, now - 30), {"webhook"}, now - 30).ok());
  // More rows than one page, all in the window.
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE(outbox.enqueue(alert(notify::AlertKind::device_connected, 100 + i, now - 10), {}, now - 10).ok());
  }
  auto seen = recent_knock_notices(*store_, now - 3600);
  ASSERT_TRUE(seen.ok()) << seen.error().message;
  EXPECT_EQ(*seen, (std::map<int64_t, UnixTime>{{2, now - 60}}));
  auto older = recent_knock_notices(*store_, now - 7200);
  ASSERT_TRUE(older.ok());
  EXPECT_EQ(*older, (std::map<int64_t, UnixTime>{{1, now - 7200}, {2, now - 60}}));
}

}  // namespace
}  // namespace wgate
