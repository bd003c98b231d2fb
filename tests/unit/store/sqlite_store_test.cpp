#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/config.h"
#include "core/ipam.h"
#include "service/service.h"
#include "store/sqlite_schema.h"
#include "store/store.h"

namespace wgate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

const Actor kRoot{"cli:root"};

Prefix pfx(const char* text) { return *Prefix::parse(text); }
IpAddress ip(const char* text) { return *IpAddress::parse(text); }

const AddressPlan kPlan{pfx("10.100.0.0/24"), 4};
const AddressPlan kSmallPlan{pfx("10.100.0.0/28"), 4};  // two usable blocks: .4/30 and .8/30

WgKey test_key(uint8_t seed) {
  std::array<uint8_t, WgKey::kSize> bytes{};
  bytes.fill(seed);
  return WgKey(bytes);
}

// Direct access to the database file, for what the Store interface does not
// show (schema, modes) and to build old schemas by hand.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK) << path;
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << sql << ": " << (err ? err : "");
    sqlite3_free(err);
  }
  // Every row of `sql`, each row's columns joined by '|' (NULL as "null").
  std::vector<std::string> rows(const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql << ": " << sqlite3_errmsg(db_);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
        row += (i ? "|" : "") + std::string(text ? text : "null");
      }
      out.push_back(row);
    }
    sqlite3_finalize(st);
    return out;
  }
  std::string one(const std::string& sql) {
    auto r = rows(sql);
    EXPECT_EQ(r.size(), 1u) << sql;
    return r.empty() ? "" : r.front();
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/wgate-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/wgate.db";
    store_ = open(StoreOpen::create);
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Store> open(StoreOpen mode = StoreOpen::existing) {
    auto s = open_sqlite_store(path_, mode);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? std::move(s).value() : nullptr;
  }

  User add(const std::string& name, UnixTime now = 100, const AddressPlan& plan = kPlan,
           std::vector<std::string> groups = {}) {
    auto u = store_->add_user(NewUser{name, name + "@example.com", std::move(groups)}, plan, now, kRoot);
    EXPECT_TRUE(u.ok()) << u.error().message;
    return u.ok() ? *u : User{};
  }

  Result<Key> add_key(const std::string& user, const std::string& device, uint8_t seed, UnixTime now = 200,
                      const std::string& group = "dev", uint32_t per_user = 4, UnixTime expires_at = 0) {
    return store_->add_key(NewKey{user, device, group, test_key(seed), expires_at}, per_user, now, kRoot);
  }

  // The current block of `user_id`, or "" if none.
  std::string block_of(int64_t user_id) {
    auto leases = store_->current_leases();
    EXPECT_TRUE(leases.ok());
    for (const Lease& l : *leases) {
      if (l.user_id == user_id) return l.block.to_string();
    }
    return "";
  }

  // The current device `name` of `user_id`.
  std::optional<Device> device(int64_t user_id, const std::string& name) {
    auto devices = store_->list_devices(false);
    EXPECT_TRUE(devices.ok());
    for (const auto& d : *devices) {
      if (d.user_id == user_id && d.name == name) return d;
    }
    return std::nullopt;
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

// --- opening, schema, files -------------------------------------------------

TEST_F(SqliteStoreTest, MigratesFreshDatabaseAndReopensIdempotently) {
  add("alice");
  store_.reset();
  store_ = open();
  ASSERT_NE(store_, nullptr);
  auto alice = store_->find_user("alice");
  ASSERT_TRUE(alice.ok());
  ASSERT_TRUE(alice->has_value());
  EXPECT_EQ((*alice)->email, "alice@example.com");

  RawDb db(path_);
  EXPECT_EQ(db.one("PRAGMA user_version"), std::to_string(sqlite::schema_version()));
  EXPECT_EQ(db.one("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(db.one("SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = 'table' "
                   "ORDER BY name)"),
            "alert_outbox,api_tokens,audit,devices,event_counters,flows,identities,interfaces,keys,leases,login_requests,logout_tokens,"
            "memberships,sqlite_sequence,traffic_baselines,traffic_totals,users,web_sessions");
}

TEST_F(SqliteStoreTest, RefusesDatabaseFromNewerWgate) {
  store_.reset();
  RawDb(path_).exec("PRAGMA user_version = 99");
  auto s = open_sqlite_store(path_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr(path_));
  EXPECT_THAT(s.error().message, HasSubstr("schema version 99 is newer"));
  // Not even an explicit init touches it.
  auto init = open_sqlite_store(path_, StoreOpen::create);
  ASSERT_FALSE(init.ok());
  EXPECT_EQ(RawDb(path_).one("PRAGMA user_version"), "99");
}

TEST_F(SqliteStoreTest, OpeningAMissingStoreWithoutCreateFailsAndCreatesNothing) {
  const std::string missing = dir_ + "/typo.db";
  auto s = open_sqlite_store(missing);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("no store at '" + missing + "'"));
  EXPECT_THAT(s.error().message, HasSubstr("wgate init"));
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    EXPECT_FALSE(std::filesystem::exists(missing + suffix)) << missing + suffix;
  }
  // The store that does exist is still opened without create.
  EXPECT_NE(open(StoreOpen::existing), nullptr);
  auto empty = open_sqlite_store("");
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.error().message, HasSubstr("no path given"));
}

TEST_F(SqliteStoreTest, CreateNeedsAnExistingDirectory) {
  const std::string nested = dir_ + "/missing-dir/wgate.db";
  auto s = open_sqlite_store(nested, StoreOpen::create);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("missing-dir/wgate.db"));
  EXPECT_EQ(s.error().sys_errno, ENOENT);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/missing-dir"));
}

TEST_F(SqliteStoreTest, FilesAreMode0600EvenWithAPermissiveUmask) {
  store_.reset();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  const mode_t old_umask = umask(0);
  store_ = open(StoreOpen::create);
  umask(old_umask);
  ASSERT_NE(store_, nullptr);
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

// --- users and blocks ---------------------------------------------------------

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

  // Each user got their own block, lowest usable first (the block holding
  // the network address is skipped).
  EXPECT_EQ(block_of(bob.id), "10.100.0.4/30");
  EXPECT_EQ(block_of(alice.id), "10.100.0.8/30");
}

TEST_F(SqliteStoreTest, AddUserStoresGroupsInTheSameTransaction) {
  User alice = add("alice", 100, kPlan, {"ops", "dev"});
  auto memberships = store_->list_memberships();
  ASSERT_TRUE(memberships.ok());
  ASSERT_EQ(memberships->size(), 2u);
  EXPECT_EQ((*memberships)[0].user_id, alice.id);
  EXPECT_EQ((*memberships)[0].group, "dev");
  EXPECT_EQ((*memberships)[1].group, "ops");
  auto log = store_->audit_log(10);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 1u);  // one change, one record
  auto detail = nlohmann::json::parse((*log)[0].detail);
  EXPECT_EQ(detail["groups"], nlohmann::json::array({"dev", "ops"}));
  EXPECT_EQ(detail["block"], "10.100.0.4/30");
}

