// Flow records and traffic counters through the service layer, against a
// real SQLite store in a temporary directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <set>

#include "service/json.h"
#include "../scratch_store_test.h"
#include "service/service.h"

namespace wgate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const Actor kRoot{"cli:root"};

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

WgKey public_key() { return *WgKey::generate_private()->public_key(); }

const std::string kSections = R"(
[pool]
ipv4 = "10.100.0.0/28"
per_user = 4
[networks]
vpc-a = ["10.1.0.0/16"]
[groups.dev]
networks = ["vpc-a"]
interface = "wgt-dev"
port = 51820
table = 1001
)";

// A flow event as BpfFilter::drain_events() hands it out.
service::FlowObservation event(const char* src, const char* dst, UnixTime at, bool allowed = true,
                               uint8_t proto = 6, uint16_t sport = 40000, uint16_t dport = 443) {
  service::FlowObservation o;
  o.event.src = ip(src);
  o.event.dst = ip(dst);
  o.event.time = std::chrono::system_clock::time_point(std::chrono::seconds(at));
  o.event.proto = proto;
  o.event.sport = sport;
  o.event.dport = dport;
  o.event.allowed = allowed;
  o.event.reason = allowed ? 0 : 2;  // rule / no-rule
  o.interface = "wgt-dev";
  return o;
}

class FlowsTest : public testing::ScratchStoreTest {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(open_scratch("flows-test", kSections)); }
  void add_user(const std::string& name, UnixTime now) {
    auto p = service::add_user(*store_, config_, {name, "", {"dev"}}, now, kRoot);
    ASSERT_TRUE(p.ok()) << p.error().message;
  }
  void add_key(const std::string& user, const std::string& device, UnixTime now) {
    service::AddKeyRequest r;
    r.user = user;
    r.public_key = public_key().to_base64();
    r.device = device;
    auto k = service::add_key(*store_, config_, r, now, kRoot);
    ASSERT_TRUE(k.ok()) << k.error().message;
  }
  void record(const std::vector<service::FlowObservation>& events, UnixTime now = 10'000) {
    auto r = service::record_flows(*store_, config_, events, now);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->recorded, events.size());
  }
  service::FlowPage list(service::FlowListRequest request) {
    auto page = service::list_flows(*store_, request);
    EXPECT_TRUE(page.ok()) << page.error().message;
    return page.ok() ? *page : service::FlowPage{};
  }
  std::string list_error(service::FlowListRequest request) {
    auto page = service::list_flows(*store_, request);
    EXPECT_FALSE(page.ok());
    return page.ok() ? "" : page.error().message;
  }
  // The destination port of each flow of a page: the tests number flows by it.
  static std::vector<uint16_t> ports(const service::FlowPage& page) {
    std::vector<uint16_t> out;
    for (const auto& f : page.flows) out.push_back(f.destination_port);
    return out;
  }

};

// --- attribution -------------------------------------------------------------

