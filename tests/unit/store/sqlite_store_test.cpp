#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <thread>
#include <nlohmann/json.hpp>

#include "store/store.h"

namespace wgate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const Actor kRoot{"cli:root"};

Prefix pfx(const char* text) { return *Prefix::parse(text); }
IpAddress ip(const char* text) { return *IpAddress::parse(text); }

WgKey test_key(uint8_t seed) {
  std::array<uint8_t, WgKey::kSize> bytes{};
  bytes.fill(seed);
  return WgKey(bytes);
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/wgate-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/wgate.db";
    store_ = open();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Store> open() {
    auto s = open_sqlite_store(path_);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? std::move(s).value() : nullptr;
  }

  User add(const std::string& name, UnixTime now = 100, const char* pool = "10.100.0.0/24") {
    auto u = store_->add_user(name, name + "@example.com", pfx(pool), now, kRoot);
    EXPECT_TRUE(u.ok()) << u.error().message;
    return u.ok() ? *u : User{};
  }

  // The current address of `user_id`, or "" if none.
  std::string address_of(int64_t user_id) {
    auto leases = store_->current_leases();
    EXPECT_TRUE(leases.ok());
    for (const Lease& l : *leases) {
      if (l.user_id == user_id) return l.address.to_string();
    }
    return "";
  }

  std::vector<std::string> audit_actions() {
    auto log = store_->audit_log(1000);
    EXPECT_TRUE(log.ok());
    std::vector<std::string> actions;
    for (const auto& r : *log) actions.push_back(r.action);
    return actions;
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteStoreTest, MigratesFreshDatabaseAndReopensIdempotently) {
  ASSERT_NE(store_, nullptr);
  add("alice");
  store_.reset();
  store_ = open();
  ASSERT_NE(store_, nullptr);
  auto alice = store_->find_user("alice");
  ASSERT_TRUE(alice.ok());
  ASSERT_TRUE(alice->has_value());
  EXPECT_EQ((*alice)->email, "alice@example.com");

  // Inspect the file directly: schema version, WAL mode, tables.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  auto query = [&](const char* sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sql;
    EXPECT_EQ(sqlite3_step(st), SQLITE_ROW) << sql;
    std::string out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
  };
  EXPECT_EQ(query("PRAGMA user_version"), "1");
  EXPECT_EQ(query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query("SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = 'table' "
                  "ORDER BY name)"),
            "audit,keys,leases,memberships,users");
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, RefusesDatabaseFromNewerWgate) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = open_sqlite_store(path_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr(path_));
  EXPECT_THAT(s.error().message, HasSubstr("schema version 99 is newer"));
}

TEST_F(SqliteStoreTest, OpeningSomethingElseFailsClearly) {
  auto s = open_sqlite_store(dir_ + "/missing-dir/wgate.db");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("missing-dir/wgate.db"));
  EXPECT_EQ(s.error().sys_errno, ENOENT);
}

TEST_F(SqliteStoreTest, FilesAreMode0600) {
  add("alice");  // a write, so that the -wal file exists
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  for (const char* suffix : {"-wal", "-shm"}) {
    std::string side = path_ + suffix;
    ASSERT_EQ(stat(side.c_str(), &st), 0) << side;
    EXPECT_EQ(st.st_mode & 07777, 0600u) << side;
  }
}

TEST_F(SqliteStoreTest, AddsListsAndFindsUsers) {
  User bob = add("bob", 100);
  User alice = add("alice", 200);
  EXPECT_GT(bob.id, 0);
  EXPECT_NE(alice.id, bob.id);
  EXPECT_EQ(alice.created_at, 200);
  EXPECT_FALSE(alice.disabled);

  auto users = store_->list_users();
  ASSERT_TRUE(users.ok());
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ((*users)[0].name, "alice");  // sorted by name
  EXPECT_EQ((*users)[0].id, alice.id);
  EXPECT_EQ((*users)[1].name, "bob");
  EXPECT_EQ((*users)[1].email, "bob@example.com");
  EXPECT_EQ((*users)[1].created_at, 100);

  auto found = store_->find_user("bob");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, bob.id);
  auto missing = store_->find_user("carol");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  // Each user got its own address, lowest first.
  EXPECT_EQ(address_of(bob.id), "10.100.0.1");
  EXPECT_EQ(address_of(alice.id), "10.100.0.2");
}

