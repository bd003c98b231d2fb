// FlowRecorder against a real SQLite store: events are held and written
// together (every store commit wakes the daemon), traffic samples write the
// held flows first, and the records are attributed and listed as
// `wgate flows` shows them.
#include "agent/flow_recorder.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>

#include "../scratch_store_test.h"

namespace wgate {
namespace {

const Actor kRoot{"cli:root"};
using namespace std::chrono_literals;

class FlowRecorderTest : public testing::ScratchStoreTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(open_scratch("flowrec-test", R"(
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
)"));
    ASSERT_TRUE(service::add_user(*store_, config_, {"alice", "", {"dev"}}, 100, kRoot).ok());
    service::AddKeyRequest k;
    k.user = "alice";
    k.public_key = WgKey::generate_private()->public_key()->to_base64();
    k.device = "laptop";
    auto key = service::add_key(*store_, config_, k, 110, kRoot);
    ASSERT_TRUE(key.ok()) << key.error().message;
    alice_ip_ = key->address ? *key->address : IpAddress{};
  }
  FlowEvent event(uint16_t dport) const {
    FlowEvent e;
    e.src = alice_ip_;
    e.dst = *IpAddress::parse("10.1.2.3");
    e.time = std::chrono::system_clock::time_point(std::chrono::seconds(1000));
    e.proto = 6;
    e.sport = 40000;
    e.dport = dport;
    e.allowed = true;
    e.ifindex = 7;
    return e;
  }
  size_t stored() {
    service::FlowListRequest r;
    r.limit = 1000;
    auto page = service::list_flows(*store_, r);
    EXPECT_TRUE(page.ok()) << (page.ok() ? "" : page.error().message);
    return page.ok() ? page->flows.size() : 0;
  }
  // Runs `sql` on the store's file through a connection of its own.
  void exec_sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(config_.server.store_path.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  // One number from `sql` (the tests below outgrow a page of list_flows).
  int64_t query_int(const std::string& sql) {
    sqlite3* db = nullptr;
    int64_t out = -1;
    EXPECT_EQ(sqlite3_open(config_.server.store_path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    if (st && sqlite3_step(st) == SQLITE_ROW) out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }
  static std::string name_of(uint32_t ifindex) { return ifindex == 7 ? "wgt-dev" : ""; }

  IpAddress alice_ip_;
};

TEST_F(FlowRecorderTest, HoldsEventsUntilTheFlushIsDueThenWritesThemAttributed) {
  FlowRecorder rec(*store_, config_, FlowRecorderOptions{2000ms, 5000, 100000, 60000ms});
  const auto t0 = FlowRecorder::Clock::now();
  rec.on_events({}, name_of, t0, 1000);  // the first call prunes (nothing to prune)
  rec.on_events({event(22)}, name_of, t0 + 100ms, 1000);
  rec.on_events({event(443)}, name_of, t0 + 1500ms, 1000);
  EXPECT_EQ(rec.held(), 2u);
  EXPECT_EQ(stored(), 0u) << "written before the flush was due";
  rec.on_events({}, name_of, t0 + 2200ms, 1002);  // due: 2 s after the first held event
  EXPECT_EQ(rec.held(), 0u);
  ASSERT_EQ(stored(), 2u);
  service::FlowListRequest r;
  r.user = "alice";
  auto page = service::list_flows(*store_, r);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->flows.size(), 2u);
  EXPECT_EQ(page->flows[0].device, "laptop");
  EXPECT_EQ(page->flows[0].interface, "wgt-dev");
  // A quiet gateway writes nothing: no events, no flush armed.
  rec.on_events({}, name_of, t0 + 10s, 1010);
  EXPECT_EQ(stored(), 2u);
}

TEST_F(FlowRecorderTest, FlushesEarlyWhenManyAreWaiting) {
  FlowRecorder rec(*store_, config_, FlowRecorderOptions{60000ms, 3, 100000, 600000ms});
  const auto t0 = FlowRecorder::Clock::now();
  rec.on_events({}, name_of, t0, 1000);
  rec.on_events({event(1), event(2)}, name_of, t0 + 1ms, 1000);
  EXPECT_EQ(stored(), 0u);
  rec.on_events({event(3)}, name_of, t0 + 2ms, 1000);
  EXPECT_EQ(stored(), 3u);
}

TEST_F(FlowRecorderTest, TrafficSampleWritesHeldFlowsAndAddsToThePersonsTotals) {
  FlowRecorder rec(*store_, config_, FlowRecorderOptions{60000ms, 5000, 100000, 600000ms});
  const auto t0 = FlowRecorder::Clock::now();
  rec.on_events({}, name_of, t0, 1000);
  rec.on_events({event(22)}, name_of, t0 + 1ms, 1000);
  std::map<IpAddress, SourceCounters> counters;
  counters[alice_ip_] = SourceCounters{10, 1000, 2, 120};
  rec.on_traffic(counters, 42, t0 + 2ms, 1001);
  EXPECT_EQ(stored(), 1u) << "a traffic sample writes the held flows first";
  counters[alice_ip_] = SourceCounters{15, 1600, 2, 120};
  rec.on_traffic(counters, 42, t0 + 3ms, 1002);
  auto totals = service::traffic(*store_);
  ASSERT_TRUE(totals.ok()) << totals.error().message;
  ASSERT_EQ(totals->size(), 1u);
  EXPECT_EQ((*totals)[0].user, "alice");
  EXPECT_EQ((*totals)[0].total.pass_bytes, 1600u);
  EXPECT_EQ((*totals)[0].total.pass_packets, 15u);
  EXPECT_EQ((*totals)[0].total.drop_packets, 2u);
}

// Flows are written in transactions of kFlowsPerTransaction rows. When a
// later one fails after earlier ones committed, the stored ones must not be
// written again at the next flush, and the others must not be lost.
TEST_F(FlowRecorderTest, APartialFailureKeepsOnlyWhatWasNotStored) {
  FlowRecorder rec(*store_, config_, FlowRecorderOptions{60000ms, 100000, 100000, 600000ms});
  const auto t0 = FlowRecorder::Clock::now();
  rec.on_events({}, name_of, t0, 1000);
  const size_t n = service::kFlowsPerTransaction + 10;
  std::vector<FlowEvent> events;
  for (size_t i = 0; i < n; ++i) events.push_back(event(static_cast<uint16_t>(1 + i)));
  // The second transaction fails: a row of it is refused by a trigger.
  const int refused_port = static_cast<int>(service::kFlowsPerTransaction) + 5;
  exec_sql("CREATE TRIGGER refuse_one BEFORE INSERT ON flows WHEN NEW.destination_port = " +
           std::to_string(refused_port) + " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
  rec.on_events(events, name_of, t0 + 1ms, 1000);
  rec.on_events({}, name_of, t0 + 61s, 1000);  // the flush is due
  const std::string count = "SELECT COUNT(*) FROM flows", distinct = "SELECT COUNT(DISTINCT destination_port) FROM flows";
  EXPECT_EQ(query_int(count), static_cast<int64_t>(service::kFlowsPerTransaction)) << "the first transaction commits";
  EXPECT_EQ(rec.held(), 10u) << "only the rows not stored are kept";
  exec_sql("DROP TRIGGER refuse_one;");
  rec.on_events({}, name_of, t0 + 122s, 1000);
  EXPECT_EQ(rec.held(), 0u);
  EXPECT_EQ(query_int(count), static_cast<int64_t>(n)) << "every flow stored";
  EXPECT_EQ(query_int(distinct), static_cast<int64_t>(n)) << "none twice";
}

}  // namespace
}  // namespace wgate