TEST_F(FlowsTest, AttributesEachFlowToWhoHeldTheAddressAtItsTime) {
  // 10.100.0.4/30 is alice's from 100 until she is disabled at 200, then
  // nobody's, then carol's from 300 (the only free block in the /28 after bob).
  add_user("alice", 100);
  add_key("alice", "laptop", 120);  // 10.100.0.4
  add_user("bob", 110);             // 10.100.0.8/30
  add_key("bob", "desk", 130);      // 10.100.0.8
  ASSERT_TRUE(service::set_user_disabled(*store_, config_, "alice", true, 200, kRoot).ok());
  add_user("carol", 300);
  add_key("carol", "phone", 310);  // 10.100.0.4 again

  auto report = service::record_flows(*store_, config_,
                                      {event("10.100.0.4", "10.1.2.3", 150), event("10.100.0.4", "10.1.2.3", 250),
                                       event("10.100.0.4", "10.1.2.3", 400, false, 17, 5353, 53),
                                       event("10.100.0.8", "10.1.9.9", 400),
                                       event("10.200.0.1", "10.1.2.3", 400, false)},
                                      1000);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->recorded, 5u);
  EXPECT_EQ(report->unknown_sources, 2u);  // .4 between the two leases; an address outside the pool

  auto page = list({});
  ASSERT_EQ(page.flows.size(), 5u);
  // Newest recorded first.
  const FlowRecord& stranger = page.flows[0];
  EXPECT_FALSE(stranger.user_id);
  EXPECT_EQ(stranger.user, "");
  EXPECT_EQ(stranger.source, ip("10.200.0.1"));
  const FlowRecord& bob = page.flows[1];
  EXPECT_EQ(bob.user, "bob");
  EXPECT_EQ(bob.device, "desk");
  const FlowRecord& carol = page.flows[2];
  EXPECT_EQ(carol.user, "carol");
  EXPECT_EQ(carol.device, "phone");
  EXPECT_EQ(carol.at, 400);
  EXPECT_EQ(carol.protocol, 17);
  EXPECT_EQ(carol.source_port, 5353);
  EXPECT_EQ(carol.destination_port, 53);
  EXPECT_FALSE(carol.allowed);
  EXPECT_EQ(carol.reason, "no-rule");
  EXPECT_EQ(carol.interface, "wgt-dev");
  EXPECT_FALSE(page.flows[3].user_id);  // at 250 nobody held 10.100.0.4
  const FlowRecord& alice = page.flows[4];
  EXPECT_EQ(alice.user, "alice");
  EXPECT_EQ(alice.device, "laptop");
  EXPECT_EQ(alice.at, 150);
  EXPECT_EQ(alice.destination, ip("10.1.2.3"));
  EXPECT_TRUE(alice.allowed);
  EXPECT_EQ(alice.reason, "rule");

  // The JSON form the CLI and the HTTP API print.
  auto j = service::to_json(page);
  EXPECT_EQ(j["flows"][4]["user"], "alice");
  EXPECT_EQ(j["flows"][4]["verdict"], "allow");
  EXPECT_EQ(j["flows"][4]["protocol"], "tcp");
  EXPECT_EQ(j["flows"][4]["destination_port"], 443);
  EXPECT_TRUE(j["flows"][0]["user"].is_null());
  EXPECT_TRUE(j["next_cursor"].is_null());
}

// Leases of different sizes in one history (per_user changed, blocks
// moved): each flow goes to whoever held its source then, whatever the
// size of the block that held it.
TEST_F(FlowsTest, AttributionFollowsBlocksOfEverySizeInTheHistory) {
  add_user("alice", 100);
  service::AddKeyRequest r;
  r.user = "alice";
  r.public_key = public_key().to_base64();
  r.device = "laptop";
  auto k = service::add_key(*store_, config_, r, 110, kRoot);
  ASSERT_TRUE(k.ok()) << k.error().message;
  ASSERT_TRUE(k->address);
  const std::string first = k->address->to_string();
  // Blocks of 8 now: alice's block of 4 moves to one of 8.
  std::string wider = kSections;
  wider.replace(wider.find("per_user = 4"), 12, "per_user = 8");
  wider.replace(wider.find("10.100.0.0/28"), 13, "10.100.0.0/27");
  ASSERT_NO_FATAL_FAILURE(load(wider));
  auto moves = service::relocate_leases(*store_, config_, 200, kRoot);
  ASSERT_TRUE(moves.ok()) << moves.error().message;
  ASSERT_EQ(moves->size(), 1u);
  EXPECT_EQ(moves->front().to.length(), 29);
  add_user("bob", 300);
  auto bob_block = service::whois(*store_, config_, "10.100.0.8", 400);
  ASSERT_TRUE(bob_block.ok());
  // Whoever holds 10.100.0.8/29 now (bob, unless alice's block moved there).
  const std::string later_owner = bob_block->user ? bob_block->user->name : "";
  ASSERT_FALSE(later_owner.empty());

  record({event(first.c_str(), "10.1.2.3", 150, true, 6, 40000, 22),      // the /30 lease, alice's
          event("10.100.0.9", "10.1.2.3", 400, true, 6, 40000, 23),       // a /29 lease
          event("10.100.0.13", "10.1.2.3", 50, true, 6, 40000, 24)});     // before anyone held it
  service::FlowListRequest all;
  all.limit = 10;
  auto page = list(all);
  ASSERT_EQ(page.flows.size(), 3u);
  std::map<int, std::string> by_port;
  for (const auto& f : page.flows) by_port[f.destination_port] = f.user;
  EXPECT_EQ(by_port[22], "alice");
  EXPECT_EQ(by_port[23], later_owner);
  EXPECT_EQ(by_port[24], "");
}

