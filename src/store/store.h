// Store: wgate's persistent intent (users, memberships, devices, keys,
// address leases), the interfaces the agent created, and the audit trail.
//
// Every change of intent goes through here and leaves an audit record in the
// same transaction; checks that guard a change (name free, key unregistered,
// member of the group, address block free) run inside that transaction, so
// two concurrent writers cannot both pass them. Callers are the service
// layer (src/service) and the agent; nothing else writes.
//
// Implementations: SqliteStore (embedded default); PostgreSQL next, behind
// this same interface. One Store object is used from one thread; several
// processes may open the same database (the CLI writes while the daemon
// reads).
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

// What IPAM needs from the config: blocks of `per_user` addresses of `pool`.
struct AddressPlan {
  Prefix pool;
  uint32_t per_user = 1;
};

struct NewUser {
  std::string name;
  std::string email;
  std::vector<std::string> groups;  // distinct; checked against the config by the caller
};

struct NewKey {
  std::string user;
  std::string device;  // created (with the lowest free slot) when the person has no such device
  std::string group;
  WgKey public_key;
  UnixTime expires_at = 0;  // 0: never
};

// A person's block moved (the pool or per_user changed).
struct LeaseMove {
  std::string user;
  Prefix from;
  Prefix to;
};

class Store {
 public:
  virtual ~Store() = default;

  // --- users ---------------------------------------------------------------
  // Adds a user with their groups and leases them an address block (IPAM:
  // core/ipam.h), all in one transaction. Errors: bad name or e-mail, name
  // taken, duplicate group, pool exhausted.
  virtual Result<User> add_user(const NewUser& user, const AddressPlan& plan, UnixTime now, const Actor& actor) = 0;
  virtual Result<std::optional<User>> find_user(const std::string& name) = 0;
  virtual Result<std::vector<User>> list_users() = 0;
  // Disabling ends the user's lease (history keeps it); enabling leases
  // again, preferring the same block.
  virtual Status set_user_disabled(const std::string& name, bool disabled, const AddressPlan& plan, UnixTime now,
                                   const Actor& actor) = 0;

  // --- memberships ---------------------------------------------------------
  virtual Status add_membership(const std::string& user, const std::string& group, const Actor& actor,
                                UnixTime now) = 0;
  virtual Status remove_membership(const std::string& user, const std::string& group, const Actor& actor,
                                   UnixTime now) = 0;
  virtual Result<std::vector<Membership>> list_memberships() = 0;

  // --- devices -------------------------------------------------------------
  // Current devices, or every device ever (for whois about the past).
  virtual Result<std::vector<Device>> list_devices(bool include_removed) = 0;
  // Removes a device: revokes its active keys and frees its slot. Errors:
  // unknown user or device.
  virtual Status remove_device(const std::string& user, const std::string& device, UnixTime now,
                               const Actor& actor) = 0;

  // --- keys ----------------------------------------------------------------
  // Registers a public key for a device of a person, creating the device in
  // the lowest free slot of `per_user` when it is new. Errors: unknown or
  // disabled user, not a member of the group, key already registered (even
  // revoked: a leaked key must not come back), every slot taken.
  virtual Result<Key> add_key(const NewKey& key, uint32_t per_user, UnixTime now, const Actor& actor) = 0;
  virtual Result<std::optional<Key>> find_key(int64_t id) = 0;
  virtual Result<std::vector<Key>> list_keys() = 0;
  // Errors: unknown key, already revoked.
  virtual Status revoke_key(int64_t id, UnixTime now, const Actor& actor) = 0;
  // Records the newest handshake seen per key (agent); not audited, since it
  // is an observation, not a change of intent.
  virtual Status record_handshakes(const std::vector<std::pair<int64_t, UnixTime>>& key_handshakes) = 0;

  // --- leases --------------------------------------------------------------
  virtual Result<std::vector<Lease>> current_leases() = 0;
  // Every lease whose block held `address`, oldest first (for whois).
  virtual Result<std::vector<Lease>> lease_history(const IpAddress& address) = 0;
  // Moves every current lease that does not fit `plan` (the pool or per_user
  // changed) to a block that does: the old leases end first, then each
  // person, in id order, gets a block by the usual IPAM preference. Devices
  // keep their slots. Each move is audited. Errors: pool exhausted (nothing
  // is changed then).
  virtual Result<std::vector<LeaseMove>> relocate_leases(const AddressPlan& plan, UnixTime now,
                                                         const Actor& actor) = 0;

  // --- interfaces the agent created ----------------------------------------
  // The daemon records each interface it creates before creating it, and
  // forgets it once removed, so a retired group's interface is found (and
  // removed) from here, never from a guess about files or names.
  virtual Status record_interface(const std::string& name, UnixTime now, const Actor& actor) = 0;
  virtual Status forget_interface(const std::string& name, UnixTime now, const Actor& actor) = 0;
  virtual Result<std::vector<std::string>> managed_interfaces() = 0;

  // --- whole state ---------------------------------------------------------
  // Users, memberships, current devices, keys and current leases, read in
  // one transaction.
  virtual Result<State> snapshot() = 0;

  // A number that changes whenever any process commits a change to the
  // store; the daemon checks it to react to changes.
  virtual Result<uint64_t> change_token() = 0;
  // Files whose modification signals a commit by another process (for
  // inotify); empty when the implementation cannot tell.
  virtual std::vector<std::string> change_signal_paths() const = 0;

  virtual Result<std::vector<AuditRecord>> audit_log(size_t limit) = 0;
};

enum class StoreOpen {
  existing,  // the store must exist: a wrong path is an error, never a new empty store
  create,    // `wgate init`: create it when missing
};

// Opens the SQLite store at `path`, in WAL mode, and applies pending
// migrations. With StoreOpen::create a missing file is created 0600.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, StoreOpen mode = StoreOpen::existing);

}  // namespace wgate
