// NetlinkRouter: the Router over rtnetlink (NETLINK_ROUTE via libmnl).
//
// Acts on the network namespace of the thread that called the factory (the
// socket is bound to it at creation). Errors name the operation and the
// object in `ip` syntax, e.g. "adding route throw 10.1.0.0/16 table 1001:
// File exists".
//
// Idempotence: add_route/add_rule succeed when the exact same route/rule
// (wgate's protocol, same type, destination, table, device) already exists;
// a conflicting entry under the same key is still an error. delete_route,
// delete_rule and delete_link succeed when the object is already absent.
#pragma once

#include <memory>

#include "dataplane/router.h"
#include "util/result.h"

namespace wgate {

// Opens a NETLINK_ROUTE socket in the caller's network namespace.
Result<std::unique_ptr<Router>> make_netlink_router();

}  // namespace wgate