TEST_F(FlowsTest, IcmpTypeAndCodeAndAnEventWithoutWallClockTime) {
  add_user("alice", 100);
  add_key("alice", "laptop", 120);
  auto ping = event("10.100.0.4", "10.1.2.3", 0, true, 1, 0, 8 << 8);
  ping.event.time = {};  // no wall-clock time: the call's `now`
  record({ping}, 5000);
  auto page = list({});
  ASSERT_EQ(page.flows.size(), 1u);
  EXPECT_EQ(page.flows[0].at, 5000);
  EXPECT_EQ(page.flows[0].user, "alice");
  auto j = service::to_json(page.flows[0]);
  EXPECT_EQ(j["protocol"], "icmp");
  EXPECT_EQ(j["icmp_type"], 8);
  EXPECT_EQ(j["icmp_code"], 0);
  EXPECT_FALSE(j.contains("destination_port"));
}

TEST_F(FlowsTest, LargeBatchesAreRecordedCompletely) {
  add_user("alice", 100);
  add_key("alice", "laptop", 120);
  std::vector<service::FlowObservation> many;
  const size_t n = service::kFlowsPerTransaction * 2 + 7;  // three transactions
  for (size_t i = 0; i < n; ++i) many.push_back(event("10.100.0.4", "10.1.2.3", 1000, true, 6, 1, uint16_t(i)));
  const auto start = std::chrono::steady_clock::now();
  record(many);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  std::cout << "recorded " << n << " flows in " << ms.count() << " ms (ASan build)\n";
  size_t seen = 0;
  service::FlowListRequest r;
  r.limit = service::kMaxFlowPage;
  while (true) {
    auto page = list(r);
    seen += page.flows.size();
    if (!page.next_cursor) break;
    r.cursor = page.next_cursor;
  }
  EXPECT_EQ(seen, n);
}

// --- listing -----------------------------------------------------------------

class FlowListTest : public FlowsTest {
 protected:
  void SetUp() override {
    FlowsTest::SetUp();
    add_user("alice", 100);           // 10.100.0.4/30
    add_key("alice", "laptop", 120);  // .4
    add_user("bob", 110);             // 10.100.0.8/30
    add_key("bob", "desk", 130);      // .8
    // Numbered by destination port: 1..6.
    record({event("10.100.0.4", "10.1.2.3", 1000, true, 6, 1, 1), event("10.100.0.4", "10.1.3.3", 2000, false, 6, 1, 2),
            event("10.100.0.8", "10.1.2.3", 3000, true, 6, 1, 3), event("10.100.0.8", "10.1.2.4", 4000, false, 6, 1, 4),
            event("10.100.0.4", "10.1.2.200", 5000, true, 6, 1, 5),
            event("10.200.0.1", "10.1.2.3", 6000, false, 6, 1, 6)});
  }
};

TEST_F(FlowListTest, FiltersNarrowTheList) {
  EXPECT_THAT(ports(list({})), ElementsAre(6, 5, 4, 3, 2, 1));
  service::FlowListRequest r;
  r.user = "alice";
  EXPECT_THAT(ports(list(r)), ElementsAre(5, 2, 1));
  r = {};
  r.user = "";  // sources nobody held
  EXPECT_THAT(ports(list(r)), ElementsAre(6));
  r = {};
  r.destination = "10.1.2.3";
  EXPECT_THAT(ports(list(r)), ElementsAre(6, 3, 1));
  r.destination = "10.1.2.0/24";
  EXPECT_THAT(ports(list(r)), ElementsAre(6, 5, 4, 3, 1));
  r.destination = "10.1.2.0/30";  // .0 .. .3: not .4, not .200
  EXPECT_THAT(ports(list(r)), ElementsAre(6, 3, 1));
  r = {};
  r.since = 2000;
  r.until = 4000;  // both inclusive
  EXPECT_THAT(ports(list(r)), ElementsAre(4, 3, 2));
  r = {};
  r.verdict = "deny";
  EXPECT_THAT(ports(list(r)), ElementsAre(6, 4, 2));
  r.verdict = "allow";
  EXPECT_THAT(ports(list(r)), ElementsAre(5, 3, 1));
  // Combined.
  r = {};
  r.user = "bob";
  r.verdict = "deny";
  r.destination = "10.1.0.0/16";
  r.since = 3500;
  EXPECT_THAT(ports(list(r)), ElementsAre(4));
}

