// The stored intent: users, memberships, devices, keys and address leases.
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

// One of a person's machines (laptop, phone). It owns one slot of the
// person's address block, so it keeps its address across key renewals: the
// address is the block's `slot`-th address, wherever the block is.
struct Device {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string name;   // unique among the person's current devices
  uint32_t slot = 0;  // 0 .. pool.per_user - 1, unique among current devices
  UnixTime created_at = 0;
  std::optional<UnixTime> removed_at;  // a removed device frees its slot

  bool current() const { return !removed_at.has_value(); }
  bool existed_at(UnixTime t) const { return created_at <= t && (!removed_at || t < *removed_at); }
};

// What a key is at a moment, the one rule every caller shares.
enum class KeyState {
  revoked,        // revoked by an admin (or by leaving the IdP, later)
  expired,        // past its expiry
  never_used,     // active, but no handshake was ever seen
  active,         // active and seen in a handshake
  superseded,     // active, but a newer key of the same device holds the
                  // device's address (set by the service, which sees all keys)
};
const char* to_string(KeyState state);

struct Key {
  int64_t id = 0;
  int64_t user_id = 0;
  int64_t device_id = 0;
  std::string group;  // the group (and so the interface) this key connects to
  WgKey public_key;
  UnixTime created_at = 0;
  UnixTime expires_at = 0;                 // 0: never expires
  std::optional<UnixTime> revoked_at;
  std::optional<UnixTime> last_handshake_at;  // written back by the agent

  // A key is usable at `now` when not revoked and not past its expiry.
  bool active_at(UnixTime now) const {
    return !revoked_at && (expires_at == 0 || now < expires_at);
  }
  // Was the key usable at `t` (for whois about the past)? Unlike
  // active_at(), a key revoked later was valid before its revocation.
  bool valid_at(UnixTime t) const {
    return created_at <= t && (!revoked_at || t < *revoked_at) && (expires_at == 0 || t < expires_at);
  }
  KeyState state_at(UnixTime now) const {
    if (revoked_at) return KeyState::revoked;
    if (!active_at(now)) return KeyState::expired;
    return last_handshake_at ? KeyState::active : KeyState::never_used;
  }
};

// One row of lease history: `user_id` held the address block `block` from
// `from` until `until` (open-ended while the lease is current). A person's
// devices take addresses inside the block.
struct Lease {
  int64_t id = 0;
  int64_t user_id = 0;
  Prefix block;
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
  std::vector<Device> devices;  // current ones (not removed)
  std::vector<Key> keys;
  std::vector<Lease> current_leases;
};

}  // namespace wgate
