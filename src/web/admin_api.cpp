#include "web/admin_api.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <set>
#include <string_view>

#include "core/time_text.h"
#include "http/event_stream.h"
#include "http/security.h"
#include "service/admin.h"
#include "service/json.h"
#include "service/running_config.h"
#include "service/service.h"
#include "service/sso.h"
#include "web/thread_stores.h"
#include "web/web_app.h"

namespace wgate::web {
namespace {

using Json = nlohmann::json;
using http::Request;

// Answers computed from this process's config carry a warning when the
// daemon runs another one (service/running_config.h).
Json with_config_warning(Json answer, const Config& config) {
  if (auto w = service::running_config_warning(config)) answer["config_warning"] = *w;
  return answer;
}
using http::Response;

Response error(int status, const std::string& message) {
  return Response::json(Json{{"error", message}}.dump(-1, ' ', false, Json::error_handler_t::replace), status);
}

// A failed service call: the caller's input was wrong (400), or a thing it
// named does not exist (404), or the state forbids it (409). The service
// says which in its words; these are the shapes its messages take.
Response service_error(const Error& e) {
  const std::string& m = e.message;
  if (m.starts_with("no user") || m.starts_with("no key") || m.starts_with("no token") || m.starts_with("no group") ||
      m.find("unknown user") != std::string::npos || m.find("has no device") != std::string::npos) {
    return error(404, m);
  }
  if (m.find("already") != std::string::npos || m.find("exists") != std::string::npos ||
      m.find("taken") != std::string::npos) {
    return error(409, m);
  }
  return error(400, m);
}

// Adds "<name>_rfc3339" next to every Unix time ("..._at", "at", "from",
// "until"): the UI shows text, scripts compare numbers.
void add_rfc3339(Json& j) {
  if (j.is_array()) {
    for (auto& item : j) add_rfc3339(item);
    return;
  }
  if (!j.is_object()) return;
  std::vector<std::pair<std::string, Json>> extra;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (it->is_number_integer() &&
        (k.ends_with("_at") || k == "at" || k == "from" || k == "until" || k == "latest_handshake")) {
      const int64_t t = it->get<int64_t>();
      extra.emplace_back(k + "_rfc3339", t > 0 ? Json(format_utc(t)) : Json(nullptr));
    } else if (it->is_null() && (k.ends_with("_at") || k == "until")) {
      extra.emplace_back(k + "_rfc3339", nullptr);
    } else {
      add_rfc3339(*it);
    }
  }
  for (auto& [k, v] : extra) j[k] = std::move(v);
}

Response ok_json(Json body, int status = 200) {
  add_rfc3339(body);
  return Response::json(body.dump(-1, ' ', false, Json::error_handler_t::replace), status);
}

template <class T, class F>
Response page_json(const service::Page<T>& page, F item) {
  Json items = Json::array();
  for (const auto& i : page.items) items.push_back(item(i));
  return ok_json(Json{{"items", std::move(items)},
                      {"next_cursor", page.next_cursor.empty() ? Json(nullptr) : Json(page.next_cursor)}});
}

// --- input -------------------------------------------------------------------

// The query of a request, checked: only `allowed` names, each at most once.
class Query {
 public:
  static Result<Query> of(const Request& q, std::initializer_list<std::string_view> allowed) {
    std::set<std::string_view> seen;
    for (const auto& [k, v] : q.query.items()) {
      if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return make_error("unknown query parameter '" + k + "'" + (list.empty() ? " (none accepted)" : " (accepted: " + list + ")"));
      }
      if (!seen.insert(k).second) return make_error("query parameter '" + k + "' is given twice");
    }
    return Query(q);
  }
  std::optional<std::string> text(std::string_view name) const {
    auto v = q_->query.get(name);
    return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
  }
  Result<std::optional<int64_t>> integer(std::string_view name, int64_t min, int64_t max) const {
    auto v = q_->query.get(name);
    if (!v) return std::optional<int64_t>();
    int64_t n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || end != v->data() + v->size() || n < min || n > max) {
      return make_error("query parameter '" + std::string(name) + "' must be an integer from " + std::to_string(min) +
                        " to " + std::to_string(max));
    }
    return std::optional<int64_t>(n);
  }
  Result<std::optional<bool>> boolean(std::string_view name) const {
    auto v = q_->query.get(name);
    if (!v) return std::optional<bool>();
    if (*v == "true") return std::optional<bool>(true);
    if (*v == "false") return std::optional<bool>(false);
    return make_error("query parameter '" + std::string(name) + "' must be true or false");
  }
  Result<service::PageRequest> page() const {
    service::PageRequest p;
    p.cursor = text("cursor").value_or("");
    WGATE_ASSIGN_OR_RETURN(auto limit, integer("limit", 1, static_cast<int64_t>(service::kMaxPageLimit)));
    if (limit) p.limit = static_cast<size_t>(*limit);
    return p;
  }

 private:
  explicit Query(const Request& q) : q_(&q) {}
  const Request* q_;
};

