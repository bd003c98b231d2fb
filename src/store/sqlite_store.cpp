// SqliteStore: the embedded Store, one SQLite database file in WAL mode.
//
// Concurrency: the CLI and the daemon open the same file. Every write runs in
// a BEGIN IMMEDIATE transaction, so the write lock is taken up front and the
// checks made inside the transaction (name free, key unregistered, address
// free) cannot be invalidated by another process before the commit; waits for
// the lock are bounded by busy_timeout. Reads run in deferred transactions
// and see one consistent snapshot (WAL readers never block writers).
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/ipam.h"
#include "store/store.h"

#include "core/names.h"

namespace wgate {

namespace {

constexpr int kBusyTimeoutMs = 5000;

// --- schema --------------------------------------------------------------

// Migration i (0-based) takes the schema from version i to i + 1; the schema
// version lives in PRAGMA user_version. Append only: never edit a migration
// that has shipped.
constexpr const char* kMigrations[] = {
    // 1: initial schema.
    R"sql(
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
-- The database itself guarantees what IPAM decides: an address has at most
-- one current holder, a user at most one current address per family.
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
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

constexpr const char* kUserColumns = "id, name, email, disabled, created_at";
constexpr const char* kKeyColumns =
    "id, user_id, group_name, public_key, label, created_at, expires_at, revoked_at, last_handshake_at";
constexpr const char* kLeaseColumns = "id, user_id, address, family, from_ts, until_ts";
constexpr const char* kAuditColumns = "id, at, actor, action, subject, detail";

// --- JSON for audit details ----------------------------------------------

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// Builds one flat JSON object, member by member.
class JsonObject {
 public:
  JsonObject& add(const std::string& key, const std::string& value) { return raw(key, json_string(value)); }
  JsonObject& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonObject& add(const std::string& key, int64_t value) { return raw(key, std::to_string(value)); }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  JsonObject& raw(const std::string& key, const std::string& json) {
    if (!body_.empty()) body_ += ",";
    body_ += json_string(key) + ":" + json;
    return *this;
  }
  std::string body_;
};

// --- RAII around the C handles -------------------------------------------

Error sqlite_error(sqlite3* db, const std::string& what) {
  return make_error(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

// Owns one prepared statement. Bind errors are remembered and reported by
// the next step(), so call sites can chain binds.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Stmt(Stmt&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), bind_rc_(other.bind_rc_) {}
  Stmt& operator=(Stmt&& other) noexcept {
    if (this != &other) {
      sqlite3_finalize(stmt_);
      db_ = other.db_;
      stmt_ = std::exchange(other.stmt_, nullptr);
      bind_rc_ = other.bind_rc_;
    }
    return *this;
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }

  Stmt& bind(int index, int64_t value) { return check(sqlite3_bind_int64(stmt_, index, value)); }
  Stmt& bind(int index, const std::string& value) {
    return check(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT));
  }
  Stmt& bind(int index, const std::optional<int64_t>& value) {
    return value ? bind(index, *value) : check(sqlite3_bind_null(stmt_, index));
  }

  // Advances to the next row: true when a row is ready, false when done.
  Result<bool> step() {
    if (bind_rc_ != SQLITE_OK) return make_error(std::string("binding parameters: ") + sqlite3_errstr(bind_rc_));
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return sqlite_error(db_, "running '" + std::string(sqlite3_sql(stmt_)) + "'");
  }
  // Makes the statement ready to run again with fresh bindings.
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    bind_rc_ = SQLITE_OK;
  }
  // Runs a statement that returns no rows.
  Status run() {
    WGATE_ASSIGN_OR_RETURN(bool row, step());
    (void)row;
    return ok_status();
  }

  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::optional<int64_t> optional_integer(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return integer(col);
  }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

// Owns the connection. Statements must be destroyed before it; they are
// always locals of a Store method, so they are.
class Db {
 public:
  explicit Db(sqlite3* db) : db_(db) {}
  Db(Db&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Db& operator=(Db&&) = delete;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db() { sqlite3_close_v2(db_); }

  sqlite3* get() const { return db_; }

  Result<Stmt> prepare(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return sqlite_error(db_, "preparing '" + sql + "'");
    }
    return Stmt(db_, stmt);
  }

  // Runs one or more statements that return nothing of interest.
  Status exec(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      return sqlite_error(db_, "running '" + sql + "'");
    }
    return ok_status();
  }

  // The single integer a query such as a PRAGMA returns.
  Result<int64_t> query_int(const std::string& sql) {
    WGATE_ASSIGN_OR_RETURN(Stmt stmt, prepare(sql));
    WGATE_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) return make_error("'" + sql + "' returned no row");
    return stmt.integer(0);
  }

