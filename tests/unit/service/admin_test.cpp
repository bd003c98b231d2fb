// service/admin.h against a real SQLite store: keyset pages (every item once,
// in order, filters, bad cursors and limits), key states like `key list`,
// and admin API tokens (hashed, scoped, expiring, revocable, audited).
#include "service/admin.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

#include "core/secrets.h"
#include "../scratch_store_test.h"
#include "service/service.h"

namespace wgate {
namespace {

using ::testing::HasSubstr;

const Actor kRoot{"cli:root"};

const std::string kSections = R"(
[pool]
ipv4 = "10.96.0.0/12"
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
)";

class AdminServiceTest : public testing::ScratchStoreTest {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(open_scratch("admin-test", kSections)); }

  void add_user(const std::string& name, std::vector<std::string> groups) {
    auto p = service::add_user(*store_, config_, {name, "", std::move(groups)}, 100, kRoot);
    ASSERT_TRUE(p.ok()) << p.error().message;
  }
  int64_t add_key(const std::string& user, const std::string& device, UnixTime now, const std::string& ttl = "1d") {
    service::AddKeyRequest r;
    r.user = user;
    r.public_key = WgKey::generate_private()->public_key()->to_base64();
    r.device = device;
    r.ttl = ttl;
    auto k = service::add_key(*store_, config_, r, now, kRoot);
    EXPECT_TRUE(k.ok()) << k.error().message;
    return k.ok() ? k->key.id : 0;
  }

  // Every item of a list, page by page.
  template <class T, class F>
  std::vector<T> all_pages(F page_of, size_t limit, int* pages = nullptr) {
    std::vector<T> out;
    service::PageRequest p{"", limit};
    for (int i = 0; i < 10000; ++i) {
      auto page = page_of(p);
      EXPECT_TRUE(page.ok()) << page.error().message;
      if (!page.ok()) break;
      if (pages) ++*pages;
      for (auto& item : page->items) out.push_back(item);
      if (page->next_cursor.empty()) break;
      p.cursor = page->next_cursor;
    }
    return out;
  }

};

TEST(CursorTest, RoundTripsAndRefusesOtherListsAndGarbage) {
  auto c = service::encode_cursor("people", "alice");
  auto back = service::decode_cursor("people", c);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "alice");
  EXPECT_FALSE(service::decode_cursor("keys", c).ok());
  for (const char* bad : {"zz", "abc", "706", "not-a-cursor", "%%%"}) {
    auto r = service::decode_cursor("people", bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.error().message, HasSubstr("cursor"));
  }
  EXPECT_FALSE(service::decode_cursor("people", std::string(5000, 'a')).ok());
  EXPECT_FALSE(service::check_page_limit(0).ok());
  EXPECT_FALSE(service::check_page_limit(service::kMaxPageLimit + 1).ok());
  EXPECT_TRUE(service::check_page_limit(service::kMaxPageLimit).ok());
}

TEST_F(AdminServiceTest, PeoplePagesHoldEveryoneOnceInNameOrder) {
  for (int i = 0; i < 23; ++i) add_user("u" + std::to_string(100 + i), {i % 2 ? "dev" : "ops"});
  int pages = 0;
  auto people = all_pages<service::PersonView>(
      [&](const service::PageRequest& p) { return service::list_people_page(*store_, config_, {p, "", {}, {}}); }, 5,
      &pages);
  ASSERT_EQ(people.size(), 23u);
  EXPECT_EQ(pages, 5);
  for (size_t i = 0; i < people.size(); ++i) {
    EXPECT_EQ(people[i].user.name, "u" + std::to_string(100 + i));
    ASSERT_TRUE(people[i].block.has_value());
    EXPECT_EQ(people[i].groups.size(), 1u);
  }
  // Filters: a group, a name prefix, disabled.
  auto devs = all_pages<service::PersonView>(
      [&](const service::PageRequest& p) {
        return service::list_people_page(*store_, config_, {p, "", {}, std::string("dev")});
      },
      4);
  EXPECT_EQ(devs.size(), 11u);
  for (const auto& p : devs) EXPECT_EQ(p.groups, std::vector<std::string>{"dev"});
  auto prefixed = service::list_people_page(*store_, config_, {{"", 50}, "u11", {}, {}});
  ASSERT_TRUE(prefixed.ok());
  EXPECT_EQ(prefixed->items.size(), 10u);
  ASSERT_TRUE(service::set_user_disabled(*store_, config_, "u105", true, 200, kRoot).ok());
  auto disabled = service::list_people_page(*store_, config_, {{"", 50}, "", true, {}});
  ASSERT_TRUE(disabled.ok());
  ASSERT_EQ(disabled->items.size(), 1u);
  EXPECT_EQ(disabled->items[0].user.name, "u105");
  EXPECT_FALSE(disabled->items[0].block.has_value());
  // A LIKE wildcard in the prefix is literal.
  auto wild = service::list_people_page(*store_, config_, {{"", 50}, "u1_", {}, {}});
  ASSERT_TRUE(wild.ok());
  EXPECT_TRUE(wild->items.empty());

  auto bad = service::list_people_page(*store_, config_, {{"garbage", 5}, "", {}, {}});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("cursor"));
  auto other = service::list_people_page(*store_, config_, {{service::encode_cursor("keys", "1"), 5}, "", {}, {}});
  EXPECT_FALSE(other.ok());
  EXPECT_FALSE(service::list_people_page(*store_, config_, {{"", 0}, "", {}, {}}).ok());
  EXPECT_FALSE(service::list_people_page(*store_, config_, {{"", 5}, "", {}, std::string("nope")}).ok());
}

