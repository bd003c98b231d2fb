// Service: SSO logins, sessions, keys born from a login, deprovisioning.
#include "service/sso.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/local_time.h"
#include "core/names.h"
#include "core/secrets.h"
#include "service/admin.h"
#include "service/service.h"
#include "store/interface_keys.h"

namespace wgate::service {
namespace {

using Json = nlohmann::json;

const Actor kSsoActor{"sso"};

// How long a browser may take from the redirect to the callback.
constexpr int64_t kBrowserLoginSeconds = 600;

Actor person(const std::string& issuer, const std::string& subject) { return Actor{"oidc:" + issuer + "#" + subject}; }

// Audits a refused login with its reason; the login's error is what the
// caller returns either way.
Error audit_login_failure(Store& store, UnixTime now, const std::string& kind, const Error& why) {
  (void)store.append_audit(now, kSsoActor, "login.failure", kind, Json{{"reason", why.message}}.dump());
  return why;
}

Result<SessionStart> open_session(Store& store, const Config& config, const VerifiedIdentity& identity,
                                  WebSession::Kind kind, UnixTime now) {
  SsoLogin login{identity.issuer, identity.subject, identity.username, identity.email,
                 map_groups(config, identity.groups)};
  const Actor actor = person(identity.issuer, identity.subject);
  WGATE_ASSIGN_OR_RETURN(SsoLoginResult recorded, store.record_sso_login(login, address_plan(config), now, actor));
  WGATE_ASSIGN_OR_RETURN(std::string token, random_token());
  WGATE_ASSIGN_OR_RETURN(std::string csrf, random_token());
  WebSession session;
  session.id_hash = sha256_hex(token);
  session.user_id = recorded.user.id;
  session.kind = kind;
  session.created_at = now;
  session.expires_at = now + config.web.session_ttl_seconds;
  session.csrf_token = csrf;
  session.oidc_sid = identity.sid;
  session.refresh_token = identity.refresh_token;
  session.next_check_at = now + config.oidc.check_interval_seconds;
  session.admin = grants_admin(config, identity.groups);
  WGATE_TRY(store.create_session(session, actor));
  WGATE_TRY(store.append_audit(now, actor, "login.success", recorded.user.name,
                               Json{{"kind", kind == WebSession::Kind::cli ? "cli" : "browser"},
                                    {"new_user", recorded.created},
                                    {"groups_added", recorded.groups_added},
                                    {"groups_removed", recorded.groups_removed}}
                                   .dump()));
  return SessionStart{token, session, recorded, ""};
}

}  // namespace

std::vector<std::string> map_groups(const Config& config, const std::vector<std::string>& idp_groups) {
  std::set<std::string> out;
  for (const auto& g : idp_groups) {
    auto it = config.oidc.group_map.find(g);
    if (it == config.oidc.group_map.end()) continue;
    out.insert(it->second.begin(), it->second.end());
  }
  return {out.begin(), out.end()};
}

Result<BrowserLoginStart> begin_browser_login(Store& store, const Config& config, IdentityProvider& idp,
                                              const std::string& return_to, UnixTime now) {
  (void)config;
  WGATE_ASSIGN_OR_RETURN(std::string state, random_token());
  WGATE_ASSIGN_OR_RETURN(std::string nonce, random_token());
  WGATE_ASSIGN_OR_RETURN(std::string verifier, random_token(48));  // 64 characters (RFC 7636: 43..128)
  LoginRequest request;
  request.handle_hash = sha256_hex(state);
  request.kind = LoginRequest::Kind::browser;
  request.nonce = nonce;
  request.code_verifier = verifier;
  // Only a local path may be returned to: never an open redirect.
  request.return_to = (!return_to.empty() && return_to[0] == '/' && return_to.rfind("//", 0) != 0) ? return_to : "/";
  request.created_at = now;
  request.expires_at = now + kBrowserLoginSeconds;
  WGATE_TRY(store.put_login_request(request));
  WGATE_ASSIGN_OR_RETURN(std::string url, idp.authorization_url(state, nonce, pkce_challenge_s256(verifier)));
  return BrowserLoginStart{url, state};
}

Result<SessionStart> complete_browser_login(Store& store, const Config& config, IdentityProvider& idp,
                                            const std::string& state_param, const std::string& state_cookie,
                                            const std::string& code, UnixTime now) {
  if (state_param.empty() || code.empty()) {
    return audit_login_failure(store, now, "browser", make_error("the callback lacks state or code"));
  }
  // The state travels in the URL and in a cookie set by this browser: a
  // callback forged into another browser has no matching cookie.
  if (state_cookie.empty()) {
    // Also what a reload of the callback page after a login meets: the
    // cookie went with the finished login.
    return audit_login_failure(
        store, now, "browser",
        make_error("no login is in progress in this browser (it finished already, or was started in another browser)"));
  }
  if (!constant_time_equal(state_param, state_cookie)) {
    return audit_login_failure(store, now, "browser", make_error("state mismatch (this browser did not start it)"));
  }
  WGATE_ASSIGN_OR_RETURN(auto request, store.take_login_request(sha256_hex(state_param), now));
  if (!request || request->kind != LoginRequest::Kind::browser) {
    return audit_login_failure(store, now, "browser", make_error("unknown, used or expired login state"));
  }
  auto identity = idp.complete_code_login(code, request->code_verifier, request->nonce);
  if (!identity) return audit_login_failure(store, now, "browser", identity.error());
  auto session = open_session(store, config, *identity, WebSession::Kind::browser, now);
  if (!session) return audit_login_failure(store, now, "browser", session.error());
  session->return_to = request->return_to;
  return session;
}

Result<DeviceLoginStart> begin_device_login(Store& store, const Config& config, IdentityProvider& idp,
                                            const std::string& device_name, UnixTime now) {
  (void)config;
  WGATE_TRY(check_device_name(device_name));
  WGATE_ASSIGN_OR_RETURN(DeviceAuthorization grant, idp.start_device_login());
  WGATE_ASSIGN_OR_RETURN(std::string handle, random_token());
  LoginRequest request;
  request.handle_hash = sha256_hex(handle);
  request.kind = LoginRequest::Kind::device;
  request.device_code = grant.device_code;
  request.device_name = device_name;
  request.poll_interval = std::max<int64_t>(grant.interval, 1);
  request.next_poll_at = now + request.poll_interval;
  request.created_at = now;
  request.expires_at = now + std::max<int64_t>(grant.expires_in, 60);
  WGATE_TRY(store.put_login_request(request));
  return DeviceLoginStart{handle, grant.user_code, grant.verification_uri, grant.verification_uri_complete,
                          request.poll_interval, grant.expires_in};
}

Result<DeviceLoginPoll> poll_device_login(Store& store, const Config& config, IdentityProvider& idp,
                                          const std::string& handle, UnixTime now) {
  const std::string hash = sha256_hex(handle);
  WGATE_ASSIGN_OR_RETURN(auto request, store.find_login_request(hash, now));
  if (!request || request->kind != LoginRequest::Kind::device) {
    return DeviceLoginPoll{DeviceLoginPoll::State::expired, 0, std::nullopt};
  }
  DeviceLoginPoll out;
  out.interval = request->poll_interval;
  if (now < request->next_poll_at) {
    // Faster than agreed: RFC 8628's answer, which also slows the CLI down.
    out.state = DeviceLoginPoll::State::slow_down;
    out.interval = request->poll_interval + 5;
    WGATE_TRY(store.set_login_request_poll(hash, out.interval, now + out.interval));
    return out;
  }
  auto answer = idp.poll_device_login(request->device_code);
  if (!answer) return answer.error();
  switch (answer->state) {
    case DevicePollAnswer::State::pending:
      out.state = DeviceLoginPoll::State::pending;
      WGATE_TRY(store.set_login_request_poll(hash, out.interval, now + out.interval));
      return out;
    case DevicePollAnswer::State::slow_down:
      out.state = DeviceLoginPoll::State::slow_down;
      out.interval = request->poll_interval + 5;
      WGATE_TRY(store.set_login_request_poll(hash, out.interval, now + out.interval));
      return out;
    case DevicePollAnswer::State::denied:
    case DevicePollAnswer::State::expired: {
      (void)store.take_login_request(hash, now);
      const bool denied = answer->state == DevicePollAnswer::State::denied;
      (void)audit_login_failure(store, now, "cli", make_error(denied ? "the person denied the login" : "the code expired"));
      out.state = denied ? DeviceLoginPoll::State::denied : DeviceLoginPoll::State::expired;
      return out;
    }
    case DevicePollAnswer::State::done:
      break;
  }
  // Single use: a second poll with the same handle finds nothing.
  WGATE_ASSIGN_OR_RETURN(auto taken, store.take_login_request(hash, now));
  if (!taken) return DeviceLoginPoll{DeviceLoginPoll::State::expired, 0, std::nullopt};
  if (!answer->identity) return make_error("the provider finished the device login without an identity");
  auto session = open_session(store, config, *answer->identity, WebSession::Kind::cli, now);
  if (!session) return audit_login_failure(store, now, "cli", session.error());
  session->return_to = taken->device_name;
  out.state = DeviceLoginPoll::State::done;
  out.session = std::move(*session);
  return out;
}

Result<WebSession> session_of(Store& store, const std::string& token, UnixTime now) {
  if (token.empty()) return make_error("not logged in");
  WGATE_ASSIGN_OR_RETURN(auto session, store.find_session(sha256_hex(token)));
  if (!session) return make_error("unknown session");
  if (!session->live_at(now)) return make_error("session ended or expired; log in again");
  return *session;
}

Status end_session(Store& store, const std::string& token, const std::string& reason, UnixTime now) {
  WGATE_ASSIGN_OR_RETURN(WebSession session, session_of(store, token, now));
  return store.end_session(session.id_hash, reason, now, kSsoActor);
}

Result<UnixTime> key_expiry(const Config& config, const GroupConfig& group, const std::optional<std::string>& ttl,
                            UnixTime now) {
  int64_t seconds = group.key_ttl_seconds ? group.key_ttl_seconds : config.keys.default_ttl_seconds;
  if (ttl) {
    auto requested = parse_duration(*ttl);
    if (!requested) return requested.error().with_context("ttl");
    // Short TTLs serve tests and demos; below 5 s a key could expire
    // before its first handshake.
    if (*requested < 5) return make_error("ttl: at least 5s");
    seconds = std::min(seconds, *requested);
  }
  seconds = std::min(seconds, config.keys.max_ttl_seconds);
  UnixTime expires = now + seconds;
  if (config.keys.expire_at_minute) {
    // At least an hour of use, so a login just before the cut is not
    // wasted.
    UnixTime fixed = next_time_of_day(now + 3600, *config.keys.expire_at_minute, config.keys.time_zone);
    expires = std::min(expires, fixed);
  }
  return expires;
}

Result<IssuedKey> issue_key(Store& store, const Config& config, const WebSession& session,
                            const IssueKeyRequest& request, UnixTime now) {
  auto public_key = WgKey::from_base64(request.public_key);
  if (!public_key) return public_key.error().with_context("public key");
  WGATE_ASSIGN_OR_RETURN(auto users, store.list_users());
  auto user = std::find_if(users.begin(), users.end(), [&](const User& u) { return u.id == session.user_id; });
  if (user == users.end()) return make_error("the session's user is gone");
  WGATE_ASSIGN_OR_RETURN(auto memberships, store.list_memberships());
  std::vector<std::string> groups;
  for (const auto& m : memberships) {
    if (m.user_id == user->id && config.find_group(m.group)) groups.push_back(m.group);
  }
  std::string group;
  if (request.group) {
    group = *request.group;
    if (std::find(groups.begin(), groups.end(), group) == groups.end()) {
      return make_error("you are not in group '" + group + "'");
    }
  } else if (groups.size() == 1) {
    group = groups.front();
  } else if (groups.empty()) {
    return make_error("your IdP groups give you no wgate group: ask an admin to map one ([oidc.group_map])");
  } else {
    std::string list;
    for (const auto& g : groups) list += (list.empty() ? "" : ", ") + g;
    return make_error("you are in several groups (" + list + "); say which this device connects to");
  }
  const GroupConfig* g = config.find_group(group);
  WGATE_ASSIGN_OR_RETURN(UnixTime expires, key_expiry(config, *g, request.ttl, now));
  NewKey key{user->name, request.device, group, *public_key, expires,
             session.kind == WebSession::Kind::cli ? "cli" : "web", config.keys.max_live_per_user};
  WGATE_ASSIGN_OR_RETURN(Key added, store.add_key(key, config.per_user, now, Actor{"sso:" + user->name}));
  WGATE_ASSIGN_OR_RETURN(ClientConfigView view, client_config(store, config, added.id, std::nullopt, now));
  IssuedKey out;
  out.key = view.key;
  out.group = group;
  out.client_config = view.text;
  WGATE_ASSIGN_OR_RETURN(WgKey gateway, InterfaceKeys(config.server.state_dir).public_key(g->interface));
  out.gateway_public_key = gateway.to_base64();
  out.endpoint = config.server.endpoint + ":" + std::to_string(g->port);
  for (const auto& net_name : g->networks) {
    if (const NetworkConfig* net = config.find_network(net_name)) {
      for (const auto& p : net->prefixes) out.allowed_ips.push_back(p.to_string());
    }
  }
  out.keepalive = config.server.client_keepalive;
  return out;
}

Result<std::vector<std::string>> backchannel_logout(Store& store, const Config& config, IdentityProvider& idp,
                                                    const std::string& logout_token, UnixTime now) {
  (void)config;
  auto notice = idp.validate_logout_token(logout_token);
  if (!notice) {
    (void)store.append_audit(now, kSsoActor, "logout.refused", "backchannel", Json{{"reason", notice.error().message}}.dump());
    return notice.error();
  }
  WGATE_ASSIGN_OR_RETURN(bool fresh, store.remember_logout_token(notice->jti, notice->expires_at, now));
  if (!fresh) {
    Error e = make_error("logout token " + notice->jti + " was already used (replay)");
    (void)store.append_audit(now, kSsoActor, "logout.refused", "backchannel", Json{{"reason", e.message}}.dump());
    return e;
  }
  std::set<int64_t> users;
  if (!notice->sid.empty()) {
    WGATE_ASSIGN_OR_RETURN(auto sessions, store.sessions_with_sid(notice->sid));
    for (const auto& s : sessions) users.insert(s.user_id);
  }
  if (!notice->subject.empty()) {
    WGATE_ASSIGN_OR_RETURN(auto identities, store.list_identities());
    for (const auto& i : identities) {
      if (i.issuer == idp.issuer() && i.subject == notice->subject) users.insert(i.user_id);
    }
  }
  std::vector<std::string> names;
  WGATE_ASSIGN_OR_RETURN(auto all_users, store.list_users());
  for (int64_t id : users) {
    WGATE_TRY(store.deprovision_user(id, "back-channel logout", now, person(idp.issuer(), notice->subject)));
    for (const auto& u : all_users) {
      if (u.id == id) names.push_back(u.name);
    }
  }
  return names;
}

Result<CheckReport> check_sessions(Store& store, const Config& config, IdentityProvider& idp, UnixTime now,
                                   size_t limit) {
  CheckReport report;
  WGATE_ASSIGN_OR_RETURN(auto due, store.sessions_due_for_check(now, limit));
  WGATE_ASSIGN_OR_RETURN(auto identities, store.list_identities());
  std::set<int64_t> deprovisioned;
  for (const auto& session : due) {
    if (deprovisioned.count(session.user_id)) continue;
    if (session.refresh_token.empty()) {
      // Nothing to ask the provider with: the session's own expiry bounds it.
      WGATE_TRY(store.set_session_check(session.id_hash, session.expires_at, std::nullopt));
      continue;
    }
    ++report.checked;
    std::string subject;
    for (const auto& i : identities) {
      if (i.user_id == session.user_id && i.issuer == idp.issuer()) subject = i.subject;
    }
    auto answer = idp.check(session.refresh_token, subject);
    if (!answer) {
      // The provider is down or slow: nobody loses access for that; retry
      // within a minute.
      ++report.errors;
      WGATE_TRY(store.set_session_check(session.id_hash, now + std::min<int64_t>(60, config.oidc.check_interval_seconds),
                                        std::nullopt));
      continue;
    }
    if (!answer->active) {
      WGATE_TRY(store.deprovision_user(session.user_id, "provider: " + answer->reason, now, kSsoActor));
      deprovisioned.insert(session.user_id);
      ++report.deprovisioned;
      continue;
    }
    WGATE_ASSIGN_OR_RETURN(auto synced, store.sync_sso_groups(session.user_id, map_groups(config, answer->groups), now,
                                                              kSsoActor));
    if (!synced.groups_added.empty() || !synced.groups_removed.empty()) ++report.groups_changed;
    // The admin right follows the provider's groups too, not only the
    // groups at login: someone taken out of the admin group loses the admin
    // pages and API within one check interval.
    if (const bool admin = grants_admin(config, answer->groups); admin != session.admin) {
      WGATE_TRY(store.set_session_admin(session.id_hash, admin, now, kSsoActor));
      ++report.admin_changed;
    }
    std::optional<std::string> rotated;
    if (!answer->refresh_token.empty()) rotated = answer->refresh_token;
    WGATE_TRY(store.set_session_check(session.id_hash, now + config.oidc.check_interval_seconds, rotated));
  }
  return report;
}

}  // namespace wgate::service
