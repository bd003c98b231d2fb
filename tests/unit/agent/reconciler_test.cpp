#include "agent/reconciler.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "core/compile.h"
#include "fakes.h"

namespace wgate {
namespace {

using testing::FakeFirewall;
using testing::FakeRouter;
using testing::FakeWg;

const char* kConfig = R"(
[pool]
ipv4 = "10.100.0.0/24"
[networks]
vpc-a = ["10.1.0.0/16"]
[groups.dev]
networks = ["vpc-a"]
interface = "wg-dev"
port = 51820
table = 1001
)";

WgKey key_of(int n) {
  std::array<uint8_t, 32> b{};
  b[0] = static_cast<uint8_t>(n >> 8);
  b[1] = static_cast<uint8_t>(n);
  b[2] = 1;
  return WgKey(b);
}

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("wgate-rec-" + std::to_string(getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    keys_ = std::make_unique<InterfaceKeys>(dir_.string());
    config_ = *parse_config(kConfig, "t");
    for (int i = 0; i < 3; ++i) add_user_with_key(i);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void add_user_with_key(int i) {
    int64_t id = i + 1;
    state_.users.push_back(User{id, "u" + std::to_string(i), "", false, 0});
    state_.memberships.push_back(Membership{id, "dev"});
    state_.current_leases.push_back(Lease{id, id, IpAddress::v4(0x0a640000 + static_cast<uint32_t>(id)), 0, {}});
    Key k;
    k.id = id;
    k.user_id = id;
    k.group = "dev";
    k.public_key = key_of(i);
    state_.keys.push_back(k);
  }
  ReconcileReport pass() {
    Reconciler r(wg_, router_, firewall_, forwarding_, *keys_);
    auto report = r.reconcile(compile(config_, state_, 1000));
    EXPECT_TRUE(report.ok());
    for (const auto& e : report->errors) ADD_FAILURE() << e;
    return *report;
  }

  std::filesystem::path dir_;
  std::unique_ptr<InterfaceKeys> keys_;
  Config config_;
  State state_;
  FakeWg wg_;
  FakeRouter router_;
  FakeFirewall firewall_;
  testing::FakeForwarding forwarding_;
};

TEST_F(ReconcilerTest, FirstPassBuildsEverythingSecondPassWritesNothing) {
  auto first = pass();
  EXPECT_EQ(first.interfaces_created, 1);
  EXPECT_EQ(first.peers_added, 3);
  EXPECT_EQ(first.routes_added, 5);  // 3 user /32 + throw + blackhole
  EXPECT_EQ(first.rules_added, 1);
  EXPECT_TRUE(first.firewall_applied);
  EXPECT_TRUE(first.forwarding_enabled);
  EXPECT_TRUE(forwarding_.enabled);
  EXPECT_EQ(wg_.devices["wg-dev"].peers.size(), 3u);
  EXPECT_EQ(wg_.devices["wg-dev"].listen_port, 51820);

  int sets = wg_.sets, route_writes = router_.route_writes;
  auto second = pass();
  EXPECT_FALSE(second.changed()) << second.summary();
  EXPECT_EQ(wg_.sets, sets);
  EXPECT_EQ(router_.route_writes, route_writes);
  EXPECT_EQ(firewall_.applies, 1);
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
  auto report = pass();
  EXPECT_EQ(*wg_.devices["wg-dev"].private_key, live);
  EXPECT_EQ(*keys_->load("wg-dev"), live);
}

TEST_F(ReconcilerTest, FailingDeviceSettingDoesNotHoldBackARevocation) {
  pass();
  wg_.devices["wg-dev"].listen_port = 1;  // drifted, and the fake refuses ports now
  wg_.refuse_ports = true;
  state_.keys[0].revoked_at = 900;
  Reconciler r(wg_, router_, firewall_, forwarding_, *keys_);
  auto report = r.reconcile(compile(config_, state_, 1000));
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->peers_removed, 1);
  EXPECT_EQ(wg_.devices["wg-dev"].peers.size(), 2u);
  ASSERT_EQ(report->errors.size(), 1u);
  EXPECT_NE(report->errors[0].find("port"), std::string::npos);
}

TEST_F(ReconcilerTest, RestartAdoptsLivePeersAndRemovesOnlyRevokedOnes) {
  pass();
  state_.keys[1].revoked_at = 900;  // revoked while the daemon was down
  wg_.updates.clear();
  auto report = pass();
  EXPECT_EQ(report.interfaces_created, 0);
  EXPECT_EQ(report.peers_removed, 1);
  EXPECT_EQ(report.peers_added, 0);
  ASSERT_EQ(wg_.updates.size(), 1u);
  ASSERT_EQ(wg_.updates[0].peers.size(), 1u);  // one small change, no resync
  EXPECT_TRUE(wg_.updates[0].peers[0].remove);
  EXPECT_FALSE(wg_.updates[0].replace_peers);
  EXPECT_EQ(wg_.devices["wg-dev"].peers.size(), 2u);
  EXPECT_EQ(report.routes_removed, 1);  // the revoked user's /32
}

TEST_F(ReconcilerTest, ExpiryNeedsNoWriteOnlyTime) {
  state_.keys[0].expires_at = 1500;
  pass();
  EXPECT_EQ(wg_.devices["wg-dev"].peers.size(), 3u);
  Reconciler r(wg_, router_, firewall_, forwarding_, *keys_);
  auto later = r.reconcile(compile(config_, state_, 1500));
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->peers_removed, 1);
  EXPECT_EQ(wg_.devices["wg-dev"].peers.size(), 2u);
}

TEST_F(ReconcilerTest, DriftIsRepaired) {
  pass();
  router_.routes.clear();   // someone flushed the tables
  firewall_.applied.reset();  // and deleted the nft table
  WgPeerState stray;
  stray.public_key = key_of(999);
  wg_.devices["wg-dev"].peers.push_back(stray);  // and added a peer by hand
  auto report = pass();
  EXPECT_EQ(report.routes_added, 5);
  EXPECT_TRUE(report.firewall_applied);
  EXPECT_EQ(report.peers_removed, 1);
}

TEST_F(ReconcilerTest, InterfaceOfARemovedGroupIsRemoved) {
  pass();
  ASSERT_TRUE(wg_.devices.count("wg-dev"));
  config_ = *parse_config(R"(
[pool]
ipv4 = "10.100.0.0/24"
[networks]
vpc-a = ["10.1.0.0/16"]
[groups.ops]
networks = ["vpc-a"]
interface = "wg-ops"
port = 51821
table = 1002
)", "t");
  auto report = pass();
  EXPECT_EQ(report.interfaces_removed, 1);
  EXPECT_FALSE(wg_.devices.count("wg-dev"));
  EXPECT_TRUE(wg_.devices.count("wg-ops"));
  EXPECT_EQ(router_.rules.size(), 1u);
  EXPECT_EQ(router_.rules.begin()->iif, "wg-ops");
}

}  // namespace
}  // namespace wgate
