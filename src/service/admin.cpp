// Service: the admin API's pages, lookups and API tokens.
#include "service/admin.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <tuple>

#include "core/ipam.h"
#include "core/secrets.h"
#include "service/service.h"
#include "service/sso.h"

namespace wgate::service {
namespace {

constexpr char kCursorSeparator = '\x1f';
constexpr size_t kMaxCursorChars = 1024;

Result<int64_t> id_key(std::string_view list, std::string_view cursor) {
  if (cursor.empty()) return int64_t{0};
  WGATE_ASSIGN_OR_RETURN(std::string key, decode_cursor(list, cursor));
  int64_t id = 0;
  if (key.empty() || key.size() > 18) return make_error("cursor: not a cursor of " + std::string(list));
  for (char c : key) {
    if (c < '0' || c > '9') return make_error("cursor: not a cursor of " + std::string(list));
    id = id * 10 + (c - '0');
  }
  return id;
}

// Reads one more row than the page holds: whether it exists says if there
// is a next page, without a COUNT over the table.
size_t probe_limit(const PageRequest& page) { return page.limit + 1; }

Result<int64_t> user_id_of(Store& store, const std::string& name) {
  WGATE_ASSIGN_OR_RETURN(auto user, store.find_user(name));
  if (!user) return make_error("no user '" + name + "'");
  return user->id;
}

std::vector<PersonView> people_views(const State& state, const std::vector<User>& order) {
  std::map<int64_t, PersonView> by_id;
  for (const auto& u : state.users) by_id[u.id].user = u;
  for (const auto& l : state.current_leases) {
    if (by_id.count(l.user_id)) by_id[l.user_id].block = l.block;
  }
  for (const auto& m : state.memberships) {
    if (by_id.count(m.user_id)) by_id[m.user_id].groups.push_back(m.group);
  }
  for (const auto& d : state.devices) {
    auto it = by_id.find(d.user_id);
    if (it == by_id.end() || !d.current()) continue;
    DeviceView view{d, std::nullopt};
    if (it->second.block) view.address = device_address(*it->second.block, d.slot);
    it->second.devices.push_back(view);
  }
  std::vector<PersonView> out;
  for (const auto& u : order) {
    auto it = by_id.find(u.id);
    if (it == by_id.end()) continue;  // gone between the two reads
    auto& p = it->second;
    std::sort(p.groups.begin(), p.groups.end());
    std::sort(p.devices.begin(), p.devices.end(),
              [](const DeviceView& a, const DeviceView& b) { return a.device.slot < b.device.slot; });
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

std::string encode_cursor(std::string_view list, std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string raw = std::string(list) + kCursorSeparator + std::string(key);
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

Result<std::string> decode_cursor(std::string_view list, std::string_view cursor) {
  const std::string bad = "cursor: not a cursor of this list (" + std::string(list) +
                          "); use the next_cursor of the previous page, or none for the first page";
  if (cursor.size() > kMaxCursorChars || cursor.size() % 2 != 0) return make_error(bad);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string raw;
  for (size_t i = 0; i < cursor.size(); i += 2) {
    int hi = nibble(cursor[i]), lo = nibble(cursor[i + 1]);
    if (hi < 0 || lo < 0) return make_error(bad);
    raw += static_cast<char>(hi * 16 + lo);
  }
  auto sep = raw.find(kCursorSeparator);
  if (sep == std::string::npos || raw.substr(0, sep) != list) return make_error(bad);
  return raw.substr(sep + 1);
}

Status check_page_limit(size_t limit) {
  if (limit < 1 || limit > kMaxPageLimit) {
    return make_error("limit must be from 1 to " + std::to_string(kMaxPageLimit));
  }
  return ok_status();
}

Result<Page<PersonView>> list_people_page(Store& store, const Config& config, const PeopleQuery& query) {
  WGATE_TRY(check_page_limit(query.page.limit));
  if (query.group && !config.find_group(*query.group)) return make_error("no group '" + *query.group + "' in the config");
  UserPageQuery q;
  if (!query.page.cursor.empty()) {
    WGATE_ASSIGN_OR_RETURN(q.after_name, decode_cursor("people", query.page.cursor));
    if (q.after_name.empty()) return make_error("cursor: not a cursor of this list (people)");
  }
  q.limit = probe_limit(query.page);
  q.name_prefix = query.name_prefix;
  q.disabled = query.disabled;
  q.group = query.group;
  WGATE_ASSIGN_OR_RETURN(auto users, store.users_page(q));
  Page<PersonView> page;
  if (users.size() > query.page.limit) {
    users.resize(query.page.limit);
    page.next_cursor = encode_cursor("people", users.back().name);
  }
  std::vector<int64_t> ids;
  for (const auto& u : users) ids.push_back(u.id);
  WGATE_ASSIGN_OR_RETURN(State state, store.state_of_users(ids));
  page.items = people_views(state, users);
  return page;
}

Result<std::optional<PersonView>> find_person(Store& store, const Config& config, const std::string& name) {
  (void)config;
  WGATE_ASSIGN_OR_RETURN(auto user, store.find_user(name));
  if (!user) return std::optional<PersonView>();
  WGATE_ASSIGN_OR_RETURN(State state, store.state_of_users({user->id}));
  auto views = people_views(state, {*user});
  if (views.empty()) return std::optional<PersonView>();
  return std::optional<PersonView>(std::move(views.front()));
}

std::string api_key_state(KeyState state) {
  switch (state) {
    case KeyState::revoked: return "revoked";
    case KeyState::expired: return "expired";
    case KeyState::never_used: return "never_activated";
    case KeyState::active: return "active";
    case KeyState::superseded: return "superseded";
  }
  return "unknown";
}

Result<Page<KeyView>> list_keys_page(Store& store, const Config& config, const KeyQuery& query, UnixTime now) {
  (void)config;
  WGATE_TRY(check_page_limit(query.page.limit));
  KeyPageQuery q;
  WGATE_ASSIGN_OR_RETURN(q.after_id, id_key("keys", query.page.cursor));
  q.limit = probe_limit(query.page);
  q.now = now;
  if (query.user) {
    WGATE_ASSIGN_OR_RETURN(int64_t id, user_id_of(store, *query.user));
    q.user_id = id;
  }
  // The store selects by its columns; superseded (an older live key of a
  // device with a newer one) needs the device's other keys, so the live
  // states are refined below and a page may come back shorter.
  std::optional<KeyState> want;
  if (query.state) {
    const std::string& s = *query.state;
    if (s == "revoked") {
      q.filter = KeyRowFilter::revoked, want = KeyState::revoked;
    } else if (s == "expired") {
      q.filter = KeyRowFilter::expired, want = KeyState::expired;
    } else if (s == "active") {
      q.filter = KeyRowFilter::live_seen, want = KeyState::active;
    } else if (s == "never_activated") {
      q.filter = KeyRowFilter::live_unseen, want = KeyState::never_used;
    } else if (s == "superseded") {
      q.filter = KeyRowFilter::live, want = KeyState::superseded;
    } else if (s == "expiring") {
      if (query.expiring_within < 1 || query.expiring_within > 366 * 86400) {
        return make_error("expiring_within must be from 1 s to 366 days");
      }
      q.filter = KeyRowFilter::expiring;
      q.expiring_before = now + query.expiring_within;
    } else {
      return make_error("unknown key state '" + s +
                        "' (active, never_activated, expiring, expired, revoked, superseded)");
    }
  }
  WGATE_ASSIGN_OR_RETURN(auto keys, store.keys_page(q));
  Page<KeyView> page;
  if (keys.size() > query.page.limit) {
    keys.resize(query.page.limit);
    page.next_cursor = encode_cursor("keys", std::to_string(keys.back().id));
  }
  std::vector<int64_t> ids;
  for (const auto& k : keys) ids.push_back(k.user_id);
  WGATE_ASSIGN_OR_RETURN(State state, store.state_of_users(ids));
  std::map<int64_t, const User*> users;
  for (const auto& u : state.users) users[u.id] = &u;
  std::map<int64_t, const Device*> devices;
  for (const auto& d : state.devices) devices[d.id] = &d;
  std::map<int64_t, Prefix> blocks;
  for (const auto& l : state.current_leases) blocks[l.user_id] = l.block;
  // The newest live key per device holds its address (core/compile.h).
  std::map<int64_t, const Key*> newest;
  for (const auto& k : state.keys) {
    if (!k.active_at(now)) continue;
    const Key*& n = newest[k.device_id];
    if (!n || std::tie(k.created_at, k.id) > std::tie(n->created_at, n->id)) n = &k;
  }
  for (const auto& k : keys) {
    KeyView v;
    v.key = k;
    v.state = k.state_at(now);
    if (k.active_at(now)) {
      auto n = newest.find(k.device_id);
      if (n != newest.end() && n->second->id != k.id) v.state = KeyState::superseded;
    }
    if (want && v.state != *want) continue;
    if (auto u = users.find(k.user_id); u != users.end()) v.user = u->second->name;
    if (auto d = devices.find(k.device_id); d != devices.end()) {
      v.device = d->second->name;
      auto b = blocks.find(k.user_id);
      if (b != blocks.end() && d->second->current()) v.address = device_address(b->second, d->second->slot);
    }
    page.items.push_back(std::move(v));
  }
  return page;
}

Result<Page<AuditRecord>> list_audit_page(Store& store, const AuditQuery& query) {
  WGATE_TRY(check_page_limit(query.page.limit));
  AuditPageQuery q;
  WGATE_ASSIGN_OR_RETURN(q.before_id, id_key("audit", query.page.cursor));
  if (!query.page.cursor.empty() && q.before_id == 0) return make_error("cursor: not a cursor of this list (audit)");
  q.limit = probe_limit(query.page);
  q.actor = query.actor;
  q.action = query.action;
  q.subject = query.subject;
  WGATE_ASSIGN_OR_RETURN(auto records, store.audit_page(q));
  Page<AuditRecord> page;
  if (records.size() > query.page.limit) {
    records.resize(query.page.limit);
    page.next_cursor = encode_cursor("audit", std::to_string(records.back().id));
  }
  page.items = std::move(records);
  return page;
}

Result<std::vector<AuditRecord>> audit_after(Store& store, int64_t after_id, size_t limit) {
  WGATE_TRY(check_page_limit(limit));
  if (after_id < 0) return make_error("audit: a record id is never negative");
  AuditPageQuery q;
  q.after_id = after_id;
  q.limit = limit;
  return store.audit_page(q);
}

Result<int64_t> newest_audit_id(Store& store) {
  AuditPageQuery q;
  q.limit = 1;
  WGATE_ASSIGN_OR_RETURN(auto newest, store.audit_page(q));
  return newest.empty() ? int64_t{0} : newest.front().id;
}

Result<Page<LeaseView>> list_leases_page(Store& store, const LeaseQuery& query) {
  WGATE_TRY(check_page_limit(query.page.limit));
  LeasePageQuery q;
  WGATE_ASSIGN_OR_RETURN(q.after_id, id_key("leases", query.page.cursor));
  q.limit = probe_limit(query.page);
  q.current_only = query.current_only;
  if (query.user) {
    WGATE_ASSIGN_OR_RETURN(int64_t id, user_id_of(store, *query.user));
    q.user_id = id;
  }
  WGATE_ASSIGN_OR_RETURN(auto leases, store.leases_page(q));
  Page<LeaseView> page;
  if (leases.size() > query.page.limit) {
    leases.resize(query.page.limit);
    page.next_cursor = encode_cursor("leases", std::to_string(leases.back().id));
  }
  std::vector<int64_t> ids;
  for (const auto& l : leases) ids.push_back(l.user_id);
  WGATE_ASSIGN_OR_RETURN(State state, store.state_of_users(ids));
  std::map<int64_t, std::string> names;
  for (const auto& u : state.users) names[u.id] = u.name;
  for (auto& l : leases) page.items.push_back(LeaseView{l, names[l.user_id]});
  return page;
}

Result<Page<OutboxEntry>> list_alerts_page(Store& store, const AlertQuery& query) {
  WGATE_TRY(check_page_limit(query.page.limit));
  AlertPageQuery q;
  WGATE_ASSIGN_OR_RETURN(q.before_id, id_key("alerts", query.page.cursor));
  if (!query.page.cursor.empty() && q.before_id == 0) return make_error("cursor: not a cursor of this list (alerts)");
  q.limit = probe_limit(query.page);
  q.status = query.status;
  WGATE_ASSIGN_OR_RETURN(auto alerts, store.alerts_page(q));
  Page<OutboxEntry> page;
  if (alerts.size() > query.page.limit) {
    alerts.resize(query.page.limit);
    page.next_cursor = encode_cursor("alerts", std::to_string(alerts.back().id));
  }
  page.items = std::move(alerts);
  return page;
}

// --- tokens ------------------------------------------------------------------

Result<CreatedToken> create_api_token(Store& store, const CreateTokenRequest& request, UnixTime now,
                                      const Actor& actor) {
  if (request.name.empty() || request.name.size() > 64) return make_error("token name: 1 to 64 characters");
  for (char c : request.name) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '.' ||
          c == '_' || c == '-')) {
      return make_error("token name '" + request.name + "': only a-z, 0-9, '.', '_' and '-'");
    }
  }
  if (request.scope != "read" && request.scope != "write") {
    return make_error("token scope '" + request.scope + "': read or write");
  }
  auto ttl = parse_duration(request.ttl);
  if (!ttl) return ttl.error().with_context("token ttl");
  if (*ttl < 60 || *ttl > 366 * 86400) return make_error("token ttl: from 1m to 366d");
  WGATE_ASSIGN_OR_RETURN(std::string random, random_token(32));
  CreatedToken out;
  out.secret = std::string(kApiTokenPrefix) + random;
  ApiToken t;
  t.name = request.name;
  t.token_hash = sha256_hex(out.secret);
  t.scope = request.scope;
  t.created_at = now;
  t.expires_at = now + *ttl;
  WGATE_ASSIGN_OR_RETURN(out.token, store.create_api_token(t, actor));
  return out;
}

Result<std::vector<ApiToken>> list_api_tokens(Store& store) { return store.list_api_tokens(); }

Status revoke_api_token(Store& store, const std::string& name, UnixTime now, const Actor& actor) {
  return store.revoke_api_token(name, now, actor);
}

Result<ApiToken> authenticate_api_token(Store& store, const std::string& secret, UnixTime now) {
  const Error refused = make_error("the API token is unknown, revoked or expired");
  if (!secret.starts_with(kApiTokenPrefix) || secret.size() > 200) return refused;
  WGATE_ASSIGN_OR_RETURN(auto token, store.find_api_token(sha256_hex(secret)));
  if (!token || !token->live_at(now)) return refused;
  // A write per request would wake the daemon (it watches the store) on
  // every API call; a minute's precision is enough for "last used".
  if (!token->last_used_at || *token->last_used_at + 60 <= now) {
    WGATE_TRY(store.touch_api_token(token->id, now));
    token->last_used_at = now;
  }
  return *token;
}

Actor token_actor(const ApiToken& token) { return Actor{"token:" + token.name}; }

bool grants_admin(const Config& config, const std::vector<std::string>& idp_groups) {
  for (const auto& g : idp_groups) {
    if (std::find(config.web.admin_groups.begin(), config.web.admin_groups.end(), g) != config.web.admin_groups.end()) {
      return true;
    }
  }
  return false;
}

Result<AdminCheck> check_admin(Store& store, const std::string& secret, bool from_cookie, UnixTime now) {
  using Why = AdminRefusal::Why;
  if (secret.empty()) return AdminCheck{AdminRefusal{Why::unauthenticated, "not logged in"}};
  if (!from_cookie && secret.starts_with(kApiTokenPrefix)) {
    auto token = authenticate_api_token(store, secret, now);
    if (!token) return AdminCheck{AdminRefusal{Why::unauthenticated, token.error().message}};
    return AdminCheck{AdminCaller{token_actor(*token), token->scope == "write", ""}};
  }
  auto session = session_of(store, secret, now);
  if (!session) return AdminCheck{AdminRefusal{Why::unauthenticated, "the session is unknown or over; log in again"}};
  if (!session->admin) {
    return AdminCheck{AdminRefusal{Why::forbidden,
                                   "admin rights needed: your login's groups include none of [web] admin_groups"}};
  }
  WGATE_ASSIGN_OR_RETURN(auto users, store.state_of_users({session->user_id}));
  if (users.users.empty()) return AdminCheck{AdminRefusal{Why::unauthenticated, "your account is gone"}};
  return AdminCheck{AdminCaller{Actor{"user:" + users.users.front().name}, true, session->csrf_token}};
}

}  // namespace wgate::service
