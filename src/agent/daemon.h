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

#include "agent/dataplane_set.h"
#include "core/config.h"
#include "store/store.h"

namespace wgate {

struct DaemonOptions {
  // Safety net for store changes that inotify cannot see (e.g. a store on a
  // network filesystem); inotify normally wakes the loop at once.
  std::chrono::milliseconds poll{1000};
  // Full pass at least this often.
  std::chrono::milliseconds resync{2000};
};

// Runs until `stop` becomes true. Stopping leaves every tunnel up. Returns a
// process exit code.
int run_daemon(const Config& config, Store& store, DataplaneSet& dataplane, const DaemonOptions& options,
               const std::atomic<bool>& stop);

}  // namespace wgate