TEST_F(AdminServiceTest, KeyPagesAgreeWithKeyListOnEveryState) {
  add_user("alice", {"dev"});
  add_user("bob", {"dev"});
  const UnixTime now = 10'000;
  add_key("alice", "laptop", 1000, "1h");               // expired by now
  add_key("alice", "phone", 5000);                      // superseded by the next
  int64_t newest = add_key("alice", "phone", 6000);     // never activated
  int64_t seen = add_key("bob", "laptop", 7000, "1h");  // expiring soon, seen
  int64_t revoked = add_key("bob", "desk", 7000);
  ASSERT_TRUE(service::revoke_key(*store_, revoked, 8000, kRoot).ok());
  ASSERT_TRUE(store_->record_handshakes({{seen, 9000}}).ok());

  auto all = service::list_keys(*store_, config_, {}, now);
  ASSERT_TRUE(all.ok());
  auto paged = all_pages<service::KeyView>(
      [&](const service::PageRequest& p) { return service::list_keys_page(*store_, config_, {p, {}, {}}, now); }, 2);
  ASSERT_EQ(paged.size(), all->size());
  for (size_t i = 0; i < paged.size(); ++i) {
    EXPECT_EQ(paged[i].key.id, (*all)[i].key.id);
    EXPECT_EQ(paged[i].state, (*all)[i].state) << paged[i].key.id;
    EXPECT_EQ(paged[i].user, (*all)[i].user);
    EXPECT_EQ(paged[i].device, (*all)[i].device);
    EXPECT_EQ(paged[i].address, (*all)[i].address);
  }
  auto ids_in = [&](const std::string& state) {
    std::set<int64_t> out;
    auto keys = all_pages<service::KeyView>(
        [&](const service::PageRequest& p) {
          return service::list_keys_page(*store_, config_, {p, {}, state, 3600}, now);
        },
        1);
    for (const auto& k : keys) {
      if (state != "expiring") {
        EXPECT_EQ(service::api_key_state(k.state), state);
      }
      out.insert(k.key.id);
    }
    return out;
  };
  EXPECT_EQ(ids_in("never_activated"), std::set<int64_t>{newest});
  EXPECT_EQ(ids_in("active"), std::set<int64_t>{seen});
  EXPECT_EQ(ids_in("revoked"), std::set<int64_t>{revoked});
  EXPECT_EQ(ids_in("expired").size(), 1u);
  EXPECT_EQ(ids_in("superseded").size(), 1u);
  EXPECT_EQ(ids_in("expiring"), std::set<int64_t>{seen});  // 7000 + 1h = 10600, within an hour of 10000
  auto bob = service::list_keys_page(*store_, config_, {{"", 50}, std::string("bob"), {}}, now);
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(bob->items.size(), 2u);
  EXPECT_FALSE(service::list_keys_page(*store_, config_, {{"", 50}, std::string("nobody"), {}}, now).ok());
  auto bad_state = service::list_keys_page(*store_, config_, {{"", 50}, {}, std::string("shiny")}, now);
  ASSERT_FALSE(bad_state.ok());
  EXPECT_THAT(bad_state.error().message, HasSubstr("never_activated"));
  EXPECT_FALSE(service::list_keys_page(*store_, config_, {{service::encode_cursor("keys", "x1"), 5}, {}, {}}, now).ok());
}

