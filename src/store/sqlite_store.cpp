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
    "id, user_id, device_id, group_name, public_key, created_at, expires_at, revoked_at, last_handshake_at";
constexpr const char* kLeaseColumns = "id, user_id, address, prefix_len, from_ts, until_ts";
constexpr const char* kAuditColumns = "id, at, actor, action, subject, detail";

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
  return k;
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

    WGATE_ASSIGN_OR_RETURN(auto insert, db_.prepare("INSERT INTO keys (user_id, device_id, group_name, public_key, "
                                                    "label, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)"));
    WGATE_TRY(insert.bind(1, user.id)
                  .bind(2, device->id)
                  .bind(3, new_key.group)
                  .bind(4, b64)
                  .bind(5, new_key.device)
                  .bind(6, now)
                  .bind(7, new_key.expires_at)
                  .run());
    Key key;
    key.id = db_.last_insert_id();
    key.user_id = user.id;
    key.device_id = device->id;
    key.group = new_key.group;
    key.public_key = new_key.public_key;
    key.created_at = now;
    key.expires_at = new_key.expires_at;
    WGATE_TRY(audit(now, actor, "key.add", user.name,
                    {{"key_id", key.id},
                     {"device", device->name},
                     {"new_device", new_device},
                     {"slot", device->slot},
                     {"group", key.group},
                     {"public_key", b64},
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
    return insert.bind(1, at).bind(2, actor.name).bind(3, action).bind(4, subject).bind(5, text).run();
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
  const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (mode == StoreOpen::create ? O_CREAT : 0);
  int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) {
    if (errno == ENOENT && mode == StoreOpen::existing) {
      return make_error("no store at '" + path + "' (create one with `wgate init`, or fix server.store)");
    }
    return errno_error(errno, "opening '" + path + "'");
  }
  struct stat st {};
  const bool empty = ::fstat(fd, &st) == 0 && st.st_size == 0;
  ::close(fd);
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