TEST_F(FlowListTest, BadFiltersAreNamed) {
  service::FlowListRequest r;
  r.destination = "10.1.2.300";
  EXPECT_THAT(list_error(r), HasSubstr("destination"));
  r.destination = "10.1.2.0/33";
  EXPECT_THAT(list_error(r), HasSubstr("destination"));
  r = {};
  r.verdict = "maybe";
  EXPECT_THAT(list_error(r), HasSubstr("verdict 'maybe' is neither allow nor deny"));
  r = {};
  r.limit = 0;
  EXPECT_THAT(list_error(r), HasSubstr("limit 0 is outside 1 .. 1000"));
  r.limit = 1001;
  EXPECT_THAT(list_error(r), HasSubstr("limit 1001"));
  r = {};
  r.since = 5000;
  r.until = 4000;
  EXPECT_THAT(list_error(r), HasSubstr("since (5000) is after until (4000)"));
  r = {};
  r.user = "zed";
  EXPECT_THAT(list_error(r), HasSubstr("no user 'zed'"));
}

TEST_F(FlowListTest, PagesNeitherRepeatNorSkipWhileFlowsArrive) {
  // 6 flows so far; pages of 4, with new flows recorded between pages.
  service::FlowListRequest r;
  r.limit = 4;
  auto first = list(r);
  EXPECT_THAT(ports(first), ElementsAre(6, 5, 4, 3));
  ASSERT_TRUE(first.next_cursor);
  record({event("10.100.0.4", "10.1.2.3", 7000, true, 6, 1, 7), event("10.100.0.4", "10.1.2.3", 8000, true, 6, 1, 8)});
  r.cursor = first.next_cursor;
  auto second = list(r);
  EXPECT_THAT(ports(second), ElementsAre(2, 1));
  EXPECT_FALSE(second.next_cursor);  // the last page
  // A fresh listing starts with the new ones.
  r.cursor.reset();
  EXPECT_THAT(ports(list(r)), ElementsAre(8, 7, 6, 5));

  // Exactly full pages: the last full page still says whether more follow.
  r = {};
  r.limit = 4;
  r.user = "alice";  // 1, 2, 5, 7, 8
  auto a = list(r);
  EXPECT_THAT(ports(a), ElementsAre(8, 7, 5, 2));
  ASSERT_TRUE(a.next_cursor);
  r.cursor = a.next_cursor;
  auto b = list(r);
  EXPECT_THAT(ports(b), ElementsAre(1));
  EXPECT_FALSE(b.next_cursor);
  r = {};
  r.limit = 3;
  r.verdict = "deny";  // 6, 4, 2: one page, no cursor
  EXPECT_FALSE(list(r).next_cursor);
}

TEST_F(FlowListTest, PagingIsUnaffectedByPruning) {
  service::FlowListRequest r;
  r.limit = 2;
  auto first = list(r);
  EXPECT_THAT(ports(first), ElementsAre(6, 5));
  // The flows the cursor points past are pruned: the listing goes on with
  // what remains, and a cursor stays valid.
  ASSERT_TRUE(store_->prune_flows(/*older_than=*/2500, /*keep_newest=*/100, 100).ok());
  r.cursor = first.next_cursor;
  auto second = list(r);
  EXPECT_THAT(ports(second), ElementsAre(4, 3));
  EXPECT_FALSE(second.next_cursor);
}

