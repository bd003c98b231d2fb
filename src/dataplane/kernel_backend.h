// The kernel WireGuard backend: devices are links of kind "wireguard"
// (created and deleted through the Router), configured over the generic
// netlink family "wireguard" (WG_CMD_GET_DEVICE / WG_CMD_SET_DEVICE, encoded
// by netlink/wg_genl.h).
#pragma once

#include <memory>

#include "dataplane/router.h"
#include "dataplane/wg_backend.h"
#include "util/result.h"

namespace wgate {

// Opens a generic netlink socket and resolves the "wireguard" family (which
// makes the kernel load the module on demand). Fails when the kernel has no
// WireGuard. `router` must outlive the backend. Not thread-safe (see
// WgBackend).
Result<std::unique_ptr<WgBackend>> make_kernel_backend(Router& router);

}  // namespace wgate
