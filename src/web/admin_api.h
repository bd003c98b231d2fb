// The admin HTTP API: JSON under /api/v1, a thin layer over the service
// layer (service/service.h, service/admin.h). Handlers parse, call and
// answer; every rule lives in the service. docs/openapi.yaml describes each
// endpoint; tests/api checks this server against it.
//
// Auth, on every route:
//   Authorization: Bearer wgat_...   an admin API token (service/admin.h):
//                                    "read" tokens may only GET
//   Authorization: Bearer <session>  a `wgate login` session whose login's
//                                    IdP groups include one of [web] admin_groups
//   Cookie: wgate_session=...        a browser session, admin as above; every
//                                    state-changing call must also pass the
//                                    CSRF check (same origin + X-CSRF-Token)
// No credentials: 401. Credentials without admin rights: 403. Bearer calls
// need no CSRF token: a browser never attaches an Authorization header on
// its own, so another site cannot make one.
//
// Every change is audited by the service with the caller as actor:
// "token:<name>" or "user:<name>". Errors are {"error": "..."} with a 4xx
// status naming what was wrong; a 5xx only when the store fails.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/config.h"
#include "http/router.h"
#include "service/views.h"
#include "store/store.h"

namespace wgate::web {

struct AdminApiDeps {
  const Config* config = nullptr;
  // Opens a store connection; each server thread opens its own.
  std::function<Result<std::unique_ptr<Store>>()> open_store;
  std::function<UnixTime()> now;
  // What the data plane holds now (`wgate status`); empty: /status answers
  // 503 (the web process may run without access to the data plane).
  std::function<Result<service::StatusView>(Store&)> status;
  std::function<void(const std::string&)> log;
};

// Adds the admin routes to `router`. The deps must outlive the router.
Status add_admin_routes(http::Router& router, const AdminApiDeps& deps);

// The largest JSON body an admin route accepts (413 above it).
inline constexpr std::size_t kAdminBodyLimit = 16 * 1024;

}  // namespace wgate::web