TEST_F(SqliteStoreTest, DuplicateNameIsAnErrorAndLosesNothing) {
  User alice = add("alice");
  auto again = store_->add_user("alice", "other@example.com", pfx("10.100.0.0/24"), 300, kRoot);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "user 'alice' already exists");

  auto users = store_->list_users();
  ASSERT_TRUE(users.ok());
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ((*users)[0].email, "alice@example.com");
  auto leases = store_->current_leases();
  ASSERT_TRUE(leases.ok());
  ASSERT_EQ(leases->size(), 1u);
  EXPECT_EQ((*leases)[0].user_id, alice.id);
  EXPECT_THAT(audit_actions(), ElementsAre("user.add"));
}

TEST_F(SqliteStoreTest, DisableEndsLeaseAndEnableReturnsSameAddress) {
  const Prefix pool = pfx("10.100.0.0/24");
  User alice = add("alice", 100);
  User bob = add("bob", 100);
  ASSERT_EQ(address_of(alice.id), "10.100.0.1");

  ASSERT_TRUE(store_->set_user_disabled("alice", true, pool, 200, kRoot).ok());
  EXPECT_EQ(address_of(alice.id), "");
  EXPECT_TRUE((*store_->find_user("alice"))->disabled);
  auto again = store_->set_user_disabled("alice", true, pool, 210, kRoot);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "user 'alice' is already disabled");

  // A newcomer gets a never-used address, not alice's.
  User carol = add("carol", 300);
  EXPECT_EQ(address_of(carol.id), "10.100.0.3");

  ASSERT_TRUE(store_->set_user_disabled("alice", false, pool, 400, kRoot).ok());
  EXPECT_FALSE((*store_->find_user("alice"))->disabled);
  EXPECT_EQ(address_of(alice.id), "10.100.0.1");
  EXPECT_EQ(address_of(bob.id), "10.100.0.2");

  auto unknown = store_->set_user_disabled("dave", true, pool, 500, kRoot);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "no user 'dave'");
}

TEST_F(SqliteStoreTest, LeaseHistoryAnswersWhoisAcrossUsers) {
  const Prefix pool = pfx("10.100.0.0/30");  // two usable addresses
  User alice = add("alice", 100, "10.100.0.0/30");
  User bob = add("bob", 110, "10.100.0.0/30");
  ASSERT_TRUE(store_->set_user_disabled("alice", true, pool, 200, kRoot).ok());
  // Only alice's old address is free: carol gets it.
  User carol = add("carol", 300, "10.100.0.0/30");
  EXPECT_EQ(address_of(carol.id), "10.100.0.1");

  auto history = store_->lease_history(ip("10.100.0.1"));
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].user_id, alice.id);
  EXPECT_EQ((*history)[0].from, 100);
  EXPECT_EQ((*history)[0].until, std::optional<UnixTime>(200));
  EXPECT_TRUE((*history)[0].held_at(150));
  EXPECT_FALSE((*history)[0].held_at(250));
  EXPECT_EQ((*history)[1].user_id, carol.id);
  EXPECT_EQ((*history)[1].from, 300);
  EXPECT_TRUE((*history)[1].current());

  auto bob_history = store_->lease_history(ip("10.100.0.2"));
  ASSERT_TRUE(bob_history.ok());
  ASSERT_EQ(bob_history->size(), 1u);
  EXPECT_EQ((*bob_history)[0].user_id, bob.id);
  auto none = store_->lease_history(ip("10.100.0.3"));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  // Re-enabling alice now fails (pool full) and changes nothing.
  auto enable = store_->set_user_disabled("alice", false, pool, 400, kRoot);
  ASSERT_FALSE(enable.ok());
  EXPECT_EQ(enable.error().message,
            "cannot enable user 'alice': address pool 10.100.0.0/30 is exhausted (2 usable addresses, all leased)");
  EXPECT_TRUE((*store_->find_user("alice"))->disabled);
  EXPECT_EQ(address_of(alice.id), "");
}

TEST_F(SqliteStoreTest, PoolExhaustionLeavesNoPartialUser) {
  add("alice", 100, "10.100.0.0/30");
  add("bob", 100, "10.100.0.0/30");
  auto carol = store_->add_user("carol", "c@example.com", pfx("10.100.0.0/30"), 200, kRoot);
  ASSERT_FALSE(carol.ok());
  EXPECT_EQ(carol.error().message,
            "cannot add user 'carol': address pool 10.100.0.0/30 is exhausted (2 usable addresses, all leased)");
  auto found = store_->find_user("carol");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  EXPECT_EQ(store_->list_users()->size(), 2u);
  EXPECT_EQ(store_->current_leases()->size(), 2u);
  EXPECT_THAT(audit_actions(), ElementsAre("user.add", "user.add"));
}

