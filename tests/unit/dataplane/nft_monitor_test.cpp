// NftMonitor against the real kernel, inside network namespaces this test
// creates (see netns_lab.h); the runner's ruleset is never touched.
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "dataplane/firewall.h"
#include "dataplane/nft_monitor.h"
#include "netns_lab.h"

namespace wgate {
namespace {

using lab::nft_run;
using lab::pfx;
using lab::run_in_new_netns;

class NftMonitorTest : public testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, nftables)";
  }
};

FirewallPlan small_plan() {
  FirewallPlan plan;
  plan.interfaces = {FirewallInterface{"wg-dev", {pfx("10.1.0.0/16")}}};
  plan.protected_networks = {pfx("10.1.0.0/16")};
  plan.user_pools = {pfx("10.100.0.0/24")};
  return plan;
}

// Runs `commands` (expected to succeed), then drains: true when the monitor
// called the change ours.
bool ours_after(NftMonitor& monitor, const std::string& commands) {
  lab::NftRun r = nft_run(commands);
  EXPECT_EQ(r.rc, 0) << commands << ": " << r.error;
  auto drained = monitor.drain();
  EXPECT_TRUE(drained.ok()) << drained.error().message;
  return drained.ok() && *drained;
}

TEST_F(NftMonitorTest, TellsOurTableFromOthersAndSeesAFlushAtOnce) {
  run_in_new_netns([] {
    auto monitor = NftMonitor::open();
    ASSERT_TRUE(monitor.ok()) << monitor.error().message;
    auto idle = monitor->drain();
    ASSERT_TRUE(idle.ok()) << idle.error().message;
    EXPECT_FALSE(*idle) << "nothing happened yet";

    auto fw = make_nftables_firewall();
    ASSERT_TRUE(fw->apply(small_plan()).ok());
    auto applied = monitor->drain();
    ASSERT_TRUE(applied.ok());
    EXPECT_TRUE(*applied) << "our own apply is a change of our table";
    EXPECT_FALSE(*monitor->drain()) << "drain() empties the socket";

    // Other tables, other families with our name: not ours.
    EXPECT_FALSE(ours_after(*monitor, "add table inet other"));
    EXPECT_FALSE(ours_after(*monitor, "add chain inet other c { type filter hook input priority 0; }"));
    EXPECT_FALSE(ours_after(*monitor, "add rule inet other c accept"));
    EXPECT_FALSE(ours_after(*monitor, "add set inet other s { type ipv4_addr; }"));
    EXPECT_FALSE(ours_after(*monitor, "add element inet other s { 192.0.2.1 }"));
    EXPECT_FALSE(ours_after(*monitor, "add table ip wgate\nadd set ip wgate s { type ipv4_addr; }"));
    EXPECT_FALSE(ours_after(*monitor, "delete table ip wgate"));
    EXPECT_FALSE(ours_after(*monitor, "delete table inet other"));

    // Every kind of object in ours.
    EXPECT_TRUE(ours_after(*monitor, "add element inet wgate protected4 { 10.9.0.0/16 }"));
    EXPECT_TRUE(ours_after(*monitor, "delete element inet wgate protected4 { 10.9.0.0/16 }"));
    EXPECT_TRUE(ours_after(*monitor, "add rule inet wgate forward accept"));
    EXPECT_TRUE(ours_after(*monitor, "add chain inet wgate extra"));
    EXPECT_TRUE(ours_after(*monitor, "add set inet wgate extra { type ipv4_addr; }"));
    EXPECT_TRUE(ours_after(*monitor, "add counter inet wgate extra"));
    EXPECT_TRUE(ours_after(*monitor, "add table inet wgate { flags dormant; }"));
    // A mixed transaction is ours if any part is.
    EXPECT_TRUE(ours_after(*monitor, "add table inet other\nflush chain inet wgate forward"));

    // `nft flush ruleset`: heard within 100 ms.
    ASSERT_TRUE(fw->apply(small_plan()).ok());
    ASSERT_TRUE(monitor->drain().ok());
    using Clock = std::chrono::steady_clock;
    auto us_between = [](Clock::time_point a, Clock::time_point b) {
      return static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(b - a).count());
    };
    const auto start = Clock::now();
    lab::NftRun flush = nft_run("flush ruleset");
    const auto flushed_at = Clock::now();
    ASSERT_EQ(flush.rc, 0) << flush.error;
    pollfd p{monitor->fd(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 100), 1) << "no event within 100 ms of the flush";
    auto flushed = monitor->drain();
    const auto answered_at = Clock::now();
    ASSERT_TRUE(flushed.ok());
    EXPECT_TRUE(*flushed);
    std::printf("[ measure ] flush ruleset: the nft call took %lld us; the monitor said \"ours\" %lld us after it "
                "returned\n",
                us_between(start, flushed_at), us_between(flushed_at, answered_at));
    // With our table gone, a flush touches nothing of ours.
    EXPECT_FALSE(ours_after(*monitor, "add table inet other\nflush ruleset"));
  });
}

TEST_F(NftMonitorTest, LostEventsReadAsMaybeOurs) {
  run_in_new_netns([] {
    // A tiny buffer, then a transaction announcing thousands of elements of
    // someone else's set: the socket overflows (ENOBUFS), and since what was
    // lost is unknown, the answer is "maybe ours".
    auto monitor = NftMonitor::open(4096);
    ASSERT_TRUE(monitor.ok()) << monitor.error().message;
    std::string elements;
    for (int i = 0; i < 4000; ++i) {
      if (!elements.empty()) elements += ", ";
      elements += "10." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ".1";
    }
    lab::NftRun r = nft_run("add table inet other\nadd set inet other s { type ipv4_addr; elements = { " + elements + " } }");
    ASSERT_EQ(r.rc, 0) << r.error;
    auto drained = monitor->drain();
    ASSERT_TRUE(drained.ok()) << drained.error().message;
    EXPECT_TRUE(*drained);
    // After the overflow the socket works on.
    EXPECT_FALSE(*monitor->drain());
    EXPECT_FALSE(ours_after(*monitor, "add chain inet other c"));
  });
}

TEST_F(NftMonitorTest, OpeningWithoutNetAdminIsAnErrorValue) {
  run_in_new_netns([] {
    ASSERT_TRUE(lab::drop_effective_net_admin());
    auto monitor = NftMonitor::open();
    ASSERT_FALSE(monitor.ok());
    EXPECT_NE(monitor.error().message.find("nft monitor: "), std::string::npos) << monitor.error().message;
  });
}

}  // namespace
}  // namespace wgate