TEST_F(SqliteStoreTest, DuplicateOrEmptyGroupsStoreNothing) {
  for (const auto& groups : {std::vector<std::string>{"a", "a"}, std::vector<std::string>{"a", "b", "a"},
                             std::vector<std::string>{""}}) {
    auto r = store_->add_user(NewUser{"x", "", groups}, kPlan, 100, kRoot);
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.error().message, groups[0].empty() ? HasSubstr("must not be empty") : HasSubstr("given twice"));
  }
  auto dup = store_->add_user(NewUser{"x", "", {"a", "a"}}, kPlan, 100, kRoot);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message, "group 'a' is given twice");
  EXPECT_TRUE(store_->list_users()->empty());
  EXPECT_TRUE(store_->list_memberships()->empty());
  EXPECT_TRUE(store_->current_leases()->empty());
  EXPECT_TRUE(store_->audit_log(10)->empty());
}

TEST_F(SqliteStoreTest, DuplicateNameIsAnErrorAndLosesNothing) {
  User alice = add("alice", 100, kPlan, {"dev"});
  auto again = store_->add_user(NewUser{"alice", "other@example.com", {"ops"}}, kPlan, 300, kRoot);
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
  ASSERT_EQ(store_->list_memberships()->size(), 1u);
  EXPECT_THAT(audit_actions(), ElementsAre("user.add"));
}

TEST_F(SqliteStoreTest, DisableEndsLeaseAndEnableReturnsSameBlock) {
  User alice = add("alice", 100);
  User bob = add("bob", 100);
  ASSERT_EQ(block_of(alice.id), "10.100.0.4/30");

  ASSERT_TRUE(store_->set_user_disabled("alice", true, kPlan, 200, kRoot).ok());
  EXPECT_EQ(block_of(alice.id), "");
  EXPECT_TRUE((*store_->find_user("alice"))->disabled);
  auto again = store_->set_user_disabled("alice", true, kPlan, 210, kRoot);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "user 'alice' is already disabled");

  // A newcomer gets a never-used block, not alice's.
  User carol = add("carol", 300);
  EXPECT_EQ(block_of(carol.id), "10.100.0.12/30");

  ASSERT_TRUE(store_->set_user_disabled("alice", false, kPlan, 400, kRoot).ok());
  EXPECT_FALSE((*store_->find_user("alice"))->disabled);
  EXPECT_EQ(block_of(alice.id), "10.100.0.4/30");
  EXPECT_EQ(block_of(bob.id), "10.100.0.8/30");
  auto enabled = store_->set_user_disabled("alice", false, kPlan, 410, kRoot);
  ASSERT_FALSE(enabled.ok());
  EXPECT_EQ(enabled.error().message, "user 'alice' is already enabled");

  auto unknown = store_->set_user_disabled("dave", true, kPlan, 500, kRoot);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "no user 'dave'");
}

TEST_F(SqliteStoreTest, LeaseHistoryAnswersForEveryAddressOfABlock) {
  User alice = add("alice", 100, kSmallPlan);
  User bob = add("bob", 110, kSmallPlan);
  ASSERT_TRUE(store_->set_user_disabled("alice", true, kSmallPlan, 200, kRoot).ok());
  // Only alice's old block is free: carol gets it.
  User carol = add("carol", 300, kSmallPlan);
  EXPECT_EQ(block_of(carol.id), "10.100.0.4/30");

  for (const char* address : {"10.100.0.4", "10.100.0.6", "10.100.0.7"}) {
    auto history = store_->lease_history(ip(address));
    ASSERT_TRUE(history.ok());
    ASSERT_EQ(history->size(), 2u) << address;
    EXPECT_EQ((*history)[0].user_id, alice.id);
    EXPECT_EQ((*history)[0].block, pfx("10.100.0.4/30"));
    EXPECT_EQ((*history)[0].from, 100);
    EXPECT_EQ((*history)[0].until, std::optional<UnixTime>(200));
    EXPECT_TRUE((*history)[0].held_at(150));
    EXPECT_FALSE((*history)[0].held_at(250));
    EXPECT_EQ((*history)[1].user_id, carol.id);
    EXPECT_EQ((*history)[1].from, 300);
    EXPECT_TRUE((*history)[1].current());
  }
  auto bob_history = store_->lease_history(ip("10.100.0.9"));
  ASSERT_TRUE(bob_history.ok());
  ASSERT_EQ(bob_history->size(), 1u);
  EXPECT_EQ((*bob_history)[0].user_id, bob.id);
  for (const char* nobody : {"10.100.0.3", "10.100.0.12", "10.200.0.5", "fd00::5"}) {
    auto none = store_->lease_history(ip(nobody));
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->empty()) << nobody;
  }

  // Re-enabling alice now fails (pool full) and changes nothing.
  auto enable = store_->set_user_disabled("alice", false, kSmallPlan, 400, kRoot);
  ASSERT_FALSE(enable.ok());
  EXPECT_EQ(enable.error().message,
            "cannot enable user 'alice': address pool 10.100.0.0/28 is exhausted (2 blocks of 4 addresses, all "
            "leased)");
  EXPECT_TRUE((*store_->find_user("alice"))->disabled);
  EXPECT_EQ(block_of(alice.id), "");
}

TEST_F(SqliteStoreTest, PoolExhaustionLeavesNoPartialUser) {
  add("alice", 100, kSmallPlan);
  add("bob", 100, kSmallPlan);
  auto carol = store_->add_user(NewUser{"carol", "c@example.com", {"dev"}}, kSmallPlan, 200, kRoot);
  ASSERT_FALSE(carol.ok());
  EXPECT_EQ(carol.error().message,
            "cannot add user 'carol': address pool 10.100.0.0/28 is exhausted (2 blocks of 4 addresses, all leased)");
  auto found = store_->find_user("carol");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  EXPECT_EQ(store_->list_users()->size(), 2u);
  EXPECT_EQ(store_->current_leases()->size(), 2u);
  EXPECT_TRUE(store_->list_memberships()->empty());  // carol's membership was rolled back too
  EXPECT_THAT(audit_actions(), ElementsAre("user.add", "user.add"));
}

TEST_F(SqliteStoreTest, AFailingAuditWriteRollsBackTheWholeChange) {
  // The audit row is part of the change: when it cannot be written, the
  // change is not made either.
  add("alice");
  RawDb(path_).exec("CREATE TRIGGER broken_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit is "
                    "broken'); END;");
  auto bob = store_->add_user(NewUser{"bob", "", {"dev"}}, kPlan, 200, kRoot);
  ASSERT_FALSE(bob.ok());
  EXPECT_THAT(bob.error().message, HasSubstr("audit is broken"));
  auto disable = store_->set_user_disabled("alice", true, kPlan, 210, kRoot);
  ASSERT_FALSE(disable.ok());
  ASSERT_FALSE(store_->add_membership("alice", "dev", kRoot, 220).ok());

  EXPECT_FALSE(store_->find_user("bob")->has_value());
  EXPECT_FALSE((*store_->find_user("alice"))->disabled);
  EXPECT_EQ(store_->current_leases()->size(), 1u);
  EXPECT_TRUE(store_->list_memberships()->empty());
  RawDb(path_).exec("DROP TRIGGER broken_audit");
  // The store is usable afterwards (no transaction left open).
  EXPECT_TRUE(store_->add_membership("alice", "dev", kRoot, 230).ok());
  EXPECT_THAT(audit_actions(), ElementsAre("user.add", "membership.add"));
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
  auto empty = store_->add_membership("alice", "", kRoot, 210);
  ASSERT_FALSE(empty.ok());

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
  EXPECT_EQ(std::count_if(list->begin(), list->end(), [&](const Membership& m) { return m.user_id == bob.id; }), 1);
}