TEST_F(SqliteStoreTest, Memberships) {
  User alice = add("alice");
  User bob = add("bob");
  ASSERT_TRUE(store_->add_membership("alice", "dev", kRoot, 200).ok());
  ASSERT_TRUE(store_->add_membership("alice", "ops", kRoot, 200).ok());
  ASSERT_TRUE(store_->add_membership("bob", "dev", kRoot, 200).ok());

  auto dup = store_->add_membership("alice", "dev", kRoot, 210);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message, "user 'alice' is already in group 'dev'");
  auto unknown = store_->add_membership("zed", "dev", kRoot, 210);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "no user 'zed'");

  auto list = store_->list_memberships();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  int alice_groups = 0;
  for (const auto& m : *list) {
    if (m.user_id == alice.id) ++alice_groups;
  }
  EXPECT_EQ(alice_groups, 2);

  ASSERT_TRUE(store_->remove_membership("alice", "dev", kRoot, 300).ok());
  auto gone = store_->remove_membership("alice", "dev", kRoot, 310);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().message, "user 'alice' is not in group 'dev'");
  list = store_->list_memberships();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  for (const auto& m : *list) {
    EXPECT_FALSE(m.user_id == alice.id && m.group == "dev");
  }
  (void)bob;
}

TEST_F(SqliteStoreTest, AddsListsAndRevokesKeys) {
  User alice = add("alice");
  add("bob");
  auto not_member = store_->add_key("alice", "dev", test_key(1), "laptop", 200, 1000, kRoot);
  ASSERT_FALSE(not_member.ok());
  EXPECT_EQ(not_member.error().message, "user 'alice' is not a member of group 'dev'");
  for (const char* who : {"alice", "bob"}) ASSERT_TRUE(store_->add_membership(who, "dev", kRoot, 150).ok());
  ASSERT_TRUE(store_->add_membership("alice", "ops", kRoot, 150).ok());
  auto k1 = store_->add_key("alice", "dev", test_key(1), "laptop", 200, 1000, kRoot);
  ASSERT_TRUE(k1.ok()) << k1.error().message;
  EXPECT_EQ(k1->user_id, alice.id);
  auto k2 = store_->add_key("alice", "dev", test_key(2), "phone", 210, 0, kRoot);
  ASSERT_TRUE(k2.ok());
  EXPECT_NE(k1->id, k2->id);
  // One address routes to one group: a second group waits until the first
  // group's keys are revoked or expired.
  auto other_group = store_->add_key("alice", "ops", test_key(4), "tablet", 220, 0, kRoot);
  ASSERT_FALSE(other_group.ok());
  EXPECT_THAT(other_group.error().message, HasSubstr("has active key"));

  auto dup = store_->add_key("bob", "dev", test_key(1), "stolen", 220, 0, kRoot);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message, "key " + test_key(1).to_base64() + " is already registered to user 'alice' (key " +
                                     std::to_string(k1->id) + ")");
  auto no_user = store_->add_key("zed", "dev", test_key(3), "", 220, 0, kRoot);
  ASSERT_FALSE(no_user.ok());
  EXPECT_EQ(no_user.error().message, "no user 'zed'");

  auto keys = store_->list_keys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  const Key& first = (*keys)[0];
  EXPECT_EQ(first.id, k1->id);
  EXPECT_EQ(first.group, "dev");
  EXPECT_EQ(first.public_key, test_key(1));
  EXPECT_EQ(first.label, "laptop");
  EXPECT_EQ(first.created_at, 200);
  EXPECT_EQ(first.expires_at, 1000);
  EXPECT_FALSE(first.revoked_at);
  EXPECT_FALSE(first.last_handshake_at);

  ASSERT_TRUE(store_->revoke_key(k1->id, 500, kRoot).ok());
  auto found = store_->find_key(k1->id);
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->revoked_at, std::optional<UnixTime>(500));
  EXPECT_FALSE((*found)->active_at(501));

  auto twice = store_->revoke_key(k1->id, 600, kRoot);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message, "key " + std::to_string(k1->id) + " is already revoked");
  auto unknown = store_->revoke_key(999, 600, kRoot);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "no key 999");
  EXPECT_EQ((*store_->find_key(k1->id))->revoked_at, std::optional<UnixTime>(500));  // unchanged
  EXPECT_FALSE(store_->find_key(999)->has_value());

  // A revoked key cannot be registered again.
  auto reuse = store_->add_key("bob", "dev", test_key(1), "", 700, 0, kRoot);
  ASSERT_FALSE(reuse.ok());
  EXPECT_THAT(reuse.error().message, HasSubstr("revoked"));
}