TEST_F(AdminServiceTest, AuditAfterAnIdReadsForwardInBatches) {
  auto empty_newest = service::newest_audit_id(*store_);
  ASSERT_TRUE(empty_newest.ok());
  const int64_t start = *empty_newest;  // the fixture may have audited its setup
  for (int i = 0; i < 5; ++i) add_user("f" + std::to_string(i), {"dev"});
  auto newest = service::newest_audit_id(*store_);
  ASSERT_TRUE(newest.ok());
  auto last = service::audit_log(*store_, 1);
  ASSERT_TRUE(last.ok() && !last->empty());
  EXPECT_EQ(*newest, last->front().id);
  // Oldest first, after the given id, in batches of at most `limit`.
  std::vector<int64_t> seen;
  int64_t after = start;
  for (int round = 0; round < 10; ++round) {
    auto batch = service::audit_after(*store_, after, 2);
    ASSERT_TRUE(batch.ok()) << batch.error().message;
    EXPECT_LE(batch->size(), 2u);
    if (batch->empty()) break;
    for (const auto& r : *batch) {
      EXPECT_GT(r.id, after);
      seen.push_back(r.id);
      after = r.id;
    }
  }
  auto all = service::audit_log(*store_, 1000);
  ASSERT_TRUE(all.ok());
  std::vector<int64_t> want;
  for (const auto& r : *all)
    if (r.id > start) want.push_back(r.id);
  std::sort(want.begin(), want.end());
  EXPECT_GE(want.size(), 5u);
  EXPECT_EQ(seen, want);
  EXPECT_EQ(seen.back(), *newest);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GT(seen[i], seen[i - 1]);
  auto none = service::audit_after(*store_, *newest, 50);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(service::audit_after(*store_, 0, 0).ok());
  EXPECT_FALSE(service::audit_after(*store_, 0, service::kMaxPageLimit + 1).ok());
  EXPECT_FALSE(service::audit_after(*store_, -1, 5).ok());
}

TEST_F(AdminServiceTest, AuditLeasesAndAlertsPageNewestOrOldestFirst) {
  for (int i = 0; i < 7; ++i) add_user("p" + std::to_string(i), {"dev"});
  ASSERT_TRUE(service::set_user_disabled(*store_, config_, "p3", true, 300, kRoot).ok());
  auto audit = all_pages<AuditRecord>(
      [&](const service::PageRequest& p) { return service::list_audit_page(*store_, {p, "", "", ""}); }, 3);
  auto log = service::audit_log(*store_, 1000);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(audit.size(), log->size());
  for (size_t i = 0; i + 1 < audit.size(); ++i) EXPECT_GT(audit[i].id, audit[i + 1].id);
  auto adds = service::list_audit_page(*store_, {{"", 50}, "", "user.", ""});
  ASSERT_TRUE(adds.ok());
  EXPECT_EQ(adds->items.size(), 8u);  // 7 adds and a disable
  auto p3 = service::list_audit_page(*store_, {{"", 50}, "cli:root", "user.disable", "p3"});
  ASSERT_TRUE(p3.ok());
  EXPECT_EQ(p3->items.size(), 1u);

  auto leases = all_pages<service::LeaseView>(
      [&](const service::PageRequest& p) { return service::list_leases_page(*store_, {p, false, {}}); }, 2);
  EXPECT_EQ(leases.size(), 7u);
  auto current = all_pages<service::LeaseView>(
      [&](const service::PageRequest& p) { return service::list_leases_page(*store_, {p, true, {}}); }, 2);
  EXPECT_EQ(current.size(), 6u);
  for (size_t i = 0; i + 1 < leases.size(); ++i) EXPECT_LT(leases[i].lease.id, leases[i + 1].lease.id);
  auto of_p3 = service::list_leases_page(*store_, {{"", 10}, false, std::string("p3")});
  ASSERT_TRUE(of_p3.ok());
  ASSERT_EQ(of_p3->items.size(), 1u);
  EXPECT_EQ(of_p3->items[0].user, "p3");
  EXPECT_TRUE(of_p3->items[0].lease.until.has_value());

  for (int i = 0; i < 5; ++i) {
    OutboxEntry e;
    e.dedup_key = "k" + std::to_string(i);
    e.channel = "webhook";
    e.kind = "never_activated";
    e.payload = "{}";
    e.created_at = 100 + i;
    e.next_attempt_at = 100;
    ASSERT_TRUE(store_->enqueue_alert(e).ok());
  }
  auto alerts = all_pages<OutboxEntry>(
      [&](const service::PageRequest& p) { return service::list_alerts_page(*store_, {p, ""}); }, 2);
  ASSERT_EQ(alerts.size(), 5u);
  EXPECT_EQ(alerts.front().dedup_key, "k4");
  ASSERT_TRUE(store_->mark_alert_delivered(alerts.front().id, 200).ok());
  auto delivered = service::list_alerts_page(*store_, {{"", 50}, "delivered"});
  ASSERT_TRUE(delivered.ok());
  EXPECT_EQ(delivered->items.size(), 1u);
  auto pending = service::list_alerts_page(*store_, {{"", 50}, "pending"});
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->items.size(), 4u);
  EXPECT_FALSE(service::list_alerts_page(*store_, {{"", 50}, "lost"}).ok());
}