// --- devices and keys ------------------------------------------------------------

TEST_F(SqliteStoreTest, AddsListsAndRevokesKeys) {
  User alice = add("alice");
  add("bob");
  auto not_member = add_key("alice", "laptop", 1);
  ASSERT_FALSE(not_member.ok());
  EXPECT_EQ(not_member.error().message, "user 'alice' is not a member of group 'dev'");
  EXPECT_TRUE(store_->list_devices(true)->empty());  // the failed add made no device

  for (const char* who : {"alice", "bob"}) ASSERT_TRUE(store_->add_membership(who, "dev", kRoot, 150).ok());
  ASSERT_TRUE(store_->add_membership("alice", "ops", kRoot, 150).ok());
  auto k1 = add_key("alice", "laptop", 1, 200, "dev", 4, 1000);
  ASSERT_TRUE(k1.ok()) << k1.error().message;
  EXPECT_EQ(k1->user_id, alice.id);
  EXPECT_GT(k1->device_id, 0);
  auto k2 = add_key("alice", "phone", 2, 210);
  ASSERT_TRUE(k2.ok());
  EXPECT_NE(k1->id, k2->id);
  EXPECT_NE(k1->device_id, k2->device_id);
  // A device may use any group its person is in.
  auto other_group = add_key("alice", "tablet", 4, 220, "ops");
  ASSERT_TRUE(other_group.ok()) << other_group.error().message;

  auto dup = add_key("bob", "stolen", 1, 220);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message, "key " + test_key(1).to_base64() + " is already registered to user 'alice' (key " +
                                     std::to_string(k1->id) + ")");
  auto no_user = add_key("zed", "default", 3, 220);
  ASSERT_FALSE(no_user.ok());
  EXPECT_EQ(no_user.error().message, "no user 'zed'");
  auto no_group = add_key("alice", "laptop", 3, 220, "");
  ASSERT_FALSE(no_group.ok());

  auto keys = store_->list_keys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 3u);
  const Key& first = (*keys)[0];
  EXPECT_EQ(first.id, k1->id);
  EXPECT_EQ(first.device_id, k1->device_id);
  EXPECT_EQ(first.group, "dev");
  EXPECT_EQ(first.public_key, test_key(1));
  EXPECT_EQ(first.created_at, 200);
  EXPECT_EQ(first.expires_at, 1000);
  EXPECT_FALSE(first.revoked_at);
  EXPECT_FALSE(first.last_handshake_at);
  EXPECT_EQ(first.state_at(999), KeyState::never_used);
  EXPECT_EQ(first.state_at(1000), KeyState::expired);

  ASSERT_TRUE(store_->revoke_key(k1->id, 500, kRoot).ok());
  auto found = store_->find_key(k1->id);
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->revoked_at, std::optional<UnixTime>(500));
  EXPECT_FALSE((*found)->active_at(501));
  EXPECT_EQ((*found)->state_at(501), KeyState::revoked);

  auto twice = store_->revoke_key(k1->id, 600, kRoot);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message, "key " + std::to_string(k1->id) + " is already revoked");
  auto unknown = store_->revoke_key(999, 600, kRoot);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "no key 999");
  EXPECT_EQ((*store_->find_key(k1->id))->revoked_at, std::optional<UnixTime>(500));  // unchanged
  EXPECT_FALSE(store_->find_key(999)->has_value());

  // A revoked key cannot be registered again, not even by its owner.
  auto reuse = add_key("bob", "default", 1, 700);
  ASSERT_FALSE(reuse.ok());
  EXPECT_THAT(reuse.error().message, HasSubstr("revoked"));
  auto reuse_own = add_key("alice", "laptop", 1, 700);
  ASSERT_FALSE(reuse_own.ok());
  EXPECT_THAT(reuse_own.error().message, HasSubstr("revoked"));
}

TEST_F(SqliteStoreTest, ADisabledUserGetsNoKey) {
  add("alice", 100, kPlan, {"dev"});
  ASSERT_TRUE(store_->set_user_disabled("alice", true, kPlan, 150, kRoot).ok());
  auto k = add_key("alice", "laptop", 1);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().message, "user 'alice' is disabled");
  EXPECT_TRUE(store_->list_keys()->empty());
  EXPECT_TRUE(store_->list_devices(true)->empty());
}

TEST_F(SqliteStoreTest, TwoDevicesGetDistinctSlotsAndKeepThemAcrossNewKeys) {
  User alice = add("alice", 100, kPlan, {"dev", "ops"});
  const Prefix block = pfx(block_of(alice.id).c_str());
  auto laptop_key = add_key("alice", "laptop", 1, 200);
  auto phone_key = add_key("alice", "phone", 2, 210, "ops");
  ASSERT_TRUE(laptop_key.ok() && phone_key.ok());
  auto laptop = device(alice.id, "laptop");
  auto phone = device(alice.id, "phone");
  ASSERT_TRUE(laptop && phone);
  EXPECT_EQ(laptop->slot, 0u);
  EXPECT_EQ(phone->slot, 1u);
  EXPECT_EQ(laptop->created_at, 200);
  EXPECT_EQ(laptop_key->device_id, laptop->id);
  EXPECT_EQ(phone_key->device_id, phone->id);
  // Distinct addresses, both inside the person's block.
  EXPECT_EQ(device_address(block, laptop->slot), ip("10.100.0.4"));
  EXPECT_EQ(device_address(block, phone->slot), ip("10.100.0.5"));

  // A renewed key for the laptop: same device, same slot, same address.
  ASSERT_TRUE(store_->revoke_key(laptop_key->id, 300, kRoot).ok());
  auto renewed = add_key("alice", "laptop", 3, 310);
  ASSERT_TRUE(renewed.ok()) << renewed.error().message;
  EXPECT_EQ(renewed->device_id, laptop->id);
  auto laptop_again = device(alice.id, "laptop");
  ASSERT_TRUE(laptop_again);
  EXPECT_EQ(laptop_again->slot, 0u);
  EXPECT_EQ(store_->list_devices(true)->size(), 2u);

  // The audit says which device and slot a key went to.
  auto log = store_->audit_log(1);
  ASSERT_TRUE(log.ok());
  auto detail = nlohmann::json::parse(log->back().detail);
  EXPECT_EQ(detail["device"], "laptop");
  EXPECT_EQ(detail["slot"], 0);
  EXPECT_EQ(detail["new_device"], false);

  // Another person's devices start at slot 0 of their own block.
  User bob = add("bob", 400, kPlan, {"dev"});
  ASSERT_TRUE(add_key("bob", "laptop", 9, 410).ok());
  EXPECT_EQ(device(bob.id, "laptop")->slot, 0u);
}

TEST_F(SqliteStoreTest, SlotExhaustionIsAClearErrorAndStoresNothing) {
  add("alice", 100, kPlan, {"dev"});
  ASSERT_TRUE(add_key("alice", "laptop", 1, 200, "dev", 2).ok());
  ASSERT_TRUE(add_key("alice", "phone", 2, 210, "dev", 2).ok());
  const size_t audit_before = audit_actions().size();
  auto third = add_key("alice", "tablet", 3, 220, "dev", 2);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().message,
            "user 'alice' already has 2 devices, all the addresses of their block (pool.per_user = 2); remove one "
            "first (wgate device remove alice <device>)");
  EXPECT_EQ(store_->list_keys()->size(), 2u);
  EXPECT_EQ(store_->list_devices(true)->size(), 2u);
  EXPECT_EQ(audit_actions().size(), audit_before);
  // A new key for an existing device needs no slot.
  EXPECT_TRUE(add_key("alice", "phone", 4, 230, "dev", 2).ok());
}