// A JSON object body with only the named fields, each of its type.
class Body {
 public:
  enum class Type { string, boolean, string_list };
  struct Field {
    std::string_view name;
    Type type;
    bool required;
  };
  static Result<Body> of(const Request& q, std::initializer_list<Field> fields) {
    auto ct = q.headers.get("Content-Type").value_or("");
    if (!ct.starts_with("application/json")) return make_error("the body must be application/json");
    Json j = Json::parse(q.body, nullptr, false);
    if (j.is_discarded()) return make_error("the body is not valid JSON");
    if (!j.is_object()) return make_error("the body must be a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it) {
      auto f = std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.name == it.key(); });
      if (f == fields.end()) {
        std::string list;
        for (const auto& a : fields) list += (list.empty() ? "" : ", ") + std::string(a.name);
        return make_error("unknown field '" + it.key() + "' (accepted: " + list + ")");
      }
      bool ok = false;
      switch (f->type) {
        case Type::string: ok = it->is_string(); break;
        case Type::boolean: ok = it->is_boolean(); break;
        case Type::string_list:
          ok = it->is_array() && std::all_of(it->begin(), it->end(), [](const Json& e) { return e.is_string(); });
          break;
      }
      if (!ok) {
        static constexpr const char* kNames[] = {"a string", "true or false", "a list of strings"};
        return make_error("field '" + it.key() + "' must be " + kNames[static_cast<int>(f->type)]);
      }
    }
    for (const auto& f : fields) {
      if (f.required && !j.contains(f.name)) return make_error("field '" + std::string(f.name) + "' is required");
    }
    return Body(std::move(j));
  }
  std::optional<std::string> text(const char* name) const {
    auto it = j_.find(name);
    return it == j_.end() ? std::nullopt : std::optional<std::string>(it->get<std::string>());
  }
  std::vector<std::string> list(const char* name) const {
    auto it = j_.find(name);
    return it == j_.end() ? std::vector<std::string>{} : it->get<std::vector<std::string>>();
  }

 private:
  explicit Body(Json j) : j_(std::move(j)) {}
  Json j_;
};

// POST routes without a body: an empty one, or an empty JSON object.
Status no_body(const Request& q) {
  if (q.body.empty()) return ok_status();
  Json j = Json::parse(q.body, nullptr, false);
  if (j.is_object() && j.empty()) return ok_status();
  return make_error("this call takes no body");
}

// --- auth -------------------------------------------------------------------------

struct Caller {
  Actor actor;
};

class AdminApi {
 public:
  explicit AdminApi(const AdminApiDeps& deps) : deps_(deps), stores_(deps.open_store) {}

  // A route's handler: the caller is an admin (with write rights when
  // `write`), the store is this thread's.
  using Action = std::function<Response(Store&, const Caller&, const Request&)>;

  http::Handler route(bool write, Action body) {
    return [this, write, body = std::move(body)](const Request& q) -> Response {
      auto store = stores_.get();
      if (!store) {
        log("admin api: store unavailable: " + store.error().message);
        return error(503, "wgate's store is unavailable; try again shortly");
      }
      Caller caller;
      if (auto refused = authorize(**store, q, write, caller)) return *refused;
      return body(**store, caller, q);
    };
  }

