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
  std::string source = "admin";  // admin | web | cli
  // More live keys (not revoked, not expired at `now`) than this for the
  // person is an error; 0: no limit.
  uint32_t max_live_per_user = 0;
};

// A successful SSO login, as the store records it.
struct SsoLogin {
  std::string issuer;
  std::string subject;
  std::string username_hint;        // preferred_username, else the e-mail's local part
  std::string email;
  std::vector<std::string> groups;  // wgate groups, already mapped from the IdP's
};

struct SsoLoginResult {
  User user;
  bool created = false;                      // a new person
  std::vector<std::string> groups_added;
  std::vector<std::string> groups_removed;
};

// What deprovisioning a person took away.
struct Deprovisioned {
  int keys_revoked = 0;
  int sessions_ended = 0;
};

// A person's block moved (the pool or per_user changed).
struct LeaseMove {
  std::string user;
  Prefix from;
  Prefix to;
};

// Keyset pages of the admin API's lists: each query names where the last
// page ended (a key of the list's stable order) and how many rows to read,
// so a page costs an index range, not the whole table.
struct UserPageQuery {
  std::string after_name;              // "" : from the start; order: name
  size_t limit = 50;
  std::string name_prefix;             // only names starting with it
  std::optional<bool> disabled;        // only (not) disabled people
  std::optional<std::string> group;    // only members of it
};

// Which keys a key page holds, by the store's columns (the service refines
// "superseded", which needs the device's other keys).
enum class KeyRowFilter { any, revoked, expired, live, live_unseen, live_seen, expiring };
struct KeyPageQuery {
  int64_t after_id = 0;                // order: id
  size_t limit = 50;
  std::optional<int64_t> user_id;
  KeyRowFilter filter = KeyRowFilter::any;
  UnixTime now = 0;                    // for the time-dependent filters
  UnixTime expiring_before = 0;        // expiring: live and expires_at in (now, expiring_before]
};

struct AuditPageQuery {
  int64_t before_id = 0;               // 0: from the newest; order: id descending
  // Set: the records after this id instead, oldest first (a live feed's
  // keyset read); before_id is ignored then.
  std::optional<int64_t> after_id;
  size_t limit = 50;
  std::string actor;                   // "" : any
  std::string action;                  // "" : any; "key." matches a prefix when it ends in '.'
  std::string subject;                 // "" : any
};

struct LeasePageQuery {
  int64_t after_id = 0;                // order: id
  size_t limit = 50;
  bool current_only = false;
  std::optional<int64_t> user_id;
};

struct AlertPageQuery {
  int64_t before_id = 0;               // 0: from the newest; order: id descending
  size_t limit = 50;
  std::string status;                  // "" | pending | delivered | failed
};

// --- flows and traffic: observations of the eBPF filter ---------------------
// Not intent, so never audited; written by the agent only.

// One flow as recorded: the first packet of a new allowed flow, or a denied
// packet, attributed to the person and device that held its source address
// at that time.
struct FlowRecord {
  int64_t id = 0;                  // assigned by the store; increases in the order rows were recorded
  UnixTime at = 0;                 // when the filter saw the packet
  std::optional<int64_t> user_id;  // none: nobody held the source address then
  std::string user;                // "" when unknown
  std::string device;              // "" when unknown ("a,b" when devices shared one address)
  IpAddress source;                // the device address
  IpAddress destination;
  uint8_t protocol = 0;            // IP protocol number
  uint16_t source_port = 0;        // ICMP: 0
  uint16_t destination_port = 0;   // ICMP: type << 8 | code
  bool allowed = false;
  std::string reason;              // why the filter decided so ("rule", "no-rule", ...)
  std::string interface;
};