TEST_F(SqliteStoreTest, RemoveDeviceRevokesItsKeysAndFreesTheSlot) {
  User alice = add("alice", 100, kPlan, {"dev"});
  auto k1 = add_key("alice", "laptop", 1, 200);
  auto k2 = add_key("alice", "laptop", 2, 210);
  auto k3 = add_key("alice", "phone", 3, 220);
  ASSERT_TRUE(k1.ok() && k2.ok() && k3.ok());
  ASSERT_TRUE(store_->revoke_key(k1->id, 230, kRoot).ok());
  const int64_t laptop_id = k1->device_id;

  ASSERT_TRUE(store_->remove_device("alice", "laptop", 300, kRoot).ok());
  // Its active key is revoked now; the one revoked earlier keeps its time.
  EXPECT_EQ((*store_->find_key(k1->id))->revoked_at, std::optional<UnixTime>(230));
  EXPECT_EQ((*store_->find_key(k2->id))->revoked_at, std::optional<UnixTime>(300));
  EXPECT_FALSE((*store_->find_key(k3->id))->revoked_at);

  auto current = store_->list_devices(false);
  ASSERT_TRUE(current.ok());
  ASSERT_EQ(current->size(), 1u);
  EXPECT_EQ((*current)[0].name, "phone");
  auto all = store_->list_devices(true);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  auto removed = std::find_if(all->begin(), all->end(), [&](const Device& d) { return d.id == laptop_id; });
  ASSERT_NE(removed, all->end());
  EXPECT_EQ(removed->removed_at, std::optional<UnixTime>(300));
  EXPECT_FALSE(removed->current());
  EXPECT_TRUE(removed->existed_at(299));
  EXPECT_FALSE(removed->existed_at(300));
  auto snap = store_->snapshot();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->devices.size(), 1u);  // the snapshot holds current devices only

  // The freed slot 0 goes to the next new device; the name is free again
  // and makes a new device, not the old one back.
  auto tablet = add_key("alice", "tablet", 4, 400);
  ASSERT_TRUE(tablet.ok());
  EXPECT_EQ(device(alice.id, "tablet")->slot, 0u);
  auto laptop_again = add_key("alice", "laptop", 5, 410);
  ASSERT_TRUE(laptop_again.ok());
  EXPECT_NE(laptop_again->device_id, laptop_id);
  EXPECT_EQ(device(alice.id, "laptop")->slot, 2u);

  auto log = store_->audit_log(100);
  ASSERT_TRUE(log.ok());
  auto entry = std::find_if(log->begin(), log->end(), [](const AuditRecord& r) { return r.action == "device.remove"; });
  ASSERT_NE(entry, log->end());
  EXPECT_EQ(entry->subject, "alice");
  auto detail = nlohmann::json::parse(entry->detail);
  EXPECT_EQ(detail["device"], "laptop");
  EXPECT_EQ(detail["slot"], 0);
  EXPECT_EQ(detail["keys_revoked"], 1);

  const size_t audit_before = log->size();
  auto twice = store_->remove_device("alice", "printer", 500, kRoot);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message, "user 'alice' has no device 'printer'");
  auto no_user = store_->remove_device("zed", "laptop", 500, kRoot);
  ASSERT_FALSE(no_user.ok());
  EXPECT_EQ(no_user.error().message, "no user 'zed'");
  EXPECT_EQ(audit_actions().size(), audit_before);
}

TEST_F(SqliteStoreTest, RejectsBadDeviceNamesAndStoresNothing) {
  add("alice", 100, kPlan, {"dev"});
  for (const char* name : {"", "has space", "semi;colon", "a/b", "new\nline"}) {
    auto k = add_key("alice", name, 1);
    ASSERT_FALSE(k.ok()) << name;
    EXPECT_THAT(k.error().message, HasSubstr("not a valid device name"));
  }
  EXPECT_TRUE(store_->list_devices(true)->empty());
  EXPECT_TRUE(store_->list_keys()->empty());
}

TEST_F(SqliteStoreTest, ConcurrentDeviceAddsNeverShareASlot) {
  // Two connections add devices for the same person at once: the slot is
  // chosen inside the write transaction, so exactly per_user devices get
  // one and the others get the clear error (no constraint failure).
  add("alice", 100, kPlan, {"dev"});
  std::mutex mu;
  std::vector<std::string> errors;
  int added = 0;
  auto writer = [&](const std::string& prefix, uint8_t seed) {
    auto s = open_sqlite_store(path_);
    if (!s.ok()) {
      std::lock_guard lock(mu);
      errors.push_back(s.error().message);
      return;
    }
    for (int i = 0; i < 3; ++i) {
      auto k = (*s)->add_key(NewKey{"alice", prefix + std::to_string(i), "dev", test_key(seed + i), 0}, 4, 200,
                             kRoot);
      std::lock_guard lock(mu);
      if (k.ok()) {
        ++added;
      } else {
        errors.push_back(k.error().message);
      }
    }
  };
  std::thread a(writer, "a", 10);
  std::thread b(writer, "b", 20);
  a.join();
  b.join();
  EXPECT_EQ(added, 4);
  ASSERT_EQ(errors.size(), 2u);
  for (const auto& e : errors) EXPECT_THAT(e, HasSubstr("already has 4 devices"));
  auto devices = store_->list_devices(false);
  ASSERT_TRUE(devices.ok());
  std::set<uint32_t> slots;
  for (const auto& d : *devices) slots.insert(d.slot);
  EXPECT_EQ(slots, (std::set<uint32_t>{0, 1, 2, 3}));
}

