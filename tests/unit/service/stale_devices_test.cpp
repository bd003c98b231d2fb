// find_stale_devices(): pure, on a hand-made State.
#include "service/stale_devices.h"

#include <gtest/gtest.h>

namespace wgate::service {
namespace {

State sample() {
  State s;
  s.users = {User{1, "alice", "", false, 0}, User{2, "bob", "", false, 0}};
  Device laptop{10, 1, "laptop", 0, 100, std::nullopt};
  Device phone{11, 1, "phone", 1, 200, std::nullopt};
  Device old{12, 2, "old", 0, 50, std::nullopt};
  Device removed{13, 2, "gone", 1, 50, UnixTime{60}};
  s.devices = {laptop, phone, old, removed};
  Key k1;
  k1.id = 1;
  k1.device_id = 10;
  k1.created_at = 100;
  k1.last_handshake_at = 1000;
  Key k2 = k1;  // an older key of the laptop, revoked, with a newer handshake
  k2.id = 2;
  k2.revoked_at = 1600;
  k2.last_handshake_at = 1500;
  Key k3;  // the phone: never seen, expires at 5000
  k3.id = 3;
  k3.device_id = 11;
  k3.created_at = 200;
  k3.expires_at = 5000;
  s.keys = {k1, k2, k3};
  return s;
}

TEST(StaleDevices, SilenceFromNewestHandshakeElseCreation) {
  const State s = sample();
  // At 2000 with 400 s: laptop (silent since 1500, from its revoked key),
  // phone (never seen: since creation 200), bob's old device (since 50);
  // the removed device is not listed.
  auto stale = find_stale_devices(s, 400, 2000);
  ASSERT_EQ(stale.size(), 3u);
  EXPECT_EQ(stale[0].device.name, "old");
  EXPECT_EQ(stale[0].user, "bob");
  EXPECT_EQ(stale[0].silent_since, 50);
  EXPECT_FALSE(stale[0].last_handshake.has_value());
  EXPECT_EQ(stale[1].device.name, "phone");
  EXPECT_EQ(stale[1].live_keys, std::vector<int64_t>{3});
  EXPECT_EQ(stale[2].device.name, "laptop");
  EXPECT_EQ(stale[2].silent_since, 1500);
  EXPECT_EQ(stale[2].live_keys, std::vector<int64_t>{1});  // the revoked key is not live
  // The boundary: silent exactly `older_than` counts; one second less not.
  EXPECT_EQ(find_stale_devices(s, 500, 2000).size(), 3u);
  EXPECT_EQ(find_stale_devices(s, 501, 2000).size(), 2u);
  // After the phone's key expired, it has no live key.
  auto later = find_stale_devices(s, 400, 6000);
  ASSERT_EQ(later.size(), 3u);
  EXPECT_TRUE(later[1].live_keys.empty());
}

}  // namespace
}  // namespace wgate::service
