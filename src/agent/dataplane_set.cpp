#include "agent/dataplane_set.h"

#include "dataplane/kernel_backend.h"
#include "dataplane/netlink_router.h"
#include "dataplane/userspace_backend.h"

namespace wgate {

Result<DataplaneSet> make_dataplane(const Config& config) {
  DataplaneSet set;
  WGATE_ASSIGN_OR_RETURN(set.router, make_netlink_router());
  bool use_kernel = false;
  switch (config.server.backend) {
    case BackendChoice::kernel:
      if (!kernel_wireguard_available()) {
        return make_error(
            "server.backend = \"kernel\", but this kernel has no WireGuard module (genl family 'wireguard' not "
            "found); load it (modprobe wireguard) or use backend = \"userspace\"");
      }
      use_kernel = true;
      break;
    case BackendChoice::userspace: use_kernel = false; break;
    case BackendChoice::automatic: use_kernel = kernel_wireguard_available(); break;
  }
  if (use_kernel) {
    WGATE_ASSIGN_OR_RETURN(set.wg, make_kernel_backend(*set.router));
  } else {
    UserspaceOptions options;
    options.log_dir = config.server.state_dir + "/wireguard-go";
    set.wg = make_userspace_backend(options);
  }
  set.firewall = make_nftables_firewall();
  set.forwarding = make_proc_forwarding();
  return set;
}

}  // namespace wgate