TEST_F(SqliteStoreTest, RecordsOnlyNewerHandshakes) {
  add("alice");
  ASSERT_TRUE(store_->add_membership("alice", "dev", kRoot, 150).ok());
  auto k1 = store_->add_key("alice", "dev", test_key(1), "", 200, 0, kRoot);
  auto k2 = store_->add_key("alice", "dev", test_key(2), "", 200, 0, kRoot);
  ASSERT_TRUE(k1.ok() && k2.ok());
  ASSERT_TRUE(store_->record_handshakes({{k1->id, 1000}, {k2->id, 2000}, {424242, 5}}).ok());
  ASSERT_TRUE(store_->record_handshakes({{k1->id, 900}, {k2->id, 2500}}).ok());
  EXPECT_EQ((*store_->find_key(k1->id))->last_handshake_at, std::optional<UnixTime>(1000));
  EXPECT_EQ((*store_->find_key(k2->id))->last_handshake_at, std::optional<UnixTime>(2500));
  // Observations are not audited.
  EXPECT_THAT(audit_actions(), ElementsAre("user.add", "membership.add", "key.add", "key.add"));
}

TEST_F(SqliteStoreTest, EveryChangeIsAudited) {
  const Prefix pool = pfx("10.100.0.0/24");
  add("alice", 100);
  ASSERT_TRUE(store_->add_membership("alice", "dev", kRoot, 110).ok());
  auto key = store_->add_key("alice", "dev", test_key(7), "laptop", 120, 0, Actor{"agent"});
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(store_->revoke_key(key->id, 130, kRoot).ok());
  ASSERT_TRUE(store_->remove_membership("alice", "dev", kRoot, 140).ok());
  ASSERT_TRUE(store_->set_user_disabled("alice", true, pool, 150, kRoot).ok());
  ASSERT_TRUE(store_->set_user_disabled("alice", false, pool, 160, kRoot).ok());
  // Failed changes leave no audit rows.
  ASSERT_FALSE(store_->revoke_key(key->id, 170, kRoot).ok());

  auto log = store_->audit_log(100);
  ASSERT_TRUE(log.ok());
  std::vector<std::string> actions;
  for (const auto& r : *log) actions.push_back(r.action);
  EXPECT_THAT(actions, ElementsAre("user.add", "membership.add", "key.add", "key.revoke", "membership.remove",
                                   "user.disable", "user.enable"));
  for (const auto& r : *log) {
    EXPECT_EQ(r.subject, "alice");
    EXPECT_TRUE(nlohmann::json::accept(r.detail)) << r.detail;
  }
  EXPECT_EQ((*log)[0].at, 100);
  EXPECT_EQ((*log)[0].actor, "cli:root");
  EXPECT_EQ((*log)[2].actor, "agent");
  auto add_detail = nlohmann::json::parse((*log)[0].detail);
  EXPECT_EQ(add_detail["address"], "10.100.0.1");
  EXPECT_EQ(add_detail["email"], "alice@example.com");
  auto key_detail = nlohmann::json::parse((*log)[2].detail);
  EXPECT_EQ(key_detail["public_key"], test_key(7).to_base64());
  EXPECT_EQ(key_detail["key_id"], key->id);
  EXPECT_EQ(nlohmann::json::parse((*log)[5].detail)["released"], "10.100.0.1");

  // The limit keeps the newest records, still oldest first.
  auto tail = store_->audit_log(2);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].action, "user.disable");
  EXPECT_EQ((*tail)[1].action, "user.enable");
}

TEST_F(SqliteStoreTest, AuditDetailEscapesText) {
  ASSERT_TRUE(store_->add_user("q", "\"odd\"\\ \xc3\xa9@x", pfx("10.100.0.0/24"), 1, kRoot).ok());
  auto log = store_->audit_log(1);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 1u);
  auto detail = nlohmann::json::parse((*log)[0].detail);
  EXPECT_EQ(detail["email"], "\"odd\"\\ \xc3\xa9@x");
}

TEST_F(SqliteStoreTest, RejectsBadNamesAndTextAndStoresNothing) {
  for (const char* name : {"", "has space", "semi;colon", "new\nline"}) {
    auto r = store_->add_user(name, "", pfx("10.100.0.0/24"), 1, kRoot);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_THAT(r.error().message, HasSubstr("not a valid user name"));
  }
  for (const char* email : {"ctl\x01@x", "bad\xff@x", "over\xc0\xafl@x"}) {
    auto r = store_->add_user("ok", email, pfx("10.100.0.0/24"), 1, kRoot);
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.error().message, HasSubstr("email"));
  }
  EXPECT_TRUE(store_->list_users()->empty());
  EXPECT_TRUE(store_->audit_log(10)->empty());
}

