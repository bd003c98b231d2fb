// The store's flow records and traffic counters (SqliteStore).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "store/store.h"

namespace wgate {
namespace {

using ::testing::HasSubstr;

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

FlowRecord flow(UnixTime at, const std::string& user, const char* dst) {
  FlowRecord f;
  f.at = at;
  if (!user.empty()) f.user_id = 1;
  f.user = user;
  f.device = user.empty() ? "" : "laptop";
  f.source = ip("10.100.0.4");
  f.destination = ip(dst);
  f.protocol = 6;
  f.source_port = 40000;
  f.destination_port = 443;
  f.allowed = true;
  f.reason = "rule";
  f.interface = "wg-dev";
  return f;
}

class FlowStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/wgate-flowstore-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto s = open_sqlite_store(dir_ + "/wgate.db", StoreOpen::create);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(s).value();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::vector<FlowRecord> all() {
    FlowQuery q;
    q.limit = 100000;
    auto r = store_->list_flows(q);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : std::vector<FlowRecord>{};
  }
  // How SQLite runs a query, as EXPLAIN QUERY PLAN words it.
  std::string query_plan(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open((dir_ + "/wgate.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    std::string out;
    EXPECT_EQ(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
      out += reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
      out += "\n";
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(FlowStoreTest, RoundTripsEveryField) {
  FlowRecord f = flow(1234, "alice", "10.1.2.3");
  f.allowed = false;
  f.reason = "proto-port";
  f.protocol = 17;
  f.source_port = 5353;
  f.destination_port = 53;
  ASSERT_TRUE(store_->add_flows({f, flow(1300, "", "10.1.2.4")}).ok());
  auto rows = all();
  ASSERT_EQ(rows.size(), 2u);
  const FlowRecord& r = rows[1];  // newest first
  EXPECT_GT(r.id, 0);
  EXPECT_EQ(r.at, 1234);
  EXPECT_EQ(r.user_id, std::optional<int64_t>(1));
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.device, "laptop");
  EXPECT_EQ(r.source, ip("10.100.0.4"));
  EXPECT_EQ(r.destination, ip("10.1.2.3"));
  EXPECT_EQ(r.protocol, 17);
  EXPECT_EQ(r.source_port, 5353);
  EXPECT_EQ(r.destination_port, 53);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.reason, "proto-port");
  EXPECT_EQ(r.interface, "wg-dev");
  EXPECT_FALSE(rows[0].user_id);
  EXPECT_GT(rows[0].id, r.id);
}

TEST_F(FlowStoreTest, IdsAreNeverReusedAfterPruning) {
  ASSERT_TRUE(store_->add_flows({flow(1, "a", "10.1.0.1"), flow(2, "a", "10.1.0.2"), flow(3, "a", "10.1.0.3")}).ok());
  const int64_t newest = all().front().id;
  auto deleted = store_->prune_flows(/*older_than=*/0, /*keep_newest=*/0, 100);
  ASSERT_TRUE(deleted.ok()) << deleted.error().message;
  EXPECT_EQ(*deleted, 3u);
  ASSERT_TRUE(store_->add_flows({flow(4, "a", "10.1.0.4")}).ok());
  // A cursor handed out before (an id) can never point into newer rows.
  EXPECT_GT(all().front().id, newest);
}

TEST_F(FlowStoreTest, PruneDeletesAtMostMaxRowsOldestFirst) {
  std::vector<FlowRecord> rows;
  for (int i = 0; i < 50; ++i) rows.push_back(flow(i, "a", "10.1.0.1"));
  ASSERT_TRUE(store_->add_flows(rows).ok());
  auto deleted = store_->prune_flows(/*older_than=*/40, /*keep_newest=*/1000, 25);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 25u);
  EXPECT_EQ(all().back().at, 25);
  deleted = store_->prune_flows(40, 1000, 25);
  EXPECT_EQ(*deleted, 15u);  // fewer than asked: done
  EXPECT_EQ(all().back().at, 40);
  deleted = store_->prune_flows(0, 4, 100);  // count bound only
  EXPECT_EQ(*deleted, 6u);
  ASSERT_EQ(all().size(), 4u);
  EXPECT_EQ(all().back().at, 46);
}

TEST_F(FlowStoreTest, AnIpv6DestinationFilterIsRefused) {
  FlowQuery q;
  q.destination = *Prefix::parse("fd00::/64");
  auto r = store_->list_flows(q);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("IPv6"));
}

TEST_F(FlowStoreTest, TheListingsQueriesUseIndexes) {
  EXPECT_THAT(query_plan("SELECT id FROM flows WHERE user_name = 'a' AND id < 5 ORDER BY id DESC LIMIT 5"),
              HasSubstr("flows_by_user"));
  EXPECT_THAT(query_plan("SELECT id FROM flows WHERE at >= 5 AND at <= 9 ORDER BY id DESC LIMIT 5"),
              HasSubstr("flows_by_time"));
  EXPECT_THAT(query_plan("SELECT id FROM flows WHERE destination_v4 BETWEEN 1 AND 9 ORDER BY id DESC LIMIT 5"),
              HasSubstr("flows_by_destination"));
  // Pruning walks indexes from their oldest end, never the whole table.
  EXPECT_THAT(query_plan("SELECT id FROM flows WHERE at < 5 ORDER BY at LIMIT 5"),
              HasSubstr("SEARCH flows USING COVERING INDEX flows_by_time"));
  EXPECT_THAT(query_plan("SELECT id FROM flows WHERE id <= 5 ORDER BY id LIMIT 5"),
              HasSubstr("SEARCH flows USING INTEGER PRIMARY KEY"));
}

TEST_F(FlowStoreTest, TrafficBaselinesAreReplacedAndTotalsAdded) {
  TrafficUpdate u;
  u.baselines.push_back({ip("10.100.0.4"), 3, {1, 2, 3, 4}, 10});
  u.increments.push_back({"alice", "laptop", {1, 2, 3, 4}, 0});
  ASSERT_TRUE(store_->record_traffic(u, 10).ok());
  u.baselines[0].seen = {5, 6, 7, 8};
  u.baselines[0].at = 20;
  u.increments[0].counters = {4, 4, 4, 4};
  u.increments.push_back({"", "", {0, 0, 1, 1}, 0});
  ASSERT_TRUE(store_->record_traffic(u, 20).ok());

  auto baselines = store_->traffic_baselines();
  ASSERT_TRUE(baselines.ok());
  ASSERT_EQ(baselines->size(), 1u);
  EXPECT_EQ((*baselines)[0].epoch, 3u);
  EXPECT_EQ((*baselines)[0].seen.drop_bytes, 8u);
  EXPECT_EQ((*baselines)[0].at, 20);
  auto totals = store_->traffic_totals();
  ASSERT_TRUE(totals.ok());
  ASSERT_EQ(totals->size(), 2u);
  EXPECT_EQ((*totals)[0].user, "");
  EXPECT_EQ((*totals)[0].counters.drop_bytes, 1u);
  EXPECT_EQ((*totals)[1].user, "alice");
  EXPECT_EQ((*totals)[1].counters.pass_packets, 5u);
  EXPECT_EQ((*totals)[1].counters.drop_bytes, 8u);
  EXPECT_EQ((*totals)[1].updated_at, 20);
}

}  // namespace
}  // namespace wgate
