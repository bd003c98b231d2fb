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
  std::string source = "admin";            // admin | web | cli: where it was registered
  std::optional<UnixTime> applied_at;      // first seen in the data plane (agent)
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

// A person as an OpenID Connect provider knows them: the stable (issuer,
// subject) pair, never the e-mail or user name, which can change.
struct Identity {
  std::string issuer;
  std::string subject;
  int64_t user_id = 0;
  UnixTime created_at = 0;
  std::optional<UnixTime> last_login_at;
};

// A login's session: a browser's cookie or the CLI's bearer token (stored
// only as a SHA-256 hash), with the provider's refresh token that the
// periodic check uses, and the provider's session id for back-channel
// logout.
struct WebSession {
  enum class Kind { browser, cli };
  std::string id_hash;
  int64_t user_id = 0;
  Kind kind = Kind::browser;
  UnixTime created_at = 0;
  UnixTime expires_at = 0;
  std::string csrf_token;
  std::string oidc_sid;
  std::string refresh_token;
  UnixTime next_check_at = 0;
  std::optional<UnixTime> ended_at;
  std::string end_reason;
  // The login's IdP groups included one of [web] admin_groups: the session
  // may use the admin API. Fixed at login (a new login picks up a change).
  bool admin = false;

  bool live_at(UnixTime now) const { return !ended_at && now < expires_at; }
};

// A login under way: the browser's state (with its nonce and PKCE
// verifier), or a CLI's device grant (with its device code and polling
// pace). Looked up by the hash of its handle; single use.
struct LoginRequest {
  enum class Kind { browser, device };
  std::string handle_hash;
  Kind kind = Kind::browser;
  std::string nonce;
  std::string code_verifier;
  std::string device_code;
  std::string device_name;
  int64_t poll_interval = 5;
  UnixTime next_poll_at = 0;
  std::string return_to;
  UnixTime created_at = 0;
  UnixTime expires_at = 0;
};

// One alert for one channel, as the outbox keeps it until delivered.
struct OutboxEntry {
  int64_t id = 0;
  std::string dedup_key;   // the alert's identity: enqueuing it again does nothing
  std::string channel;     // webhook | email
  std::string kind;
  std::optional<int64_t> user_id;
  std::optional<int64_t> key_id;
  std::string payload;     // JSON
  UnixTime created_at = 0;
  int attempts = 0;
  UnixTime next_attempt_at = 0;
  std::optional<UnixTime> last_attempt_at;
  std::optional<UnixTime> delivered_at;  // set at enqueue: recorded only, never sent
  std::optional<UnixTime> failed_at;  // gave up
  std::string last_error;
};

// An admin API token: a random secret shown once, kept only as its
// SHA-256. `scope` is "read" (GET only) or "write" (everything).
struct ApiToken {
  int64_t id = 0;
  std::string name;        // unique for ever: the audit trail says "token:<name>"
  std::string token_hash;  // hex SHA-256 of the secret
  std::string scope = "read";
  UnixTime created_at = 0;
  std::string created_by;  // the actor that made it
  UnixTime expires_at = 0;
  std::optional<UnixTime> revoked_at;
  std::optional<UnixTime> last_used_at;

  bool live_at(UnixTime now) const { return !revoked_at && now < expires_at; }
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
