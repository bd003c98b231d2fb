// Service: what the admin API adds to the intent functions of service.h:
// paged lists (keyset pages read from the store, never the whole table),
// single lookups, and admin API tokens.
//
// Pages: a request carries an opaque cursor (from the previous page's
// next_cursor; "" for the first page) and a limit (1..kMaxPageLimit). A
// cursor names its list, so one list's cursor given to another is refused;
// a cursor that does not decode is an error naming the cursor, never a
// silent first page. A page may hold fewer than `limit` items (a filter the
// store cannot apply dropped some); the list ends when next_cursor is empty.
// New lists (flows) use the same PageRequest/Page and cursor functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/config.h"
#include "service/views.h"
#include "store/store.h"

namespace wgate::service {

inline constexpr size_t kDefaultPageLimit = 50;
inline constexpr size_t kMaxPageLimit = 500;

struct PageRequest {
  std::string cursor;  // "" : the first page
  size_t limit = kDefaultPageLimit;
};

template <class T>
struct Page {
  std::vector<T> items;
  std::string next_cursor;  // "" : this is the last page
};

// An opaque cursor for `list` ("people", "keys"...) resuming after `key`.
std::string encode_cursor(std::string_view list, std::string_view key);
// The key in a cursor of `list`. Errors: not a cursor, or another list's.
Result<std::string> decode_cursor(std::string_view list, std::string_view cursor);
// Error unless 1 <= limit <= kMaxPageLimit.
Status check_page_limit(size_t limit);

// --- people ------------------------------------------------------------------
struct PeopleQuery {
  PageRequest page;
  std::string name_prefix;
  std::optional<bool> disabled;
  std::optional<std::string> group;  // must be a configured group
};
// By name.
Result<Page<PersonView>> list_people_page(Store& store, const Config& config, const PeopleQuery& query);
// The person named `name`, or none.
Result<std::optional<PersonView>> find_person(Store& store, const Config& config, const std::string& name);

// --- keys --------------------------------------------------------------------
// The states a key list can be filtered by: active, never_activated (live,
// no handshake yet), expiring (live, expiring within `expiring_within`),
// expired, revoked, superseded.
struct KeyQuery {
  PageRequest page;
  std::optional<std::string> user;
  std::optional<std::string> state;
  int64_t expiring_within = 24 * 3600;
};
// By id. Each key's state is the rule `key list` uses (superseded included).
Result<Page<KeyView>> list_keys_page(Store& store, const Config& config, const KeyQuery& query, UnixTime now);
// The name the API uses for a key state ("never_activated" for never_used).
std::string api_key_state(KeyState state);

// --- audit, leases, alerts -------------------------------------------------------
struct AuditQuery {
  PageRequest page;
  std::string actor;
  std::string action;   // exact, or a prefix ending in '.' ("key.")
  std::string subject;
};
// Newest first.
Result<Page<AuditRecord>> list_audit_page(Store& store, const AuditQuery& query);
// For a live feed: at most `limit` (1..kMaxPageLimit) records with an id
// above `after_id`, oldest first (one indexed range read).
Result<std::vector<AuditRecord>> audit_after(Store& store, int64_t after_id, size_t limit);
// The newest record's id, 0 when there is none.
Result<int64_t> newest_audit_id(Store& store);

struct LeaseView {
  Lease lease;
  std::string user;
};
struct LeaseQuery {
  PageRequest page;
  bool current_only = false;
  std::optional<std::string> user;
};
// By id (oldest first).
Result<Page<LeaseView>> list_leases_page(Store& store, const LeaseQuery& query);

struct AlertQuery {
  PageRequest page;
  std::string status;  // "" | pending | delivered | failed
};
// Newest first.
Result<Page<OutboxEntry>> list_alerts_page(Store& store, const AlertQuery& query);

// --- admin API tokens -------------------------------------------------------------
inline constexpr std::string_view kApiTokenPrefix = "wgat_";

struct CreateTokenRequest {
  std::string name;                // [a-z0-9._-], 1..64, unique for ever
  std::string scope = "read";      // read | write
  std::string ttl = "90d";         // how long it lives (1m .. 366d)
};
struct CreatedToken {
  ApiToken token;
  std::string secret;  // "wgat_" + 43 base64url chars; shown once, stored only hashed
};
Result<CreatedToken> create_api_token(Store& store, const CreateTokenRequest& request, UnixTime now,
                                      const Actor& actor);
Result<std::vector<ApiToken>> list_api_tokens(Store& store);
Status revoke_api_token(Store& store, const std::string& name, UnixTime now, const Actor& actor);
// The live token whose secret this is (its use recorded, at most once a
// minute). Errors, alike for every cause an attacker could probe: unknown,
// revoked or expired.
Result<ApiToken> authenticate_api_token(Store& store, const std::string& secret, UnixTime now);
// The audit actor of a token: "token:<name>".
Actor token_actor(const ApiToken& token);

// Whether a login with these IdP groups has admin rights ([web] admin_groups).
bool grants_admin(const Config& config, const std::vector<std::string>& idp_groups);

// --- who is calling ------------------------------------------------------------------
// One rule for "is this caller an admin", used by the admin API and the
// admin pages alike (web/admin_api.cpp, web/web_app.cpp).
struct AdminCaller {
  Actor actor;              // "user:<name>" or "token:<name>"
  bool write_scope = true;  // false: a read-scoped API token (GET only)
  // The session's CSRF token, which a cookie-borne call that changes state
  // must present; "" for API tokens (never sent by a browser on its own).
  std::string csrf_token;
};
struct AdminRefusal {
  enum class Why {
    unauthenticated,  // no such live session or token: log in (401, or the login page)
    forbidden,        // a live session without admin rights (403)
  };
  Why why = Why::unauthenticated;
  std::string message;
};
using AdminCheck = std::variant<AdminCaller, AdminRefusal>;
// The admin behind `secret`: a session token (a browser's cookie, or `wgate
// login`'s bearer), or, when not `from_cookie`, an admin API token
// ("wgat_..."). A refusal says why in words for the caller; an error is the
// store failing.
Result<AdminCheck> check_admin(Store& store, const std::string& secret, bool from_cookie, UnixTime now);

}  // namespace wgate::service