// Which flows, newest recorded first. Every field narrows; none given: all.
struct FlowQuery {
  std::optional<std::string> user;          // "" selects flows from unknown sources
  std::optional<Prefix> destination;        // the destination lies in this prefix
  std::optional<UnixTime> since;            // at >= since
  std::optional<UnixTime> until;            // at <= until
  std::optional<bool> allowed;
  std::optional<int64_t> before_id;         // id < before_id (the next page)
  size_t limit = 100;
};

struct TrafficCounters {
  uint64_t pass_packets = 0;
  uint64_t pass_bytes = 0;
  uint64_t drop_packets = 0;
  uint64_t drop_bytes = 0;
};

// The filter's cumulative counters for a device address as last recorded,
// so the next sample's increase is known across daemon restarts. `epoch`
// names the filter instance (a reload starts every counter at zero again).
struct TrafficBaseline {
  IpAddress address;
  uint64_t epoch = 0;
  TrafficCounters seen;
  UnixTime at = 0;
};

// Totals per person and device since the store began counting.
struct TrafficTotal {
  std::string user;    // "" for addresses nobody held
  std::string device;  // "" when unknown
  TrafficCounters counters;
  UnixTime updated_at = 0;
};

// One sample's effect: new baselines (replacing those of their addresses)
// and increments added to the totals of (user, device).
struct TrafficUpdate {
  std::vector<TrafficBaseline> baselines;
  std::vector<TrafficTotal> increments;
};

// --- event counters: running totals for /metrics ---------------------------
// The store adds to these in the transaction of the write that is the event,
// so they count every process's events (logins happen in `wgate web`,
// deliveries in whichever process runs a dispatcher, flows in the daemon),
// survive restarts, and never go down (pruning flows leaves them alone).
// Reading them costs a few rows, whatever the size of the tables.
//
// The counters, with what `a` and `b` hold:
//   login                 result ("success", "failure"), kind ("browser",
//                         "cli"; from the audit detail's "kind", else a
//                         failure's subject): each audit record with action
//                         login.success or login.failure
//   alert_sent            channel, alert kind: mark_alert_delivered() of a
//                         pending entry
//   alert_attempt_failed  channel, alert kind: every mark_alert_failed()
//   alert_failed          channel, alert kind: mark_alert_failed() with
//                         give_up (the entry is failed for good)
//   flow                  verdict ("allowed", "denied"), reason: each flow
//                         record add_flows() stores
//   filter_packets,       verdict ("allowed", "denied"), "": the increments
//   filter_bytes          record_traffic() adds to the traffic totals
inline constexpr const char* kCounterLogin = "login";
inline constexpr const char* kCounterAlertSent = "alert_sent";
inline constexpr const char* kCounterAlertAttemptFailed = "alert_attempt_failed";
inline constexpr const char* kCounterAlertFailed = "alert_failed";
inline constexpr const char* kCounterFlow = "flow";
inline constexpr const char* kCounterFilterPackets = "filter_packets";
inline constexpr const char* kCounterFilterBytes = "filter_bytes";

struct EventCount {
  std::string counter;
  std::string a;
  std::string b;
  uint64_t value = 0;
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
  // Every lease ever (current and ended, both families), oldest first: for
  // attributing many addresses at once (flow records) with one read.
  virtual Result<std::vector<Lease>> all_leases() = 0;
  // Moves every current lease that does not fit `plan` (the pool or per_user
  // changed) to a block that does: the old leases end first, then each
  // person, in id order, gets a block by the usual IPAM preference. Devices
  // keep their slots. Each move is audited. Errors: pool exhausted (nothing
  // is changed then).
  virtual Result<std::vector<LeaseMove>> relocate_leases(const AddressPlan& plan, UnixTime now,
                                                         const Actor& actor) = 0;

