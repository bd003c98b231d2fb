// SqliteStore: the embedded Store, one SQLite database file in WAL mode.
//
// Concurrency: the CLI and the daemon open the same file. Every write runs in
// a BEGIN IMMEDIATE transaction, so the write lock is taken up front and the
// checks made inside the transaction (name free, key unregistered, block
// free) cannot be invalidated by another process before the commit; waits
// for the lock are bounded by busy_timeout. Reads run in deferred
// transactions and see one consistent snapshot (WAL readers never block
// writers).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "core/ipam.h"
#include "core/names.h"
#include "store/sqlite_db.h"
#include "store/sqlite_schema.h"
#include "store/store.h"

namespace wgate {

namespace {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Transaction;
using Json = nlohmann::json;

constexpr int kBusyTimeoutMs = 5000;

constexpr const char* kUserColumns = "id, name, email, disabled, created_at";
constexpr const char* kDeviceColumns = "id, user_id, name, slot, created_at, removed_at";
constexpr const char* kKeyColumns =
    "id, user_id, device_id, group_name, public_key, created_at, expires_at, revoked_at, last_handshake_at, source, "
    "applied_at";
constexpr const char* kSessionColumns =
    "id_hash, user_id, kind, created_at, expires_at, csrf_token, oidc_sid, refresh_token, next_check_at, ended_at, "
    "end_reason, admin";
constexpr const char* kLoginRequestColumns =
    "handle_hash, kind, nonce, code_verifier, device_code, device_name, poll_interval, next_poll_at, return_to, "
    "created_at, expires_at";
constexpr const char* kOutboxColumns =
    "id, dedup_key, channel, kind, user_id, key_id, payload, created_at, attempts, next_attempt_at, delivered_at, "
    "failed_at, last_error, last_attempt_at";
constexpr const char* kLeaseColumns = "id, user_id, address, prefix_len, from_ts, until_ts";
constexpr const char* kAuditColumns = "id, at, actor, action, subject, detail";
constexpr const char* kApiTokenColumns =
    "id, name, token_hash, scope, created_at, created_by, expires_at, revoked_at, last_used_at";

ApiToken read_api_token(const Stmt& s) {
  ApiToken t;
  t.id = s.integer(0);
  t.name = s.text(1);
  t.token_hash = s.text(2);
  t.scope = s.text(3);
  t.created_at = s.integer(4);
  t.created_by = s.text(5);
  t.expires_at = s.integer(6);
  t.revoked_at = s.optional_integer(7);
  t.last_used_at = s.optional_integer(8);
  return t;
}

// A WHERE clause built from optional conditions, with its values bound in
// order: the pages' filters are never pasted into SQL text.
class Where {
 public:
  Where& add(std::string condition) {
    conditions_.push_back(std::move(condition));
    return *this;
  }
  template <class V>
  Where& add(std::string condition, V value) {
    conditions_.push_back(std::move(condition));
    values_.push_back(Value(std::move(value)));
    return *this;
  }
  std::string sql() const {
    std::string out;
    for (const auto& c : conditions_) out += (out.empty() ? " WHERE " : " AND ") + c;
    return out;
  }
  // Binds the values from index 1; returns the next free index.
  int bind(Stmt& stmt) const {
    int i = 1;
    for (const auto& v : values_) {
      if (v.text) {
        stmt.bind(i++, *v.text);
      } else {
        stmt.bind(i++, v.number);
      }
    }
    return i;
  }

 private:
  struct Value {
    explicit Value(int64_t n) : number(n) {}
    explicit Value(std::string t) : text(std::move(t)) {}
    int64_t number = 0;
    std::optional<std::string> text;
  };
  std::vector<std::string> conditions_;
  std::vector<Value> values_;
};

int64_t sql_limit(size_t limit) { return static_cast<int64_t>(std::min<size_t>(limit, 100000)); }

// `text` with LIKE's wildcards escaped (ESCAPE '\'), for prefix matches.
std::string like_prefix(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out + "%";
}

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

Device read_device(const Stmt& s) {
  Device d;
  d.id = s.integer(0);
  d.user_id = s.integer(1);
  d.name = s.text(2);
  d.slot = static_cast<uint32_t>(std::clamp<int64_t>(s.integer(3), 0, std::numeric_limits<uint32_t>::max()));
  d.created_at = s.integer(4);
  d.removed_at = s.optional_integer(5);
  return d;
}

Result<Key> read_key(const Stmt& s) {
  Key k;
  k.id = s.integer(0);
  k.user_id = s.integer(1);
  k.device_id = s.optional_integer(2).value_or(0);
  k.group = s.text(3);
  auto public_key = WgKey::from_base64(s.text(4));
  if (!public_key) return public_key.error().with_context("stored key " + std::to_string(k.id));
  k.public_key = *public_key;
  k.created_at = s.integer(5);
  k.expires_at = s.integer(6);
  k.revoked_at = s.optional_integer(7);
  k.last_handshake_at = s.optional_integer(8);
  k.source = s.text(9);
  k.applied_at = s.optional_integer(10);
  return k;
}

WebSession read_session(const Stmt& s) {
  WebSession w;
  w.id_hash = s.text(0);
  w.user_id = s.integer(1);
  w.kind = s.text(2) == "cli" ? WebSession::Kind::cli : WebSession::Kind::browser;
  w.created_at = s.integer(3);
  w.expires_at = s.integer(4);
  w.csrf_token = s.text(5);
  w.oidc_sid = s.text(6);
  w.refresh_token = s.text(7);
  w.next_check_at = s.integer(8);
  w.ended_at = s.optional_integer(9);
  w.end_reason = s.text(10);
  w.admin = s.integer(11) != 0;
  return w;
}

LoginRequest read_login_request(const Stmt& s) {
  LoginRequest r;
  r.handle_hash = s.text(0);
  r.kind = s.text(1) == "device" ? LoginRequest::Kind::device : LoginRequest::Kind::browser;
  r.nonce = s.text(2);
  r.code_verifier = s.text(3);
  r.device_code = s.text(4);
  r.device_name = s.text(5);
  r.poll_interval = s.integer(6);
  r.next_poll_at = s.integer(7);
  r.return_to = s.text(8);
  r.created_at = s.integer(9);
  r.expires_at = s.integer(10);
  return r;
}

OutboxEntry read_outbox(const Stmt& s) {
  OutboxEntry e;
  e.id = s.integer(0);
  e.dedup_key = s.text(1);
  e.channel = s.text(2);
  e.kind = s.text(3);
  e.user_id = s.optional_integer(4);
  e.key_id = s.optional_integer(5);
  e.payload = s.text(6);
  e.created_at = s.integer(7);
  e.attempts = static_cast<int>(s.integer(8));
  e.next_attempt_at = s.integer(9);
  e.delivered_at = s.optional_integer(10);
  e.failed_at = s.optional_integer(11);
  e.last_error = s.text(12);
  e.last_attempt_at = s.optional_integer(13);
  return e;
}

Result<Lease> read_lease(const Stmt& s) {
  Lease l;
  l.id = s.integer(0);
  l.user_id = s.integer(1);
  auto block = Prefix::parse(s.text(2) + "/" + std::to_string(s.integer(3)));
  if (!block) return block.error().with_context("stored lease " + std::to_string(l.id));
  l.block = *block;
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

constexpr const char* kFlowColumns =
    "id, at, user_id, user_name, device_name, source, destination, protocol, source_port, destination_port, "
    "allowed, reason, interface";

Result<FlowRecord> read_flow(const Stmt& s) {
  FlowRecord f;
  f.id = s.integer(0);
  f.at = s.integer(1);
  f.user_id = s.optional_integer(2);
  f.user = s.text(3);
  f.device = s.text(4);
  auto source = IpAddress::parse(s.text(5));
  auto destination = IpAddress::parse(s.text(6));
  if (!source) return source.error().with_context("stored flow " + std::to_string(f.id));
  if (!destination) return destination.error().with_context("stored flow " + std::to_string(f.id));
  f.source = *source;
  f.destination = *destination;
  f.protocol = static_cast<uint8_t>(s.integer(7));
  f.source_port = static_cast<uint16_t>(s.integer(8));
  f.destination_port = static_cast<uint16_t>(s.integer(9));
  f.allowed = s.integer(10) != 0;
  f.reason = s.text(11);
  f.interface = s.text(12);
  return f;
}

// SQLite integers are signed 64-bit; a counter past 2^63 (never, in
// practice) is stored as the largest one rather than as a negative number.
int64_t stored_count(uint64_t v) {
  return static_cast<int64_t>(std::min<uint64_t>(v, std::numeric_limits<int64_t>::max()));
}
uint64_t read_count(const Stmt& s, int col) { return static_cast<uint64_t>(std::max<int64_t>(s.integer(col), 0)); }

TrafficCounters read_counters(const Stmt& s, int first_col) {
  return TrafficCounters{read_count(s, first_col), read_count(s, first_col + 1), read_count(s, first_col + 2),
                         read_count(s, first_col + 3)};
}
Stmt& bind_counters(Stmt& stmt, int first_index, const TrafficCounters& c) {
  return stmt.bind(first_index, stored_count(c.pass_packets))
      .bind(first_index + 1, stored_count(c.pass_bytes))
      .bind(first_index + 2, stored_count(c.drop_packets))
      .bind(first_index + 3, stored_count(c.drop_bytes));
}

int family_number(IpFamily f) { return f == IpFamily::v4 ? 4 : 6; }

// --- the store -----------------------------------------------------------

class SqliteStore final : public Store {
 public:
  SqliteStore(Db db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}

  Result<User> add_user(const NewUser& new_user, const AddressPlan& plan, UnixTime now, const Actor& actor) override {
    WGATE_TRY(check_user_name(new_user.name));
    WGATE_TRY(check_text("email", new_user.email, 254));
    std::set<std::string> groups;
    for (const auto& g : new_user.groups) {
      if (g.empty()) return make_error("a group name must not be empty");
      if (!groups.insert(g).second) return make_error("group '" + g + "' is given twice");
    }
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto existing, user_by_name(new_user.name));
    if (existing) return make_error("user '" + new_user.name + "' already exists");

    WGATE_ASSIGN_OR_RETURN(auto insert,
                           db_.prepare("INSERT INTO users (name, email, disabled, created_at) VALUES (?, ?, 0, ?)"));
    WGATE_TRY(insert.bind(1, new_user.name).bind(2, new_user.email).bind(3, now).run());
    User user{db_.last_insert_id(), new_user.name, new_user.email, false, now};
    for (const auto& g : groups) WGATE_TRY(insert_membership(user.id, g));

    auto block = lease_block(user.id, plan, now);
    if (!block) return block.error().with_context("cannot add user '" + new_user.name + "'");
    WGATE_TRY(audit(now, actor, "user.add", user.name,
                    {{"email", user.email}, {"block", block->to_string()}, {"groups", groups}}));
    WGATE_TRY(txn.commit());
    return user;
  }

  Result<std::optional<User>> find_user(const std::string& name) override {
    return read([&] { return user_by_name(name); });
  }

  Result<std::vector<User>> list_users() override {
    return read([&] { return all_users(); });
  }

  Status set_user_disabled(const std::string& name, bool disabled, const AddressPlan& plan, UnixTime now,
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
      // and re-enabling can hand the same block back.
      WGATE_ASSIGN_OR_RETURN(auto current, leases_where("user_id = ? AND until_ts IS NULL", user.id));
      WGATE_TRY(end_leases_of(user.id, now));
      Json detail = Json::object();
      if (!current.empty()) detail["released"] = current.front().block.to_string();
      WGATE_TRY(audit(now, actor, "user.disable", name, detail));
    } else {
      auto block = lease_block(user.id, plan, now);
      if (!block) return block.error().with_context("cannot enable user '" + name + "'");
      WGATE_TRY(audit(now, actor, "user.enable", name, {{"block", block->to_string()}}));
    }
    return txn.commit();
  }