TEST_F(SqliteStoreTest, ChangeTokenSeesCommitsFromAnotherConnection) {
  auto other = open();
  ASSERT_NE(other, nullptr);
  auto t1 = store_->change_token();
  ASSERT_TRUE(t1.ok());
  EXPECT_EQ(*store_->change_token(), *t1);  // stable while nothing changes

  // The second Store (as the CLI would) writes; the first sees it.
  auto bob = other->add_user("bob", "", pfx("10.100.0.0/24"), 100, kRoot);
  ASSERT_TRUE(bob.ok()) << bob.error().message;
  auto t2 = store_->change_token();
  ASSERT_TRUE(t2.ok());
  EXPECT_NE(*t2, *t1);
  EXPECT_EQ(*store_->change_token(), *t2);

  // Its own writes change it too.
  add("alice");
  auto t3 = store_->change_token();
  ASSERT_TRUE(t3.ok());
  EXPECT_NE(*t3, *t2);

  // A membership change from the other connection.
  ASSERT_TRUE(other->add_membership("bob", "dev", kRoot, 200).ok());
  EXPECT_NE(*store_->change_token(), *t3);

  // And both see the same data: the other's user got the next address.
  auto snap = store_->snapshot();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->users.size(), 2u);
  EXPECT_EQ(snap->current_leases.size(), 2u);
  EXPECT_EQ(snap->memberships.size(), 1u);
}

TEST_F(SqliteStoreTest, ConcurrentWritersFromTwoConnectionsNeverClash) {
  // Two connections (as the CLI and the daemon) add users at the same time:
  // the write lock plus busy_timeout serialise them, and IPAM inside each
  // transaction keeps addresses unique.
  auto writer = [this](const std::string& prefix, std::vector<std::string>* errors) {
    auto s = open_sqlite_store(path_);
    if (!s.ok()) {
      errors->push_back(s.error().message);
      return;
    }
    for (int i = 0; i < 25; ++i) {
      auto u = (*s)->add_user(prefix + std::to_string(i), "", pfx("10.100.0.0/24"), i, kRoot);
      if (!u.ok()) errors->push_back(u.error().message);
    }
  };
  std::vector<std::string> errors_a, errors_b;
  std::thread a(writer, "a", &errors_a);
  std::thread b(writer, "b", &errors_b);
  a.join();
  b.join();
  EXPECT_TRUE(errors_a.empty()) << errors_a.front();
  EXPECT_TRUE(errors_b.empty()) << errors_b.front();
  auto leases = store_->current_leases();
  ASSERT_TRUE(leases.ok());
  ASSERT_EQ(leases->size(), 50u);
  std::set<IpAddress> addresses;
  for (const auto& l : *leases) addresses.insert(l.address);
  EXPECT_EQ(addresses.size(), 50u);
  EXPECT_EQ(*addresses.rbegin(), ip("10.100.0.50"));
}

TEST_F(SqliteStoreTest, SnapshotHoldsUsersMembershipsKeysAndCurrentLeases) {
  const Prefix pool = pfx("10.100.0.0/24");
  User alice = add("alice");
  add("bob");
  ASSERT_TRUE(store_->add_membership("alice", "dev", kRoot, 110).ok());
  ASSERT_TRUE(store_->add_key("alice", "dev", test_key(1), "", 120, 0, kRoot).ok());
  ASSERT_TRUE(store_->set_user_disabled("bob", true, pool, 130, kRoot).ok());

  auto snap = store_->snapshot();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->users.size(), 2u);
  EXPECT_TRUE(snap->users[1].disabled);
  ASSERT_EQ(snap->memberships.size(), 1u);
  EXPECT_EQ(snap->memberships[0].group, "dev");
  ASSERT_EQ(snap->keys.size(), 1u);
  EXPECT_EQ(snap->keys[0].public_key, test_key(1));
  ASSERT_EQ(snap->current_leases.size(), 1u);  // bob's ended lease is history
  EXPECT_EQ(snap->current_leases[0].user_id, alice.id);
  EXPECT_EQ(snap->current_leases[0].address, ip("10.100.0.1"));
}

TEST_F(SqliteStoreTest, Ipv6PoolLeases) {
  auto u = store_->add_user("v6", "", pfx("fd00:1::/64"), 1, kRoot);
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(address_of(u->id), "fd00:1::1");
  auto history = store_->lease_history(ip("fd00:1::1"));
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ(history->front().address.family(), IpFamily::v6);
}

}  // namespace
}  // namespace wgate