  const Config& config() const { return *deps_.config; }
  UnixTime now() const { return deps_.now(); }
  void log(const std::string& line) const {
    if (deps_.log) deps_.log(line);
  }
  const AdminApiDeps& deps() const { return deps_; }
  // This thread's store connection (thread_stores.h): fetched again on
  // every use, never kept past the call that needed it.
  Result<Store*> thread_store() { return stores_.get(); }

  // The caller's admin rights: nullopt when `q`'s credentials grant them
  // (`out` is then the caller), else the refusal to answer (401, 403).
  std::optional<Response> authorize(Store& store, const Request& q, bool write, Caller& out) {
    const UnixTime t = now();
    auto unauthorized = [](const std::string& m) {
      return error(401, m).set_header("WWW-Authenticate", "Bearer realm=\"wgate\"");
    };
    std::string secret;
    bool cookie = false;
    if (auto auth = q.headers.get("Authorization")) {
      if (!auth->starts_with("Bearer ") || auth->size() == 7) {
        return unauthorized("Authorization: only a Bearer token is accepted");
      }
      secret = std::string(auth->substr(7));
    } else if (auto c = q.cookie(kSessionCookie)) {
      secret = std::string(*c);
      cookie = true;
    } else {
      return unauthorized("not logged in: send an admin API token (Authorization: Bearer) or log in");
    }

    auto checked = service::check_admin(store, secret, cookie, t);
    if (!checked) {
      log("admin api: checking the caller failed: " + checked.error().message);
      return error(500, "checking your credentials failed (the store); try again");
    }
    if (const auto* refused = std::get_if<service::AdminRefusal>(&*checked)) {
      if (refused->why == service::AdminRefusal::Why::forbidden) return error(403, refused->message);
      return unauthorized(refused->message);
    }
    const auto& admin = std::get<service::AdminCaller>(*checked);
    if (write && !admin.write_scope) {
      return error(403, admin.actor.name + " has the read scope; this call needs a write token");
    }
    if (cookie && write && q.method != "GET" && q.method != "HEAD") {
      http::CsrfPolicy policy;
      if (!config().web.public_url.empty()) policy.allowed_origins.push_back(config().web.public_url);
      auto csrf = http::check_csrf(q, admin.csrf_token, policy);
      if (!csrf) return error(403, "CSRF check failed: " + csrf.error().message);
    }
    out.actor = admin.actor;
    return std::nullopt;
  }

  AdminApiDeps deps_;
  ThreadStores stores_;
};


Json key_json(const service::KeyView& k) {
  Json j = service::to_json(k);
  j["state"] = service::api_key_state(k.state);
  j["source"] = k.key.source;
  j["applied_at"] = k.key.applied_at ? Json(*k.key.applied_at) : Json(nullptr);
  return j;
}

Json token_json(const ApiToken& t, UnixTime now) {
  return Json{{"name", t.name},
              {"scope", t.scope},
              {"created_at", t.created_at},
              {"created_by", t.created_by},
              {"expires_at", t.expires_at},
              {"revoked_at", t.revoked_at ? Json(*t.revoked_at) : Json(nullptr)},
              {"last_used_at", t.last_used_at ? Json(*t.last_used_at) : Json(nullptr)},
              {"state", t.revoked_at ? "revoked" : (t.live_at(now) ? "active" : "expired")}};
}