  Status add_membership(const std::string& user_name, const std::string& group, const Actor& actor,
                        UnixTime now) override {
    if (group.empty()) return make_error("a group name must not be empty");
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(User user, require_user(user_name));
    WGATE_ASSIGN_OR_RETURN(bool added, insert_membership(user.id, group));
    if (!added) return make_error("user '" + user_name + "' is already in group '" + group + "'");
    WGATE_TRY(audit(now, actor, "membership.add", user_name, {{"group", group}}));
    return txn.commit();
  }

  Status remove_membership(const std::string& user_name, const std::string& group, const Actor& actor,
                           UnixTime now) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(User user, require_user(user_name));
    WGATE_ASSIGN_OR_RETURN(auto del, db_.prepare("DELETE FROM memberships WHERE user_id = ? AND group_name = ?"));
    WGATE_TRY(del.bind(1, user.id).bind(2, group).run());
    if (db_.changes() == 0) return make_error("user '" + user_name + "' is not in group '" + group + "'");
    WGATE_TRY(audit(now, actor, "membership.remove", user_name, {{"group", group}}));
    return txn.commit();
  }

  Result<std::vector<Membership>> list_memberships() override {
    return read([&] { return all_memberships(); });
  }

  Result<std::vector<Device>> list_devices(bool include_removed) override {
    return read([&] { return devices_where(include_removed ? "1" : "removed_at IS NULL"); });
  }