TEST_F(AdminServiceTest, TokensAreHashedScopedExpiringAndRevocable) {
  auto made = service::create_api_token(*store_, {"ci-bot", "write", "1h"}, 1000, kRoot);
  ASSERT_TRUE(made.ok()) << made.error().message;
  EXPECT_TRUE(made->secret.starts_with("wgat_"));
  EXPECT_GE(made->secret.size(), 40u);
  EXPECT_EQ(made->token.token_hash, sha256_hex(made->secret));
  EXPECT_EQ(made->token.expires_at, 1000 + 3600);
  // Never the secret in the store or the audit trail.
  auto listed = service::list_api_tokens(*store_);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_NE(listed->front().token_hash, made->secret);
  auto log = service::audit_log(*store_, 100);
  ASSERT_TRUE(log.ok());
  bool audited = false;
  for (const auto& r : *log) {
    EXPECT_EQ(r.detail.find(made->secret), std::string::npos);
    if (r.action == "token.create" && r.subject == "token:ci-bot" && r.actor == "cli:root") audited = true;
  }
  EXPECT_TRUE(audited);

  auto ok = service::authenticate_api_token(*store_, made->secret, 1500);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->scope, "write");
  EXPECT_EQ(service::token_actor(*ok).name, "token:ci-bot");
  EXPECT_EQ(ok->last_used_at, 1500);
  EXPECT_FALSE(service::authenticate_api_token(*store_, made->secret + "x", 1500).ok());
  EXPECT_FALSE(service::authenticate_api_token(*store_, "wgat_", 1500).ok());
  EXPECT_FALSE(service::authenticate_api_token(*store_, made->secret, 1000 + 3600).ok());  // expired

  // Bad requests store nothing.
  EXPECT_FALSE(service::create_api_token(*store_, {"ci-bot", "read", "1h"}, 1000, kRoot).ok());  // name taken
  EXPECT_FALSE(service::create_api_token(*store_, {"Bad Name", "read", "1h"}, 1000, kRoot).ok());
  EXPECT_FALSE(service::create_api_token(*store_, {"x", "admin", "1h"}, 1000, kRoot).ok());
  EXPECT_FALSE(service::create_api_token(*store_, {"x", "read", "10s"}, 1000, kRoot).ok());
  EXPECT_FALSE(service::create_api_token(*store_, {"x", "read", "400d"}, 1000, kRoot).ok());
  EXPECT_EQ(service::list_api_tokens(*store_)->size(), 1u);

  ASSERT_TRUE(service::revoke_api_token(*store_, "ci-bot", 1600, Actor{"token:other"}).ok());
  EXPECT_FALSE(service::authenticate_api_token(*store_, made->secret, 1700).ok());
  EXPECT_FALSE(service::revoke_api_token(*store_, "ci-bot", 1700, kRoot).ok());
  EXPECT_FALSE(service::revoke_api_token(*store_, "ghost", 1700, kRoot).ok());
  // A revoked token's name is never reused.
  EXPECT_FALSE(service::create_api_token(*store_, {"ci-bot", "read", "1h"}, 1800, kRoot).ok());
}

TEST_F(AdminServiceTest, AdminRightComesFromConfiguredIdpGroups) {
  EXPECT_FALSE(service::grants_admin(config_, {"/wgate-admins"}));
  config_.web.admin_groups = {"/wgate-admins"};
  EXPECT_TRUE(service::grants_admin(config_, {"/eng", "/wgate-admins"}));
  EXPECT_FALSE(service::grants_admin(config_, {"/eng", "/wgate-admins/sub"}));
}