  int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
  int64_t changes() const { return sqlite3_changes64(db_); }

 private:
  sqlite3* db_;
};

// A transaction that rolls back unless committed, so an error returned
// half-way through a write leaves the database as it was.
class Transaction {
 public:
  enum class Kind { read, write };

  static Result<Transaction> begin(Db& db, Kind kind) {
    // IMMEDIATE takes the write lock now (waiting up to busy_timeout), not at
    // the first write, where SQLite could only fail with SQLITE_BUSY.
    WGATE_TRY(db.exec(kind == Kind::write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED"));
    return Transaction(&db);
  }
  Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (db_ != nullptr) (void)db_->exec("ROLLBACK");
  }

  Status commit() {
    Db* db = std::exchange(db_, nullptr);
    Status s = db->exec("COMMIT");
    if (!s.ok()) (void)db->exec("ROLLBACK");
    return s;
  }

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;
};

// --- rows ----------------------------------------------------------------

User read_user(const Stmt& s) {
  User u;
  u.id = s.integer(0);
  u.name = s.text(1);
  u.email = s.text(2);
  u.disabled = s.integer(3) != 0;
  u.created_at = s.integer(4);
  return u;
}

Result<Key> read_key(const Stmt& s) {
  Key k;
  k.id = s.integer(0);
  k.user_id = s.integer(1);
  k.group = s.text(2);
  auto public_key = WgKey::from_base64(s.text(3));
  if (!public_key) return public_key.error().with_context("stored key " + std::to_string(k.id));
  k.public_key = *public_key;
  k.label = s.text(4);
  k.created_at = s.integer(5);
  k.expires_at = s.integer(6);
  k.revoked_at = s.optional_integer(7);
  k.last_handshake_at = s.optional_integer(8);
  return k;
}

Result<Lease> read_lease(const Stmt& s) {
  Lease l;
  l.id = s.integer(0);
  l.user_id = s.integer(1);
  auto address = IpAddress::parse(s.text(2));
  if (!address) return address.error().with_context("stored lease " + std::to_string(l.id));
  l.address = *address;
  l.from = s.integer(4);
  l.until = s.optional_integer(5);
  return l;
}

AuditRecord read_audit(const Stmt& s) {
  return AuditRecord{s.integer(0), s.integer(1), s.text(2), s.text(3), s.text(4), s.text(5)};
}

// Runs a query and reads every row with `read` (returning T or Result<T>).
template <class T, class Read>
Result<std::vector<T>> read_all(Stmt& stmt, Read read) {
  std::vector<T> out;
  while (true) {
    WGATE_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) break;
    if constexpr (std::is_same_v<decltype(read(stmt)), T>) {
      out.push_back(read(stmt));
    } else {
      WGATE_ASSIGN_OR_RETURN(T value, read(stmt));
      out.push_back(std::move(value));
    }
  }
  return out;
}

int family_number(IpFamily f) { return f == IpFamily::v4 ? 4 : 6; }

// --- the store -----------------------------------------------------------

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(Db db) : db_(std::move(db)) {}

  Result<User> add_user(const std::string& name, const std::string& email, const Prefix& pool, UnixTime now,
                        const Actor& actor) override {
    WGATE_TRY(check_user_name(name));
    WGATE_TRY(check_text("email", email, 254));
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto existing, user_by_name(name));
    if (existing) return make_error("user '" + name + "' already exists");

    WGATE_ASSIGN_OR_RETURN(auto insert,
                           db_.prepare("INSERT INTO users (name, email, disabled, created_at) VALUES (?, ?, 0, ?)"));
    WGATE_TRY(insert.bind(1, name).bind(2, email).bind(3, now).run());
    User user{db_.last_insert_id(), name, email, false, now};