  Status remove_device(const std::string& user_name, const std::string& device_name, UnixTime now,
                       const Actor& actor) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(User user, require_user(user_name));
    WGATE_ASSIGN_OR_RETURN(auto device, current_device(user.id, device_name));
    if (!device) return make_error("user '" + user_name + "' has no device '" + device_name + "'");
    WGATE_ASSIGN_OR_RETURN(auto revoke, db_.prepare("UPDATE keys SET revoked_at = ? WHERE device_id = ? AND "
                                                    "revoked_at IS NULL"));
    WGATE_TRY(revoke.bind(1, now).bind(2, device->id).run());
    const int64_t revoked = db_.changes();
    WGATE_ASSIGN_OR_RETURN(auto remove, db_.prepare("UPDATE devices SET removed_at = ? WHERE id = ?"));
    WGATE_TRY(remove.bind(1, now).bind(2, device->id).run());
    WGATE_TRY(audit(now, actor, "device.remove", user_name,
                    {{"device", device_name}, {"slot", device->slot}, {"keys_revoked", revoked}}));
    return txn.commit();
  }

  Result<Key> add_key(const NewKey& new_key, uint32_t per_user, UnixTime now, const Actor& actor) override {
    if (new_key.group.empty()) return make_error("a group name must not be empty");
    WGATE_TRY(check_device_name(new_key.device));
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(User user, require_user(new_key.user));
    if (user.disabled) return make_error("user '" + user.name + "' is disabled");

    // Checked inside the write transaction, so two concurrent `key add`s
    // cannot both pass.
    WGATE_ASSIGN_OR_RETURN(auto member,
                           db_.prepare("SELECT 1 FROM memberships WHERE user_id = ? AND group_name = ?"));
    member.bind(1, user.id).bind(2, new_key.group);
    WGATE_ASSIGN_OR_RETURN(bool is_member, member.step());
    if (!is_member) return make_error("user '" + user.name + "' is not a member of group '" + new_key.group + "'");

    // A key stays registered after revocation: a revoked (perhaps leaked)
    // key must not come back under another name.
    const std::string b64 = new_key.public_key.to_base64();
    WGATE_ASSIGN_OR_RETURN(auto owner,
                           db_.prepare("SELECT k.id, u.name, k.revoked_at FROM keys k JOIN users u ON u.id = k.user_id "
                                       "WHERE k.public_key = ?"));
    owner.bind(1, b64);
    WGATE_ASSIGN_OR_RETURN(bool taken, owner.step());
    if (taken) {
      return make_error("key " + b64 + " is already registered to user '" + owner.text(1) + "' (key " +
                        std::to_string(owner.integer(0)) + (owner.optional_integer(2) ? ", revoked)" : ")"));
    }

    WGATE_ASSIGN_OR_RETURN(auto device, current_device(user.id, new_key.device));
    bool new_device = false;
    if (!device) {
      WGATE_ASSIGN_OR_RETURN(device, create_device(user, new_key.device, per_user, now));
      new_device = true;
    }

    if (new_key.max_live_per_user > 0) {
      WGATE_ASSIGN_OR_RETURN(auto live, db_.prepare("SELECT COUNT(*) FROM keys WHERE user_id = ? AND revoked_at IS NULL "
                                                    "AND (expires_at = 0 OR expires_at > ?)"));
      live.bind(1, user.id).bind(2, now);
      WGATE_ASSIGN_OR_RETURN(bool row, live.step());
      const int64_t count = row ? live.integer(0) : 0;
      if (count >= new_key.max_live_per_user) {
        return make_error("user '" + user.name + "' already has " + std::to_string(count) +
                          " live keys (keys.max_live_per_user = " + std::to_string(new_key.max_live_per_user) +
                          "); revoke one or let one expire first");
      }
    }
    WGATE_ASSIGN_OR_RETURN(auto insert, db_.prepare("INSERT INTO keys (user_id, device_id, group_name, public_key, "
                                                    "label, created_at, expires_at, source) VALUES (?, ?, ?, ?, ?, ?, "
                                                    "?, ?)"));
    WGATE_TRY(insert.bind(1, user.id)
                  .bind(2, device->id)
                  .bind(3, new_key.group)
                  .bind(4, b64)
                  .bind(5, new_key.device)
                  .bind(6, now)
                  .bind(7, new_key.expires_at)
                  .bind(8, new_key.source)
                  .run());
    Key key;
    key.id = db_.last_insert_id();
    key.user_id = user.id;
    key.device_id = device->id;
    key.group = new_key.group;
    key.public_key = new_key.public_key;
    key.created_at = now;
    key.expires_at = new_key.expires_at;
    key.source = new_key.source;
    WGATE_TRY(audit(now, actor, "key.add", user.name,
                    {{"key_id", key.id},
                     {"device", device->name},
                     {"new_device", new_device},
                     {"slot", device->slot},
                     {"group", key.group},
                     {"public_key", b64},
                     {"source", key.source},
                     {"expires_at", key.expires_at}}));
    WGATE_TRY(txn.commit());
    return key;
  }

  Result<std::optional<Key>> find_key(int64_t id) override {
    return read([&] { return key_by_id(id); });
  }

  Result<std::vector<Key>> list_keys() override {
    return read([&] { return all_keys(); });
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
                    {{"key_id", id}, {"group", key->group}, {"public_key", key->public_key.to_base64()}}));
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
    return read([&] { return all_current_leases(); });
  }

  Result<std::vector<Lease>> lease_history(const IpAddress& address) override {
    WGATE_ASSIGN_OR_RETURN(auto all, read([&] { return leases_where("family = ?", family_number(address.family())); }));
    std::vector<Lease> out;
    for (auto& l : all) {
      if (l.block.contains(address)) out.push_back(std::move(l));
    }
    return out;
  }

  Result<std::vector<Lease>> all_leases() override {
    return read([&]() -> Result<std::vector<Lease>> {
      WGATE_ASSIGN_OR_RETURN(auto stmt,
                             db_.prepare(std::string("SELECT ") + kLeaseColumns + " FROM leases ORDER BY from_ts, id"));
      return read_all<Lease>(stmt, read_lease);
    });
  }

  Result<std::vector<LeaseMove>> relocate_leases(const AddressPlan& plan, UnixTime now, const Actor& actor) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto current, all_current_leases());
    std::vector<Lease> misfits;
    for (const auto& l : current) {
      if (l.block.family() == plan.pool.family() && !block_fits(l.block, plan.pool, plan.per_user)) {
        misfits.push_back(l);
      }
    }
    if (misfits.empty()) return std::vector<LeaseMove>{};
    // End them all first, so that nobody's old lease keeps another person
    // from the block they should get.
    for (const auto& l : misfits) {
      WGATE_ASSIGN_OR_RETURN(auto end, db_.prepare("UPDATE leases SET until_ts = ? WHERE id = ?"));
      WGATE_TRY(end.bind(1, now).bind(2, l.id).run());
    }
    std::sort(misfits.begin(), misfits.end(), [](const Lease& a, const Lease& b) { return a.user_id < b.user_id; });
    std::vector<LeaseMove> moves;
    for (const auto& l : misfits) {
      WGATE_ASSIGN_OR_RETURN(auto user, user_by_id(l.user_id));
      const std::string name = user ? user->name : std::to_string(l.user_id);
      auto block = lease_block(l.user_id, plan, now);
      if (!block) return block.error().with_context("moving the address block of user '" + name + "'");
      WGATE_TRY(audit(now, actor, "lease.move", name,
                      {{"from", l.block.to_string()}, {"to", block->to_string()}, {"per_user", plan.per_user}}));
      moves.push_back(LeaseMove{name, l.block, *block});
    }
    WGATE_TRY(txn.commit());
    return moves;
  }

  // --- SSO -------------------------------------------------------------------

  Result<SsoLoginResult> record_sso_login(const SsoLogin& login, const AddressPlan& plan, UnixTime now,
                                          const Actor& actor) override {
    if (login.issuer.empty() || login.subject.empty()) return make_error("an SSO login needs an issuer and a subject");
    WGATE_TRY(check_text("subject", login.subject, 255));
    WGATE_TRY(check_text("email", login.email, 254));
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    SsoLoginResult result;
    WGATE_ASSIGN_OR_RETURN(auto find, db_.prepare("SELECT user_id FROM identities WHERE issuer = ? AND subject = ?"));
    find.bind(1, login.issuer).bind(2, login.subject);
    WGATE_ASSIGN_OR_RETURN(bool known, find.step());
    std::optional<User> user;
    if (known) {
      WGATE_ASSIGN_OR_RETURN(user, user_by_id(find.integer(0)));
      if (!user) return make_error("identity of " + login.subject + " points to a user that does not exist");
    } else {
      WGATE_ASSIGN_OR_RETURN(user, link_or_create_sso_user(login, plan, now, actor, result.created));
      WGATE_ASSIGN_OR_RETURN(auto link, db_.prepare("INSERT INTO identities (issuer, subject, user_id, created_at) "
                                                    "VALUES (?, ?, ?, ?)"));
      WGATE_TRY(link.bind(1, login.issuer).bind(2, login.subject).bind(3, user->id).bind(4, now).run());
      WGATE_TRY(audit(now, actor, "identity.link", user->name,
                      {{"issuer", login.issuer}, {"subject", login.subject}, {"new_user", result.created}}));
    }
    if (user->disabled) return make_error("user '" + user->name + "' is disabled in wgate");
    WGATE_ASSIGN_OR_RETURN(auto seen, db_.prepare("UPDATE identities SET last_login_at = ? WHERE issuer = ? AND "
                                                  "subject = ?"));
    WGATE_TRY(seen.bind(1, now).bind(2, login.issuer).bind(3, login.subject).run());
    WGATE_TRY(set_groups(*user, login.groups, now, actor, result));
    result.user = *user;
    WGATE_TRY(txn.commit());
    return result;
  }

  Result<SsoLoginResult> sync_sso_groups(int64_t user_id, const std::vector<std::string>& groups, UnixTime now,
                                         const Actor& actor) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto user, user_by_id(user_id));
    if (!user) return make_error("no user with id " + std::to_string(user_id));
    SsoLoginResult result;
    result.user = *user;
    WGATE_TRY(set_groups(*user, groups, now, actor, result));
    WGATE_TRY(txn.commit());
    return result;
  }

  Result<std::vector<Identity>> list_identities() override {
    return read([&]() -> Result<std::vector<Identity>> {
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare("SELECT issuer, subject, user_id, created_at, last_login_at FROM "
                                                    "identities ORDER BY user_id"));
      return read_all<Identity>(stmt, [](const Stmt& s) {
        return Identity{s.text(0), s.text(1), s.integer(2), s.integer(3), s.optional_integer(4)};
      });
    });
  }

  Result<Deprovisioned> deprovision_user(int64_t user_id, const std::string& reason, UnixTime now,
                                         const Actor& actor) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto user, user_by_id(user_id));
    if (!user) return make_error("no user with id " + std::to_string(user_id));
    Deprovisioned d;
    WGATE_ASSIGN_OR_RETURN(auto revoke, db_.prepare("UPDATE keys SET revoked_at = ? WHERE user_id = ? AND revoked_at "
                                                    "IS NULL AND (expires_at = 0 OR expires_at > ?)"));
    WGATE_TRY(revoke.bind(1, now).bind(2, user_id).bind(3, now).run());
    d.keys_revoked = static_cast<int>(db_.changes());
    WGATE_ASSIGN_OR_RETURN(auto end, db_.prepare("UPDATE web_sessions SET ended_at = ?, end_reason = ? WHERE user_id = "
                                                 "? AND ended_at IS NULL"));
    WGATE_TRY(end.bind(1, now).bind(2, reason).bind(3, user_id).run());
    d.sessions_ended = static_cast<int>(db_.changes());
    WGATE_TRY(audit(now, actor, "user.deprovision", user->name,
                    {{"reason", reason}, {"keys_revoked", d.keys_revoked}, {"sessions_ended", d.sessions_ended}}));
    WGATE_TRY(txn.commit());
    return d;
  }

  Status create_session(const WebSession& w, const Actor& actor) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto user, user_by_id(w.user_id));
    if (!user) return make_error("no user with id " + std::to_string(w.user_id));
    WGATE_ASSIGN_OR_RETURN(auto insert, db_.prepare(std::string("INSERT INTO web_sessions (") + kSessionColumns +
                                                    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '', ?)"));
    WGATE_TRY(insert.bind(1, w.id_hash)
                  .bind(2, w.user_id)
                  .bind(3, std::string(w.kind == WebSession::Kind::cli ? "cli" : "browser"))
                  .bind(4, w.created_at)
                  .bind(5, w.expires_at)
                  .bind(6, w.csrf_token)
                  .bind(7, w.oidc_sid)
                  .bind(8, w.refresh_token)
                  .bind(9, w.next_check_at)
                  .bind(10, int64_t{w.admin})
                  .run());
    WGATE_TRY(audit(w.created_at, actor, "session.start", user->name,
                    {{"kind", w.kind == WebSession::Kind::cli ? "cli" : "browser"},
                     {"expires_at", w.expires_at},
                     {"admin", w.admin}}));
    return txn.commit();
  }

  Result<std::optional<WebSession>> find_session(const std::string& id_hash) override {
    return read([&]() -> Result<std::optional<WebSession>> {
      WGATE_ASSIGN_OR_RETURN(auto found, sessions_where("id_hash = ?", id_hash));
      if (found.empty()) return std::optional<WebSession>();
      return std::optional<WebSession>(found.front());
    });
  }

  Status end_session(const std::string& id_hash, const std::string& reason, UnixTime now,
                     const Actor& actor) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto found, sessions_where("id_hash = ? AND ended_at IS NULL", id_hash));
    if (found.empty()) return ok_status();
    WGATE_ASSIGN_OR_RETURN(auto end, db_.prepare("UPDATE web_sessions SET ended_at = ?, end_reason = ? WHERE id_hash = "
                                                 "?"));
    WGATE_TRY(end.bind(1, now).bind(2, reason).bind(3, id_hash).run());
    WGATE_ASSIGN_OR_RETURN(auto user, user_by_id(found.front().user_id));
    WGATE_TRY(audit(now, actor, "session.end", user ? user->name : std::string("?"), {{"reason", reason}}));
    return txn.commit();
  }

  Result<std::vector<WebSession>> sessions_due_for_check(UnixTime now, size_t limit) override {
    return read([&]() -> Result<std::vector<WebSession>> {
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kSessionColumns +
                                                    " FROM web_sessions WHERE ended_at IS NULL AND expires_at > ? AND "
                                                    "next_check_at <= ? ORDER BY next_check_at LIMIT ?"));
      stmt.bind(1, now).bind(2, now).bind(3, static_cast<int64_t>(limit));
      return read_all<WebSession>(stmt, read_session);
    });
  }

  Result<std::vector<WebSession>> sessions_with_sid(const std::string& oidc_sid) override {
    return read([&] { return sessions_where("oidc_sid = ? AND oidc_sid <> ''", oidc_sid); });
  }

  Status set_session_check(const std::string& id_hash, UnixTime next_check_at,
                           const std::optional<std::string>& new_refresh_token) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto update, db_.prepare("UPDATE web_sessions SET next_check_at = ?1, refresh_token = "
                                                    "COALESCE(?2, refresh_token) WHERE id_hash = ?3"));
    update.bind(1, next_check_at).bind(3, id_hash);
    if (new_refresh_token) {
      update.bind(2, *new_refresh_token);
    } else {
      update.bind(2, std::optional<int64_t>());
    }
    WGATE_TRY(update.run());
    return txn.commit();
  }

  Status set_session_admin(const std::string& id_hash, bool admin, UnixTime now, const Actor& actor) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto find, db_.prepare("SELECT u.name FROM web_sessions s JOIN users u ON u.id = s.user_id "
                                                  "WHERE s.id_hash = ?"));
    find.bind(1, id_hash);
    WGATE_ASSIGN_OR_RETURN(bool found, find.step());
    if (!found) return make_error("no such session");
    const std::string user = find.text(0);
    WGATE_ASSIGN_OR_RETURN(auto update, db_.prepare("UPDATE web_sessions SET admin = ? WHERE id_hash = ?"));
    WGATE_TRY(update.bind(1, int64_t{admin ? 1 : 0}).bind(2, id_hash).run());
    // The hash prefix names the session as the session records do, never
    // the token.
    WGATE_TRY(audit(now, actor, admin ? "session.admin_granted" : "session.admin_revoked", user,
                    Json{{"session", id_hash.substr(0, 12)}}));
    return txn.commit();
  }

  Status put_login_request(const LoginRequest& r) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    // Abandoned logins leave rows behind: sweep the expired ones here.
    WGATE_ASSIGN_OR_RETURN(auto sweep, db_.prepare("DELETE FROM login_requests WHERE expires_at <= ?"));
    WGATE_TRY(sweep.bind(1, r.created_at).run());
    WGATE_ASSIGN_OR_RETURN(auto insert, db_.prepare(std::string("INSERT INTO login_requests (") + kLoginRequestColumns +
                                                    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    WGATE_TRY(insert.bind(1, r.handle_hash)
                  .bind(2, std::string(r.kind == LoginRequest::Kind::device ? "device" : "browser"))
                  .bind(3, r.nonce)
                  .bind(4, r.code_verifier)
                  .bind(5, r.device_code)
                  .bind(6, r.device_name)
                  .bind(7, r.poll_interval)
                  .bind(8, r.next_poll_at)
                  .bind(9, r.return_to)
                  .bind(10, r.created_at)
                  .bind(11, r.expires_at)
                  .run());
    return txn.commit();
  }

  Result<std::optional<LoginRequest>> find_login_request(const std::string& handle_hash, UnixTime now) override {
    return read([&]() -> Result<std::optional<LoginRequest>> {
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kLoginRequestColumns +
                                                    " FROM login_requests WHERE handle_hash = ? AND expires_at > ?"));
      stmt.bind(1, handle_hash).bind(2, now);
      WGATE_ASSIGN_OR_RETURN(auto found, read_all<LoginRequest>(stmt, read_login_request));
      if (found.empty()) return std::optional<LoginRequest>();
      return std::optional<LoginRequest>(found.front());
    });
  }

  Result<std::optional<LoginRequest>> take_login_request(const std::string& handle_hash, UnixTime now) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kLoginRequestColumns +
                                                  " FROM login_requests WHERE handle_hash = ?"));
    stmt.bind(1, handle_hash);
    WGATE_ASSIGN_OR_RETURN(auto found, read_all<LoginRequest>(stmt, read_login_request));
    WGATE_ASSIGN_OR_RETURN(auto del, db_.prepare("DELETE FROM login_requests WHERE handle_hash = ?"));
    WGATE_TRY(del.bind(1, handle_hash).run());
    WGATE_TRY(txn.commit());
    if (found.empty() || found.front().expires_at <= now) return std::optional<LoginRequest>();
    return std::optional<LoginRequest>(found.front());
  }

  Status set_login_request_poll(const std::string& handle_hash, int64_t interval, UnixTime next_poll_at) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto update, db_.prepare("UPDATE login_requests SET poll_interval = ?, next_poll_at = ? "
                                                    "WHERE handle_hash = ?"));
    WGATE_TRY(update.bind(1, interval).bind(2, next_poll_at).bind(3, handle_hash).run());
    return txn.commit();
  }

  Result<bool> remember_logout_token(const std::string& jti, UnixTime expires_at, UnixTime now) override {
    WGATE_TRY(check_text("jti", jti, 255));
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto sweep, db_.prepare("DELETE FROM logout_tokens WHERE expires_at <= ?"));
    WGATE_TRY(sweep.bind(1, now).run());
    WGATE_ASSIGN_OR_RETURN(auto insert, db_.prepare("INSERT OR IGNORE INTO logout_tokens (jti, expires_at) VALUES (?, "
                                                    "?)"));
    WGATE_TRY(insert.bind(1, jti).bind(2, expires_at).run());
    const bool fresh = db_.changes() != 0;
    WGATE_TRY(txn.commit());
    return fresh;
  }

  // --- alert outbox ------------------------------------------------------------

  Result<bool> enqueue_alert(const OutboxEntry& e) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto insert, db_.prepare("INSERT OR IGNORE INTO alert_outbox (dedup_key, channel, kind, "
                                                    "user_id, key_id, payload, created_at, next_attempt_at, "
                                                    "delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    WGATE_TRY(insert.bind(1, e.dedup_key)
                  .bind(2, e.channel)
                  .bind(3, e.kind)
                  .bind(4, e.user_id)
                  .bind(5, e.key_id)
                  .bind(6, e.payload)
                  .bind(7, e.created_at)
                  .bind(8, e.next_attempt_at)
                  .bind(9, e.delivered_at)
                  .run());
    const bool added = db_.changes() != 0;
    if (added) {
      WGATE_TRY(audit(e.created_at, Actor{"agent"}, "alert.raise", e.dedup_key,
                      {{"kind", e.kind}, {"channel", e.channel}}));
    }
    WGATE_TRY(txn.commit());
    return added;
  }

  Result<std::vector<OutboxEntry>> due_alerts(UnixTime now, size_t limit) override {
    return read([&]() -> Result<std::vector<OutboxEntry>> {
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kOutboxColumns +
                                                    " FROM alert_outbox WHERE delivered_at IS NULL AND failed_at IS "
                                                    "NULL AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?"));
      stmt.bind(1, now).bind(2, static_cast<int64_t>(limit));
      return read_all<OutboxEntry>(stmt, read_outbox);
    });
  }

  // Only a pending entry (neither delivered nor given up) changes. Marking
  // one delivered again is a no-op (the sender may retry the recording);
  // anything else on a finished or unknown entry is an error.
  Status mark_alert_delivered(int64_t id, UnixTime now) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto update, db_.prepare("UPDATE alert_outbox SET delivered_at = ?, last_attempt_at = ?, "
                                                    "attempts = attempts + 1 WHERE id = ? AND delivered_at IS NULL AND "
                                                    "failed_at IS NULL"));
    WGATE_TRY(update.bind(1, now).bind(2, now).bind(3, id).run());
    const bool changed = db_.changes() != 0;
    WGATE_ASSIGN_OR_RETURN(auto entry, outbox_entry(id));
    if (!changed) {
      if (entry && entry->delivered_at) return ok_status();
      return make_error("alert " + std::to_string(id) + (entry ? " was given up" : " is unknown"));
    }
    WGATE_TRY(audit(now, Actor{"agent"}, "alert.delivered", entry->dedup_key, {{"channel", entry->channel}}));
    WGATE_TRY(add_to_counter(kCounterAlertSent, entry->channel, entry->kind, 1));
    return txn.commit();
  }

  Status mark_alert_failed(int64_t id, const std::string& error, UnixTime next_attempt_at, bool give_up,
                           UnixTime now) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto update, db_.prepare("UPDATE alert_outbox SET attempts = attempts + 1, last_error = ?, "
                                                    "next_attempt_at = ?, last_attempt_at = ?, failed_at = ? WHERE id = "
                                                    "? AND delivered_at IS NULL AND failed_at IS NULL"));
    WGATE_TRY(update.bind(1, error.substr(0, 500))
                  .bind(2, next_attempt_at)
                  .bind(3, now)
                  .bind(4, give_up ? std::optional<int64_t>(now) : std::nullopt)
                  .bind(5, id)
                  .run());
    if (db_.changes() == 0) return make_error("alert " + std::to_string(id) + " is unknown or no longer pending");
    WGATE_ASSIGN_OR_RETURN(auto entry, outbox_entry(id));
    if (!entry) return make_error("alert " + std::to_string(id) + " vanished while marked failed");  // same transaction: a bug
    WGATE_TRY(add_to_counter(kCounterAlertAttemptFailed, entry->channel, entry->kind, 1));
    if (give_up) {
      WGATE_TRY(audit(now, Actor{"agent"}, "alert.failed", entry->dedup_key, {{"error", error.substr(0, 500)}}));
      WGATE_TRY(add_to_counter(kCounterAlertFailed, entry->channel, entry->kind, 1));
    }
    return txn.commit();
  }

  Result<std::vector<OutboxEntry>> list_alerts(size_t limit) override {
    return read([&]() -> Result<std::vector<OutboxEntry>> {
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kOutboxColumns +
                                                    " FROM alert_outbox ORDER BY id DESC LIMIT ?"));
      stmt.bind(1, static_cast<int64_t>(limit));
      return read_all<OutboxEntry>(stmt, read_outbox);
    });
  }

  Status mark_keys_applied(const std::vector<int64_t>& key_ids, UnixTime now) override {
    if (key_ids.empty()) return ok_status();
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto update, db_.prepare("UPDATE keys SET applied_at = ? WHERE id = ? AND applied_at IS "
                                                    "NULL"));
    for (int64_t id : key_ids) {
      WGATE_TRY(update.bind(1, now).bind(2, id).run());
      update.reset();
    }
    return txn.commit();
  }

  Result<int> audit_expired_keys(UnixTime now) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto select, db_.prepare("SELECT k.id, u.name, COALESCE(d.name, ''), k.group_name, k.expires_at FROM "
                                                    "keys k JOIN users u ON u.id = k.user_id LEFT JOIN devices d ON "
                                                    "d.id = k.device_id WHERE k.expires_at > 0 AND k.expires_at <= ? "
                                                    "AND k.revoked_at IS NULL AND k.expiry_audited = 0"));
    select.bind(1, now);
    struct Expired {
      int64_t id;
      std::string user, device, group;
      UnixTime at;
    };
    std::vector<Expired> expired;
    while (true) {
      WGATE_ASSIGN_OR_RETURN(bool row, select.step());
      if (!row) break;
      expired.push_back({select.integer(0), select.text(1), select.text(2), select.text(3),
                         select.integer(4)});
    }
    if (expired.empty()) return 0;
    WGATE_ASSIGN_OR_RETURN(auto mark, db_.prepare("UPDATE keys SET expiry_audited = 1 WHERE id = ?"));
    for (const auto& e : expired) {
      WGATE_TRY(mark.bind(1, e.id).run());
      mark.reset();
      WGATE_TRY(audit(e.at, Actor{"agent"}, "key.expire", std::to_string(e.id),
                      {{"user", e.user}, {"device", e.device}, {"group", e.group}}));
    }
    WGATE_TRY(txn.commit());
    return static_cast<int>(expired.size());
  }

  Status record_interface(const std::string& name, UnixTime now, const Actor& actor) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto insert, db_.prepare("INSERT OR IGNORE INTO interfaces (name, created_at) VALUES (?, ?)"));
    WGATE_TRY(insert.bind(1, name).bind(2, now).run());
    if (db_.changes() == 0) return ok_status();  // already recorded: nothing changed
    WGATE_TRY(audit(now, actor, "interface.create", name, Json::object()));
    return txn.commit();
  }

  Status forget_interface(const std::string& name, UnixTime now, const Actor& actor) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto del, db_.prepare("DELETE FROM interfaces WHERE name = ?"));
    WGATE_TRY(del.bind(1, name).run());
    if (db_.changes() == 0) return ok_status();
    WGATE_TRY(audit(now, actor, "interface.remove", name, Json::object()));
    return txn.commit();
  }

  Result<std::vector<std::string>> managed_interfaces() override {
    return read([&]() -> Result<std::vector<std::string>> {
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare("SELECT name FROM interfaces ORDER BY name"));
      return read_all<std::string>(stmt, [](const Stmt& s) { return s.text(0); });
    });
  }

  Result<State> snapshot() override {
    return read([&]() -> Result<State> {
      State state;
      WGATE_ASSIGN_OR_RETURN(state.users, all_users());
      WGATE_ASSIGN_OR_RETURN(state.memberships, all_memberships());
      WGATE_ASSIGN_OR_RETURN(state.devices, devices_where("removed_at IS NULL"));
      WGATE_ASSIGN_OR_RETURN(state.keys, all_keys());
      WGATE_ASSIGN_OR_RETURN(state.current_leases, all_current_leases());
      return state;
    });
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

  std::vector<std::string> change_signal_paths() const override {
    // In WAL mode every commit appends to the -wal file (a checkpoint that
    // restarts it writes it too).
    return {path_ + "-wal"};
  }

  Status append_audit(UnixTime at, const Actor& actor, const std::string& action, const std::string& subject,
                      const std::string& detail_json) override {
    Json detail = Json::parse(detail_json, nullptr, /*allow_exceptions=*/false);
    if (detail.is_discarded() || !detail.is_object()) return make_error("audit detail is not a JSON object");
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_TRY(audit(at, actor, action, subject, detail));
    return txn.commit();
  }

  // The newest `limit` records, oldest first (as a log reads).
  Result<std::vector<AuditRecord>> audit_log(size_t limit) override {
    WGATE_ASSIGN_OR_RETURN(auto records, read([&]() -> Result<std::vector<AuditRecord>> {
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kAuditColumns +
                                                    " FROM audit ORDER BY id DESC LIMIT ?"));
      stmt.bind(1, static_cast<int64_t>(std::min<size_t>(limit, std::numeric_limits<int64_t>::max())));
      return read_all<AuditRecord>(stmt, read_audit);
    }));
    std::reverse(records.begin(), records.end());
    return records;
  }

  // --- admin API pages ---------------------------------------------------------

  Result<std::vector<User>> users_page(const UserPageQuery& q) override {
    return read([&]() -> Result<std::vector<User>> {
      Where where;
      if (!q.after_name.empty()) where.add("name > ?", q.after_name);
      if (!q.name_prefix.empty()) where.add("name LIKE ? ESCAPE '\\'", like_prefix(q.name_prefix));
      if (q.disabled) where.add("disabled = ?", int64_t{*q.disabled});
      if (q.group) where.add("id IN (SELECT user_id FROM memberships WHERE group_name = ?)", *q.group);
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kUserColumns + " FROM users" +
                                                    where.sql() + " ORDER BY name LIMIT ?"));
      stmt.bind(where.bind(stmt), sql_limit(q.limit));
      return read_all<User>(stmt, read_user);
    });
  }

  Result<std::vector<Key>> keys_page(const KeyPageQuery& q) override {
    return read([&]() -> Result<std::vector<Key>> {
      Where where;
      where.add("id > ?", q.after_id);
      if (q.user_id) where.add("user_id = ?", *q.user_id);
      const std::string live = "revoked_at IS NULL AND (expires_at = 0 OR expires_at > ?)";
      switch (q.filter) {
        case KeyRowFilter::any: break;
        case KeyRowFilter::revoked: where.add("revoked_at IS NOT NULL"); break;
        case KeyRowFilter::expired:
          where.add("revoked_at IS NULL AND expires_at > 0 AND expires_at <= ?", q.now);
          break;
        case KeyRowFilter::live: where.add(live, q.now); break;
        case KeyRowFilter::live_unseen: where.add(live + " AND last_handshake_at IS NULL", q.now); break;
        case KeyRowFilter::live_seen: where.add(live + " AND last_handshake_at IS NOT NULL", q.now); break;
        case KeyRowFilter::expiring:
          where.add("revoked_at IS NULL AND expires_at > ?", q.now);
          where.add("expires_at <= ?", q.expiring_before);
          break;
      }
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kKeyColumns + " FROM keys" +
                                                    where.sql() + " ORDER BY id LIMIT ?"));
      stmt.bind(where.bind(stmt), sql_limit(q.limit));
      return read_all<Key>(stmt, read_key);
    });
  }

  Result<std::vector<AuditRecord>> audit_page(const AuditPageQuery& q) override {
    return read([&]() -> Result<std::vector<AuditRecord>> {
      Where where;
      if (q.after_id) {
        where.add("id > ?", *q.after_id);
      } else if (q.before_id > 0) {
        where.add("id < ?", q.before_id);
      }
      if (!q.actor.empty()) where.add("actor = ?", q.actor);
      if (!q.action.empty()) {
        if (q.action.back() == '.') {
          where.add("action LIKE ? ESCAPE '\\'", like_prefix(q.action));
        } else {
          where.add("action = ?", q.action);
        }
      }
      if (!q.subject.empty()) where.add("subject = ?", q.subject);
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kAuditColumns + " FROM audit" +
                                                    where.sql() + (q.after_id ? " ORDER BY id" : " ORDER BY id DESC") +
                                                    " LIMIT ?"));
      stmt.bind(where.bind(stmt), sql_limit(q.limit));
      return read_all<AuditRecord>(stmt, read_audit);
    });
  }

  Result<std::vector<Lease>> leases_page(const LeasePageQuery& q) override {
    return read([&]() -> Result<std::vector<Lease>> {
      Where where;
      where.add("id > ?", q.after_id);
      if (q.current_only) where.add("until_ts IS NULL");
      if (q.user_id) where.add("user_id = ?", *q.user_id);
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kLeaseColumns + " FROM leases" +
                                                    where.sql() + " ORDER BY id LIMIT ?"));
      stmt.bind(where.bind(stmt), sql_limit(q.limit));
      return read_all<Lease>(stmt, read_lease);
    });
  }

  Result<std::vector<OutboxEntry>> alerts_page(const AlertPageQuery& q) override {
    return read([&]() -> Result<std::vector<OutboxEntry>> {
      Where where;
      if (q.before_id > 0) where.add("id < ?", q.before_id);
      if (q.status == "pending") {
        where.add("delivered_at IS NULL AND failed_at IS NULL");
      } else if (q.status == "delivered") {
        where.add("delivered_at IS NOT NULL");
      } else if (q.status == "failed") {
        where.add("failed_at IS NOT NULL");
      } else if (!q.status.empty()) {
        return make_error("unknown alert status '" + q.status + "' (pending, delivered, failed)");
      }
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kOutboxColumns + " FROM alert_outbox" +
                                                    where.sql() + " ORDER BY id DESC LIMIT ?"));
      stmt.bind(where.bind(stmt), sql_limit(q.limit));
      return read_all<OutboxEntry>(stmt, read_outbox);
    });
  }

  Result<State> state_of_users(const std::vector<int64_t>& user_ids) override {
    return read([&]() -> Result<State> {
      State state;
      // One statement per table and user: each an index lookup, so a page
      // of 50 people costs a few hundred small reads, whatever the store holds.
      WGATE_ASSIGN_OR_RETURN(auto users, db_.prepare(std::string("SELECT ") + kUserColumns + " FROM users WHERE id = ?"));
      WGATE_ASSIGN_OR_RETURN(auto members,
                             db_.prepare("SELECT user_id, group_name FROM memberships WHERE user_id = ? ORDER BY group_name"));
      WGATE_ASSIGN_OR_RETURN(auto devices, db_.prepare(std::string("SELECT ") + kDeviceColumns +
                                                       " FROM devices WHERE user_id = ? ORDER BY id"));
      WGATE_ASSIGN_OR_RETURN(auto keys,
                             db_.prepare(std::string("SELECT ") + kKeyColumns + " FROM keys WHERE user_id = ? ORDER BY id"));
      WGATE_ASSIGN_OR_RETURN(auto leases, db_.prepare(std::string("SELECT ") + kLeaseColumns +
                                                      " FROM leases WHERE user_id = ? AND until_ts IS NULL ORDER BY id"));
      std::set<int64_t> seen;
      for (int64_t id : user_ids) {
        if (!seen.insert(id).second) continue;
        auto append = [&](auto& out, Stmt& stmt, auto reader) -> Status {
          stmt.reset();
          stmt.bind(1, id);
          using T = typename std::decay_t<decltype(out)>::value_type;
          WGATE_ASSIGN_OR_RETURN(auto rows, read_all<T>(stmt, reader));
          for (auto& r : rows) out.push_back(std::move(r));
          return ok_status();
        };
        WGATE_TRY(append(state.users, users, read_user));
        WGATE_TRY(append(state.memberships, members,
                         [](const Stmt& s) { return Membership{s.integer(0), s.text(1)}; }));
        WGATE_TRY(append(state.devices, devices, read_device));
        WGATE_TRY(append(state.keys, keys, read_key));
        WGATE_TRY(append(state.current_leases, leases, read_lease));
      }
      return state;
    });
  }

  // --- admin API tokens --------------------------------------------------------

  Result<ApiToken> create_api_token(const ApiToken& t, const Actor& actor) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto taken, db_.prepare("SELECT 1 FROM api_tokens WHERE name = ?"));
    taken.bind(1, t.name);
    WGATE_ASSIGN_OR_RETURN(bool exists, taken.step());
    if (exists) return make_error("a token named '" + t.name + "' exists already (names are never reused)");
    WGATE_ASSIGN_OR_RETURN(auto insert, db_.prepare("INSERT INTO api_tokens (name, token_hash, scope, created_at, "
                                                    "created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?)"));
    WGATE_TRY(insert.bind(1, t.name)
                  .bind(2, t.token_hash)
                  .bind(3, t.scope)
                  .bind(4, t.created_at)
                  .bind(5, actor.name)
                  .bind(6, t.expires_at)
                  .run());
    ApiToken out = t;
    out.id = db_.last_insert_id();
    out.created_by = actor.name;
    WGATE_TRY(audit(t.created_at, actor, "token.create", "token:" + t.name,
                    {{"scope", t.scope}, {"expires_at", t.expires_at}}));
    WGATE_TRY(txn.commit());
    return out;
  }

  Result<std::optional<ApiToken>> find_api_token(const std::string& token_hash) override {
    return read([&]() -> Result<std::optional<ApiToken>> {
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kApiTokenColumns +
                                                    " FROM api_tokens WHERE token_hash = ?"));
      stmt.bind(1, token_hash);
      WGATE_ASSIGN_OR_RETURN(auto found, read_all<ApiToken>(stmt, read_api_token));
      if (found.empty()) return std::optional<ApiToken>();
      return std::optional<ApiToken>(found.front());
    });
  }

  Result<std::vector<ApiToken>> list_api_tokens() override {
    return read([&]() -> Result<std::vector<ApiToken>> {
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kApiTokenColumns +
                                                    " FROM api_tokens ORDER BY name"));
      return read_all<ApiToken>(stmt, read_api_token);
    });
  }

  Status revoke_api_token(const std::string& name, UnixTime now, const Actor& actor) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare("SELECT revoked_at IS NOT NULL FROM api_tokens WHERE name = ?"));
    stmt.bind(1, name);
    WGATE_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) return make_error("no token named '" + name + "'");
    if (stmt.integer(0) != 0) return make_error("token '" + name + "' is already revoked");
    WGATE_ASSIGN_OR_RETURN(auto update, db_.prepare("UPDATE api_tokens SET revoked_at = ? WHERE name = ?"));
    WGATE_TRY(update.bind(1, now).bind(2, name).run());
    WGATE_TRY(audit(now, actor, "token.revoke", "token:" + name, Json::object()));
    return txn.commit();
  }

  Status touch_api_token(int64_t id, UnixTime now) override {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(auto update, db_.prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ?"));
    WGATE_TRY(update.bind(1, now).bind(2, id).run());
    return txn.commit();
  }

  // --- flows and traffic -------------------------------------------------------
  Status add_flows(const std::vector<FlowRecord>& records) override {
    if (records.empty()) return ok_status();
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(
        auto insert,
        db_.prepare("INSERT INTO flows (at, user_id, user_name, device_name, source, destination, destination_v4, "
                    "protocol, source_port, destination_port, allowed, reason, interface) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    std::map<std::pair<std::string, std::string>, uint64_t> by_verdict;  // (verdict, reason) -> records
    for (const auto& r : records) {
      std::optional<int64_t> v4;
      if (r.destination.is_v4()) v4 = int64_t{r.destination.v4_value()};
      WGATE_TRY(insert.bind(1, r.at)
                    .bind(2, r.user_id)
                    .bind(3, r.user)
                    .bind(4, r.device)
                    .bind(5, r.source.to_string())
                    .bind(6, r.destination.to_string())
                    .bind(7, v4)
                    .bind(8, int64_t{r.protocol})
                    .bind(9, int64_t{r.source_port})
                    .bind(10, int64_t{r.destination_port})
                    .bind(11, int64_t{r.allowed ? 1 : 0})
                    .bind(12, r.reason)
                    .bind(13, r.interface)
                    .run());
      insert.reset();
      ++by_verdict[{r.allowed ? "allowed" : "denied", r.reason}];
    }
    for (const auto& [key, n] : by_verdict) WGATE_TRY(add_to_counter(kCounterFlow, key.first, key.second, n));
    return txn.commit();
  }

  Result<std::vector<FlowRecord>> list_flows(const FlowQuery& query) override {
    std::string sql = std::string("SELECT ") + kFlowColumns + " FROM flows WHERE 1";
    // Parameters are numbered in the order the conditions are added.
    std::vector<std::variant<int64_t, std::string>> params;
    if (query.user) {
      sql += " AND user_name = ?";
      params.emplace_back(*query.user);
    }
    if (query.destination) {
      if (!query.destination->address().is_v4()) {
        return make_error("flows: filtering by an IPv6 destination is not supported (IPv6 is not supported yet)");
      }
      const int64_t low = query.destination->address().v4_value();
      sql += " AND destination_v4 BETWEEN ? AND ?";
      params.emplace_back(low);
      params.emplace_back(low + static_cast<int64_t>(query.destination->size()) - 1);
    }
    if (query.since) {
      sql += " AND at >= ?";
      params.emplace_back(*query.since);
    }
    if (query.until) {
      sql += " AND at <= ?";
      params.emplace_back(*query.until);
    }
    if (query.allowed) {
      sql += " AND allowed = ?";
      params.emplace_back(int64_t{*query.allowed ? 1 : 0});
    }
    if (query.before_id) {
      sql += " AND id < ?";
      params.emplace_back(*query.before_id);
    }
    sql += " ORDER BY id DESC LIMIT ?";
    params.emplace_back(static_cast<int64_t>(std::min<size_t>(query.limit, std::numeric_limits<int32_t>::max())));
    return read([&]() -> Result<std::vector<FlowRecord>> {
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(sql));
      for (size_t i = 0; i < params.size(); ++i) {
        std::visit([&](const auto& v) { stmt.bind(static_cast<int>(i + 1), v); }, params[i]);
      }
      return read_all<FlowRecord>(stmt, read_flow);
    });
  }

  Result<size_t> prune_flows(UnixTime older_than, uint64_t keep_newest, size_t max_rows) override {
    if (max_rows == 0) return size_t{0};
    // The id of the newest row beyond the newest `keep_newest`: it and every
    // older row go; 0 when there are no more rows than that. Found in a read
    // transaction, outside the write lock: stepping over a million index
    // entries takes ~160 ms, the delete of a batch of 5,000 ~40 ms. Rows
    // added meanwhile only make the bound keep more than `keep_newest`.
    WGATE_ASSIGN_OR_RETURN(int64_t beyond, read([&]() -> Result<int64_t> {
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare("SELECT id FROM flows ORDER BY id DESC LIMIT 1 OFFSET ?"));
      stmt.bind(1, static_cast<int64_t>(std::min<uint64_t>(keep_newest, std::numeric_limits<int64_t>::max())));
      WGATE_ASSIGN_OR_RETURN(bool row, stmt.step());
      return row ? stmt.integer(0) : int64_t{0};
    }));
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    // Two deletes, each walking an index from its oldest end (the primary
    // key, then flows_by_time), so a prune with nothing to do reads a few
    // index entries, not the table.
    size_t deleted = 0;
    const auto limit = [&] { return static_cast<int64_t>(std::min<size_t>(max_rows - deleted, INT32_MAX)); };
    if (beyond > 0) {
      WGATE_ASSIGN_OR_RETURN(auto by_count, db_.prepare("DELETE FROM flows WHERE id IN (SELECT id FROM flows WHERE "
                                                        "id <= ? ORDER BY id LIMIT ?)"));
      WGATE_TRY(by_count.bind(1, beyond).bind(2, limit()).run());
      deleted += static_cast<size_t>(db_.changes());
    }
    if (deleted < max_rows) {
      WGATE_ASSIGN_OR_RETURN(auto by_age, db_.prepare("DELETE FROM flows WHERE id IN (SELECT id FROM flows WHERE "
                                                      "at < ? ORDER BY at LIMIT ?)"));
      WGATE_TRY(by_age.bind(1, older_than).bind(2, limit()).run());
      deleted += static_cast<size_t>(db_.changes());
    }
    WGATE_TRY(txn.commit());
    return deleted;
  }

  Result<std::vector<TrafficBaseline>> traffic_baselines() override {
    return read([&]() -> Result<std::vector<TrafficBaseline>> {
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare("SELECT address, epoch, pass_packets, pass_bytes, drop_packets, "
                                                    "drop_bytes, at FROM traffic_baselines ORDER BY address"));
      return read_all<TrafficBaseline>(stmt, [](const Stmt& s) -> Result<TrafficBaseline> {
        auto address = IpAddress::parse(s.text(0));
        if (!address) return address.error().with_context("stored traffic baseline");
        return TrafficBaseline{*address, static_cast<uint64_t>(s.integer(1)), read_counters(s, 2), s.integer(6)};
      });
    });
  }

  Status record_traffic(const TrafficUpdate& update, UnixTime now) override {
    if (update.baselines.empty() && update.increments.empty()) return ok_status();
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::write));
    WGATE_ASSIGN_OR_RETURN(
        auto baseline,
        db_.prepare("INSERT INTO traffic_baselines (address, epoch, pass_packets, pass_bytes, drop_packets, "
                    "drop_bytes, at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (address) DO UPDATE SET "
                    "epoch = excluded.epoch, pass_packets = excluded.pass_packets, pass_bytes = excluded.pass_bytes, "
                    "drop_packets = excluded.drop_packets, drop_bytes = excluded.drop_bytes, at = excluded.at"));
    for (const auto& b : update.baselines) {
      WGATE_TRY(bind_counters(baseline.bind(1, b.address.to_string()).bind(2, static_cast<int64_t>(b.epoch)), 3,
                              b.seen)
                    .bind(7, b.at)
                    .run());
      baseline.reset();
    }
    WGATE_ASSIGN_OR_RETURN(
        auto add, db_.prepare("INSERT INTO traffic_totals (user_name, device_name, pass_packets, pass_bytes, "
                              "drop_packets, drop_bytes, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                              "ON CONFLICT (user_name, device_name) DO UPDATE SET "
                              "pass_packets = pass_packets + excluded.pass_packets, "
                              "pass_bytes = pass_bytes + excluded.pass_bytes, "
                              "drop_packets = drop_packets + excluded.drop_packets, "
                              "drop_bytes = drop_bytes + excluded.drop_bytes, updated_at = excluded.updated_at"));
    TrafficCounters sum;
    for (const auto& i : update.increments) {
      WGATE_TRY(bind_counters(add.bind(1, i.user).bind(2, i.device), 3, i.counters).bind(7, now).run());
      add.reset();
      sum.pass_packets += i.counters.pass_packets;
      sum.pass_bytes += i.counters.pass_bytes;
      sum.drop_packets += i.counters.drop_packets;
      sum.drop_bytes += i.counters.drop_bytes;
    }
    WGATE_TRY(add_to_counter(kCounterFilterPackets, "allowed", "", sum.pass_packets));
    WGATE_TRY(add_to_counter(kCounterFilterPackets, "denied", "", sum.drop_packets));
    WGATE_TRY(add_to_counter(kCounterFilterBytes, "allowed", "", sum.pass_bytes));
    WGATE_TRY(add_to_counter(kCounterFilterBytes, "denied", "", sum.drop_bytes));
    return txn.commit();
  }

  Result<std::vector<TrafficTotal>> traffic_totals() override {
    return read([&]() -> Result<std::vector<TrafficTotal>> {
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare("SELECT user_name, device_name, pass_packets, pass_bytes, "
                                                    "drop_packets, drop_bytes, updated_at FROM traffic_totals "
                                                    "ORDER BY user_name, device_name"));
      return read_all<TrafficTotal>(stmt, [](const Stmt& s) {
        return TrafficTotal{s.text(0), s.text(1), read_counters(s, 2), s.integer(6)};
      });
    });
  }
  Result<std::vector<EventCount>> event_counts() override {
    return read([&]() -> Result<std::vector<EventCount>> {
      WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare("SELECT counter, a, b, value FROM event_counters "
                                                    "ORDER BY counter, a, b"));
      return read_all<EventCount>(stmt, [](const Stmt& st) -> Result<EventCount> {
        return EventCount{st.text(0), st.text(1), st.text(2), read_count(st, 3)};
      });
    });
  }


 private:
  // Runs `body` in a read transaction and returns its result.
  template <class F>
  auto read(F body) -> decltype(body()) {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db_, Transaction::Kind::read));
    auto result = body();
    if (!result.ok()) return result;
    WGATE_TRY(txn.commit());
    return result;
  }

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

  Result<std::vector<WebSession>> sessions_where(const std::string& condition, const std::string& value) {
    WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kSessionColumns +
                                                  " FROM web_sessions WHERE " + condition));
    stmt.bind(1, value);
    return read_all<WebSession>(stmt, read_session);
  }

  Result<std::optional<OutboxEntry>> outbox_entry(int64_t id) {
    WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kOutboxColumns +
                                                  " FROM alert_outbox WHERE id = ?"));
    stmt.bind(1, id);
    WGATE_ASSIGN_OR_RETURN(auto found, read_all<OutboxEntry>(stmt, read_outbox));
    if (found.empty()) return std::optional<OutboxEntry>();
    return std::optional<OutboxEntry>(found.front());
  }

  // A new SSO identity's user (inside the caller's write transaction): an
  // existing user of the same name and e-mail that no identity claims yet is
  // linked; otherwise a new user with a unique name is created.
  Result<std::optional<User>> link_or_create_sso_user(const SsoLogin& login, const AddressPlan& plan, UnixTime now,
                                                      const Actor& actor, bool& created) {
    std::string base = sso_user_name(login);
    WGATE_ASSIGN_OR_RETURN(auto same_name, user_by_name(base));
    if (same_name && !login.email.empty() && same_name->email == login.email) {
      WGATE_ASSIGN_OR_RETURN(auto claimed, db_.prepare("SELECT 1 FROM identities WHERE user_id = ?"));
      claimed.bind(1, same_name->id);
      WGATE_ASSIGN_OR_RETURN(bool has_identity, claimed.step());
      if (!has_identity) return same_name;
    }
    std::string name = base;
    for (int n = 2; ; ++n) {
      WGATE_ASSIGN_OR_RETURN(auto taken, user_by_name(name));
      if (!taken) break;
      if (n > 1000) return make_error("no free user name for " + base);
      const std::string suffix = "-" + std::to_string(n);
      name = base.substr(0, std::min<size_t>(base.size(), 64 - suffix.size())) + suffix;
    }
    WGATE_ASSIGN_OR_RETURN(auto insert,
                           db_.prepare("INSERT INTO users (name, email, disabled, created_at) VALUES (?, ?, 0, ?)"));
    WGATE_TRY(insert.bind(1, name).bind(2, login.email).bind(3, now).run());
    User user{db_.last_insert_id(), name, login.email, false, now};
    auto block = lease_block(user.id, plan, now);
    if (!block) return block.error().with_context("cannot add user '" + name + "'");
    WGATE_TRY(audit(now, actor, "user.add", name,
                    {{"email", login.email}, {"block", block->to_string()}, {"via", "sso"}}));
    created = true;
    return std::optional<User>(user);
  }

  // The user name an SSO person gets: the hint made valid (characters wgate
  // does not take become '-'), else a name from the subject.
  static std::string sso_user_name(const SsoLogin& login) {
    std::string hint = login.username_hint;
    if (hint.empty()) hint = login.email.substr(0, login.email.find('@'));
    std::string out;
    for (char c : hint) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '@' || c == '+' || c == '-';
      out += ok ? c : '-';
    }
    if (out.size() > 64) out.resize(64);
    if (out.empty() || !check_user_name(out).ok()) {
      out = "sso-" + std::to_string(std::hash<std::string>{}(login.issuer + "|" + login.subject) % 1000000007ULL);
    }
    return out;
  }

  // Makes the user's memberships exactly `groups` (inside the caller's
  // write transaction), auditing each change into `result`.
  Status set_groups(const User& user, const std::vector<std::string>& groups, UnixTime now, const Actor& actor,
                    SsoLoginResult& result) {
    std::set<std::string> want(groups.begin(), groups.end());
    WGATE_ASSIGN_OR_RETURN(auto current_stmt, db_.prepare("SELECT group_name FROM memberships WHERE user_id = ?"));
    current_stmt.bind(1, user.id);
    WGATE_ASSIGN_OR_RETURN(auto current_list,
                           read_all<std::string>(current_stmt, [](const Stmt& s) { return s.text(0); }));
    std::set<std::string> have(current_list.begin(), current_list.end());
    for (const auto& g : have) {
      if (want.count(g)) continue;
      WGATE_ASSIGN_OR_RETURN(auto del, db_.prepare("DELETE FROM memberships WHERE user_id = ? AND group_name = ?"));
      WGATE_TRY(del.bind(1, user.id).bind(2, g).run());
      WGATE_TRY(audit(now, actor, "membership.remove", user.name, {{"group", g}, {"via", "sso"}}));
      result.groups_removed.push_back(g);
    }
    for (const auto& g : want) {
      if (have.count(g)) continue;
      WGATE_TRY(insert_membership(user.id, g));
      WGATE_TRY(audit(now, actor, "membership.add", user.name, {{"group", g}, {"via", "sso"}}));
      result.groups_added.push_back(g);
    }
    return ok_status();
  }

  // True when the membership was added, false when it existed.
  Result<bool> insert_membership(int64_t user_id, const std::string& group) {
    WGATE_ASSIGN_OR_RETURN(auto insert,
                           db_.prepare("INSERT OR IGNORE INTO memberships (user_id, group_name) VALUES (?, ?)"));
    WGATE_TRY(insert.bind(1, user_id).bind(2, group).run());
    return db_.changes() != 0;
  }

  Result<std::vector<Device>> devices_where(const std::string& condition) {
    WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE " +
                                                  condition + " ORDER BY user_id, slot, id"));
    return read_all<Device>(stmt, read_device);
  }

  Result<std::optional<Device>> current_device(int64_t user_id, const std::string& name) {
    WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare(std::string("SELECT ") + kDeviceColumns +
                                                  " FROM devices WHERE user_id = ? AND name = ? AND removed_at IS NULL"));
    stmt.bind(1, user_id).bind(2, name);
    WGATE_ASSIGN_OR_RETURN(auto found, read_all<Device>(stmt, read_device));
    if (found.empty()) return std::optional<Device>();
    return std::optional<Device>(found.front());
  }

  // Creates a device in the lowest free slot (inside the caller's write
  // transaction).
  Result<std::optional<Device>> create_device(const User& user, const std::string& name, uint32_t per_user,
                                              UnixTime now) {
    WGATE_ASSIGN_OR_RETURN(auto stmt, db_.prepare("SELECT slot FROM devices WHERE user_id = ? AND removed_at IS NULL"));
    stmt.bind(1, user.id);
    WGATE_ASSIGN_OR_RETURN(auto used, read_all<uint32_t>(stmt, [](const Stmt& s) {
                             return static_cast<uint32_t>(std::clamp<int64_t>(s.integer(0), 0, UINT32_MAX));
                           }));
    auto slot = first_free_slot(per_user, used);
    if (!slot) {
      return make_error("user '" + user.name + "' already has " + std::to_string(used.size()) +
                        " devices, all the addresses of their block (pool.per_user = " + std::to_string(per_user) +
                        "); remove one first (wgate device remove " + user.name + " <device>)");
    }
    WGATE_ASSIGN_OR_RETURN(auto insert,
                           db_.prepare("INSERT INTO devices (user_id, name, slot, created_at) VALUES (?, ?, ?, ?)"));
    WGATE_TRY(insert.bind(1, user.id).bind(2, name).bind(3, int64_t{*slot}).bind(4, now).run());
    return std::optional<Device>(Device{db_.last_insert_id(), user.id, name, *slot, now, std::nullopt});
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

  Status end_leases_of(int64_t user_id, UnixTime now) {
    WGATE_ASSIGN_OR_RETURN(auto end, db_.prepare("UPDATE leases SET until_ts = ? WHERE user_id = ? AND until_ts IS NULL"));
    return end.bind(1, now).bind(2, user_id).run();
  }

  // Leases `user_id` a block of `plan` (inside the caller's write
  // transaction) and returns it. Keeps a current lease that still fits.
  Result<Prefix> lease_block(int64_t user_id, const AddressPlan& plan, UnixTime now) {
    const int64_t family = family_number(plan.pool.family());
    WGATE_ASSIGN_OR_RETURN(auto history, leases_where("family = ?", family));
    WGATE_ASSIGN_OR_RETURN(Prefix block, choose_block(plan.pool, plan.per_user, user_id, history));
    for (const Lease& l : history) {
      if (l.current() && l.user_id == user_id && l.block == block) return block;
    }
    // A person holds one block per family: end one that no longer fits.
    WGATE_TRY(end_leases_of(user_id, now));
    WGATE_ASSIGN_OR_RETURN(auto insert, db_.prepare("INSERT INTO leases (user_id, address, prefix_len, family, from_ts, "
                                                    "until_ts) VALUES (?, ?, ?, ?, ?, NULL)"));
    WGATE_TRY(insert.bind(1, user_id)
                  .bind(2, block.address().to_string())
                  .bind(3, int64_t{block.length()})
                  .bind(4, family)
                  .bind(5, now)
                  .run());
    return block;
  }

  Status audit(UnixTime at, const Actor& actor, const std::string& action, const std::string& subject,
               const Json& detail) {
    WGATE_ASSIGN_OR_RETURN(
        auto insert, db_.prepare("INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)"));
    // Names and text were validated on the way in; should anything invalid
    // slip through, the record is still written, with replacement characters.
    const std::string text = detail.dump(-1, ' ', false, Json::error_handler_t::replace);
    WGATE_TRY(insert.bind(1, at).bind(2, actor.name).bind(3, action).bind(4, subject).bind(5, text).run());
    // A login's audit record is the login's truth (whichever process wrote
    // it): it counts itself, in the same transaction.
    if (action == "login.success" || action == "login.failure") {
      std::string kind;
      if (auto k = detail.find("kind"); detail.is_object() && k != detail.end() && k->is_string()) {
        kind = k->get<std::string>();
      } else if (action == "login.failure") {
        kind = subject;  // how failures name their kind
      }
      WGATE_TRY(add_to_counter(kCounterLogin, action.substr(6), kind, 1));
    }
    return ok_status();
  }

  // Adds `n` to an event counter (store.h), inside the caller's write
  // transaction.
  Status add_to_counter(const char* counter, const std::string& a, const std::string& b, uint64_t n) {
    if (n == 0) return ok_status();
    WGATE_ASSIGN_OR_RETURN(auto upsert,
                           db_.prepare("INSERT INTO event_counters (counter, a, b, value) VALUES (?, ?, ?, ?) "
                                       "ON CONFLICT (counter, a, b) DO UPDATE SET value = value + excluded.value"));
    return upsert.bind(1, std::string(counter)).bind(2, a).bind(3, b).bind(4, stored_count(n)).run();
  }

  Db db_;
  std::string path_;
  int64_t seen_data_version_ = -1;
  int64_t seen_total_changes_ = -1;
  uint64_t token_ = 0;
};