// The one admin check of the API and the admin pages: sessions by their
// login's admin right, API tokens only when not from a cookie, and why a
// caller is refused (to log in, or 403).
TEST_F(AdminServiceTest, CheckAdminSaysWhoAndWhyNot) {
  add_user("ann", {"dev"});
  add_user("ben", {"dev"});
  auto users = store_->list_users();
  ASSERT_TRUE(users.ok());
  auto id_of = [&](const std::string& n) {
    for (const auto& u : *users) {
      if (u.name == n) return u.id;
    }
    return int64_t{0};
  };
  auto session = [&](const std::string& token, int64_t user, bool admin) {
    WebSession s;
    s.id_hash = sha256_hex(token);
    s.user_id = user;
    s.created_at = 1000;
    s.expires_at = 5000;
    s.csrf_token = "csrf-" + token;
    s.admin = admin;
    ASSERT_TRUE(store_->create_session(s, kRoot).ok());
  };
  session("ann-session", id_of("ann"), true);
  session("ben-session", id_of("ben"), false);
  using Why = service::AdminRefusal::Why;
  auto refusal = [&](const std::string& secret, bool cookie, UnixTime now) {
    auto c = service::check_admin(*store_, secret, cookie, now);
    EXPECT_TRUE(c.ok());
    const auto* r = c.ok() ? std::get_if<service::AdminRefusal>(&*c) : nullptr;
    return r ? std::optional<service::AdminRefusal>(*r) : std::nullopt;
  };

  auto ann = service::check_admin(*store_, "ann-session", true, 1500);
  ASSERT_TRUE(ann.ok());
  ASSERT_TRUE(std::holds_alternative<service::AdminCaller>(*ann));
  EXPECT_EQ(std::get<service::AdminCaller>(*ann).actor.name, "user:ann");
  EXPECT_EQ(std::get<service::AdminCaller>(*ann).csrf_token, "csrf-ann-session");
  EXPECT_TRUE(std::get<service::AdminCaller>(*ann).write_scope);

  auto ben = refusal("ben-session", true, 1500);
  ASSERT_TRUE(ben);
  EXPECT_EQ(ben->why, Why::forbidden);
  EXPECT_THAT(ben->message, HasSubstr("admin_groups"));
  for (auto [secret, now] : {std::pair<std::string, UnixTime>{"", 1500}, {"nobody", 1500}, {"ann-session", 5000}}) {
    auto r = refusal(secret, true, now);
    ASSERT_TRUE(r) << secret;
    EXPECT_EQ(r->why, Why::unauthenticated) << secret;
  }

  auto made = service::create_api_token(*store_, {"reader", "read", "1h"}, 1000, kRoot);
  ASSERT_TRUE(made.ok()) << made.error().message;
  auto token = service::check_admin(*store_, made->secret, false, 1500);
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(std::holds_alternative<service::AdminCaller>(*token));
  EXPECT_EQ(std::get<service::AdminCaller>(*token).actor.name, "token:reader");
  EXPECT_FALSE(std::get<service::AdminCaller>(*token).write_scope);
  EXPECT_EQ(std::get<service::AdminCaller>(*token).csrf_token, "");
  // A token is never a cookie's value.
  auto as_cookie = refusal(made->secret, true, 1500);
  ASSERT_TRUE(as_cookie);
  EXPECT_EQ(as_cookie->why, Why::unauthenticated);
}

// 10,000 people: a page is an index range, not the whole store. They are
// written with plain SQL in one transaction (10,000 add_user calls would
// take minutes under ASan); the page reads them through the store.
TEST_F(AdminServiceTest, APageOfTenThousandPeopleStaysFast) {
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(config_.server.store_path.c_str(), &raw), SQLITE_OK);
    std::string sql = "BEGIN;";
    for (int i = 0; i < 10000; ++i) {
      const std::string id = std::to_string(1000 + i);
      sql += "INSERT INTO users (id, name, created_at) VALUES (" + id + ", 'n" + id + "', 1);";
      sql += "INSERT INTO memberships (user_id, group_name) VALUES (" + id + ", 'dev');";
    }
    sql += "COMMIT;";
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(raw);
  }
  const auto start = std::chrono::steady_clock::now();
  auto page = service::list_people_page(*store_, config_, {{service::encode_cursor("people", "n5000"), 50}, "", {}, {}});
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->items.size(), 50u);
  EXPECT_EQ(page->items.front().user.name, "n5001");
  EXPECT_EQ(page->items.front().groups, std::vector<std::string>{"dev"});
  EXPECT_FALSE(page->next_cursor.empty());
  std::printf("a page of 50 of 10,000 people: %lld ms\n", static_cast<long long>(took.count()));
  // The whole list (snapshot) for comparison: what the page avoids.
  const auto start_all = std::chrono::steady_clock::now();
  auto all = service::list_people(*store_, config_);
  const auto took_all =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_all);
  ASSERT_TRUE(all.ok());
  std::printf("all 10,000 people (list_people): %lld ms\n", static_cast<long long>(took_all.count()));
  EXPECT_LT(took.count(), 200);
}

}  // namespace
}  // namespace wgate
