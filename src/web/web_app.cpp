#include "web/web_app.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "core/time_text.h"
#include "http/cookie.h"
#include "http/rate_limiter.h"
#include "http/security.h"
#include "http/static_assets.h"
#include "service/service.h"
#include "service/sso.h"
#include "web/admin_api.h"
#include "web/thread_stores.h"
#include "service/admin.h"
#include "ui_admin.h"
#include "ui_preact_htm.h"
#include "ui_qrcode.h"
#include "ui_self.h"

namespace wgate::web {
namespace {

using Json = nlohmann::json;
using http::Request;
using http::Response;

Response json_error(int status, const std::string& message) {
  return Response::json(Json{{"error", message}}.dump(), status);
}

// OIDC Back-Channel Logout's error answer (RFC 6749 5.2's shape).
Response invalid_request(const std::string& description) {
  return Response::json(Json{{"error", "invalid_request"}, {"error_description", description}}.dump(), 400);
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// A small page for a browser login that failed: the reason and a way back.
Response error_page(int status, const std::string& message) {
  return Response::html("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>wgate: login failed"
                        "</title><link rel=\"stylesheet\" href=\"/assets/self.css\"></head><body><main><h1>Login "
                        "failed</h1><p class=\"error\">" +
                            html_escape(message) +
                            "</p><p><a class=\"button\" href=\"/auth/login?return_to=/self\">Log in again</a></p>"
                            "</main></body></html>",
                        status);
}

// A failed call to the provider, worded for the person waiting on it.
std::string provider_error(const Error& e) {
  if (e.message.find("identity provider") != std::string::npos) return e.message;
  return "the identity provider is unavailable or refused the request: " + e.message;
}

// A failed browser login, worded for the person: the reason without the
// provider's internals (its endpoint URLs); the log and the audit record
// keep the whole error.
std::string login_failure_text(const Error& e) {
  if (e.message.find("invalid_grant") != std::string::npos) {
    return "the identity provider refused the login code (invalid_grant): it was used already, has expired or "
           "belongs to another login";
  }
  return e.message;
}

// Only a path on this site: "/x", never "//host" or "https://host" (an
// open redirect would let a phishing link end on our login).
std::string safe_return_to(std::string_view r) {
  if (r.empty() || r.front() != '/' || r.starts_with("//") || r.starts_with("/\\")) return "/self";
  for (char c : r) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '\\') return "/self";
  }
  return std::string(r);
}

Json time_json(const std::optional<UnixTime>& t) { return t ? Json(*t) : Json(nullptr); }

class WebApp {
 public:
  explicit WebApp(const WebAppDeps& deps)
      : deps_(deps),
        stores_(deps.open_store),
        login_limiter_(http::RateLimitOptions{.burst = static_cast<double>(deps.config->web.login_burst),
                                              .per_second = static_cast<double>(deps.config->web.login_rate),
                                              .max_keys = 10000}) {
    for (const auto& f : embedded::ui_self()) files_.push_back(f);
    for (const auto& f : embedded::ui_qrcode()) files_.push_back(f);
    assets_ = std::make_unique<http::StaticAssets>(files_);
    for (const auto& f : embedded::ui_admin()) admin_files_.push_back(f);
    for (const auto& f : embedded::ui_preact_htm()) admin_files_.push_back(f);
    admin_assets_ = std::make_unique<http::StaticAssets>(admin_files_);
  }