TEST_F(SqliteStoreTest, ManyWritersOfOneProcessAllGetTheirTurn) {
  // The web part's request threads write through connections of their own.
  // They queue in the process for the write lock (sqlite_db.h), so none
  // gives up with "database is locked" while the others keep it busy.
  const AddressPlan plan{pfx("10.100.0.0/20"), 4};
  constexpr int kThreads = 8;
  constexpr int kAddsEach = 25;
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto s = open_sqlite_store(path_);
      if (!s.ok()) {
        std::lock_guard lock(mu);
        errors.push_back(s.error().message);
        return;
      }
      for (int i = 0; i < kAddsEach; ++i) {
        const std::string name = "p" + std::to_string(t) + "-" + std::to_string(i);
        auto u = (*s)->add_user(NewUser{name, "", {"dev"}}, plan, 100, kRoot);
        if (!u.ok()) {
          std::lock_guard lock(mu);
          errors.push_back(u.error().message);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_THAT(errors, ::testing::IsEmpty());
  auto leases = store_->current_leases();
  ASSERT_TRUE(leases.ok());
  std::set<std::string> blocks;
  for (const Lease& l : *leases) blocks.insert(l.block.to_string());
  EXPECT_EQ(blocks.size(), static_cast<size_t>(kThreads * kAddsEach));
}

TEST_F(SqliteStoreTest, RecordsOnlyNewerHandshakes) {
  add("alice");
  ASSERT_TRUE(store_->add_membership("alice", "dev", kRoot, 150).ok());
  auto k1 = add_key("alice", "laptop", 1);
  auto k2 = add_key("alice", "phone", 2);
  ASSERT_TRUE(k1.ok() && k2.ok());
  ASSERT_TRUE(store_->record_handshakes({{k1->id, 1000}, {k2->id, 2000}, {424242, 5}}).ok());
  ASSERT_TRUE(store_->record_handshakes({{k1->id, 900}, {k2->id, 2500}}).ok());
  EXPECT_EQ((*store_->find_key(k1->id))->last_handshake_at, std::optional<UnixTime>(1000));
  EXPECT_EQ((*store_->find_key(k2->id))->last_handshake_at, std::optional<UnixTime>(2500));
  EXPECT_EQ((*store_->find_key(k1->id))->state_at(1500), KeyState::active);
  // Observations are not audited.
  EXPECT_THAT(audit_actions(), ElementsAre("user.add", "membership.add", "key.add", "key.add"));
}

// --- audit -------------------------------------------------------------------------

TEST_F(SqliteStoreTest, EveryChangeIsAudited) {
  add("alice", 100);
  ASSERT_TRUE(store_->add_membership("alice", "dev", kRoot, 110).ok());
  auto key = store_->add_key(NewKey{"alice", "laptop", "dev", test_key(7), 0}, 4, 120, Actor{"agent"});
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(store_->revoke_key(key->id, 130, kRoot).ok());
  ASSERT_TRUE(store_->remove_membership("alice", "dev", kRoot, 140).ok());
  ASSERT_TRUE(store_->set_user_disabled("alice", true, kPlan, 150, kRoot).ok());
  ASSERT_TRUE(store_->set_user_disabled("alice", false, kPlan, 160, kRoot).ok());
  ASSERT_TRUE(store_->remove_device("alice", "laptop", 170, kRoot).ok());
  // Failed changes leave no audit rows.
  ASSERT_FALSE(store_->revoke_key(key->id, 180, kRoot).ok());
  ASSERT_FALSE(store_->remove_device("alice", "laptop", 180, kRoot).ok());

  auto log = store_->audit_log(100);
  ASSERT_TRUE(log.ok());
  std::vector<std::string> actions;
  for (const auto& r : *log) actions.push_back(r.action);
  EXPECT_THAT(actions, ElementsAre("user.add", "membership.add", "key.add", "key.revoke", "membership.remove",
                                   "user.disable", "user.enable", "device.remove"));
  for (const auto& r : *log) {
    EXPECT_EQ(r.subject, "alice");
    EXPECT_TRUE(nlohmann::json::accept(r.detail)) << r.detail;
  }
  EXPECT_EQ((*log)[0].at, 100);
  EXPECT_EQ((*log)[0].actor, "cli:root");
  EXPECT_EQ((*log)[2].actor, "agent");
  auto add_detail = nlohmann::json::parse((*log)[0].detail);
  EXPECT_EQ(add_detail["block"], "10.100.0.4/30");
  EXPECT_EQ(add_detail["email"], "alice@example.com");
  auto key_detail = nlohmann::json::parse((*log)[2].detail);
  EXPECT_EQ(key_detail["public_key"], test_key(7).to_base64());
  EXPECT_EQ(key_detail["key_id"], key->id);
  EXPECT_EQ(key_detail["device"], "laptop");
  EXPECT_EQ(key_detail["new_device"], true);
  EXPECT_EQ(nlohmann::json::parse((*log)[5].detail)["released"], "10.100.0.4/30");
  EXPECT_EQ(nlohmann::json::parse((*log)[6].detail)["block"], "10.100.0.4/30");

  // The limit keeps the newest records, still oldest first.
  auto tail = store_->audit_log(2);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].action, "user.enable");
  EXPECT_EQ((*tail)[1].action, "device.remove");
}

TEST_F(SqliteStoreTest, AuditDetailEscapesText) {
  ASSERT_TRUE(store_->add_user(NewUser{"q", "\"odd\"\\ \xc3\xa9@x", {}}, kPlan, 1, kRoot).ok());
  auto log = store_->audit_log(1);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 1u);
  auto detail = nlohmann::json::parse((*log)[0].detail);
  EXPECT_EQ(detail["email"], "\"odd\"\\ \xc3\xa9@x");
}

TEST_F(SqliteStoreTest, RejectsBadNamesAndTextAndStoresNothing) {
  for (const char* name : {"", "has space", "semi;colon", "new\nline"}) {
    auto r = store_->add_user(NewUser{name, "", {}}, kPlan, 1, kRoot);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_THAT(r.error().message, HasSubstr("not a valid user name"));
  }
  for (const char* email : {"ctl\x01@x", "bad\xff@x", "over\xc0\xafl@x"}) {
    auto r = store_->add_user(NewUser{"ok", email, {}}, kPlan, 1, kRoot);
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.error().message, HasSubstr("email"));
  }
  EXPECT_TRUE(store_->list_users()->empty());
  EXPECT_TRUE(store_->current_leases()->empty());
  EXPECT_TRUE(store_->audit_log(10)->empty());
}

// --- connections ------------------------------------------------------------------

TEST_F(SqliteStoreTest, ChangeTokenSeesCommitsFromAnotherConnection) {
  auto other = open();
  ASSERT_NE(other, nullptr);
  auto t1 = store_->change_token();
  ASSERT_TRUE(t1.ok());
  EXPECT_EQ(*store_->change_token(), *t1);  // stable while nothing changes

  // The second Store (as the CLI would) writes; the first sees it.
  auto bob = other->add_user(NewUser{"bob", "", {}}, kPlan, 100, kRoot);
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
  auto t4 = store_->change_token();
  EXPECT_NE(*t4, *t3);
  // And a device removal.
  ASSERT_TRUE(other->add_key(NewKey{"bob", "laptop", "dev", test_key(1), 0}, 4, 210, kRoot).ok());
  auto t5 = store_->change_token();
  EXPECT_NE(*t5, *t4);
  ASSERT_TRUE(other->remove_device("bob", "laptop", 220, kRoot).ok());
  EXPECT_NE(*store_->change_token(), *t5);

  // And both see the same data.
  auto snap = store_->snapshot();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->users.size(), 2u);
  EXPECT_EQ(snap->current_leases.size(), 2u);
  EXPECT_EQ(snap->memberships.size(), 1u);
  EXPECT_EQ(snap->keys.size(), 1u);
  EXPECT_TRUE(snap->devices.empty());
}

