// DataplaneSet: the concrete backend, router and firewall chosen for this
// machine and config, owned together. Built once by the daemon and by CLI
// commands that read the data plane (`status`).
#pragma once

#include <memory>

#include "core/config.h"
#include "dataplane/firewall.h"
#include "dataplane/packet_filter.h"
#include "dataplane/router.h"
#include "dataplane/wg_backend.h"
#include "util/result.h"

namespace wgate {

struct DataplaneSet {
  std::unique_ptr<Router> router;      // declared first: the kernel backend uses it
  std::unique_ptr<WgBackend> wg;
  std::unique_ptr<Firewall> firewall;
  std::unique_ptr<Forwarding> forwarding;
  // The per-person L4 filter: set by the daemon's caller (load_packet_filter),
  // null when it could not be loaded; `filter_unavailable` then says why.
  std::unique_ptr<PacketFilter> filter;
  std::string filter_unavailable;
};

// `auto` picks the kernel backend when the wireguard module answers, else
// userspace (wireguard-go). An explicit `kernel` without the module is an
// error that says so.
Result<DataplaneSet> make_dataplane(const Config& config);

}  // namespace wgate
