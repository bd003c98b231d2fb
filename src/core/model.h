// The stored intent: users, memberships, keys and IP leases.
//
// Plain value types shared by the store (which persists them) and compile()
// (which turns them into a Plan). Times are Unix seconds (UTC).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/cidr.h"
#include "core/wg_key.h"

namespace wgate {

using UnixTime = int64_t;

struct User {
  int64_t id = 0;
  std::string name;   // unique; the SSO subject's username later
  std::string email;
  bool disabled = false;
  UnixTime created_at = 0;
};

struct Membership {
  int64_t user_id = 0;
  std::string group;  // a group name from the config
};

struct Key {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string group;  // the group (and so the interface) this key connects to
  WgKey public_key;
  std::string label;
  UnixTime created_at = 0;
  UnixTime expires_at = 0;                 // 0: never expires
  std::optional<UnixTime> revoked_at;
  std::optional<UnixTime> last_handshake_at;  // written back by the agent

  // A key is active when not revoked and not past its expiry.
  bool active_at(UnixTime now) const {
    return !revoked_at && (expires_at == 0 || now < expires_at);
  }
};

// One row of lease history: `user_id` held `address` from `from` until
// `until` (open-ended while the lease is current).
struct Lease {
  int64_t id = 0;
  int64_t user_id = 0;
  IpAddress address;
  UnixTime from = 0;
  std::optional<UnixTime> until;

  bool current() const { return !until.has_value(); }
  bool held_at(UnixTime t) const { return from <= t && (!until || t < *until); }
};

struct AuditRecord {
  int64_t id = 0;
  UnixTime at = 0;
  std::string actor;   // "cli:root", "agent", later "oidc:<sub>"
  std::string action;  // "user.add", "key.revoke", ...
  std::string subject;
  std::string detail;  // JSON text
};

// Everything compile() needs from the store, read in one transaction.
struct State {
  std::vector<User> users;
  std::vector<Membership> memberships;
  std::vector<Key> keys;
  std::vector<Lease> current_leases;
};

}  // namespace wgate