TEST_F(FlowListTest, ABadCursorIsAClearError) {
  for (const char* bad : {"", "garbage", "f1.", "f1.0", "f1.-3", "f1.abc", "f1.012", "f1.3x", "f2.3",
                          "f1.99999999999999999999"}) {
    service::FlowListRequest r;
    r.cursor = bad;
    EXPECT_THAT(list_error(r), HasSubstr("cursor '" + std::string(bad) + "' is not one a flow listing handed out"))
        << bad;
  }
}

// --- retention ---------------------------------------------------------------

TEST_F(FlowsTest, PruningDeletesOldRecordsInBoundedBatches) {
  load(kSections + "[flows]\nretention = \"1h\"\nmax_records = 1000\n");
  const UnixTime now = 100'000;
  std::vector<service::FlowObservation> events;
  // 300 flows older than an hour, then 1200 recent ones.
  for (int i = 0; i < 300; ++i) events.push_back(event("10.200.0.1", "10.1.2.3", now - 7200 + i));
  for (int i = 0; i < 1200; ++i) events.push_back(event("10.200.0.1", "10.1.2.3", now - 600 + i / 10, true, 6, 1, i));
  record(events, now);

  // Batches of 100, at most 3 per call: 300 deleted, more to do.
  auto first = service::prune_flows(*store_, config_, now, 100, 3);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->deleted, 300u);
  EXPECT_TRUE(first->more);
  // The next call removes the 200 recent ones beyond max_records, oldest first.
  auto second = service::prune_flows(*store_, config_, now, 100, 10);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->deleted, 200u);
  EXPECT_FALSE(second->more);
  auto again = service::prune_flows(*store_, config_, now, 100, 10);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->deleted, 0u);

  size_t left = 0;
  uint16_t oldest_port = 0;
  service::FlowListRequest r;
  r.limit = service::kMaxFlowPage;
  while (true) {
    auto page = list(r);
    left += page.flows.size();
    if (!page.flows.empty()) oldest_port = page.flows.back().destination_port;
    if (!page.next_cursor) break;
    r.cursor = page.next_cursor;
  }
  EXPECT_EQ(left, 1000u);
  EXPECT_EQ(oldest_port, 200);  // the newest 1000 of the recent 1200 stayed

  // Time passes: the rest grows older than the retention.
  auto later = service::prune_flows(*store_, config_, now + 3600 + 120, 5000, 20);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->deleted, 1000u);
  EXPECT_TRUE(list({}).flows.empty());
}

// --- traffic -----------------------------------------------------------------

TEST(TrafficIncrease, CountsGrowthAndTreatsAnyDropAsARestart) {
  const TrafficCounters c{10, 1000, 2, 80};
  // First sample of an address: all of it is new.
  auto first = service::traffic_increase(std::nullopt, 1, c);
  EXPECT_EQ(first.pass_packets, 10u);
  EXPECT_EQ(first.drop_bytes, 80u);
  TrafficBaseline before{ip("10.100.0.4"), 1, c, 0};
  // Growth: the difference.
  auto grown = service::traffic_increase(before, 1, {15, 1600, 2, 80});
  EXPECT_EQ(grown.pass_packets, 5u);
  EXPECT_EQ(grown.pass_bytes, 600u);
  EXPECT_EQ(grown.drop_packets, 0u);
  EXPECT_EQ(grown.drop_bytes, 0u);
  // A lower counter (the LRU entry was evicted and re-created): its value
  // is what it counted since, never a negative increase.
  auto restarted = service::traffic_increase(before, 1, {3, 5000, 0, 0});
  EXPECT_EQ(restarted.pass_packets, 3u);
  EXPECT_EQ(restarted.pass_bytes, 5000u);
  // Another filter instance: all new, even when higher than before.
  auto reloaded = service::traffic_increase(before, 2, {20, 2000, 2, 80});
  EXPECT_EQ(reloaded.pass_packets, 20u);
  EXPECT_EQ(reloaded.drop_packets, 2u);
}