TEST_F(SqliteStoreTest, ConcurrentWritersFromTwoConnectionsNeverClash) {
  // Two connections (as the CLI and the daemon) add users at the same time:
  // the write lock plus busy_timeout serialise them, and IPAM inside each
  // transaction keeps blocks unique.
  auto writer = [this](const std::string& prefix, std::vector<std::string>* errors) {
    auto s = open_sqlite_store(path_);
    if (!s.ok()) {
      errors->push_back(s.error().message);
      return;
    }
    for (int i = 0; i < 25; ++i) {
      auto u = (*s)->add_user(NewUser{prefix + std::to_string(i), "", {"dev"}}, kPlan, i, kRoot);
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
  std::set<Prefix> blocks;
  for (const auto& l : *leases) {
    EXPECT_TRUE(block_fits(l.block, kPlan.pool, kPlan.per_user)) << l.block.to_string();
    blocks.insert(l.block);
  }
  EXPECT_EQ(blocks.size(), 50u);
  EXPECT_EQ(*blocks.rbegin(), pfx("10.100.0.200/30"));  // blocks 1..50, no gap
  EXPECT_EQ(store_->list_memberships()->size(), 50u);
}

TEST_F(SqliteStoreTest, SnapshotHoldsUsersMembershipsDevicesKeysAndCurrentLeases) {
  User alice = add("alice");
  add("bob");
  ASSERT_TRUE(store_->add_membership("alice", "dev", kRoot, 110).ok());
  ASSERT_TRUE(add_key("alice", "laptop", 1, 120).ok());
  ASSERT_TRUE(store_->set_user_disabled("bob", true, kPlan, 130, kRoot).ok());

  auto snap = store_->snapshot();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->users.size(), 2u);
  EXPECT_TRUE(snap->users[1].disabled);
  ASSERT_EQ(snap->memberships.size(), 1u);
  EXPECT_EQ(snap->memberships[0].group, "dev");
  ASSERT_EQ(snap->devices.size(), 1u);
  EXPECT_EQ(snap->devices[0].name, "laptop");
  EXPECT_EQ(snap->devices[0].user_id, alice.id);
  ASSERT_EQ(snap->keys.size(), 1u);
  EXPECT_EQ(snap->keys[0].public_key, test_key(1));
  EXPECT_EQ(snap->keys[0].device_id, snap->devices[0].id);
  ASSERT_EQ(snap->current_leases.size(), 1u);  // bob's ended lease is history
  EXPECT_EQ(snap->current_leases[0].user_id, alice.id);
  EXPECT_EQ(snap->current_leases[0].block, pfx("10.100.0.4/30"));
}

TEST_F(SqliteStoreTest, Ipv6BlocksAreStoredWithTheirLength) {
  auto u = store_->add_user(NewUser{"v6", "", {}}, AddressPlan{pfx("fd00:1::/64"), 4}, 1, kRoot);
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(block_of(u->id), "fd00:1::4/126");
  auto history = store_->lease_history(ip("fd00:1::6"));
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ(history->front().block.family(), IpFamily::v6);
  EXPECT_TRUE(store_->lease_history(ip("10.100.0.6"))->empty());
}

// --- interfaces the agent created ------------------------------------------------

TEST_F(SqliteStoreTest, RecordsAndForgetsManagedInterfaces) {
  const Actor agent{"agent"};
  ASSERT_TRUE(store_->record_interface("wg-ops", 100, agent).ok());
  ASSERT_TRUE(store_->record_interface("wg-dev", 110, agent).ok());
  ASSERT_TRUE(store_->record_interface("wg-dev", 120, agent).ok());  // already known: no change
  auto names = store_->managed_interfaces();
  ASSERT_TRUE(names.ok());
  EXPECT_THAT(*names, ElementsAre("wg-dev", "wg-ops"));

  ASSERT_TRUE(store_->forget_interface("wg-ops", 200, agent).ok());
  ASSERT_TRUE(store_->forget_interface("wg-never", 210, agent).ok());  // unknown: no change
  EXPECT_THAT(*store_->managed_interfaces(), ElementsAre("wg-dev"));
  EXPECT_THAT(audit_actions(), ElementsAre("interface.create", "interface.create", "interface.remove"));
  // Another connection sees them (the daemon after a restart).
  store_.reset();
  store_ = open();
  EXPECT_THAT(*store_->managed_interfaces(), ElementsAre("wg-dev"));
}

// --- moving leases when the pool or per_user changes -----------------------------

TEST_F(SqliteStoreTest, RelocateMovesOnlyLeasesThatDoNotFit) {
  const AddressPlan singles{pfx("10.100.0.0/24"), 1};
  User alice = add("alice", 100, singles);  // .1
  User bob = add("bob", 110, singles);      // .2
  User carol = add("carol", 120, singles);  // .3
  ASSERT_EQ(block_of(bob.id), "10.100.0.2/32");
  EXPECT_TRUE(store_->relocate_leases(singles, 150, kRoot)->empty());  // everything fits

  auto moves = store_->relocate_leases(kPlan, 200, kRoot);
  ASSERT_TRUE(moves.ok()) << moves.error().message;
  ASSERT_EQ(moves->size(), 3u);
  // In user id order; .1-.3 lie in the reserved block, so each gets a new one.
  EXPECT_EQ((*moves)[0].user, "alice");
  EXPECT_EQ((*moves)[0].from, pfx("10.100.0.1/32"));
  EXPECT_EQ((*moves)[0].to, pfx("10.100.0.4/30"));
  EXPECT_EQ((*moves)[1].user, "bob");
  EXPECT_EQ((*moves)[1].to, pfx("10.100.0.8/30"));
  EXPECT_EQ((*moves)[2].user, "carol");
  EXPECT_EQ((*moves)[2].to, pfx("10.100.0.12/30"));
  EXPECT_EQ(block_of(alice.id), "10.100.0.4/30");
  EXPECT_EQ(block_of(carol.id), "10.100.0.12/30");

  // History keeps the old leases, ended at the move.
  auto old = store_->lease_history(ip("10.100.0.2"));
  ASSERT_TRUE(old.ok());
  ASSERT_EQ(old->size(), 1u);
  EXPECT_EQ((*old)[0].user_id, bob.id);
  EXPECT_EQ((*old)[0].until, std::optional<UnixTime>(200));

  auto log = store_->audit_log(3);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 3u);
  for (const auto& r : *log) EXPECT_EQ(r.action, "lease.move");
  EXPECT_EQ((*log)[1].subject, "bob");
  auto detail = nlohmann::json::parse((*log)[1].detail);
  EXPECT_EQ(detail["from"], "10.100.0.2/32");
  EXPECT_EQ(detail["to"], "10.100.0.8/30");
  EXPECT_EQ(detail["per_user"], 4);

  // A second run finds nothing to move and writes nothing.
  const size_t audit_before = audit_actions().size();
  EXPECT_TRUE(store_->relocate_leases(kPlan, 300, kRoot)->empty());
  EXPECT_EQ(audit_actions().size(), audit_before);
}

TEST_F(SqliteStoreTest, RelocateKeepsTheBlockAroundTheOldAddressAndDisabledUsersAlone) {
  const AddressPlan singles{pfx("10.100.0.0/24"), 1};
  std::vector<User> users;
  for (int i = 0; i < 9; ++i) users.push_back(add("u" + std::to_string(i), 100 + i, singles));  // .1 .. .9
  ASSERT_EQ(block_of(users[8].id), "10.100.0.9/32");
  ASSERT_TRUE(store_->set_user_disabled("u0", true, singles, 150, kRoot).ok());
  auto moves = store_->relocate_leases(kPlan, 200, kRoot);
  ASSERT_TRUE(moves.ok()) << moves.error().message;
  EXPECT_EQ(moves->size(), 8u);  // u0 holds no lease
  // u3 (.4) returns to the block around .4 first; u4 (.5), u5, u6 found it
  // taken and got the lowest never-used blocks.
  EXPECT_EQ(block_of(users[3].id), "10.100.0.4/30");
  EXPECT_EQ(block_of(users[7].id), "10.100.0.8/30");
  EXPECT_EQ(block_of(users[0].id), "");
  std::set<std::string> blocks;
  for (const auto& u : users) {
    if (u.id != users[0].id) blocks.insert(block_of(u.id));
  }
  EXPECT_EQ(blocks.size(), 8u);
  for (const auto& b : blocks) EXPECT_TRUE(block_fits(pfx(b.c_str()), kPlan.pool, kPlan.per_user)) << b;
}

