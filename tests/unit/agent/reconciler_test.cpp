#include "agent/reconciler.h"

#include <gtest/gtest.h>

#include "../test_support.h"
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "core/compile.h"
#include "fakes.h"

namespace wgate {
namespace {

using testing::FakeFilter;
using testing::FakeFirewall;
using testing::FakeForwarding;
using testing::FakeRegistry;
using testing::FakeRouter;
using testing::FakeWg;
using Clock = Reconciler::Clock;


WgKey key_of(int n) {
  std::array<uint8_t, 32> b{};
  b[0] = static_cast<uint8_t>(n >> 8);
  b[1] = static_cast<uint8_t>(n);
  b[2] = 1;
  return WgKey(b);
}

size_t index_of(const std::vector<std::string>& log, const std::string& entry) {
  auto it = std::find(log.begin(), log.end(), entry);
  return it == log.end() ? log.size() : static_cast<size_t>(it - log.begin());
}

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("wgate-rec-" + std::to_string(getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    keys_ = std::make_unique<InterfaceKeys>(dir_.string());
    config_ = testing::sample_config();
    // Three people on dev, one laptop each; blocks 10.100.0.4/30, .8/30, .12/30.
    for (int i = 0; i < 3; ++i) add_person(i + 1, {"dev"});
    for (int i = 0; i < 3; ++i) add_key(i + 1, 0, "dev");
    reconciler_ = std::make_unique<Reconciler>(wg_, router_, firewall_, forwarding_, *keys_, registry_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void add_person(int64_t id, std::vector<std::string> groups) {
    state_.users.push_back(User{id, "u" + std::to_string(id), "", false, 0});
    for (auto& g : groups) state_.memberships.push_back(Membership{id, g});
    state_.current_leases.push_back(
        Lease{id, id, Prefix(IpAddress::v4(0x0a640000 + 4 * static_cast<uint32_t>(id)), 30), 0, {}});
  }
  // Device ids are user * 10 + slot; key ids count up.
  Key& add_key(int64_t user, uint32_t slot, const std::string& group, UnixTime created = 100) {
    int64_t device_id = user * 10 + slot;
    if (std::none_of(state_.devices.begin(), state_.devices.end(), [&](const Device& d) { return d.id == device_id; })) {
      state_.devices.push_back(Device{device_id, user, "d" + std::to_string(slot), slot, 0, std::nullopt});
    }
    Key k;
    k.id = static_cast<int64_t>(state_.keys.size()) + 1;
    k.user_id = user;
    k.device_id = device_id;
    k.group = group;
    k.public_key = key_of(static_cast<int>(k.id));
    k.created_at = created;
    state_.keys.push_back(k);
    return state_.keys.back();
  }
  ReconcileReport pass(PassKind kind = PassKind::full, UnixTime now = 1000, bool expect_clean = true) {
    auto report = reconciler_->reconcile(compile(config_, state_, now), kind, clock_);
    if (expect_clean) {
      for (const auto& e : report.errors) ADD_FAILURE() << e;
    }
    return report;
  }
  int writes() const { return static_cast<int>(log_.size()) + router_.link_writes; }

  std::filesystem::path dir_;
  std::unique_ptr<InterfaceKeys> keys_;
  Config config_;
  State state_;
  testing::WriteLog log_;
  FakeWg wg_{log_};
  FakeRouter router_{log_};
  FakeFirewall firewall_{log_};
  FakeForwarding forwarding_{log_};
  FakeRegistry registry_;
  std::unique_ptr<Reconciler> reconciler_;
  Clock::time_point clock_ = Clock::time_point{} + std::chrono::hours(1);
};

TEST_F(ReconcilerTest, FirstPassBuildsEverythingSecondPassWritesNothing) {
  auto first = pass();
  EXPECT_EQ(first.interfaces_created, 2);
  EXPECT_EQ(first.peers_added, 3);
  EXPECT_EQ(first.routes_added, 9);  // 3 device /32s + 3 throws + 2 blackhole defaults + the pool's blackhole
  EXPECT_EQ(first.rules_added, 2);
  EXPECT_TRUE(first.firewall_applied);
  EXPECT_TRUE(first.forwarding_enabled);
  EXPECT_EQ(wg_.devices["wg-dev"].peers.size(), 3u);
  EXPECT_EQ(wg_.devices["wg-dev"].listen_port, 51820);
  EXPECT_EQ(registry_.names, (std::set<std::string>{"wg-dev", "wg-ops"}));

  const int before = writes();
  for (PassKind kind : {PassKind::full, PassKind::incremental}) {
    auto again = pass(kind);
    EXPECT_FALSE(again.changed()) << again.summary();
  }
  EXPECT_EQ(writes(), before);
  EXPECT_EQ(firewall_.applies, 1);
}

TEST_F(ReconcilerTest, TwoDevicesOfOnePersonWorkSideBySideAndAQuietPassWritesNothing) {
  add_key(1, 1, "dev");  // u1's second device (a phone), same group
  add_key(1, 2, "ops");  // ...and a third on another of their groups
  state_.memberships.push_back(Membership{1, "ops"});
  pass();
  const auto& dev = wg_.devices["wg-dev"].peers;
  std::set<Prefix> ips;
  for (const auto& p : dev) {
    ASSERT_EQ(p.allowed_ips.size(), 1u);
    ips.insert(p.allowed_ips[0]);
  }
  EXPECT_EQ(ips.size(), 4u);  // no two peers share an address (WireGuard would move it)
  ASSERT_EQ(wg_.devices["wg-ops"].peers.size(), 1u);
  EXPECT_EQ(wg_.devices["wg-ops"].peers[0].allowed_ips, (std::vector<Prefix>{*Prefix::parse("10.100.0.6/32")}));
  const int before = writes();
  for (int i = 0; i < 5; ++i) {
    auto again = pass(i % 2 ? PassKind::incremental : PassKind::full);
    EXPECT_FALSE(again.changed()) << again.summary();
  }
  EXPECT_EQ(writes(), before);
}

TEST_F(ReconcilerTest, TheFakeCatchesPlansThatGiveOneAddressToTwoPeers) {
  // What the old compile() did with two keys of one person: both peers got
  // the person's /32. With WireGuard's semantics every pass rewrites them:
  // the check that the fake and this reconciler would have caught it.
  Plan plan = compile(config_, state_, 1000);
  plan.interfaces[0].peers[1].allowed_ip = plan.interfaces[0].peers[0].allowed_ip;
  reconciler_->reconcile(plan, PassKind::full, clock_);
  auto again = reconciler_->reconcile(plan, PassKind::full, clock_);
  EXPECT_GT(again.peers_added, 0) << "a flapping plan must show as writes";
}

TEST_F(ReconcilerTest, IncrementalPassAppliesOneChangeWithoutReadingTheDevice) {
  pass();
  const int gets = wg_.gets, lists = router_.lists, checks = firewall_.checks;
  add_person(4, {"dev"});
  add_key(4, 0, "dev");
  wg_.updates.clear();
  auto report = pass(PassKind::incremental);
  EXPECT_EQ(report.peers_added, 1);
  EXPECT_EQ(report.routes_added, 1);
  EXPECT_NE(std::find(report.keys_in_place.begin(), report.keys_in_place.end(), state_.keys.back().id),
            report.keys_in_place.end());
  ASSERT_EQ(wg_.updates.size(), 1u);
  EXPECT_EQ(wg_.updates[0].peers.size(), 1u);
  EXPECT_EQ(wg_.gets, gets);
  EXPECT_EQ(router_.lists, lists);
  EXPECT_EQ(firewall_.checks, checks);
  state_.keys.back().revoked_at = 1000;
  report = pass(PassKind::incremental);
  EXPECT_EQ(report.peers_removed, 1);
  EXPECT_EQ(wg_.gets, gets);
}

TEST_F(ReconcilerTest, FullPassFindsDriftThatAnIncrementalPassTrusts) {
  pass();
  WgPeerState stray;
  stray.public_key = key_of(999);
  wg_.devices["wg-dev"].peers.push_back(stray);  // added by hand
  router_.routes.clear();                         // someone flushed the tables
  router_.rules.clear();                          // and `ip rule flush`
  firewall_.applied.reset();                      // and deleted the nft table
  EXPECT_FALSE(pass(PassKind::incremental).changed());
  auto report = pass(PassKind::full);
  EXPECT_EQ(report.peers_removed, 1);
  EXPECT_EQ(report.routes_added, 9);
  EXPECT_EQ(report.rules_added, 2);
  EXPECT_TRUE(report.firewall_applied);
}

TEST_F(ReconcilerTest, AFirewallEventMakesEvenAnIncrementalPassCheckTheTable) {
  pass();
  firewall_.applied.reset();
  reconciler_->mark_firewall_dirty();
  EXPECT_TRUE(pass(PassKind::incremental).firewall_applied);
}

TEST_F(ReconcilerTest, FirewallTablesAndRulesComeBeforeAnyPeerAndForwardingLast) {
  pass();
  const size_t firewall = index_of(log_, "firewall:apply");
  const size_t rule = index_of(log_, "rule:add:wg-dev");
  const size_t table = index_of(log_, "route:add:0.0.0.0/0:1001");
  const size_t peer = index_of(log_, "wg:peer:wg-dev");
  const size_t forwarding = index_of(log_, "forwarding:on");
  ASSERT_LT(peer, log_.size());
  EXPECT_LT(firewall, peer);
  EXPECT_LT(rule, peer);
  EXPECT_LT(table, peer);
  EXPECT_EQ(forwarding, log_.size() - 1);
}

TEST_F(ReconcilerTest, AGroupWhoseRuleCannotBeAddedGetsNoPeersAndNoForwarding) {
  router_.refuse_rules_for = {"wg-dev"};
  auto report = pass(PassKind::full, 1000, false);
  EXPECT_EQ(report.peers_added, 0);
  EXPECT_TRUE(wg_.devices["wg-dev"].peers.empty());
  EXPECT_FALSE(forwarding_.enabled);
  bool held = false;
  for (const auto& e : report.errors) held = held || e.find("held back") != std::string::npos;
  EXPECT_TRUE(held);
  router_.refuse_rules_for.clear();
  report = pass();
  EXPECT_EQ(report.peers_added, 3);
  EXPECT_TRUE(forwarding_.enabled);
}

TEST_F(ReconcilerTest, ALinkThatIsNotOursIsNeverRuledRoutedOrTrusted) {
  wg_.foreign = {"wg-ops"};  // e.g. the config names eth0
  auto report = pass(PassKind::full, 1000, false);
  ASSERT_EQ(report.foreign_interfaces, std::vector<std::string>{"wg-ops"});
  for (const auto& r : router_.rules) EXPECT_NE(r.iif, "wg-ops");
  for (const auto& r : router_.routes) EXPECT_NE(r.table, 1002u);
  ASSERT_TRUE(firewall_.applied);
  for (const auto& i : firewall_.applied->interfaces) EXPECT_NE(i.name, "wg-ops");
  EXPECT_FALSE(router_.links.count("wg-ops"));  // not brought up
  EXPECT_FALSE(registry_.names.count("wg-ops"));
  EXPECT_EQ(wg_.devices["wg-dev"].peers.size(), 3u);  // the others carry on
  EXPECT_TRUE(forwarding_.enabled);
}

TEST_F(ReconcilerTest, RemovalsGoFirstEverywhereWhatEverFailsElsewhere) {
  add_key(1, 1, "ops");
  state_.memberships.push_back(Membership{1, "ops"});
  pass();
  // wg-dev's port drifts and the port is taken; its key file is unreadable;
  // and both interfaces have a revocation.
  wg_.devices["wg-dev"].listen_port = 1;
  wg_.refuse_ports = true;
  std::filesystem::remove(dir_ / "wg-dev.key");
  std::filesystem::create_directory(dir_ / "wg-dev.key");  // reading it fails
  state_.keys[0].revoked_at = 900;                        // on wg-dev
  state_.keys[3].revoked_at = 900;                        // on wg-ops
  log_.clear();
  auto report = pass(PassKind::full, 1000, false);
  EXPECT_EQ(report.peers_removed, 2);
  EXPECT_EQ(wg_.devices["wg-dev"].peers.size(), 2u);
  EXPECT_TRUE(wg_.devices["wg-ops"].peers.empty());
  const size_t dev_removal = index_of(log_, "wg:remove-peer:wg-dev");
  const size_t ops_removal = index_of(log_, "wg:remove-peer:wg-ops");
  ASSERT_LT(dev_removal, log_.size());
  ASSERT_LT(ops_removal, log_.size());
  for (size_t i = 0; i < log_.size(); ++i) {
    if (log_[i].rfind("wg:settings", 0) == 0 || log_[i].rfind("wg:peer:", 0) == 0) {
      EXPECT_GT(i, std::max(dev_removal, ops_removal)) << log_[i];
    }
  }
  EXPECT_FALSE(report.errors.empty());
}

TEST_F(ReconcilerTest, AFailingInterfaceBacksOffWhileTheOthersCarryOn) {
  wg_.failing = {"wg-ops"};
  auto report = pass(PassKind::full, 1000, false);
  EXPECT_EQ(report.peers_added, 3);
  EXPECT_EQ(wg_.prepares["wg-ops"], 1);
  clock_ += std::chrono::milliseconds(100);
  pass(PassKind::full, 1000, false);
  EXPECT_EQ(wg_.prepares["wg-ops"], 1) << "retried during its back-off";
  clock_ += std::chrono::seconds(1);
  pass(PassKind::full, 1000, false);
  EXPECT_EQ(wg_.prepares["wg-ops"], 2);
  // Each failure doubles the wait.
  clock_ += std::chrono::milliseconds(400);
  pass(PassKind::full, 1000, false);
  EXPECT_EQ(wg_.prepares["wg-ops"], 2);
  wg_.failing.clear();
  clock_ += std::chrono::seconds(1);
  EXPECT_TRUE(pass().interfaces_created == 1);
}

TEST_F(ReconcilerTest, AStartingInterfaceAsksForAQuickPassAndHoldsNothingElse) {
  wg_.starting = {"wg-dev"};
  auto report = pass();
  EXPECT_TRUE(report.pass_soon);
  EXPECT_EQ(report.peers_added, 0);
  wg_.starting.clear();
  report = pass(PassKind::incremental);
  EXPECT_EQ(report.peers_added, 3);
  EXPECT_EQ(report.routes_added, 3);  // the device routes, now that it exists
}

TEST_F(ReconcilerTest, InterfaceKeyIsCreatedOnceWithMode0600AndReused) {
  pass();
  auto path = dir_ / "wg-dev.key";
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  WgKey first = *wg_.devices["wg-dev"].private_key;
  wg_.devices.clear();  // e.g. the machine rebooted
  pass();
  EXPECT_EQ(*wg_.devices["wg-dev"].private_key, first);
}

TEST_F(ReconcilerTest, LostKeyFileAdoptsTheLiveDeviceKeyInsteadOfRotating) {
  pass();
  WgKey live = *wg_.devices["wg-dev"].private_key;
  std::filesystem::remove(dir_ / "wg-dev.key");
  pass();
  EXPECT_EQ(*wg_.devices["wg-dev"].private_key, live);
  EXPECT_EQ(*keys_->load("wg-dev"), live);
}

TEST_F(ReconcilerTest, RestartAdoptsLivePeersAndRemovesOnlyRevokedOnes) {
  pass();
  state_.keys[1].revoked_at = 900;  // revoked while the daemon was down
  wg_.updates.clear();
  Reconciler restarted(wg_, router_, firewall_, forwarding_, *keys_, registry_);
  auto report = restarted.reconcile(compile(config_, state_, 1000), PassKind::full, clock_);
  EXPECT_EQ(report.interfaces_created, 0);
  EXPECT_EQ(report.peers_removed, 1);
  EXPECT_EQ(report.peers_added, 0);
  ASSERT_EQ(wg_.updates.size(), 1u);
  ASSERT_EQ(wg_.updates[0].peers.size(), 1u);  // one small change, no resync
  EXPECT_TRUE(wg_.updates[0].peers[0].remove);
  EXPECT_FALSE(wg_.updates[0].replace_peers);
  EXPECT_EQ(report.routes_removed, 1);  // the revoked device's /32
}

TEST_F(ReconcilerTest, ExpiryNeedsNoWriteOnlyTime) {
  state_.keys[0].expires_at = 1500;
  pass();
  EXPECT_EQ(wg_.devices["wg-dev"].peers.size(), 3u);
  auto later = pass(PassKind::incremental, 1500);
  EXPECT_EQ(later.peers_removed, 1);
  EXPECT_EQ(wg_.devices["wg-dev"].peers.size(), 2u);
}

TEST_F(ReconcilerTest, InterfaceOfARemovedGroupIsRemovedFromTheRegistryNotFromGuesses) {
  registry_.names.insert("wg-gone");   // made by wgate, group since removed
  wg_.devices["wg-gone"].name = "wg-gone";
  wg_.devices["eth9"].name = "eth9";   // not in the registry: never touched
  registry_.names.insert("wg-stale");  // recorded, but no device of ours any more
  auto report = pass();
  EXPECT_EQ(report.interfaces_removed, 1);
  EXPECT_FALSE(wg_.devices.count("wg-gone"));
  EXPECT_TRUE(wg_.devices.count("eth9"));
  EXPECT_EQ(registry_.names, (std::set<std::string>{"wg-dev", "wg-ops"}));
}

TEST_F(ReconcilerTest, TheFilterKnowsEveryDeviceAndSitsOnEveryInterfaceBeforeAnyPeerIsAdded) {
  FakeFilter filter(log_);
  reconciler_->set_filter(&filter);
  auto first = pass();
  EXPECT_EQ(first.filter_attached, 2);
  ASSERT_TRUE(filter.applied.has_value());
  EXPECT_EQ(filter.applied->devices.size(), 3u);
  EXPECT_EQ(filter.on, (std::set<std::string>{"wg-dev", "wg-ops"}));
  EXPECT_LT(index_of(log_, "filter:apply"), index_of(log_, "wg:peer:wg-dev"));
  EXPECT_LT(index_of(log_, "filter:attach:wg-dev"), index_of(log_, "wg:peer:wg-dev"));
  // Quiet passes write nothing, to the filter either.
  const int before = writes();
  for (PassKind kind : {PassKind::full, PassKind::incremental}) EXPECT_FALSE(pass(kind).changed());
  EXPECT_EQ(writes(), before);
}

TEST_F(ReconcilerTest, AFilterRemovedBehindOurBackIsPutBackByTheNextFullPass) {
  FakeFilter filter(log_);
  reconciler_->set_filter(&filter);
  pass();
  filter.removed.insert("wg-dev");
  pass(PassKind::incremental);
  EXPECT_EQ(std::count(log_.begin(), log_.end(), "filter:attach:wg-dev"), 1);
  pass(PassKind::full);
  EXPECT_EQ(std::count(log_.begin(), log_.end(), "filter:attach:wg-dev"), 2);
}

TEST_F(ReconcilerTest, AnInterfaceTheFilterCannotSitOnGetsNoNewPeersAndNoForwarding) {
  FakeFilter filter(log_);
  filter.failing.insert("wg-dev");
  reconciler_->set_filter(&filter);
  auto report = pass(PassKind::full, 1000, /*expect_clean=*/false);
  EXPECT_TRUE(wg_.devices["wg-dev"].peers.empty());
  EXPECT_FALSE(report.forwarding_enabled);
  EXPECT_NE(std::find_if(report.errors.begin(), report.errors.end(),
                         [](const std::string& e) { return e.find("filter on wg-dev: no clsact") != std::string::npos; }),
            report.errors.end());
  filter.failing.clear();
  auto healed = pass();
  EXPECT_EQ(wg_.devices["wg-dev"].peers.size(), 3u);
  EXPECT_TRUE(healed.forwarding_enabled);
}

TEST_F(ReconcilerTest, ARetiredInterfaceLosesItsFilterBeforeItIsRemoved) {
  FakeFilter filter(log_);
  reconciler_->set_filter(&filter);
  pass();
  config_.groups.erase(std::remove_if(config_.groups.begin(), config_.groups.end(),
                                      [](const GroupConfig& g) { return g.name == "ops"; }),
                       config_.groups.end());
  pass();
  EXPECT_LT(index_of(log_, "filter:detach:wg-ops"), index_of(log_, "wg:remove:wg-ops"));
  EXPECT_LT(index_of(log_, "wg:remove:wg-ops"), log_.size());
  EXPECT_EQ(filter.on, (std::set<std::string>{"wg-dev"}));
}

}  // namespace
}  // namespace wgate