  // --- SSO -------------------------------------------------------------------
  // Records a login: finds the person by (issuer, subject) or creates them
  // (a unique name from the hint, a block leased), and makes their
  // memberships exactly `login.groups`, each change audited. A person an
  // admin disabled stays disabled: the login is refused. An existing user
  // without an identity is linked only when the name and the e-mail both
  // match, so an IdP account can never take over an unrelated wgate user.
  virtual Result<SsoLoginResult> record_sso_login(const SsoLogin& login, const AddressPlan& plan, UnixTime now,
                                                  const Actor& actor) = 0;
  // The periodic check's answer: the person's groups now. Audited.
  virtual Result<SsoLoginResult> sync_sso_groups(int64_t user_id, const std::vector<std::string>& groups,
                                                 UnixTime now, const Actor& actor) = 0;
  virtual Result<std::vector<Identity>> list_identities() = 0;
  // Revokes every live key of the person and ends their sessions (a
  // back-channel logout, or the provider saying the person is gone).
  virtual Result<Deprovisioned> deprovision_user(int64_t user_id, const std::string& reason, UnixTime now,
                                                 const Actor& actor) = 0;

  virtual Status create_session(const WebSession& session, const Actor& actor) = 0;
  virtual Result<std::optional<WebSession>> find_session(const std::string& id_hash) = 0;
  virtual Status end_session(const std::string& id_hash, const std::string& reason, UnixTime now,
                             const Actor& actor) = 0;
  // Live sessions whose periodic check is due.
  virtual Result<std::vector<WebSession>> sessions_due_for_check(UnixTime now, size_t limit) = 0;
  virtual Result<std::vector<WebSession>> sessions_with_sid(const std::string& oidc_sid) = 0;
  virtual Status set_session_check(const std::string& id_hash, UnixTime next_check_at,
                                   const std::optional<std::string>& new_refresh_token) = 0;
  // The session's admin right changed at the provider (its IdP groups);
  // audited as session.admin_granted / session.admin_revoked.
  virtual Status set_session_admin(const std::string& id_hash, bool admin, UnixTime now, const Actor& actor) = 0;

  virtual Status put_login_request(const LoginRequest& request) = 0;
  virtual Result<std::optional<LoginRequest>> find_login_request(const std::string& handle_hash, UnixTime now) = 0;
  // Finds and deletes it in one transaction: a state or device handle is
  // good for one login only. Expired ones are deleted and not returned.
  virtual Result<std::optional<LoginRequest>> take_login_request(const std::string& handle_hash, UnixTime now) = 0;
  virtual Status set_login_request_poll(const std::string& handle_hash, int64_t interval, UnixTime next_poll_at) = 0;

  // Remembers a logout token's jti until it expires; false when it was seen
  // before (a replay).
  virtual Result<bool> remember_logout_token(const std::string& jti, UnixTime expires_at, UnixTime now) = 0;

  // --- alert outbox ------------------------------------------------------------
  // Adds an entry unless one with the same (dedup_key, channel) exists:
  // true when added.
  virtual Result<bool> enqueue_alert(const OutboxEntry& entry) = 0;
  // Undelivered, not given up, next_attempt_at <= now; oldest first.
  virtual Result<std::vector<OutboxEntry>> due_alerts(UnixTime now, size_t limit) = 0;
  virtual Status mark_alert_delivered(int64_t id, UnixTime now) = 0;
  // Counts an attempt; `give_up` ends the entry's retries.
  virtual Status mark_alert_failed(int64_t id, const std::string& error, UnixTime next_attempt_at, bool give_up,
                                   UnixTime now) = 0;
  virtual Result<std::vector<OutboxEntry>> list_alerts(size_t limit) = 0;

  // Audits each key that reached its expiry (not revoked) once, as
  // "key.expire": expiry is time passing, so nobody else writes it.
  // Returns how many were recorded now.
  virtual Result<int> audit_expired_keys(UnixTime now) = 0;

  // Records when keys were first seen in the data plane (agent): the CLI
  // waits for it before switching to a new key.
  virtual Status mark_keys_applied(const std::vector<int64_t>& key_ids, UnixTime now) = 0;