Json alert_json(const OutboxEntry& e) {
  Json payload = Json::parse(e.payload, nullptr, false);
  if (payload.is_discarded()) payload = nullptr;
  const char* status = e.delivered_at ? "delivered" : (e.failed_at ? "failed" : "pending");
  return Json{{"id", e.id},
              {"kind", e.kind},
              {"channel", e.channel},
              {"status", status},
              {"dedup_key", e.dedup_key},
              {"user_id", e.user_id ? Json(*e.user_id) : Json(nullptr)},
              {"key_id", e.key_id ? Json(*e.key_id) : Json(nullptr)},
              {"payload", payload},
              {"created_at", e.created_at},
              {"attempts", e.attempts},
              {"next_attempt_at", e.next_attempt_at},
              {"last_attempt_at", e.last_attempt_at ? Json(*e.last_attempt_at) : Json(nullptr)},
              {"delivered_at", e.delivered_at ? Json(*e.delivered_at) : Json(nullptr)},
              {"failed_at", e.failed_at ? Json(*e.failed_at) : Json(nullptr)},
              {"last_error", e.last_error}};
}

Json audit_json(const AuditRecord& r) {
  Json detail = Json::parse(r.detail, nullptr, false);
  if (detail.is_discarded()) detail = Json::object();
  return Json{{"id", r.id}, {"at", r.at}, {"actor", r.actor}, {"action", r.action}, {"subject", r.subject},
              {"detail", detail}};
}

// GET /api/v1/status's answer; the live feed's status events carry its body.
Response status_response(AdminApi& api, Store& s) {
  if (!api.deps().status) return error(503, "the data plane's status is not available in this process");
  auto st = api.deps().status(s);
  if (!st) return error(503, "the data plane's status is unavailable: " + st.error().message);
  return ok_json(service::to_json(*st));
}

// Audit records the live feed sends per tick at most; a reconnecting
// client further behind than kLiveCatchUp ids gets a "reset" event instead
// of the records (it reloads the list with GET /api/v1/audit).
constexpr size_t kLiveAuditBatch = 100;
constexpr int64_t kLiveCatchUp = 1000;

// GET /api/v1/events (docs/openapi.yaml has the event format): a producer
// per stream, ticking on its connection's strand every live_interval.
// Each tick checks the caller's credentials again (a logout, an expired
// session, a revoked token end the stream with an "end" event), sends the
// audit records after the last one sent (a keyset read) and the status.
class LiveFeed final : public http::EventProducer {
 public:
  LiveFeed(std::shared_ptr<AdminApi> api, Request request, int64_t last_id, std::optional<int64_t> reset_to)
      : api_(std::move(api)), request_(std::move(request)), last_id_(last_id), reset_to_(reset_to) {
    request_.body.clear();
  }

  std::optional<std::chrono::milliseconds> tick(http::EventSink& sink) override {
    const std::chrono::milliseconds interval(api_->config().web.live_interval_seconds * 1000);
    auto store = api_->thread_store();
    if (!store) {
      api_->log("admin api: live feed: store unavailable: " + store.error().message);
      sink.send(http::format_event("end", error_text("wgate's store is unavailable; try again shortly")));
      return std::nullopt;
    }
    Caller caller;
    if (auto refused = api_->authorize(**store, request_, false, caller)) {
      sink.send(http::format_event("end", refused->body));
      return std::nullopt;
    }
    if (reset_to_) {
      last_id_ = *reset_to_;
      reset_to_.reset();
      Json j{{"error", "more than " + std::to_string(kLiveCatchUp) +
                           " audit records were missed; reload the audit list (GET /api/v1/audit)"},
             {"newest_id", last_id_}};
      if (!sink.send(http::format_event("reset", j.dump(), std::to_string(last_id_)))) return std::nullopt;
    }
    auto records = service::audit_after(**store, last_id_, kLiveAuditBatch);
    if (!records) {
      api_->log("admin api: live feed: " + records.error().message);
    } else {
      for (const auto& r : *records) {
        Json item = audit_json(r);
        add_rfc3339(item);
        if (!sink.send(http::format_event("audit", dump(item), std::to_string(r.id)))) return std::nullopt;
        last_id_ = r.id;
      }
    }
    // The status, with the audit cursor as its id: a client that reconnects
    // before any audit event still resumes where it was.
    if (!sink.send(http::format_event("status", status_response(*api_, **store).body, std::to_string(last_id_))))
      return std::nullopt;
    // A full batch: more are waiting; catch up without the interval's wait.
    if (records && records->size() == kLiveAuditBatch) return std::chrono::milliseconds(50);
    return interval;
  }

