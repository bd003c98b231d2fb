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
#include "dataplane/packet_filter.h"
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

// --- flows and traffic (src/service/flows.cpp) ------------------------------
// The eBPF filter's observations, recorded by the daemon and read by the
// CLI (and the HTTP API next). Recording is an observation, not a change of
// intent: nothing is audited.

// One drained filter event and the name of the interface it came in on.
struct FlowObservation {
  FlowEvent event;
  std::string interface;
};
struct FlowRecordReport {
  size_t recorded = 0;         // the first `recorded` observations are stored, in order
  size_t unknown_sources = 0;  // recorded with no person: nobody held the source address then
  // Set when a later transaction failed after earlier ones committed: the
  // observations from `recorded` on are not stored (retry those only, or
  // the stored ones would be recorded twice).
  std::optional<Error> partial_failure;
};
// Records `observations`, each attributed to the person and device that held
// its source address at the event's time (lease and device history, as
// whois answers; an event without a wall-clock time counts as `now`). Reads
// the people, devices and keys once per call; writes in transactions of at
// most kFlowsPerTransaction rows, so the store's write lock is held for
// milliseconds (the HTTP part's writers queue behind it). An error means
// nothing was stored; a failure after a first commit is reported in
// partial_failure instead.
inline constexpr size_t kFlowsPerTransaction = 2000;
Result<FlowRecordReport> record_flows(Store& store, const Config& config,
                                      const std::vector<FlowObservation>& observations, UnixTime now);

// One reading of the filter's cumulative per-address counters
// (BpfFilter::counters()). `epoch` names the filter instance the counters
// come from (e.g. its load time in ns): a different one means they started
// again at zero.
struct TrafficSample {
  uint64_t epoch = 0;
  std::map<IpAddress, SourceCounters> counters;
};
// Adds what each address sent since the previous sample (stored, so it
// survives restarts) to the totals of the person and device holding the
// address at `now`. A counter lower than before, or a new epoch, means the
// counter restarted (filter reloaded, LRU entry evicted and re-created): its
// whole value is the increase. Totals never go down. An address missing
// from the sample keeps its baseline. Single writer: the daemon.
Status record_traffic(Store& store, const Config& config, const TrafficSample& sample, UnixTime now);
// The increase of one counter set over its baseline, by the rule above.
// Pure (exposed for tests).
TrafficCounters traffic_increase(const std::optional<TrafficBaseline>& before, uint64_t epoch,
                                 const TrafficCounters& now_seen);

// Which flows to list (the CLI's options, the HTTP API's query parameters).
struct FlowListRequest {
  std::optional<std::string> user;         // a person's name
  std::optional<std::string> destination;  // an address or a CIDR prefix
  std::optional<UnixTime> since;           // inclusive
  std::optional<UnixTime> until;           // inclusive
  std::optional<std::string> verdict;      // "allow" | "deny"
  std::optional<std::string> cursor;       // from the previous page's next_cursor
  size_t limit = 50;                       // 1 .. kMaxFlowPage
};
inline constexpr size_t kMaxFlowPage = 1000;
// A page of flows, newest recorded first. next_cursor, when set, fetches
// the following (older) page; rows recorded meanwhile never shift a page,
// so paging neither repeats nor skips a row.
struct FlowPage {
  std::vector<FlowRecord> flows;
  std::optional<std::string> next_cursor;
};
// Errors name the bad field: a destination that is no address or prefix, an
// unknown verdict, a limit out of range, since after until, a cursor that
// list_flows did not hand out.
Result<FlowPage> list_flows(Store& store, const FlowListRequest& request);

struct PruneReport {
  size_t deleted = 0;
  bool more = false;  // stopped at max_batches with rows still to delete
};
// Deletes flow records older than config.flows.retention or beyond the
// newest config.flows.max_records, in transactions of `batch` rows, at most
// `max_batches` of them per call (so a large backlog is worked off over
// several calls without holding the write lock for long).
Result<PruneReport> prune_flows(Store& store, const Config& config, UnixTime now, size_t batch = 5000,
                                size_t max_batches = 20);

// A person's traffic totals, with their devices.
struct TrafficView {
  std::string user;  // "" for addresses nobody held
  TrafficCounters total;
  std::vector<TrafficTotal> devices;
  UnixTime updated_at = 0;
};
Result<std::vector<TrafficView>> traffic(Store& store);

// How `wgate flows` names a filter reason (enum wgate_filter_reason).
std::string flow_reason_name(uint8_t reason);
// "tcp", "udp", "icmp", else the protocol number.
std::string flow_protocol_name(uint8_t protocol);

}  // namespace wgate::service