TEST_F(FlowsTest, TrafficTotalsSurviveRestartsReloadsAndEvictions) {
  add_user("alice", 100);
  add_key("alice", "laptop", 120);  // .4
  add_key("alice", "phone", 121);   // .5
  add_user("bob", 110);
  add_key("bob", "desk", 130);      // .8
  auto sample = [&](uint64_t epoch, std::map<IpAddress, SourceCounters> counters, UnixTime now) {
    auto s = service::record_traffic(*store_, config_, {epoch, std::move(counters)}, now);
    ASSERT_TRUE(s.ok()) << s.error().message;
  };
  auto totals = [&]() {
    auto t = service::traffic(*store_);
    EXPECT_TRUE(t.ok()) << t.error().message;
    std::map<std::string, TrafficCounters> out;
    for (const auto& v : *t) {
      out[v.user] = v.total;
      for (const auto& d : v.devices) out[v.user + "/" + d.device] = d.counters;
    }
    return out;
  };

  sample(7, {{ip("10.100.0.4"), {10, 1000, 1, 60}}, {ip("10.100.0.8"), {5, 500, 0, 0}},
             {ip("10.200.0.1"), {0, 0, 4, 240}}},
         1000);
  auto t = totals();
  EXPECT_EQ(t["alice"].pass_packets, 10u);
  EXPECT_EQ(t["alice/laptop"].pass_bytes, 1000u);
  EXPECT_EQ(t["bob"].pass_bytes, 500u);
  EXPECT_EQ(t[""].drop_packets, 4u);  // an address nobody holds

  // Growth, and alice's phone starts.
  sample(7, {{ip("10.100.0.4"), {12, 1300, 1, 60}}, {ip("10.100.0.5"), {1, 100, 0, 0}},
             {ip("10.100.0.8"), {5, 500, 0, 0}}},
         1010);
  t = totals();
  EXPECT_EQ(t["alice"].pass_packets, 13u);  // 12 on the laptop, 1 on the phone
  EXPECT_EQ(t["alice"].pass_bytes, 1400u);
  EXPECT_EQ(t["alice/phone"].pass_bytes, 100u);
  EXPECT_EQ(t["bob"].pass_bytes, 500u);  // unchanged: no double counting

  // The daemon restarts (a new connection) and reloads the filter: its
  // counters start again, lower than before.
  reopen();
  sample(8, {{ip("10.100.0.4"), {2, 200, 0, 0}}, {ip("10.100.0.8"), {1, 50, 0, 0}}}, 1020);
  t = totals();
  EXPECT_EQ(t["alice/laptop"].pass_packets, 14u);
  EXPECT_EQ(t["alice/laptop"].pass_bytes, 1500u);
  EXPECT_EQ(t["bob"].pass_bytes, 550u);

  // bob's entry is evicted from the LRU map (missing from a sample), then
  // re-created with a small count.
  sample(8, {{ip("10.100.0.4"), {3, 300, 0, 0}}}, 1030);
  sample(8, {{ip("10.100.0.4"), {3, 300, 0, 0}}, {ip("10.100.0.8"), {0, 0, 1, 40}}}, 1040);
  t = totals();
  EXPECT_EQ(t["alice/laptop"].pass_bytes, 1600u);
  EXPECT_EQ(t["bob"].pass_bytes, 550u);
  EXPECT_EQ(t["bob"].drop_bytes, 40u);
  EXPECT_EQ(t["bob"].drop_packets, 1u);

  auto views = service::traffic(*store_);
  ASSERT_TRUE(views.ok());
  ASSERT_EQ(views->size(), 3u);
  EXPECT_EQ((*views)[0].user, "alice");
  EXPECT_EQ((*views)[1].user, "bob");
  EXPECT_EQ((*views)[2].user, "");  // unknown sources last
  EXPECT_EQ((*views)[0].updated_at, 1030);  // alice's last increase; bob's was at 1040
  EXPECT_EQ((*views)[1].updated_at, 1040);
  auto j = service::to_json((*views)[0]);
  EXPECT_EQ(j["user"], "alice");
  EXPECT_EQ(j["pass_bytes"], 1700);  // laptop 1600 + phone 100
  EXPECT_EQ(j["devices"].size(), 2u);
}

}  // namespace
}  // namespace wgate