  // Each route holds the app, so it lives as long as the router.
  static Status add_routes(const std::shared_ptr<WebApp>& self, http::Router& r) {
    WGATE_TRY(r.add("GET", "/healthz", [](const Request&) { return Response::text("ok\n"); }));
    WGATE_TRY(r.add("GET", "/", [](const Request&) { return Response::redirect("/self", 302); }));
    WGATE_TRY(r.add("GET", "/self", [self](const Request& q) { return self->assets_->serve("index.html", q); }));
    WGATE_TRY(r.add("GET", "/assets/{file}", [self](const Request& q) {
      std::string_view name = q.param("file");
      if (name == "index.html") return Response::status_only(404);
      return self->assets_->serve(name, q);
    }));
    // The admin UI: one HTML shell (hash routes inside), served only to
    // admins, like its script; its data comes from the admin API.
    WGATE_TRY(r.add("GET", "/admin", [self](const Request& q) { return self->guard(q, &WebApp::admin_shell); }));
    WGATE_TRY(r.add("GET", "/admin/assets/{file}",
                    [self](const Request& q) { return self->guard(q, &WebApp::admin_asset); }));
    WGATE_TRY(r.add("GET", "/auth/login", [self](const Request& q) { return self->guard(q, &WebApp::login); }));
    WGATE_TRY(r.add("GET", "/auth/callback", [self](const Request& q) { return self->guard(q, &WebApp::callback); }));
    WGATE_TRY(r.add("POST", "/auth/logout", [self](const Request& q) { return self->guard(q, &WebApp::logout); }));
    WGATE_TRY(r.add("POST", "/auth/backchannel-logout",
                    [self](const Request& q) { return self->guard(q, &WebApp::backchannel_logout); }));
    WGATE_TRY(r.add("POST", "/api/v1/device/start",
                    [self](const Request& q) { return self->guard(q, &WebApp::device_start); },
                    {.body_limit = 4096}));
    WGATE_TRY(r.add("POST", "/api/v1/device/poll",
                    [self](const Request& q) { return self->guard(q, &WebApp::device_poll); },
                    {.body_limit = 4096}));
    WGATE_TRY(r.add("GET", "/api/v1/self", [self](const Request& q) { return self->guard(q, &WebApp::self_view); }));
    WGATE_TRY(r.add("POST", "/api/v1/self/keys",
                    [self](const Request& q) { return self->guard(q, &WebApp::issue_key); },
                    {.body_limit = 8192}));
    return Status{};
  }

 private:
  using Route = Response (WebApp::*)(Store&, const Request&);

  // Every handler gets this thread's store connection; a store that cannot
  // be opened is a 503, never a crash.
  Response guard(const Request& q, Route route) {
    auto store = stores_.get();
    if (!store) {
      log("store unavailable: " + store.error().message);
      return json_error(503, "wgate's store is unavailable; try again shortly");
    }
    return (this->*route)(**store, q);
  }

  UnixTime now() const { return deps_.now(); }
  const Config& config() const { return *deps_.config; }
  void log(const std::string& line) const {
    if (deps_.log) deps_.log(line);
  }

  // Logins are rate limited per client address: each one costs the
  // provider a request, and a flood must not turn wgate into its attacker.
  bool allowed(const Request& q) { return login_limiter_.allow(q.remote_address); }

  Response login(Store& store, const Request& q) {
    if (!allowed(q)) return Response::status_only(429).set_header("Retry-After", "1");
    std::string return_to = safe_return_to(q.query.get("return_to").value_or("/self"));
    auto start = service::begin_browser_login(store, config(), *deps_.idp, return_to, now());
    if (!start) return error_page(502, provider_error(start.error()));
    auto options = http::CookieOptions::for_request(q);
    options.max_age = std::chrono::seconds(600);
    auto cookie = http::build_set_cookie(kLoginStateCookie, start->state, options);
    if (!cookie) return error_page(500, cookie.error().message);
    return Response::redirect(start->authorization_url, 302).add_header("Set-Cookie", *cookie);
  }

  Response callback(Store& store, const Request& q) {
    auto options = http::CookieOptions::for_request(q);
    auto clear_state = http::build_clear_cookie(kLoginStateCookie, options);
    if (auto err = q.query.get("error")) {
      std::string why = std::string(*err);
      if (auto d = q.query.get("error_description")) why += ": " + std::string(*d);
      // Still consume the pending login, so its state cannot be used later.
      (void)service::complete_browser_login(store, config(), *deps_.idp, std::string(q.query.get("state").value_or("")),
                                            std::string(q.cookie(kLoginStateCookie).value_or("")), "", now());
      return error_page(403, "the identity provider refused the login (" + why + ")");
    }
    auto done = service::complete_browser_login(store, config(), *deps_.idp,
                                                std::string(q.query.get("state").value_or("")),
                                                std::string(q.cookie(kLoginStateCookie).value_or("")),
                                                std::string(q.query.get("code").value_or("")), now());
    if (!done) {
      log("browser login failed: " + done.error().message);
      Response r = error_page(400, login_failure_text(done.error()));
      if (clear_state) r.add_header("Set-Cookie", *clear_state);
      return r;
    }
    log("browser login: " + done->login.user.name);
    auto session_options = options;
    session_options.max_age = std::chrono::seconds(std::max<int64_t>(done->session.expires_at - now(), 1));
    auto cookie = http::build_set_cookie(kSessionCookie, done->token, session_options);
    if (!cookie) return error_page(500, cookie.error().message);
    Response r = Response::redirect(safe_return_to(done->return_to), 303);
    r.add_header("Set-Cookie", *cookie);
    if (clear_state) r.add_header("Set-Cookie", *clear_state);
    return r;
  }

