// The service layer: wgate's intent rules as plain functions.
//
// Every caller that changes or reads intent (the CLI now, the HTTP API and
// OIDC login next) calls these and only parses, calls and prints. Each
// function takes the store, the config, its request, the time and (for
// changes) the actor, and returns a Result: bad input comes back as an
// Error naming what was wrong, with nothing stored. Besides migrations and
// the agent's observations, this is the only writer of the store.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/explain.h"
#include "core/plan.h"
#include "core/plan_preview.h"
#include "dataplane/wg_backend.h"
#include "service/views.h"
#include "store/store.h"

namespace wgate::service {

// The IPAM parameters of the config.
AddressPlan address_plan(const Config& config);

// --- setup -------------------------------------------------------------------
struct InitReport {
  std::string store_path;
  std::string state_dir;
  bool created_store = false;
};
// Creates the store (0600) and the state directory (0700) when missing and
// applies migrations. The only way a store comes into being.
Result<InitReport> initialize(const Config& config);

// --- people --------------------------------------------------------------
struct AddUserRequest {
  std::string name;
  std::string email;
  std::vector<std::string> groups;  // each must be a configured group, given once
};
Result<PersonView> add_user(Store& store, const Config& config, const AddUserRequest& request, UnixTime now,
                            const Actor& actor);
Status set_user_disabled(Store& store, const Config& config, const std::string& user, bool disabled, UnixTime now,
                         const Actor& actor);
Status add_membership(Store& store, const Config& config, const std::string& user, const std::string& group,
                      UnixTime now, const Actor& actor);
Status remove_membership(Store& store, const Config& config, const std::string& user, const std::string& group,
                         UnixTime now, const Actor& actor);
Result<std::vector<PersonView>> list_people(Store& store, const Config& config);
Result<std::vector<GroupView>> list_groups(Store& store, const Config& config);
// Moves every lease that no longer fits the pool and per_user (the daemon
// calls this at start). Each move is audited.
Result<std::vector<LeaseMove>> relocate_leases(Store& store, const Config& config, UnixTime now, const Actor& actor);

// --- devices and keys ----------------------------------------------------
struct AddKeyRequest {
  std::string user;
  std::string public_key;             // base64, as `wg pubkey` prints it
  std::string device = "default";     // created when new; keeps its address across renewals
  std::optional<std::string> group;   // default: the user's only group
  std::optional<std::string> ttl;     // "12h", "7d"...; default: the group's key_ttl
};
Result<KeyView> add_key(Store& store, const Config& config, const AddKeyRequest& request, UnixTime now,
                        const Actor& actor);
Status revoke_key(Store& store, int64_t key_id, UnixTime now, const Actor& actor);
// Removes a device: its keys are revoked and its slot freed.
Status remove_device(Store& store, const std::string& user, const std::string& device, UnixTime now,
                     const Actor& actor);

struct KeyFilter {
  std::optional<std::string> user;
};
Result<std::vector<KeyView>> list_keys(Store& store, const Config& config, const KeyFilter& filter, UnixTime now);
// How many of `keys` are in each state at `now`, by the rule `key list`
// uses (superseded included). Pure: for callers that already hold the keys
// (the daemon's metrics, from the snapshot it compiles).
std::map<KeyState, std::size_t> count_key_states(const std::vector<Key>& keys, UnixTime now);

// The wg-quick config for a key. `private_key_base64`, when given, is the
// client's own private key (checked against the key) to fill in; wgate never
// stores it. Reads the gateway's public key; never creates one (only the
// daemon does). Errors: unknown key, revoked or expired, no address, the
// interface key not made yet.
Result<ClientConfigView> client_config(Store& store, const Config& config, int64_t key_id,
                                       const std::optional<std::string>& private_key_base64, UnixTime now);

// --- lookups -------------------------------------------------------------
Result<WhoisAnswer> whois(Store& store, const Config& config, const std::string& address, UnixTime at);
Result<Plan> plan(Store& store, const Config& config, UnixTime now);
// What replacing `current` by `next` would change (interfaces, routes,
// rules, peers, filter rules, each person's access), both compiled against
// the store as it is now. Applies nothing.
Result<PlanPreview> plan_preview(Store& store, const Config& current, const Config& next, UnixTime now);
// Whether a person (or the device with an address) reaches an address, and
// the step that decides it (core/explain.h), from the plan compiled now.
// `target` is a person's name or a device address.
Result<Explanation> explain(Store& store, const Config& config, const std::string& target,
                            const std::string& destination, const std::optional<std::string>& protocol_port,
                            UnixTime now);
Result<std::vector<AuditRecord>> audit_log(Store& store, size_t limit);
// What the data plane holds now, with each peer's owner from the store.
Result<StatusView> status(Store& store, const Config& config, WgBackend& wg);

}  // namespace wgate::service
