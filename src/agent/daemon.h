// The daemon loop behind `wgate server`: compile the store's intent and
// reconcile it into the data plane, again whenever the store changes (polled
// every 250 ms) and at least every `resync` (catches expiry and drift, e.g.
// someone deleting wgate's nftables table).
#pragma once

#include <atomic>
#include <chrono>

#include "agent/dataplane_set.h"
#include "core/config.h"
#include "store/store.h"

namespace wgate {

struct DaemonOptions {
  std::chrono::milliseconds poll{250};
  std::chrono::milliseconds resync{2000};
};

// Runs until `stop` becomes true. Stopping leaves every tunnel up. Returns a
// process exit code.
int run_daemon(const Config& config, Store& store, DataplaneSet& dataplane, const DaemonOptions& options,
               const std::atomic<bool>& stop);

}  // namespace wgate