TEST_F(SqliteStoreTest, RelocateToAPoolTooSmallChangesNothing) {
  add("alice", 100);
  add("bob", 110);
  add("carol", 120);
  const AddressPlan tiny{pfx("10.200.0.0/28"), 4};  // two blocks for three people
  auto moves = store_->relocate_leases(tiny, 200, kRoot);
  ASSERT_FALSE(moves.ok());
  EXPECT_THAT(moves.error().message, HasSubstr("moving the address block of user 'carol'"));
  EXPECT_THAT(moves.error().message, HasSubstr("10.200.0.0/28 is exhausted"));
  auto leases = store_->current_leases();
  ASSERT_TRUE(leases.ok());
  ASSERT_EQ(leases->size(), 3u);
  for (const auto& l : *leases) EXPECT_TRUE(kPlan.pool.contains(l.block)) << l.block.to_string();
  EXPECT_THAT(audit_actions(), ElementsAre("user.add", "user.add", "user.add"));
}

// --- migration from schema version 1 --------------------------------------------

// The schema of version 1 as it shipped (kMigrations[0] in sqlite_schema.cpp).
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE users (
  id         INTEGER PRIMARY KEY,
  name       TEXT    NOT NULL UNIQUE,
  email      TEXT    NOT NULL DEFAULT '',
  disabled   INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  created_at INTEGER NOT NULL
);
CREATE TABLE memberships (
  user_id    INTEGER NOT NULL REFERENCES users(id),
  group_name TEXT    NOT NULL,
  PRIMARY KEY (user_id, group_name)
);
CREATE TABLE keys (
  id                INTEGER PRIMARY KEY,
  user_id           INTEGER NOT NULL REFERENCES users(id),
  group_name        TEXT    NOT NULL,
  public_key        TEXT    NOT NULL UNIQUE,  -- base64
  label             TEXT    NOT NULL DEFAULT '',
  created_at        INTEGER NOT NULL,
  expires_at        INTEGER NOT NULL DEFAULT 0,  -- 0: never
  revoked_at        INTEGER,
  last_handshake_at INTEGER
);
CREATE INDEX keys_by_user ON keys(user_id);
CREATE TABLE leases (
  id       INTEGER PRIMARY KEY,
  user_id  INTEGER NOT NULL REFERENCES users(id),
  address  TEXT    NOT NULL,  -- canonical text form (inet_ntop)
  family   INTEGER NOT NULL CHECK (family IN (4, 6)),
  from_ts  INTEGER NOT NULL,
  until_ts INTEGER
);
CREATE UNIQUE INDEX leases_current_address ON leases(address) WHERE until_ts IS NULL;
CREATE UNIQUE INDEX leases_current_user ON leases(user_id, family) WHERE until_ts IS NULL;
CREATE INDEX leases_by_address ON leases(address, from_ts);
CREATE TABLE audit (
  id      INTEGER PRIMARY KEY,
  at      INTEGER NOT NULL,
  actor   TEXT    NOT NULL,
  action  TEXT    NOT NULL,
  subject TEXT    NOT NULL,
  detail  TEXT    NOT NULL DEFAULT '{}'  -- JSON object
);
PRAGMA user_version = 1;
)sql";

class MigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/wgate-migration-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/wgate.db";
    // A store as wgate 0.1 left it: one address per person (/32 leases,
    // some ended), keys with labels, one group per person.
    RawDb db(path_);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(kSchemaV1);
    db.exec(
        "INSERT INTO users (id, name, email, disabled, created_at) VALUES "
        "(1, 'alice', 'alice@example.com', 0, 100), (2, 'bob', '', 0, 110), (3, 'carol', '', 0, 120), "
        "(4, 'dave', '', 1, 130);"
        "INSERT INTO memberships VALUES (1, 'dev'), (2, 'dev'), (3, 'ops'), (4, 'dev');");
    std::string keys = "INSERT INTO keys (id, user_id, group_name, public_key, label, created_at, expires_at, "
                       "revoked_at, last_handshake_at) VALUES ";
    auto key = [&](int id, int user, const char* label, int created, const char* revoked) {
      keys += std::string(id > 1 ? ", " : "") + "(" + std::to_string(id) + ", " + std::to_string(user) + ", '" +
              (user == 3 ? "ops" : "dev") + "', '" + test_key(static_cast<uint8_t>(id)).to_base64() + "', '" + label +
              "', " + std::to_string(created) + ", 0, " + revoked + ", NULL)";
    };
    key(1, 1, "laptop", 200, "300");   // alice's first laptop key, revoked
    key(2, 1, "laptop", 310, "NULL");  // its renewal
    key(3, 1, "phone", 250, "NULL");
    key(4, 1, "", 400, "NULL");        // unlabeled
    key(5, 2, "", 210, "NULL");        // bob: two unlabeled keys
    key(6, 2, "", 220, "NULL");
    key(7, 3, "work", 230, "NULL");
    key(8, 4, "old", 140, "NULL");     // dave, disabled since 500
    key(9, 1, "old-phone", 120, "180");  // alice's first device, long given up
    db.exec(keys);
    db.exec(
        "INSERT INTO leases (id, user_id, address, family, from_ts, until_ts) VALUES "
        "(1, 1, '10.100.0.1', 4, 100, NULL),"
        "(2, 2, '10.100.0.2', 4, 110, 150),"   // bob disabled at 150 ...
        "(3, 4, '10.100.0.3', 4, 130, 500),"   // dave held .3 until 500
        "(4, 2, '10.100.0.2', 4, 160, NULL),"  // ... and enabled at 160, same address
        "(5, 3, '10.100.0.3', 4, 600, NULL),"  // carol got dave's old address
        "(6, 3, '10.100.0.9', 4, 120, 600);"   // carol's first address
        "INSERT INTO audit (at, actor, action, subject, detail) VALUES (100, 'cli:root', 'user.add', 'alice', '{}'),"
        "(500, 'cli:root', 'user.disable', 'dave', '{}');");
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

