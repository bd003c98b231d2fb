// Store: wgate's persistent intent (users, memberships, keys, IP leases) and
// its audit trail.
//
// Every state change goes through here and leaves an audit record in the same
// transaction. Implementations: SqliteStore (embedded default); PostgreSQL
// later, behind the same interface. All methods are safe to call from one
// thread per Store object; several processes may open the same database
// (the CLI writes while the daemon reads).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/cidr.h"
#include "core/model.h"
#include "util/result.h"

namespace wgate {

// Who made a change, for the audit trail ("cli:root", "agent").
struct Actor {
  std::string name;
};

class Store {
 public:
  virtual ~Store() = default;

  // --- users ---------------------------------------------------------------
  // Adds a user and leases it an address from `pool` (IPAM: the user's own
  // previous address if free, else a never-used one, else the one released
  // longest ago). Errors: name taken, pool exhausted.
  virtual Result<User> add_user(const std::string& name, const std::string& email, const Prefix& pool,
                                UnixTime now, const Actor& actor) = 0;
  virtual Result<std::optional<User>> find_user(const std::string& name) = 0;
  virtual Result<std::vector<User>> list_users() = 0;
  // Disabling ends the user's lease (history keeps it); enabling leases again,
  // preferring the same address.
  virtual Status set_user_disabled(const std::string& name, bool disabled, const Prefix& pool, UnixTime now,
                                   const Actor& actor) = 0;

  // --- memberships ---------------------------------------------------------
  virtual Status add_membership(const std::string& user, const std::string& group, const Actor& actor,
                                UnixTime now) = 0;
  virtual Status remove_membership(const std::string& user, const std::string& group, const Actor& actor,
                                   UnixTime now) = 0;
  virtual Result<std::vector<Membership>> list_memberships() = 0;

  // --- keys ----------------------------------------------------------------
  // Errors: unknown user, public key already registered.
  virtual Result<Key> add_key(const std::string& user, const std::string& group, const WgKey& public_key,
                              const std::string& label, UnixTime now, UnixTime expires_at,
                              const Actor& actor) = 0;
  virtual Result<std::optional<Key>> find_key(int64_t id) = 0;
  virtual Result<std::vector<Key>> list_keys() = 0;
  // Errors: unknown key, already revoked.
  virtual Status revoke_key(int64_t id, UnixTime now, const Actor& actor) = 0;
  // Records the newest handshake seen per key (agent); not audited, since it
  // is an observation, not a change of intent.
  virtual Status record_handshakes(const std::vector<std::pair<int64_t, UnixTime>>& key_handshakes) = 0;

  // --- leases --------------------------------------------------------------
  virtual Result<std::vector<Lease>> current_leases() = 0;
  // Every lease of `address`, oldest first (for whois).
  virtual Result<std::vector<Lease>> lease_history(const IpAddress& address) = 0;

  // --- whole state ---------------------------------------------------------
  // Users, memberships, keys and current leases, read in one transaction.
  virtual Result<State> snapshot() = 0;

  // A number that changes whenever any process commits a change to the
  // store; the daemon polls it to react within a second.
  virtual Result<uint64_t> change_token() = 0;

  virtual Result<std::vector<AuditRecord>> audit_log(size_t limit) = 0;
};

// Opens (creating if needed) the SQLite store at `path`, in WAL mode, and
// applies pending migrations. The file is created 0600.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);

}  // namespace wgate