 private:
  static std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }
  static std::string error_text(const std::string& m) { return dump(Json{{"error", m}}); }

  std::shared_ptr<AdminApi> api_;
  Request request_;  // its credentials, checked every tick
  int64_t last_id_;  // the newest audit record sent (or skipped)
  std::optional<int64_t> reset_to_;
};

// The stream's start: after the newest record, or after Last-Event-ID
// (what EventSource sends when it reconnects) when that is not too far
// back. A Last-Event-ID that is not a record id: 400.
Response open_live_feed(const std::shared_ptr<AdminApi>& api, Store& s, const Request& q) {
  auto newest_id = service::newest_audit_id(s);
  if (!newest_id) {
    api->log("admin api: live feed: " + newest_id.error().message);
    return error(503, "wgate's store is unavailable; try again shortly");
  }
  const int64_t newest = *newest_id;
  int64_t start = newest;
  std::optional<int64_t> reset_to;
  if (auto last = q.headers.get("Last-Event-ID")) {
    int64_t id = -1;
    auto [end, ec] = std::from_chars(last->data(), last->data() + last->size(), id);
    if (ec != std::errc() || end != last->data() + last->size() || id < 0) {
      return error(400, "Last-Event-ID '" + std::string(last->substr(0, 40)) +
                            "' is not an audit record id (a non-negative integer)");
    }
    // An id above the newest (a store that was replaced): from the newest.
    if (id <= newest) start = id;
    if (newest - start > kLiveCatchUp) {
      reset_to = newest;
      start = newest;
    }
  }
  return Response::event_stream(std::make_shared<LiveFeed>(api, q, start, reset_to));
}

#define WGATE_API_TRY(expr)                                  \
  do {                                                       \
    auto _status = (expr);                                   \
    if (!_status) return error(400, _status.error().message); \
  } while (0)

