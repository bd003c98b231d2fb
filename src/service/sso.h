// Service: SSO logins (browser code flow with PKCE, CLI device grant),
// sessions, keys born from a login, back-channel logout and the periodic
// check with the provider. The HTTP endpoints only parse, call and answer.
//
// Secrets: session tokens and login handles are random (core/secrets.h)
// and stored only as SHA-256 hashes; PKCE verifiers and nonces live in the
// store until their login completes or expires, and are used once.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "service/identity_provider.h"
#include "service/views.h"
#include "store/store.h"

namespace wgate::service {

// --- browser login (authorization code + PKCE + state + nonce) -------------
struct BrowserLoginStart {
  std::string authorization_url;  // send the browser here
  std::string state;              // also set as a short-lived cookie, compared at the callback
};
Result<BrowserLoginStart> begin_browser_login(Store& store, const Config& config, IdentityProvider& idp,
                                              const std::string& return_to, UnixTime now);

struct SessionStart {
  std::string token;  // the session cookie's value / the CLI's bearer token; only its hash is stored
  WebSession session;
  SsoLoginResult login;
  std::string return_to;
};
// The callback: the state from the query must equal the state cookie and
// name a pending login (single use); the code is exchanged and the ID token
// validated by the provider; the person is created or updated and their
// groups follow the IdP. Every failure is audited with its reason.
Result<SessionStart> complete_browser_login(Store& store, const Config& config, IdentityProvider& idp,
                                            const std::string& state_param, const std::string& state_cookie,
                                            const std::string& code, UnixTime now);

// --- CLI login (device authorization grant, RFC 8628) -----------------------
// wgate runs the grant with the provider on the CLI's behalf, so the
// provider's tokens (the refresh token the periodic check needs) stay on
// the server; the CLI gets a session token to register its public key.
struct DeviceLoginStart {
  std::string handle;  // the CLI polls with this
  std::string user_code;
  std::string verification_uri;
  std::string verification_uri_complete;
  int64_t interval = 5;
  int64_t expires_in = 0;
};
Result<DeviceLoginStart> begin_device_login(Store& store, const Config& config, IdentityProvider& idp,
                                            const std::string& device_name, UnixTime now);

struct DeviceLoginPoll {
  enum class State { pending, slow_down, denied, expired, done };
  State state = State::pending;
  int64_t interval = 5;                 // the pace the CLI must keep from now on
  std::optional<SessionStart> session;  // with done
};
Result<DeviceLoginPoll> poll_device_login(Store& store, const Config& config, IdentityProvider& idp,
                                          const std::string& handle, UnixTime now);

// --- sessions ----------------------------------------------------------------
// The live session behind a token. Error: unknown, ended or expired.
Result<WebSession> session_of(Store& store, const std::string& token, UnixTime now);
Status end_session(Store& store, const std::string& token, const std::string& reason, UnixTime now);

// --- keys born from a login --------------------------------------------------
struct IssueKeyRequest {
  std::string public_key;            // base64; made on the device, the private half never leaves it
  std::string device = "default";
  std::optional<std::string> group;  // default: the person's only group
  std::optional<std::string> ttl;    // shorter than the policy's, never longer
};
struct IssuedKey {
  KeyView key;
  std::string group;
  std::string client_config;  // wg-quick text with the PrivateKey line left for the device
  std::string gateway_public_key;
  std::string endpoint;       // host:port
  std::vector<std::string> allowed_ips;
  uint16_t keepalive = 0;
};
Result<IssuedKey> issue_key(Store& store, const Config& config, const WebSession& session,
                            const IssueKeyRequest& request, UnixTime now);

// When a key issued now for `group` expires: the group's key_ttl (else
// keys.default_ttl), shortened by a requested TTL, never beyond
// keys.max_ttl, and with keys.expire_at the earlier of that and the next
// expire_at (local time in keys.time_zone) at least an hour away.
Result<UnixTime> key_expiry(const Config& config, const GroupConfig& group, const std::optional<std::string>& ttl,
                            UnixTime now);

// The wgate groups an IdP's groups map to ([oidc.group_map]), sorted.
std::vector<std::string> map_groups(const Config& config, const std::vector<std::string>& idp_groups);

// --- deprovisioning -----------------------------------------------------------
// A back-channel logout token: validated, replay-checked (jti), then every
// person it names (by sid, else by sub) loses their keys and sessions.
Result<std::vector<std::string>> backchannel_logout(Store& store, const Config& config, IdentityProvider& idp,
                                                    const std::string& logout_token, UnixTime now);

struct CheckReport {
  int checked = 0;
  int deprovisioned = 0;
  int groups_changed = 0;
  int admin_changed = 0;  // sessions whose admin right came or went with their IdP groups
  int errors = 0;  // provider unreachable: retried soon, nobody loses access for it
};
// Checks the sessions due with the provider (refresh token): a person the
// provider refuses loses every key; changed groups are applied.
Result<CheckReport> check_sessions(Store& store, const Config& config, IdentityProvider& idp, UnixTime now,
                                   size_t limit = 100);

}  // namespace wgate::service