TEST_F(MigrationTest, Version1BecomesDevicesAndBlocksWithoutLosingHistory) {
  auto opened = open_sqlite_store(path_);  // an existing store needs no create
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  store_ = std::move(opened).value();
  {
    RawDb db(path_);
    EXPECT_EQ(db.one("PRAGMA user_version"), std::to_string(sqlite::schema_version()));  // the newest
    // Every lease row is still there, unchanged, now a /32 block.
    EXPECT_THAT(db.rows("SELECT id, user_id, address, prefix_len, from_ts, until_ts FROM leases ORDER BY id"),
                ElementsAre("1|1|10.100.0.1|32|100|null", "2|2|10.100.0.2|32|110|150", "3|4|10.100.0.3|32|130|500",
                            "4|2|10.100.0.2|32|160|null", "5|3|10.100.0.3|32|600|null",
                            "6|3|10.100.0.9|32|120|600"));
    EXPECT_EQ(db.one("SELECT count(*) FROM audit"), "2");
    EXPECT_EQ(db.one("SELECT count(*) FROM keys WHERE device_id IS NULL"), "0");
  }

  // Devices from labels, in the order their first key appeared; unlabeled
  // keys share "default". Each device starts with its first key.
  auto devices = store_->list_devices(true);
  ASSERT_TRUE(devices.ok());
  std::map<std::pair<int64_t, std::string>, Device> by_name;
  for (const auto& d : *devices) by_name[{d.user_id, d.name}] = d;
  ASSERT_EQ(devices->size(), 7u);
  // A device whose keys were all revoked was given up: it is recorded as
  // removed then, and takes none of the slots of the devices in use.
  const Device old_phone = by_name[{1, "old-phone"}];
  EXPECT_EQ(old_phone.created_at, 120);
  EXPECT_EQ(old_phone.removed_at, std::optional<UnixTime>(180));
  auto current = store_->list_devices(false);
  ASSERT_TRUE(current.ok());
  ASSERT_EQ(current->size(), 6u);
  for (const auto& d : *current) EXPECT_NE(d.name, "old-phone");
  auto dev = [&](int64_t user, const char* name) { return by_name[{user, name}]; };
  const Device laptop = dev(1, "laptop");
  const Device phone = dev(1, "phone");
  const Device alice_default = dev(1, "default");
  EXPECT_EQ(laptop.slot, 0u);
  EXPECT_EQ(laptop.created_at, 200);
  EXPECT_EQ(phone.slot, 1u);
  EXPECT_EQ(alice_default.slot, 2u);
  EXPECT_EQ(alice_default.created_at, 400);
  EXPECT_EQ(dev(2, "default").slot, 0u);
  EXPECT_EQ(dev(3, "work").slot, 0u);
  EXPECT_EQ(dev(4, "old").slot, 0u);

  // Every key points to its device, and keeps everything else.
  auto keys = store_->list_keys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 9u);
  std::map<int64_t, Key> key_by_id;
  for (const auto& k : *keys) key_by_id[k.id] = k;
  EXPECT_EQ(key_by_id[1].device_id, laptop.id);
  EXPECT_EQ(key_by_id[2].device_id, laptop.id);
  EXPECT_EQ(key_by_id[3].device_id, phone.id);
  EXPECT_EQ(key_by_id[4].device_id, alice_default.id);
  EXPECT_EQ(key_by_id[5].device_id, dev(2, "default").id);
  EXPECT_EQ(key_by_id[6].device_id, dev(2, "default").id);
  EXPECT_EQ(key_by_id[7].device_id, dev(3, "work").id);
  EXPECT_EQ(key_by_id[9].device_id, old_phone.id);
  EXPECT_EQ(key_by_id[1].revoked_at, std::optional<UnixTime>(300));
  EXPECT_EQ(key_by_id[1].public_key, test_key(1));
  EXPECT_EQ(key_by_id[2].created_at, 310);

  // The old lease history still answers, now as /32 blocks.
  auto history = store_->lease_history(ip("10.100.0.3"));
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].user_id, 4);
  EXPECT_EQ((*history)[0].block, pfx("10.100.0.3/32"));
  EXPECT_EQ((*history)[1].user_id, 3);

  // A new key for an old device reuses it.
  auto renewed = store_->add_key(NewKey{"alice", "phone", "dev", test_key(50), 0}, 4, 700, kRoot);
  ASSERT_TRUE(renewed.ok()) << renewed.error().message;
  EXPECT_EQ(renewed->device_id, phone.id);
}

TEST_F(MigrationTest, RelocationMovesOldAddressesToBlocksAndWhoisStillKnowsThePast) {
  auto opened = open_sqlite_store(path_);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  store_ = std::move(opened).value();

  auto moves = store_->relocate_leases(kPlan, 1000, kRoot);
  ASSERT_TRUE(moves.ok()) << moves.error().message;
  // alice (.1), bob (.2), carol (.3) held current /32 leases; dave none.
  ASSERT_EQ(moves->size(), 3u);
  std::map<std::string, LeaseMove> by_user;
  for (const auto& m : *moves) by_user[m.user] = m;
  EXPECT_EQ(by_user["alice"].from, pfx("10.100.0.1/32"));
  EXPECT_EQ(by_user["bob"].from, pfx("10.100.0.2/32"));
  EXPECT_EQ(by_user["carol"].from, pfx("10.100.0.3/32"));
  std::set<Prefix> targets;
  for (const auto& m : *moves) {
    EXPECT_TRUE(block_fits(m.to, kPlan.pool, kPlan.per_user)) << m.to.to_string();
    targets.insert(m.to);
  }
  EXPECT_EQ(targets.size(), 3u);
  // carol's earlier .9 makes block .8/30 used; .1-.3 lie in the reserved
  // block: the three get .4/30, .12/30 and .16/30.
  EXPECT_EQ(targets, (std::set<Prefix>{pfx("10.100.0.4/30"), pfx("10.100.0.12/30"), pfx("10.100.0.16/30")}));

  auto log = store_->audit_log(3);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 3u);
  for (const auto& r : *log) {
    EXPECT_EQ(r.action, "lease.move");
    auto detail = nlohmann::json::parse(r.detail);
    EXPECT_EQ(detail["from"], by_user[r.subject].from.to_string());
    EXPECT_EQ(detail["to"], by_user[r.subject].to.to_string());
  }

  // No history row was lost: the six old rows (three now ended at 1000)
  // plus three new blocks.
  {
    RawDb db(path_);
    EXPECT_EQ(db.one("SELECT count(*) FROM leases"), "9");
    EXPECT_EQ(db.one("SELECT count(*) FROM leases WHERE prefix_len = 32"), "6");
    EXPECT_EQ(db.one("SELECT group_concat(until_ts) FROM leases WHERE id IN (1, 4, 5) ORDER BY id"),
              "1000,1000,1000");
  }

  // whois about the old addresses at old times still names the person.
  auto config = parse_config(R"(
[server]
endpoint = "vpn.example.com"
store = ")" + path_ + R"("
state_dir = ")" + dir_ + R"(/state"
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
[groups.ops]
networks = ["vpc-a"]
interface = "wgt-ops"
port = 51821
table = 1002
)",
                             "migration.toml");
  ASSERT_TRUE(config.ok()) << config.error().message;
  auto who = [&](const char* address, UnixTime at) -> std::string {
    auto answer = service::whois(*store_, *config, address, at);
    EXPECT_TRUE(answer.ok()) << answer.error().message;
    if (!answer.ok() || !answer->user) return "nobody";
    return answer->user->name;
  };
  EXPECT_EQ(who("10.100.0.1", 500), "alice");
  EXPECT_EQ(who("10.100.0.3", 200), "dave");
  EXPECT_EQ(who("10.100.0.3", 700), "carol");
  EXPECT_EQ(who("10.100.0.9", 300), "carol");
  EXPECT_EQ(who("10.100.0.2", 155), "nobody");  // bob was disabled then
  EXPECT_EQ(who("10.100.0.1", 1000), "nobody"); // moved away
  // And the new blocks answer from the move on.
  EXPECT_EQ(who(by_user["alice"].to.address().to_string().c_str(), 1000), "alice");
  auto at_old = service::whois(*store_, *config, "10.100.0.1", 500);
  ASSERT_TRUE(at_old.ok());
  // Before devices had addresses of their own, all of alice's devices with
  // a key valid then shared her one address: whois names each of them.
  std::vector<std::string> names;
  for (const auto& d : at_old->devices) names.push_back(d.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"default", "laptop", "phone"}));
  EXPECT_EQ(at_old->keys.size(), 3u);
}

}  // namespace
}  // namespace wgate
