// The web part of wgate: the routes of the login endpoints, the
// self-service page and the small key API the CLI uses. Handlers only
// parse, call the service layer (service/sso.h, service/service.h) and
// answer; they never touch the data plane (the daemon reconciles what the
// store says), so a crash here leaves every tunnel as it is.
//
//   GET  /healthz                       "ok"
//   GET  /  , /self                     the self-service page
//   GET  /assets/{file}                 its script, style and QR library
//   GET  /auth/login?return_to=/self    browser login: to the provider (PKCE, state, nonce)
//   GET  /auth/callback?state=&code=    back from the provider: a session cookie
//   POST /auth/logout                   ends the session (CSRF-checked)
//   POST /auth/backchannel-logout       OIDC Back-Channel Logout (logout_token)
//   POST /api/v1/device/start           CLI login: the device grant, run by wgate
//   POST /api/v1/device/poll            ... until done: a bearer token
//   GET  /api/v1/self                   the person, their devices and keys
//   POST /api/v1/self/keys              register a public key (bearer, or cookie + CSRF)
//   /api/v1/people, keys, audit, ...    the admin API (admin_api.h, docs/openapi.yaml)
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/config.h"
#include "http/router.h"
#include "service/identity_provider.h"
#include "service/views.h"
#include "store/store.h"

namespace wgate::web {

struct WebAppDeps {
  const Config* config = nullptr;
  service::IdentityProvider* idp = nullptr;
  // Opens a store connection; each server thread opens its own (SQLite
  // connections are not shared across threads).
  std::function<Result<std::unique_ptr<Store>>()> open_store;
  std::function<UnixTime()> now;
  // Told about logins and errors, for the log; may be empty.
  std::function<void(const std::string&)> log;
  // The data plane's status for the admin API's /status; may be empty.
  std::function<Result<service::StatusView>(Store&)> status;
};

// Builds the router. The deps must outlive it.
Result<http::Router> make_web_router(const WebAppDeps& deps);

// Names of the cookies (exposed for tests).
inline constexpr const char* kSessionCookie = "wgate_session";
inline constexpr const char* kLoginStateCookie = "wgate_login";

}  // namespace wgate::web