#define WGATE_API_ASSIGN(lhs, expr)                     \
  auto lhs##_result = (expr);                           \
  if (!lhs##_result) return error(400, lhs##_result.error().message); \
  auto lhs = std::move(*lhs##_result)

}  // namespace

Status add_admin_routes(http::Router& r, const AdminApiDeps& deps) {
  if (!deps.config || !deps.open_store || !deps.now) return make_error("admin api: missing dependency");
  auto api = std::make_shared<AdminApi>(deps);
  const http::RouteOptions small{.body_limit = kAdminBodyLimit};
  // Each handler holds the api, so it lives as long as the router.
  auto add = [&](const char* method, const char* path, bool write, AdminApi::Action body) -> Status {
    auto handler = api->route(write, std::move(body));
    return r.add(method, path, [api, handler](const Request& q) { return handler(q); }, small);
  };
  const bool kRead = false, kWrite = true;

  // --- people ----------------------------------------------------------------
  WGATE_TRY(add("GET", "/api/v1/people", kRead, [api](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {"cursor", "limit", "name_prefix", "disabled", "group"}));
    service::PeopleQuery pq;
    WGATE_API_ASSIGN(page, query.page());
    pq.page = page;
    pq.name_prefix = query.text("name_prefix").value_or("");
    WGATE_API_ASSIGN(disabled, query.boolean("disabled"));
    pq.disabled = disabled;
    pq.group = query.text("group");
    auto people = service::list_people_page(s, api->config(), pq);
    if (!people) return service_error(people.error());
    return page_json(*people, [](const service::PersonView& p) { return service::to_json(p); });
  }));
  WGATE_TRY(add("POST", "/api/v1/people", kWrite, [api](Store& s, const Caller& c, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {}));
    (void)query;
    WGATE_API_ASSIGN(body, Body::of(q, {{"name", Body::Type::string, true},
                                        {"email", Body::Type::string, false},
                                        {"groups", Body::Type::string_list, false}}));
    service::AddUserRequest req{*body.text("name"), body.text("email").value_or(""), body.list("groups")};
    auto added = service::add_user(s, api->config(), req, api->now(), c.actor);
    if (!added) return service_error(added.error());
    return ok_json(service::to_json(*added), 201);
  }));
  WGATE_TRY(add("GET", "/api/v1/people/{name}", kRead, [api](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {}));
    (void)query;
    auto person = service::find_person(s, api->config(), std::string(q.param("name")));
    if (!person) return service_error(person.error());
    if (!*person) return error(404, "no user '" + std::string(q.param("name")) + "'");
    return ok_json(service::to_json(**person));
  }));
  for (bool disable : {true, false}) {
    const char* path = disable ? "/api/v1/people/{name}/disable" : "/api/v1/people/{name}/enable";
    WGATE_TRY(add("POST", path, kWrite, [api, disable](Store& s, const Caller& c, const Request& q) {
      WGATE_API_ASSIGN(query, Query::of(q, {}));
      (void)query;
      WGATE_API_TRY(no_body(q));
      const std::string name(q.param("name"));
      auto done = service::set_user_disabled(s, api->config(), name, disable, api->now(), c.actor);
      if (!done) return service_error(done.error());
      auto person = service::find_person(s, api->config(), name);
      if (!person || !*person) return error(404, "no user '" + name + "'");
      return ok_json(service::to_json(**person));
    }));
  }
  for (bool add_member : {true, false}) {
    WGATE_TRY(add(add_member ? "PUT" : "DELETE", "/api/v1/people/{name}/groups/{group}", kWrite,
                  [api, add_member](Store& s, const Caller& c, const Request& q) {
                    WGATE_API_ASSIGN(query, Query::of(q, {}));
                    (void)query;
                    WGATE_API_TRY(no_body(q));
                    const std::string name(q.param("name")), group(q.param("group"));
                    auto done = add_member ? service::add_membership(s, api->config(), name, group, api->now(), c.actor)
                                           : service::remove_membership(s, api->config(), name, group, api->now(),
                                                                        c.actor);
                    if (!done) return service_error(done.error());
                    auto person = service::find_person(s, api->config(), name);
                    if (!person || !*person) return error(404, "no user '" + name + "'");
                    return ok_json(service::to_json(**person));
                  }));
  }
  WGATE_TRY(add("GET", "/api/v1/people/{name}/devices", kRead, [api](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {}));
    (void)query;
    auto person = service::find_person(s, api->config(), std::string(q.param("name")));
    if (!person) return service_error(person.error());
    if (!*person) return error(404, "no user '" + std::string(q.param("name")) + "'");
    Json items = Json::array();
    for (const auto& d : (*person)->devices) {
      Json j{{"id", d.device.id},
             {"user", (*person)->user.name},
             {"name", d.device.name},
             {"slot", d.device.slot},
             {"address", d.address ? Json(d.address->to_string()) : Json(nullptr)},
             {"created_at", d.device.created_at}};
      items.push_back(std::move(j));
    }
    return ok_json(Json{{"items", items}});
  }));
  WGATE_TRY(add("DELETE", "/api/v1/people/{name}/devices/{device}", kWrite,
                [api](Store& s, const Caller& c, const Request& q) {
                  WGATE_API_ASSIGN(query, Query::of(q, {}));
                  (void)query;
                  WGATE_API_TRY(no_body(q));
                  auto done = service::remove_device(s, std::string(q.param("name")), std::string(q.param("device")),
                                                     api->now(), c.actor);
                  if (!done) return service_error(done.error());
                  return Response::status_only(204);
                }));

  // --- groups, keys, leases, audit, alerts ---------------------------------------
  WGATE_TRY(add("GET", "/api/v1/groups", kRead, [api](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {}));
    (void)query;
    auto groups = service::list_groups(s, api->config());
    if (!groups) return service_error(groups.error());
    Json items = Json::array();
    for (const auto& g : *groups) items.push_back(service::to_json(g));
    return ok_json(Json{{"items", items}});
  }));
  WGATE_TRY(add("GET", "/api/v1/keys", kRead, [api](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {"cursor", "limit", "user", "state", "expiring_within"}));
    service::KeyQuery kq;
    WGATE_API_ASSIGN(page, query.page());
    kq.page = page;
    kq.user = query.text("user");
    kq.state = query.text("state");
    WGATE_API_ASSIGN(within, query.integer("expiring_within", 1, 366 * 86400));
    if (within) kq.expiring_within = *within;
    auto keys = service::list_keys_page(s, api->config(), kq, api->now());
    if (!keys) return service_error(keys.error());
    return page_json(*keys, key_json);
  }));
  WGATE_TRY(add("POST", "/api/v1/keys/{id}/revoke", kWrite, [api](Store& s, const Caller& c, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {}));
    (void)query;
    WGATE_API_TRY(no_body(q));
    std::string_view text = q.param("id");
    int64_t id = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc() || end != text.data() + text.size() || id < 1) {
      return error(400, "key id '" + std::string(text) + "' is not a positive integer");
    }
    auto done = service::revoke_key(s, id, api->now(), c.actor);
    if (!done) return service_error(done.error());
    return ok_json(Json{{"id", id}, {"state", "revoked"}, {"revoked_at", api->now()}});
  }));
  WGATE_TRY(add("GET", "/api/v1/leases", kRead, [api](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {"cursor", "limit", "user", "current"}));
    service::LeaseQuery lq;
    WGATE_API_ASSIGN(page, query.page());
    lq.page = page;
    lq.user = query.text("user");
    WGATE_API_ASSIGN(current, query.boolean("current"));
    lq.current_only = current.value_or(false);
    auto leases = service::list_leases_page(s, lq);
    if (!leases) return service_error(leases.error());
    return page_json(*leases, [](const service::LeaseView& l) {
      return Json{{"id", l.lease.id},
                  {"user", l.user},
                  {"block", l.lease.block.to_string()},
                  {"from", l.lease.from},
                  {"until", l.lease.until ? Json(*l.lease.until) : Json(nullptr)},
                  {"current", l.lease.current()}};
    });
  }));
  WGATE_TRY(add("GET", "/api/v1/audit", kRead, [](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {"cursor", "limit", "actor", "action", "subject"}));
    service::AuditQuery aq;
    WGATE_API_ASSIGN(page, query.page());
    aq.page = page;
    aq.actor = query.text("actor").value_or("");
    aq.action = query.text("action").value_or("");
    aq.subject = query.text("subject").value_or("");
    auto records = service::list_audit_page(s, aq);
    if (!records) return service_error(records.error());
    return page_json(*records, audit_json);
  }));
  WGATE_TRY(add("GET", "/api/v1/alerts", kRead, [](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {"cursor", "limit", "status"}));
    service::AlertQuery aq;
    WGATE_API_ASSIGN(page, query.page());
    aq.page = page;
    aq.status = query.text("status").value_or("");
    auto alerts = service::list_alerts_page(s, aq);
    if (!alerts) return service_error(alerts.error());
    return page_json(*alerts, alert_json);
  }));

  WGATE_TRY(add("GET", "/api/v1/flows", kRead, [api](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {"cursor", "limit", "user", "dst", "since", "until", "verdict"}));
    service::FlowListRequest fr;
    fr.user = query.text("user");
    fr.destination = query.text("dst");
    fr.verdict = query.text("verdict");
    if (auto c = query.text("cursor")) fr.cursor = *c;
    // The API's page bound (500) for every list, below the CLI's 1,000.
    WGATE_API_ASSIGN(limit, query.integer("limit", 1, static_cast<int64_t>(service::kMaxPageLimit)));
    if (limit) fr.limit = static_cast<size_t>(*limit);
    for (const char* name : {"since", "until"}) {
      auto text = query.text(name);
      if (!text) continue;
      auto parsed = parse_time(*text, api->now());
      if (!parsed) return error(400, std::string(name) + ": " + parsed.error().message);
      (std::string_view(name) == "since" ? fr.since : fr.until) = *parsed;
    }
    auto page = service::list_flows(s, fr);
    if (!page) return service_error(page.error());
    // The same page shape as every other list ("items", "next_cursor").
    Json items = Json::array();
    for (const auto& f : page->flows) items.push_back(service::to_json(f));
    return ok_json(Json{{"items", std::move(items)},
                        {"next_cursor", page->next_cursor ? Json(*page->next_cursor) : Json(nullptr)}});
  }));

  // --- lookups -------------------------------------------------------------------
  WGATE_TRY(add("GET", "/api/v1/whois", kRead, [api](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {"ip", "at"}));
    auto ip = query.text("ip");
    if (!ip) return error(400, "query parameter 'ip' is required");
    UnixTime at = api->now();
    if (auto text = query.text("at")) {
      auto parsed = parse_time(*text, api->now());
      if (!parsed) return error(400, "at: " + parsed.error().message);
      at = *parsed;
    }
    auto answer = service::whois(s, api->config(), *ip, at);
    if (!answer) return service_error(answer.error());
    return ok_json(service::to_json(*answer));
  }));
  WGATE_TRY(add("GET", "/api/v1/explain", kRead, [api](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {"target", "destination", "service"}));
    auto target = query.text("target");
    auto destination = query.text("destination");
    if (!target || !destination) return error(400, "query parameters 'target' and 'destination' are required");
    auto e = service::explain(s, api->config(), *target, *destination, query.text("service"), api->now());
    if (!e) return service_error(e.error());
    return ok_json(with_config_warning(service::to_json(*e), api->config()));
  }));
  WGATE_TRY(add("GET", "/api/v1/plan", kRead, [api](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {}));
    (void)query;
    auto p = service::plan(s, api->config(), api->now());
    if (!p) return service_error(p.error());
    return ok_json(with_config_warning(service::to_json(*p), api->config()));
  }));
  WGATE_TRY(add("GET", "/api/v1/status", kRead, [api](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {}));
    (void)query;
    return status_response(*api, s);
  }));
  // The live feed for the admin UI: Server-Sent Events (LiveFeed).
  WGATE_TRY(add("GET", "/api/v1/events", kRead, [api](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {}));
    (void)query;
    return open_live_feed(api, s, q);
  }));

  // --- tokens --------------------------------------------------------------------
  WGATE_TRY(add("GET", "/api/v1/tokens", kRead, [api](Store& s, const Caller&, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {}));
    (void)query;
    auto tokens = service::list_api_tokens(s);
    if (!tokens) return service_error(tokens.error());
    Json items = Json::array();
    for (const auto& t : *tokens) items.push_back(token_json(t, api->now()));
    return ok_json(Json{{"items", items}});
  }));
  WGATE_TRY(add("POST", "/api/v1/tokens", kWrite, [api](Store& s, const Caller& c, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {}));
    (void)query;
    WGATE_API_ASSIGN(body, Body::of(q, {{"name", Body::Type::string, true},
                                        {"scope", Body::Type::string, false},
                                        {"ttl", Body::Type::string, false}}));
    service::CreateTokenRequest req;
    req.name = *body.text("name");
    if (auto v = body.text("scope")) req.scope = *v;
    if (auto v = body.text("ttl")) req.ttl = *v;
    auto created = service::create_api_token(s, req, api->now(), c.actor);
    if (!created) return service_error(created.error());
    api->log("admin api: token " + created->token.name + " created by " + c.actor.name);
    Json j = token_json(created->token, api->now());
    j["token"] = created->secret;  // the only time it is shown
    return ok_json(std::move(j), 201);
  }));
  WGATE_TRY(add("POST", "/api/v1/tokens/{name}/revoke", kWrite, [api](Store& s, const Caller& c, const Request& q) {
    WGATE_API_ASSIGN(query, Query::of(q, {}));
    (void)query;
    WGATE_API_TRY(no_body(q));
    const std::string name(q.param("name"));
    auto done = service::revoke_api_token(s, name, api->now(), c.actor);
    if (!done) return service_error(done.error());
    api->log("admin api: token " + name + " revoked by " + c.actor.name);
    return Response::status_only(204);
  }));
  return ok_status();
}

}  // namespace wgate::web