    auto address = lease_address(user.id, pool, now);
    if (!address) return address.error().with_context("cannot add user '" + name + "'");
    WGATE_TRY(audit(now, actor, "user.add", name,
                    JsonObject().add("email", email).add("address", address->to_string()).str()));
    WGATE_TRY(txn.commit());
    return user;
  }

  Result<std::optional<User>> find_user(const std::string& name) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::read));
    WGATE_ASSIGN_OR_RETURN(auto user, user_by_name(name));
    WGATE_TRY(txn.commit());
    return user;
  }

  Result<std::vector<User>> list_users() override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::read));
    WGATE_ASSIGN_OR_RETURN(auto users, all_users());
    WGATE_TRY(txn.commit());
    return users;
  }

  Status set_user_disabled(const std::string& name, bool disabled, const Prefix& pool, UnixTime now,
                           const Actor& actor) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(User user, require_user(name));
    if (user.disabled == disabled) {
      return make_error("user '" + name + "' is already " + (disabled ? "disabled" : "enabled"));
    }
    WGATE_ASSIGN_OR_RETURN(auto update, db_.prepare("UPDATE users SET disabled = ? WHERE id = ?"));
    WGATE_TRY(update.bind(1, int64_t{disabled}).bind(2, user.id).run());

    if (disabled) {
      // History keeps the ended lease, so whois still answers for the past
      // and re-enabling can hand the same address back.
      WGATE_ASSIGN_OR_RETURN(auto current, leases_where("user_id = ? AND until_ts IS NULL", user.id));
      WGATE_ASSIGN_OR_RETURN(auto end,
                             db_.prepare("UPDATE leases SET until_ts = ? WHERE user_id = ? AND until_ts IS NULL"));
      WGATE_TRY(end.bind(1, now).bind(2, user.id).run());
      JsonObject detail;
      if (!current.empty()) detail.add("released", current.front().address.to_string());
      WGATE_TRY(audit(now, actor, "user.disable", name, detail.str()));
    } else {
      auto address = lease_address(user.id, pool, now);
      if (!address) return address.error().with_context("cannot enable user '" + name + "'");
      WGATE_TRY(audit(now, actor, "user.enable", name, JsonObject().add("address", address->to_string()).str()));
    }
    return txn.commit();
  }

  Status add_membership(const std::string& user_name, const std::string& group, const Actor& actor,
                        UnixTime now) override {
    if (group.empty()) return make_error("a group name must not be empty");
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(User user, require_user(user_name));
    WGATE_ASSIGN_OR_RETURN(auto insert,
                           db_.prepare("INSERT OR IGNORE INTO memberships (user_id, group_name) VALUES (?, ?)"));
    WGATE_TRY(insert.bind(1, user.id).bind(2, group).run());
    if (db_.changes() == 0) return make_error("user '" + user_name + "' is already in group '" + group + "'");
    WGATE_TRY(audit(now, actor, "membership.add", user_name, JsonObject().add("group", group).str()));
    return txn.commit();
  }

  Status remove_membership(const std::string& user_name, const std::string& group, const Actor& actor,
                           UnixTime now) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(User user, require_user(user_name));
    WGATE_ASSIGN_OR_RETURN(auto del, db_.prepare("DELETE FROM memberships WHERE user_id = ? AND group_name = ?"));
    WGATE_TRY(del.bind(1, user.id).bind(2, group).run());
    if (db_.changes() == 0) return make_error("user '" + user_name + "' is not in group '" + group + "'");
    WGATE_TRY(audit(now, actor, "membership.remove", user_name, JsonObject().add("group", group).str()));
    return txn.commit();
  }

  Result<std::vector<Membership>> list_memberships() override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::read));
    WGATE_ASSIGN_OR_RETURN(auto memberships, all_memberships());
    WGATE_TRY(txn.commit());
    return memberships;
  }

  Result<Key> add_key(const std::string& user_name, const std::string& group, const WgKey& public_key,
                      const std::string& label, UnixTime now, UnixTime expires_at, const Actor& actor) override {
    if (group.empty()) return make_error("a group name must not be empty");
    WGATE_TRY(check_text("label", label, 200));
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(User user, require_user(user_name));
    const std::string b64 = public_key.to_base64();
    if (user.disabled) return make_error("user '" + user_name + "' is disabled");

    // Checked inside the write transaction, so two concurrent `key add`s
    // cannot both pass: the key's group must be one of the user's, and a
    // user's address routes to one group at a time.
    WGATE_ASSIGN_OR_RETURN(auto member,
                           db_.prepare("SELECT 1 FROM memberships WHERE user_id = ? AND group_name = ?"));
    member.bind(1, user.id).bind(2, group);
    WGATE_ASSIGN_OR_RETURN(bool is_member, member.step());
    if (!is_member) return make_error("user '" + user_name + "' is not a member of group '" + group + "'");
    WGATE_ASSIGN_OR_RETURN(auto other,
                           db_.prepare("SELECT id, group_name FROM keys WHERE user_id = ? AND group_name <> ? AND "
                                       "revoked_at IS NULL AND (expires_at = 0 OR expires_at > ?) LIMIT 1"));
    other.bind(1, user.id).bind(2, group).bind(3, now);
    WGATE_ASSIGN_OR_RETURN(bool has_other, other.step());
    if (has_other) {
      return make_error("user '" + user_name + "' has active key " + std::to_string(other.integer(0)) +
                        " on group '" + other.text(1) +
                        "'; a user's address routes to one group at a time: revoke it first");
    }

    // A key stays registered after revocation: a revoked (perhaps leaked)
    // key must not come back under another name.
    WGATE_ASSIGN_OR_RETURN(auto owner,
                           db_.prepare("SELECT k.id, u.name, k.revoked_at FROM keys k JOIN users u ON u.id = k.user_id "
                                       "WHERE k.public_key = ?"));
    owner.bind(1, b64);
    WGATE_ASSIGN_OR_RETURN(bool taken, owner.step());
    if (taken) {
      return make_error("key " + b64 + " is already registered to user '" + owner.text(1) + "' (key " +
                        std::to_string(owner.integer(0)) + (owner.optional_integer(2) ? ", revoked)" : ")"));
    }

    WGATE_ASSIGN_OR_RETURN(auto insert, db_.prepare("INSERT INTO keys (user_id, group_name, public_key, label, "
                                                    "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)"));
    WGATE_TRY(insert.bind(1, user.id).bind(2, group).bind(3, b64).bind(4, label).bind(5, now).bind(6, expires_at).run());
    Key key;
    key.id = db_.last_insert_id();
    key.user_id = user.id;
    key.group = group;
    key.public_key = public_key;
    key.label = label;
    key.created_at = now;
    key.expires_at = expires_at;
    WGATE_TRY(audit(now, actor, "key.add", user_name,
                    JsonObject()
                        .add("key_id", key.id)
                        .add("group", group)
                        .add("public_key", b64)
                        .add("label", label)
                        .add("expires_at", expires_at)
                        .str()));
    WGATE_TRY(txn.commit());
    return key;
  }

  Result<std::optional<Key>> find_key(int64_t id) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::read));
    WGATE_ASSIGN_OR_RETURN(auto key, key_by_id(id));
    WGATE_TRY(txn.commit());
    return key;
  }

  Result<std::vector<Key>> list_keys() override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::read));
    WGATE_ASSIGN_OR_RETURN(auto keys, all_keys());
    WGATE_TRY(txn.commit());
    return keys;
  }

  Status revoke_key(int64_t id, UnixTime now, const Actor& actor) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto key, key_by_id(id));
    if (!key) return make_error("no key " + std::to_string(id));
    if (key->revoked_at) return make_error("key " + std::to_string(id) + " is already revoked");
    WGATE_ASSIGN_OR_RETURN(auto update, db_.prepare("UPDATE keys SET revoked_at = ? WHERE id = ?"));
    WGATE_TRY(update.bind(1, now).bind(2, id).run());
    WGATE_ASSIGN_OR_RETURN(auto owner, user_by_id(key->user_id));
    WGATE_TRY(audit(now, actor, "key.revoke", owner ? owner->name : std::to_string(key->user_id),
                    JsonObject()
                        .add("key_id", id)
                        .add("group", key->group)
                        .add("public_key", key->public_key.to_base64())
                        .str()));
    return txn.commit();
  }

  Status record_handshakes(const std::vector<std::pair<int64_t, UnixTime>>& key_handshakes) override {
    if (key_handshakes.empty()) return ok_status();
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    // Only newer: the agent may report a stale value after a restart.
    WGATE_ASSIGN_OR_RETURN(auto update, db_.prepare("UPDATE keys SET last_handshake_at = ?1 WHERE id = ?2 AND "
                                                    "(last_handshake_at IS NULL OR last_handshake_at < ?1)"));
    for (const auto& [id, at] : key_handshakes) {
      WGATE_TRY(update.bind(1, at).bind(2, id).run());
      update.reset();
    }
    return txn.commit();
  }

  Result<std::vector<Lease>> current_leases() override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::read));
    WGATE_ASSIGN_OR_RETURN(auto leases, all_current_leases());
    WGATE_TRY(txn.commit());
    return leases;
  }

  Result<std::vector<Lease>> lease_history(const IpAddress& address) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::read));
    WGATE_ASSIGN_OR_RETURN(auto leases, leases_where("address = ?", address.to_string()));
    WGATE_TRY(txn.commit());
    return leases;
  }

  Result<State> snapshot() override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::read));
    State state;
    WGATE_ASSIGN_OR_RETURN(state.users, all_users());
    WGATE_ASSIGN_OR_RETURN(state.memberships, all_memberships());
    WGATE_ASSIGN_OR_RETURN(state.keys, all_keys());
    WGATE_ASSIGN_OR_RETURN(state.current_leases, all_current_leases());
    WGATE_TRY(txn.commit());
    return state;
  }

  Result<uint64_t> change_token() override {
    // data_version moves when another connection commits; total_changes
    // when this one does. Neither alone sees both, so count every change of
    // the pair.
    WGATE_ASSIGN_OR_RETURN(int64_t data_version, db_.query_int("PRAGMA data_version"));
    const int64_t total_changes = sqlite3_total_changes64(db_.get());
    if (data_version != seen_data_version_ || total_changes != seen_total_changes_) {
      seen_data_version_ = data_version;
      seen_total_changes_ = total_changes;
      ++token_;
    }
    return token_;
  }

  // The newest `limit` records, oldest first (as a log reads).
  Result<std::vector<AuditRecord>> audit_log(size_t limit) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::read));
    WGATE_ASSIGN_OR_RETURN(auto stmt,
                           db_.prepare(std::string("SELECT ") + kAuditColumns + " FROM audit ORDER BY id DESC LIMIT ?"));
    stmt.bind(1, static_cast<int64_t>(std::min<size_t>(limit, std::numeric_limits<int64_t>::max())));
    WGATE_ASSIGN_OR_RETURN(auto records, read_all<AuditRecord>(stmt, read_audit));
    WGATE_TRY(txn.commit());
    std::reverse(records.begin(), records.end());
    return records;
  }

 private:
  Result<std::optional<User>> user_where(const std::string& condition, const auto& value) {
    WGATE_ASSIGN_OR_RETURN(auto stmt,
                           db_.prepare(std::string("SELECT ") + kUserColumns + " FROM users WHERE " + condition));
    stmt.bind(1, value);
    WGATE_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) return std::optional<User>();
    return std::optional<User>(read_user(stmt));
  }
  Result<std::optional<User>> user_by_name(const std::string& name) { return user_where("name = ?", name); }
  Result<std::optional<User>> user_by_id(int64_t id) { return user_where("id = ?", id); }

  Result<User> require_user(const std::string& name) {
    WGATE_ASSIGN_OR_RETURN(auto user, user_by_name(name));
    if (!user) return make_error("no user '" + name + "'");
    return *user;
  }

  Result<std::optional<Key>> key_by_id(int64_t id) {
    WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kKeyColumns + " FROM keys WHERE id = ?"));
    stmt.bind(1, id);
    WGATE_ASSIGN_OR_RETURN(auto keys, read_all<Key>(stmt, read_key));
    if (keys.empty()) return std::optional<Key>();
    return std::optional<Key>(keys.front());
  }

  Result<std::vector<User>> all_users() {
    WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kUserColumns + " FROM users ORDER BY name"));
    return read_all<User>(stmt, read_user);
  }

  Result<std::vector<Membership>> all_memberships() {
    WGATE_ASSIGN_OR_RETURN(auto stmt,
                           db_.prepare("SELECT user_id, group_name FROM memberships ORDER BY user_id, group_name"));
    return read_all<Membership>(stmt, [](const Stmt& s) { return Membership{s.integer(0), s.text(1)}; });
  }

  Result<std::vector<Key>> all_keys() {
    WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kKeyColumns + " FROM keys ORDER BY id"));
    return read_all<Key>(stmt, read_key);
  }

  Result<std::vector<Lease>> all_current_leases() {
    WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kLeaseColumns +
                                                  " FROM leases WHERE until_ts IS NULL ORDER BY id"));
    return read_all<Lease>(stmt, read_lease);
  }

  Result<std::vector<Lease>> leases_where(const std::string& condition, const auto& value) {
    WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kLeaseColumns + " FROM leases WHERE " +
                                                  condition + " ORDER BY from_ts, id"));
    stmt.bind(1, value);
    return read_all<Lease>(stmt, read_lease);
  }

  // Leases `user_id` an address from `pool` (inside the caller's write
  // transaction) and returns it. Keeps a current lease the user already has.
  Result<IpAddress> lease_address(int64_t user_id, const Prefix& pool, UnixTime now) {
    const int64_t family = family_number(pool.family());
    WGATE_ASSIGN_OR_RETURN(auto history, leases_where("family = ?", family));
    WGATE_ASSIGN_OR_RETURN(IpAddress address, choose_address(pool, user_id, history));
    for (const Lease& l : history) {
      if (l.current() && l.user_id == user_id && l.address == address) return address;
    }
    WGATE_ASSIGN_OR_RETURN(auto insert, db_.prepare("INSERT INTO leases (user_id, address, family, from_ts, until_ts) "
                                                    "VALUES (?, ?, ?, ?, NULL)"));
    WGATE_TRY(insert.bind(1, user_id).bind(2, address.to_string()).bind(3, family).bind(4, now).run());
    return address;
  }

  Status audit(UnixTime at, const Actor& actor, const std::string& action, const std::string& subject,
               const std::string& detail) {
    WGATE_ASSIGN_OR_RETURN(
        auto insert, db_.prepare("INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)"));
    return insert.bind(1, at).bind(2, actor.name).bind(3, action).bind(4, subject).bind(5, detail).run();
  }

  Db db_;
  int64_t seen_data_version_ = -1;
  int64_t seen_total_changes_ = -1;
  uint64_t token_ = 0;
};

