// The daemon loop behind `wgate server`: compile the store's intent and
// reconcile it into the data plane.
//
// It learns of store commits at once (inotify on the store's change files,
// with a slow poll of the store's change token as a safety net) and answers
// each with an incremental pass (apply the difference, trust the last
// observation); a full pass (observe everything: catches expiry, drift,
// someone deleting wgate's nftables table) runs at least every `resync`, and
// at once when the firewall monitor reports a change to wgate's table.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/dataplane_set.h"
#include "agent/reconciler.h"
#include "core/config.h"
#include "dataplane/packet_filter.h"
#include "store/store.h"

namespace wgate {

// What one pass saw and did, for an observer (the metrics endpoint). The
// loop is done with the pass's data when it calls the observer, so it hands
// them over: an observer may keep them without copying.
struct DaemonPass {
  PassKind kind = PassKind::full;
  std::chrono::steady_clock::duration took{};  // from reading the store to the end of bookkeeping
  UnixTime wall = 0;                           // the time the plan was compiled for
  // Null when the store could not be read (then store_error says why and
  // nothing was reconciled).
  std::shared_ptr<const State> state;
  std::shared_ptr<const Plan> plan;
  // Full passes only: the devices the pass observed.
  std::shared_ptr<const std::map<std::string, WgDeviceState>> observed;
  std::vector<std::string> errors;  // the pass's per-object failures
  std::string store_error;
};

struct DaemonOptions {
  // Safety net for store changes that inotify cannot see (e.g. a store on a
  // network filesystem); inotify normally wakes the loop at once.
  std::chrono::milliseconds poll{1000};
  // Full pass at least this often.
  std::chrono::milliseconds resync{2000};
  // Called on the daemon's thread after every pass and after every failed
  // store read; it must be quick (it delays the next pass). May be empty.
  std::function<void(const DaemonPass&)> on_pass;
  // SIGHUP: when `*reload_requested` is true at the top of a loop turn, the
  // daemon clears it, calls reload_config() and, if the new config is valid
  // and changes nothing that needs a restart (store, state_dir, backend),
  // runs a full pass with it. A refused config is logged with its error and
  // the running one stays. Either may be null/empty: no reloads.
  std::atomic<bool>* reload_requested = nullptr;
  std::function<Result<Config>()> reload_config;
  // Called on the loop's thread after a reload was accepted, with the new
  // config (parts kept outside the loop, such as the knock watcher's ports,
  // follow it from here). May be empty.
  std::function<void(const Config&)> on_config_reloaded;
  // Called every loop turn (at least every `poll`) with the eBPF filter's
  // flow and denial events drained since the previous call (possibly none),
  // so the ring buffer never waits for a pass; `interface_name` names an
  // event's ifindex ("" when no such link exists any more). On the daemon's
  // thread: keep it quick. Empty, or no filter loaded: not called.
  std::function<void(const std::vector<FlowEvent>& events,
                     const std::function<std::string(uint32_t ifindex)>& interface_name)>
      on_flow_events;
  // Called every `traffic_every` and once when stopping with the filter's
  // cumulative per-address counters and its epoch (PacketFilter::epoch).
  std::function<void(const std::map<IpAddress, SourceCounters>& counters, uint64_t epoch)> on_traffic;
  // Called every loop turn, with on_flow_events, with the filter's
  // cumulative count of events it did not report (PacketFilter::
  // event_losses). Empty, or no filter loaded: not called.
  std::function<void(const FilterEventLosses& losses)> on_filter_event_losses;
  std::chrono::milliseconds traffic_every{15000};
};

// Runs until `stop` becomes true. `dataplane.filter` (may be null: then
// per-person port rules are not enforced, which is logged once) is kept in
// line with each plan's filter and put on every wgate interface. Stopping leaves every tunnel up. Returns a
// process exit code.
int run_daemon(const Config& config, Store& store, DataplaneSet& dataplane, const DaemonOptions& options,
               const std::atomic<bool>& stop);

}  // namespace wgate