  // --- interfaces the agent created ----------------------------------------
  // The daemon records each interface it creates before creating it, and
  // forgets it once removed, so a retired group's interface is found (and
  // removed) from here, never from a guess about files or names.
  virtual Status record_interface(const std::string& name, UnixTime now, const Actor& actor) = 0;
  virtual Status forget_interface(const std::string& name, UnixTime now, const Actor& actor) = 0;
  virtual Result<std::vector<std::string>> managed_interfaces() = 0;

  // --- flows and traffic (agent observations; not audited) ----------------
  // Appends `records` (their ids are ignored) in one write transaction.
  virtual Status add_flows(const std::vector<FlowRecord>& records) = 0;
  // The flows `query` selects, newest recorded (highest id) first, at most
  // query.limit of them.
  virtual Result<std::vector<FlowRecord>> list_flows(const FlowQuery& query) = 0;
  // Deletes, in one transaction, at most `max_rows` of the oldest flows that
  // are older than `older_than` or beyond the newest `keep_newest`. Returns
  // how many were deleted (fewer than max_rows: nothing more to prune).
  virtual Result<size_t> prune_flows(UnixTime older_than, uint64_t keep_newest, size_t max_rows) = 0;

  virtual Result<std::vector<TrafficBaseline>> traffic_baselines() = 0;
  // Applies one sample (baselines and increments) in one transaction.
  virtual Status record_traffic(const TrafficUpdate& update, UnixTime now) = 0;
  virtual Result<std::vector<TrafficTotal>> traffic_totals() = 0;

  // --- event counters (above) ------------------------------------------------
  // Every counter row, ordered by (counter, a, b); a counter nothing has
  // added to yet has no row.
  virtual Result<std::vector<EventCount>> event_counts() = 0;

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

  // --- admin API pages ---------------------------------------------------------
  // At most `limit` rows after (or before) the query's key, in the list's
  // order; fewer only at the end of the list.
  virtual Result<std::vector<User>> users_page(const UserPageQuery& query) = 0;
  virtual Result<std::vector<Key>> keys_page(const KeyPageQuery& query) = 0;
  virtual Result<std::vector<AuditRecord>> audit_page(const AuditPageQuery& query) = 0;
  virtual Result<std::vector<Lease>> leases_page(const LeasePageQuery& query) = 0;
  virtual Result<std::vector<OutboxEntry>> alerts_page(const AlertPageQuery& query) = 0;
  // The users with these ids, their memberships, devices (removed ones
  // too: their old keys keep a name), keys and current leases, read in one
  // transaction (what a page of people or keys
  // needs to be shown, without the rest of the store).
  virtual Result<State> state_of_users(const std::vector<int64_t>& user_ids) = 0;

  // --- admin API tokens --------------------------------------------------------
  // Errors: a name taken (by any token ever, revoked ones included).
  virtual Result<ApiToken> create_api_token(const ApiToken& token, const Actor& actor) = 0;
  virtual Result<std::optional<ApiToken>> find_api_token(const std::string& token_hash) = 0;
  virtual Result<std::vector<ApiToken>> list_api_tokens() = 0;
  // Errors: unknown name, already revoked.
  virtual Status revoke_api_token(const std::string& name, UnixTime now, const Actor& actor) = 0;
  // Records a use (not audited: an observation, like handshakes).
  virtual Status touch_api_token(int64_t id, UnixTime now) = 0;
  // An audit record for an event that changes no intent of its own (a
  // failed login, a refused logout token): `detail` is a JSON object text.
  virtual Status append_audit(UnixTime at, const Actor& actor, const std::string& action, const std::string& subject,
                              const std::string& detail_json) = 0;
};

enum class StoreOpen {
  existing,  // the store must exist: a wrong path is an error, never a new empty store
  create,    // `wgate init`: create it when missing
};

// Opens the SQLite store at `path`, in WAL mode, and applies pending
// migrations. With StoreOpen::create a missing file is created 0600.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, StoreOpen mode = StoreOpen::existing);

}  // namespace wgate