  // The session of a request: the CLI's bearer token, or the browser's
  // cookie. `csrf_checked` says whether a cookie session passed the CSRF
  // check (a bearer token is never sent by a browser on its own).
  struct Caller {
    WebSession session;
    std::string token;
    bool cookie = false;
  };
  Result<Caller> caller(Store& store, const Request& q, bool state_changing) {
    Caller c;
    if (auto auth = q.headers.get("Authorization")) {
      if (!auth->starts_with("Bearer ")) return make_error("Authorization: only Bearer tokens are accepted");
      c.token = std::string(auth->substr(7));
    } else if (auto cookie = q.cookie(kSessionCookie)) {
      c.token = std::string(*cookie);
      c.cookie = true;
    } else {
      return make_error("not logged in");
    }
    WGATE_ASSIGN_OR_RETURN(c.session, service::session_of(store, c.token, now()));
    if (c.cookie && state_changing) {
      http::CsrfPolicy policy;
      if (!config().web.public_url.empty()) policy.allowed_origins.push_back(config().web.public_url);
      auto ok = http::check_csrf(q, c.session.csrf_token, policy);
      if (!ok) return ok.error().with_context("CSRF check failed");
    }
    return c;
  }

  // Whether the browser behind `q` is an admin: the caller, or the answer
  // to give instead (the login page, or a plain 403 without any admin
  // content). Only the cookie counts: these are browser pages.
  std::optional<Response> refuse_non_admin(Store& store, const Request& q, bool page) {
    auto cookie = q.cookie(kSessionCookie);
    auto checked = service::check_admin(store, std::string(cookie.value_or("")), true, now());
    if (!checked) {
      log("admin page: checking the caller failed: " + checked.error().message);
      return page ? error_page(500, "checking your session failed; try again") : Response::status_only(500);
    }
    const auto* refused = std::get_if<service::AdminRefusal>(&*checked);
    if (!refused) return std::nullopt;
    if (refused->why == service::AdminRefusal::Why::unauthenticated) {
      if (!page) return Response::text("not logged in\n", 401);
      return Response::redirect("/auth/login?return_to=/admin", 302);
    }
    if (!page) return Response::text("admin rights needed\n", 403);
    return Response::html("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>wgate: admins only"
                          "</title><link rel=\"stylesheet\" href=\"/assets/self.css\"></head><body><main><h1>Admins "
                          "only</h1><p class=\"error\">" +
                              html_escape(refused->message) +
                              "</p><p><a class=\"button\" href=\"/self\">Your devices</a></p></main></body></html>",
                          403);
  }

  Response admin_shell(Store& store, const Request& q) {
    if (auto refused = refuse_non_admin(store, q, true)) return *refused;
    return admin_assets_->serve("index.html", q);
  }

  Response admin_asset(Store& store, const Request& q) {
    if (auto refused = refuse_non_admin(store, q, false)) return *refused;
    std::string_view name = q.param("file");
    if (name == "index.html") return Response::status_only(404);
    return admin_assets_->serve(name, q);
  }

  Response logout(Store& store, const Request& q) {
    auto options = http::CookieOptions::for_request(q);
    auto clear = http::build_clear_cookie(kSessionCookie, options);
    auto c = caller(store, q, true);
    if (!c) {
      // No live session: nothing to end, but a CSRF failure is refused.
      if (c.error().message.starts_with("CSRF")) return error_page(403, c.error().message);
      Response r = Response::redirect("/self", 303);
      if (clear) r.add_header("Set-Cookie", *clear);
      return r;
    }
    auto ended = service::end_session(store, c->token, "logout", now());
    if (!ended) return error_page(500, ended.error().message);
    Response r = Response::redirect("/self", 303);
    if (clear) r.add_header("Set-Cookie", *clear);
    return r;
  }