// --- opening -------------------------------------------------------------

Result<std::unique_ptr<Store>> open_store(const std::string& path, StoreOpen mode) {
  // Create the file ourselves so that it never exists with a wider mode, not
  // even briefly; SQLite gives its -wal and -shm files the same mode. Only
  // an explicit init creates it: a mistyped path must not become an empty
  // store that the daemon then reconciles every peer away to.
  //
  // An existing store is only looked at (lstat), never opened and closed
  // here: closing any descriptor of the file drops every POSIX lock this
  // process holds on it, i.e. the locks of a connection already open (the
  // daemon opens more than one), after which that connection no longer
  // saw other processes' commits.
  struct stat st {};
  if (mode == StoreOpen::existing) {
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) {
        return make_error("no store at '" + path + "' (create one with `wgate init`, or fix server.store)");
      }
      return errno_error(errno, "opening '" + path + "'");
    }
    if (S_ISLNK(st.st_mode)) return errno_error(ELOOP, "opening '" + path + "'");  // as O_NOFOLLOW
    if (::access(path.c_str(), R_OK | W_OK) != 0) return errno_error(errno, "opening '" + path + "'");
  } else {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_CREAT, 0600);
    if (fd < 0) return errno_error(errno, "opening '" + path + "'");
    if (::fstat(fd, &st) != 0) st.st_size = 0;
    ::close(fd);
  }
  const bool empty = st.st_size == 0;
  if (empty && mode == StoreOpen::existing) {
    // SQLite would take an empty file for a new database and lay a fresh
    // schema into it: the same silent empty store as a wrong path.
    return make_error("'" + path + "' is empty, not a wgate store (create one with `wgate init`)");
  }

  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);  // owns the handle even when opening failed
  if (rc != SQLITE_OK) return sqlite::sqlite_error(raw, "sqlite3_open");
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
  WGATE_TRY(sqlite::migrate(db));

  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string side = path + suffix;
    if (::chmod(side.c_str(), 0600) != 0 && errno != ENOENT) return errno_error(errno, "chmod '" + side + "'");
  }
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(std::move(db), path));
}

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, StoreOpen mode) {
  if (path.empty()) return make_error("opening store: no path given");
  auto store = open_store(path, mode);
  if (!store) return store.error().with_context("opening store '" + path + "'");
  return store;
}

}  // namespace wgate
