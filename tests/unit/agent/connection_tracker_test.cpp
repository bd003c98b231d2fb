// ConnectionTracker with a fake clock: `now` is whatever the test says.
#include "agent/connection_tracker.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace wgate {
namespace {

using Type = ConnectionEvent::Type;
constexpr int64_t kIdle = 180;

struct FakeClock {
  UnixTime now = 1'000'000;
  void advance(int64_t s) { now += s; }
};

DeviceHandshake dev(int64_t id, UnixTime hs, int64_t key = 0) {
  return {id, "user" + std::to_string(id), "laptop", key ? key : id * 10, hs};
}

std::string show(const std::vector<ConnectionEvent>& events) {
  std::string out;
  for (const auto& e : events) {
    out += std::string(to_string(e.type)) + " " + e.user + "/" + e.device + "@" + std::to_string(e.at) + ";";
  }
  return out;
}

TEST(ConnectionTracker, FirstUpdateLearnsWithoutEvents) {
  FakeClock clock;
  ConnectionTracker t(kIdle);
  auto events = t.update({dev(1, clock.now - 10), dev(2, clock.now - 1000), dev(3, 0)}, clock.now);
  EXPECT_TRUE(events.empty()) << show(events);
  EXPECT_EQ(t.connected_count(), 1u);
  // Device 1 then goes idle: that is reported (it was known connected).
  const UnixTime hs = 1'000'000 - 10;
  clock.advance(kIdle - 10);  // exactly idle_after since its handshake: still connected
  EXPECT_TRUE(t.update({dev(1, hs)}, clock.now).empty());
  clock.advance(1);
  events = t.update({dev(1, hs)}, clock.now);
  ASSERT_EQ(events.size(), 1u) << show(events);
  EXPECT_EQ(events[0].type, Type::disconnected);
  EXPECT_EQ(events[0].at, hs + kIdle);  // last handshake + idle_after, not "now"
}

TEST(ConnectionTracker, ConnectOnFirstHandshakeStampedWithIt) {
  FakeClock clock;
  ConnectionTracker t(kIdle);
  t.update({dev(1, 0)}, clock.now);
  clock.advance(2);
  EXPECT_TRUE(t.update({dev(1, 0)}, clock.now).empty());
  clock.advance(2);
  auto events = t.update({dev(1, clock.now - 1, 77)}, clock.now);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, Type::connected);
  EXPECT_EQ(events[0].at, clock.now - 1);
  EXPECT_EQ(events[0].key_id, 77);
  EXPECT_EQ(events[0].user, "user1");
  EXPECT_EQ(t.connected_count(), 1u);
}

TEST(ConnectionTracker, RehandshakesEveryTwoMinutesStayConnected) {
  // WireGuard rekeys every 120 s (+ up to a few seconds of jitter and a
  // retried initiation) while traffic flows: no event for an hour of that.
  FakeClock clock;
  ConnectionTracker t(kIdle);
  UnixTime hs = clock.now;
  t.update({dev(1, 0)}, clock.now);
  auto events = t.update({dev(1, hs)}, clock.now);
  ASSERT_EQ(events.size(), 1u);
  for (int i = 0; i < 30 * 60; ++i) {  // every 2 s for an hour
    clock.advance(2);
    if (clock.now - hs >= 120 + (i % 7)) hs = clock.now;  // 120..126 s apart
    events = t.update({dev(1, hs)}, clock.now);
    ASSERT_TRUE(events.empty()) << "at +" << clock.now - 1'000'000 << ": " << show(events);
  }
}

TEST(ConnectionTracker, DisconnectExactlyAfterIdleThenReconnect) {
  FakeClock clock;
  ConnectionTracker t(kIdle);
  t.update({}, clock.now);
  const UnixTime hs = clock.now;
  ASSERT_EQ(t.update({dev(1, hs)}, clock.now).size(), 1u);
  clock.advance(kIdle);  // exactly idle_after old: still connected
  EXPECT_TRUE(t.update({dev(1, hs)}, clock.now).empty());
  clock.advance(1);
  auto events = t.update({dev(1, hs)}, clock.now);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, Type::disconnected);
  EXPECT_EQ(events[0].at, hs + kIdle);
  EXPECT_EQ(events[0].last_handshake, hs);
  // Quiet: no repeat.
  clock.advance(600);
  EXPECT_TRUE(t.update({dev(1, hs)}, clock.now).empty());
  // Back.
  events = t.update({dev(1, clock.now)}, clock.now);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, Type::connected);
  EXPECT_EQ(events[0].at, clock.now);
}

TEST(ConnectionTracker, GapBetweenTwoUpdatesIsADisconnectAndAConnect) {
  // The daemon was busy (or stopped observing) for 10 minutes; the device
  // left and came back in between. Both transitions are reported, in order.
  FakeClock clock;
  ConnectionTracker t(kIdle);
  const UnixTime first = clock.now;
  t.update({dev(1, first)}, clock.now);
  clock.advance(600);
  auto events = t.update({dev(1, clock.now - 5)}, clock.now);
  ASSERT_EQ(events.size(), 2u) << show(events);
  EXPECT_EQ(events[0].type, Type::disconnected);
  EXPECT_EQ(events[0].at, first + kIdle);
  EXPECT_EQ(events[1].type, Type::connected);
  EXPECT_EQ(events[1].at, clock.now - 5);
}

TEST(ConnectionTracker, OlderHandshakeIsIgnored) {
  FakeClock clock;
  ConnectionTracker t(kIdle);
  t.update({dev(1, clock.now)}, clock.now);
  clock.advance(100);
  // A stale value (another source lagging) does not move time back.
  EXPECT_TRUE(t.update({dev(1, clock.now - 1000)}, clock.now).empty());
  EXPECT_EQ(t.connected_count(), 1u);
}

TEST(ConnectionTracker, VanishedDeviceGoesIdleThenIsForgotten) {
  FakeClock clock;
  ConnectionTracker t(kIdle);
  const UnixTime hs = clock.now;
  t.update({dev(1, hs), dev(2, hs)}, clock.now);
  clock.advance(30);
  EXPECT_TRUE(t.update({dev(2, clock.now)}, clock.now).empty());  // device 1 removed: still within idle
  clock.advance(kIdle);
  auto events = t.update({dev(2, clock.now)}, clock.now);
  ASSERT_EQ(events.size(), 1u) << show(events);
  EXPECT_EQ(events[0].device_id, 1);
  EXPECT_EQ(events[0].type, Type::disconnected);
  // Forgotten: a device 1 appearing later with an old handshake raises nothing.
  EXPECT_TRUE(t.update({dev(2, clock.now), dev(1, hs)}, clock.now).empty());
}

TEST(ConnectionTracker, EventsOrderedByTimeThenDevice) {
  FakeClock clock;
  ConnectionTracker t(kIdle);
  t.update({dev(1, 0), dev(2, 0), dev(3, 0)}, clock.now);
  clock.advance(10);
  auto events = t.update({dev(3, clock.now - 8), dev(1, clock.now - 2), dev(2, clock.now - 8)}, clock.now);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].device_id, 2);
  EXPECT_EQ(events[1].device_id, 3);
  EXPECT_EQ(events[2].device_id, 1);
}

}  // namespace
}  // namespace wgate