  Response backchannel_logout(Store& store, const Request& q) {
    // OIDC Back-Channel Logout 1.0, 2.5: a form POST with logout_token; a
    // 400 with an error JSON when it is not valid.
    auto ct = q.headers.get("Content-Type").value_or("");
    if (!ct.starts_with("application/x-www-form-urlencoded")) {
      return json_error(400, "logout_token must come as application/x-www-form-urlencoded");
    }
    auto form = http::parse_query(q.body);
    if (!form) return invalid_request(form.error().message);
    auto token = form->get("logout_token");
    if (!token) return invalid_request("no logout_token");
    auto people = service::backchannel_logout(store, config(), *deps_.idp, std::string(*token), now());
    if (!people) {
      log("back-channel logout refused: " + people.error().message);
      return invalid_request(people.error().message);
    }
    for (const auto& p : *people) log("back-channel logout: " + p + " deprovisioned");
    return Response::text("", 200);
  }

  static Result<Json> json_body(const Request& q) {
    auto ct = q.headers.get("Content-Type").value_or("");
    if (!ct.starts_with("application/json")) return make_error("the body must be application/json");
    Json j = Json::parse(q.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return make_error("the body is not a JSON object");
    return j;
  }

  static std::string str_field(const Json& j, const char* name) {
    auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
  }

  Response device_start(Store& store, const Request& q) {
    if (!allowed(q)) return Response::status_only(429).set_header("Retry-After", "1");
    auto body = json_body(q);
    if (!body) return json_error(400, body.error().message);
    std::string device = str_field(*body, "device");
    if (device.empty()) device = "default";
    auto start = service::begin_device_login(store, config(), *deps_.idp, device, now());
    if (!start) return json_error(502, provider_error(start.error()));
    return Response::json(Json{{"handle", start->handle},
                               {"user_code", start->user_code},
                               {"verification_uri", start->verification_uri},
                               {"verification_uri_complete", start->verification_uri_complete},
                               {"interval", start->interval},
                               {"expires_in", start->expires_in}}
                              .dump());
  }

  Response device_poll(Store& store, const Request& q) {
    auto body = json_body(q);
    if (!body) return json_error(400, body.error().message);
    auto poll = service::poll_device_login(store, config(), *deps_.idp, str_field(*body, "handle"), now());
    if (!poll) return json_error(400, poll.error().message);
    Json out{{"interval", poll->interval}};
    switch (poll->state) {
      case service::DeviceLoginPoll::State::pending: out["state"] = "pending"; break;
      case service::DeviceLoginPoll::State::slow_down: out["state"] = "slow_down"; break;
      case service::DeviceLoginPoll::State::denied: out["state"] = "denied"; break;
      case service::DeviceLoginPoll::State::expired: out["state"] = "expired"; break;
      case service::DeviceLoginPoll::State::done:
        out["state"] = "done";
        out["token"] = poll->session->token;
        out["user"] = poll->session->login.user.name;
        out["session_expires_at"] = poll->session->session.expires_at;
        log("device login: " + poll->session->login.user.name);
        break;
    }
    return Response::json(out.dump());
  }

  Response self_view(Store& store, const Request& q) {
    auto c = caller(store, q, false);
    if (!c) return json_error(401, c.error().message);
    // One person read by name, not the whole list (the admin UI calls this
    // at every load, with 10,000 people in the store).
    auto users = store.state_of_users({c->session.user_id});
    if (!users) return json_error(500, users.error().message);
    if (users->users.empty()) return json_error(401, "your account is gone");
    auto person = service::find_person(store, config(), users->users.front().name);
    if (!person) return json_error(500, person.error().message);
    if (!*person) return json_error(401, "your account is gone");
    const service::PersonView* me = &**person;
    auto keys = service::list_keys(store, config(), service::KeyFilter{me->user.name}, now());
    if (!keys) return json_error(500, keys.error().message);
    Json devices = Json::array();
    for (const auto& d : me->devices) {
      Json dk = Json::array();
      for (const auto& k : *keys) {
        if (k.key.device_id != d.device.id) continue;
        dk.push_back(Json{{"id", k.key.id},
                          {"group", k.key.group},
                          {"public_key", k.key.public_key.to_base64()},
                          {"state", to_string(k.state)},
                          {"source", k.key.source},
                          {"created_at", k.key.created_at},
                          {"expires_at", k.key.expires_at ? Json(k.key.expires_at) : Json(nullptr)},
                          {"applied_at", time_json(k.key.applied_at)},
                          {"last_handshake_at", time_json(k.key.last_handshake_at)}});
      }
      devices.push_back(Json{{"name", d.device.name},
                             {"address", d.address ? Json(d.address->to_string()) : Json(nullptr)},
                             {"keys", dk}});
    }
    Json out{{"user", me->user.name},
             {"email", me->user.email},
             {"block", me->block ? Json(me->block->to_string()) : Json(nullptr)},
             {"groups", me->groups},
             {"devices", devices},
             {"session_expires_at", c->session.expires_at},
             {"key_policy", key_policy_text()},
             {"admin", c->session.admin}};
    if (c->cookie) out["csrf_token"] = c->session.csrf_token;
    return Response::json(out.dump());
  }

  std::string key_policy_text() const {
    const auto& k = config().keys;
    std::string text = "Keys live " + format_duration(k.default_ttl_seconds) + " (at most " +
                       format_duration(k.max_ttl_seconds) + ")";
    if (k.expire_at_minute) {
      char hhmm[32];
      std::snprintf(hhmm, sizeof hhmm, "%02d:%02d", *k.expire_at_minute / 60, *k.expire_at_minute % 60);
      text += ", and end at " + std::string(hhmm) + " " + k.time_zone;
    }
    return text + "; then log in again.";
  }

  Response issue_key(Store& store, const Request& q) {
    auto c = caller(store, q, true);
    if (!c) {
      const bool csrf = c.error().message.starts_with("CSRF");
      return json_error(csrf ? 403 : 401, c.error().message);
    }
    auto body = json_body(q);
    if (!body) return json_error(400, body.error().message);
    service::IssueKeyRequest request;
    request.public_key = str_field(*body, "public_key");
    request.device = str_field(*body, "device");
    if (request.device.empty()) request.device = "default";
    if (auto g = str_field(*body, "group"); !g.empty()) request.group = g;
    if (auto t = str_field(*body, "ttl"); !t.empty()) request.ttl = t;
    auto issued = service::issue_key(store, config(), c->session, request, now());
    if (!issued) return json_error(400, issued.error().message);
    log("key " + std::to_string(issued->key.key.id) + " for " + issued->key.user + "/" + issued->key.device);
    return Response::json(Json{{"key_id", issued->key.key.id},
                               {"device", issued->key.device},
                               {"address", issued->key.address ? issued->key.address->to_string() : ""},
                               {"group", issued->group},
                               {"expires_at", issued->key.key.expires_at},
                               {"expires", issued->key.key.expires_at ? format_utc(issued->key.key.expires_at) : ""},
                               {"endpoint", issued->endpoint},
                               {"gateway_public_key", issued->gateway_public_key},
                               {"allowed_ips", issued->allowed_ips},
                               {"config", issued->client_config}}
                              .dump(),
                          201);
  }

  WebAppDeps deps_;
  ThreadStores stores_;
  http::RateLimiter login_limiter_;
  std::vector<http::EmbeddedFile> files_;
  std::unique_ptr<http::StaticAssets> assets_;
  std::vector<http::EmbeddedFile> admin_files_;
  std::unique_ptr<http::StaticAssets> admin_assets_;
};

}  // namespace

Result<http::Router> make_web_router(const WebAppDeps& deps) {
  if (!deps.config || !deps.idp || !deps.open_store || !deps.now) return make_error("web app: missing dependency");
  auto app = std::make_shared<WebApp>(deps);
  http::Router router;
  WGATE_TRY(WebApp::add_routes(app, router));
  AdminApiDeps admin{deps.config, deps.open_store, deps.now, deps.status, deps.log};
  WGATE_TRY(add_admin_routes(router, admin));
  return router;
}

}  // namespace wgate::web