// --- opening -------------------------------------------------------------

// Applies every migration the database lacks, each in its own transaction.
Status migrate(Db& db) {
  WGATE_ASSIGN_OR_RETURN(int64_t version, db.query_int("PRAGMA user_version"));
  if (version > kSchemaVersion) {
    return make_error("its schema version " + std::to_string(version) + " is newer than this wgate understands (" +
                      std::to_string(kSchemaVersion) + "); use a newer wgate");
  }
  for (int next = static_cast<int>(version); next < kSchemaVersion; ++next) {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db, Transaction::Kind::write));
    // Another process may have migrated while we waited for the lock.
    WGATE_ASSIGN_OR_RETURN(int64_t now_version, db.query_int("PRAGMA user_version"));
    if (now_version > next) continue;
    auto applied = db.exec(kMigrations[next]);
    if (!applied) return applied.error().with_context("migrating to schema version " + std::to_string(next + 1));
    WGATE_TRY(db.exec("PRAGMA user_version = " + std::to_string(next + 1)));
    WGATE_TRY(txn.commit());
  }
  return ok_status();
}

Result<std::unique_ptr<Store>> open_store(const std::string& path) {
  // Create the file ourselves so that it never exists with a wider mode, not
  // even briefly; SQLite gives its -wal and -shm files the same mode.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return errno_error(errno, "creating '" + path + "'");
  ::close(fd);

  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);  // owns the handle even when opening failed
  if (rc != SQLITE_OK) return sqlite_error(raw, "sqlite3_open");
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  WGATE_TRY(db.exec("PRAGMA foreign_keys = ON"));

  {
    WGATE_ASSIGN_OR_RETURN(auto stmt, db.prepare("PRAGMA journal_mode = WAL"));
    WGATE_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row || stmt.text(0) != "wal") {
      return make_error("cannot switch to WAL mode (journal mode is '" + (row ? stmt.text(0) : "?") + "')");
    }
  }
  WGATE_TRY(migrate(db));

  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string side = path + suffix;
    if (::chmod(side.c_str(), 0600) != 0 && errno != ENOENT) return errno_error(errno, "chmod '" + side + "'");
  }
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(std::move(db)));
}

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path) {
  if (path.empty()) return make_error("opening store: no path given");
  auto store = open_store(path);
  if (!store) return store.error().with_context("opening store '" + path + "'");
  return store;
}

}  // namespace wgate
