// The SSO half of wgate.toml: [oidc], [web], [keys], [alerts].
#include <algorithm>
#include <charconv>

#include "core/config.h"
#include "core/config_sso.h"
#include "core/config_toml.h"
#include "core/local_time.h"

namespace wgate {

namespace config_toml {

std::optional<int64_t> get_duration(const toml::table& t, const std::string& key, const std::string& where,
                                    Problems& problems) {
  auto text = get_string(t, key, where, problems);
  if (!text) return std::nullopt;
  auto secs = parse_duration(*text);
  if (!secs) {
    problems.add(where + "." + key, secs.error().message);
    return std::nullopt;
  }
  return *secs;
}

std::optional<std::vector<std::string>> get_string_list(const toml::table& t, const std::string& key,
                                                        const std::string& where, Problems& problems) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto s = n->value<std::string>()) return std::vector<std::string>{*s};
  const toml::array* arr = n->as_array();
  if (!arr) {
    problems.add(where + "." + key, "must be a string or a list of strings");
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < arr->size(); ++i) {
    auto s = arr->get(i)->value<std::string>();
    if (!s) {
      problems.add(where + "." + key + "[" + std::to_string(i) + "]", "must be a string");
      continue;
    }
    out.push_back(*s);
  }
  return out;
}

std::optional<bool> get_bool(const toml::table& t, const std::string& key, const std::string& where,
                             Problems& problems) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto b = n->value<bool>(); b && n->is_boolean()) return *b;
  problems.add(where + "." + key, "must be true or false");
  return std::nullopt;
}

}  // namespace config_toml

namespace {

using namespace config_toml;

// "https://host[:port]" or "http://host[:port]" (http only toward loopback:
// tests and a local dev IdP), no path, query or fragment. Returns a reason.
std::optional<std::string> url_problem(const std::string& url, bool allow_path) {
  const bool https = url.rfind("https://", 0) == 0;
  const bool http = url.rfind("http://", 0) == 0;
  if (!https && !http) return "'" + url + "' must start with https:// (or http:// for a loopback address)";
  std::string rest = url.substr(https ? 8 : 7);
  std::string host = rest.substr(0, rest.find_first_of("/?#"));
  if (host.empty()) return "'" + url + "' has no host";
  if (!allow_path && host.size() != rest.size() && rest.substr(host.size()) != "/") {
    return "'" + url + "' must not have a path, query or fragment";
  }
  if (rest.find_first_of("?#") != std::string::npos) return "'" + url + "' must not have a query or fragment";
  if (http) {
    std::string bare = host.substr(0, host.rfind(':') == std::string::npos || host.front() == '[' ? host.size()
                                                                                                   : host.rfind(':'));
    if (bare != "127.0.0.1" && bare != "localhost" && bare != "[::1]") {
      return "'" + url + "' uses plain http to a non-loopback host; use https://";
    }
  }
  return std::nullopt;
}

void load_oidc(const toml::table& root, Config& cfg, Problems& problems) {
  const toml::node* node = root.get("oidc");
  if (!node) return;
  const toml::table* t = node->as_table();
  if (!t) return problems.add("oidc", "must be a table");
  reject_unknown_keys(*t, "oidc",
                      {"issuer", "client_id", "client_secret_file", "scopes", "groups_claim", "group_map", "ca_file",
                       "check_interval", "leeway", "http_timeout"},
                      problems);
  OidcConfig& o = cfg.oidc;
  o.enabled = true;
  if (auto v = get_string(*t, "issuer", "oidc", problems)) o.issuer = *v;
  if (o.issuer.empty()) {
    problems.add("oidc.issuer", "required: the provider's issuer URL");
  } else if (auto why = url_problem(o.issuer, /*allow_path=*/true)) {
    problems.add("oidc.issuer", *why);
  }
  if (!o.issuer.empty() && o.issuer.back() == '/') {
    problems.add("oidc.issuer", "must not end with '/' (it is compared with the tokens' iss exactly)");
  }
  if (auto v = get_string(*t, "client_id", "oidc", problems)) o.client_id = *v;
  if (o.client_id.empty()) problems.add("oidc.client_id", "required: the client wgate is registered as");
  if (auto v = get_string(*t, "client_secret_file", "oidc", problems)) o.client_secret_file = *v;
  if (auto v = get_string_list(*t, "scopes", "oidc", problems)) {
    o.scopes = *v;
    if (std::find(o.scopes.begin(), o.scopes.end(), "openid") == o.scopes.end()) {
      problems.add("oidc.scopes", "must include \"openid\"");
    }
  }
  if (auto v = get_string(*t, "groups_claim", "oidc", problems)) o.groups_claim = *v;
  if (auto v = get_string(*t, "ca_file", "oidc", problems)) o.ca_file = *v;
  if (auto v = get_duration(*t, "check_interval", "oidc", problems)) {
    if (*v < 2) {
      problems.add("oidc.check_interval", "must be at least 2s (each check is a token request to the provider per session)");
    } else {
      o.check_interval_seconds = *v;
    }
  }
  if (auto v = get_duration(*t, "leeway", "oidc", problems)) {
    if (*v > 600) {
      problems.add("oidc.leeway", "must be at most 10m");
    } else {
      o.leeway_seconds = *v;
    }
  }
  if (auto v = get_duration(*t, "http_timeout", "oidc", problems)) {
    if (*v < 1 || *v > 120) {
      problems.add("oidc.http_timeout", "must be from 1s to 2m");
    } else {
      o.http_timeout_seconds = *v;
    }
  }
  if (const toml::node* gm = t->get("group_map")) {
    const toml::table* map = gm->as_table();
    if (!map) {
      problems.add("oidc.group_map", "must be a table of \"<IdP group>\" = [\"<wgate group>\", ...]");
    } else {
      for (const auto& [key, value] : *map) {
        const std::string idp_group(key.str());
        const std::string where = "oidc.group_map.\"" + idp_group + "\"";
        std::vector<std::string> targets;
        if (auto s = value.value<std::string>()) {
          targets.push_back(*s);
        } else if (const toml::array* arr = value.as_array()) {
          for (size_t i = 0; i < arr->size(); ++i) {
            if (auto s = arr->get(i)->value<std::string>()) {
              targets.push_back(*s);
            } else {
              problems.add(where + "[" + std::to_string(i) + "]", "must be a group name");
            }
          }
        } else {
          problems.add(where, "must be a group name or a list of them");
        }
        o.group_map[idp_group] = std::move(targets);
      }
    }
  }
}

void load_web(const toml::table& root, Config& cfg, Problems& problems) {
  const toml::node* node = root.get("web");
  if (!node) return;
  const toml::table* t = node->as_table();
  if (!t) return problems.add("web", "must be a table");
  reject_unknown_keys(*t, "web",
                      {"listen", "public_url", "tls_cert", "tls_key", "behind_tls_proxy", "session_ttl", "login_burst",
                       "login_rate", "admin_groups", "live_interval"},
                      problems);
  WebConfig& w = cfg.web;
  w.enabled = true;
  if (auto v = get_string_list(*t, "admin_groups", "web", problems)) {
    for (const auto& g : *v) {
      if (g.empty()) problems.add("web.admin_groups", "an empty group name");
    }
    w.admin_groups = *v;
  }
  if (auto v = get_string(*t, "listen", "web", problems)) w.listen = *v;
  {
    auto colon = w.listen.rfind(':');
    unsigned port = 0;
    const char* begin = w.listen.data() + (colon == std::string::npos ? 0 : colon + 1);
    auto [ptr, ec] = std::from_chars(begin, w.listen.data() + w.listen.size(), port);
    if (colon == std::string::npos || colon == 0 || ec != std::errc() || ptr != w.listen.data() + w.listen.size() ||
        port > 65535) {
      problems.add("web.listen", "'" + w.listen + "' is not address:port (e.g. 127.0.0.1:8080, [::1]:8080)");
    }
  }
  if (auto v = get_string(*t, "public_url", "web", problems)) w.public_url = *v;
  while (!w.public_url.empty() && w.public_url.back() == '/') w.public_url.pop_back();
  if (w.public_url.empty()) {
    problems.add("web.public_url", "required: the URL browsers and the CLI use to reach wgate");
  } else if (auto why = url_problem(w.public_url, /*allow_path=*/false)) {
    problems.add("web.public_url", *why);
  }
  if (auto v = get_string(*t, "tls_cert", "web", problems)) w.tls_cert_file = *v;
  if (auto v = get_string(*t, "tls_key", "web", problems)) w.tls_key_file = *v;
  if (w.tls_cert_file.empty() != w.tls_key_file.empty()) {
    problems.add("web.tls_cert", "tls_cert and tls_key go together");
  }
  if (auto v = get_bool(*t, "behind_tls_proxy", "web", problems)) w.behind_tls_proxy = *v;
  if (auto v = get_duration(*t, "session_ttl", "web", problems)) {
    if (*v < 60 || *v > 30 * 86400) {
      problems.add("web.session_ttl", "must be from 1m to 30d");
    } else {
      w.session_ttl_seconds = *v;
    }
  }
  if (auto v = get_int(*t, "login_burst", "web", problems)) {
    if (*v < 1 || *v > 1000000) {
      problems.add("web.login_burst", "must be from 1 to 1000000 (logins at once per client address)");
    } else {
      w.login_burst = static_cast<uint32_t>(*v);
    }
  }
  if (auto v = get_duration(*t, "live_interval", "web", problems)) {
    // Below 1 s the feed would read the store and the data plane many
    // times a second per open admin page; above a minute it is not live.
    if (*v < 1 || *v > 60) {
      problems.add("web.live_interval", "must be from 1s to 60s");
    } else {
      w.live_interval_seconds = *v;
    }
  }
  if (auto v = get_int(*t, "login_rate", "web", problems)) {
    if (*v < 1 || *v > 1000000) {
      problems.add("web.login_rate", "must be from 1 to 1000000 (logins per second per client address)");
    } else {
      w.login_rate = static_cast<uint32_t>(*v);
    }
  }
}

void load_keys(const toml::table& root, Config& cfg, Problems& problems) {
  const toml::node* node = root.get("keys");
  if (!node) return;
  const toml::table* t = node->as_table();
  if (!t) return problems.add("keys", "must be a table");
  reject_unknown_keys(*t, "keys", {"default_ttl", "max_ttl", "expire_at", "time_zone", "max_live_per_user"}, problems);
  KeyPolicyConfig& k = cfg.keys;
  if (auto v = get_duration(*t, "default_ttl", "keys", problems)) k.default_ttl_seconds = *v;
  if (auto v = get_duration(*t, "max_ttl", "keys", problems)) k.max_ttl_seconds = *v;
  if (k.default_ttl_seconds < 60) problems.add("keys.default_ttl", "must be at least 1m");
  if (k.max_ttl_seconds < k.default_ttl_seconds) problems.add("keys.max_ttl", "must not be shorter than default_ttl");
  if (auto v = get_string(*t, "expire_at", "keys", problems)) {
    auto minute = parse_time_of_day(*v);
    if (!minute) {
      problems.add("keys.expire_at", minute.error().message);
    } else {
      k.expire_at_minute = *minute;
    }
  }
  if (auto v = get_string(*t, "time_zone", "keys", problems)) {
    if (auto st = check_time_zone(*v); !st) {
      problems.add("keys.time_zone", st.error().message);
    } else {
      k.time_zone = *v;
    }
  }
  if (auto v = get_int(*t, "max_live_per_user", "keys", problems)) {
    if (*v < 1 || *v > 1000) {
      problems.add("keys.max_live_per_user", "must be from 1 to 1000");
    } else {
      k.max_live_per_user = static_cast<uint32_t>(*v);
    }
  }
}

void load_alerts(const toml::table& root, Config& cfg, Problems& problems) {
  const toml::node* node = root.get("alerts");
  if (!node) return;
  const toml::table* t = node->as_table();
  if (!t) return problems.add("alerts", "must be a table");
  reject_unknown_keys(*t, "alerts",
                      {"never_activated_after", "expiry_reminder", "in_use_window", "retry_base", "webhook_url", "smtp_url",
                       "smtp_from", "smtp_user", "smtp_password_file", "smtp_starttls"},
                      problems);
  AlertConfig& a = cfg.alerts;
  if (auto v = get_duration(*t, "never_activated_after", "alerts", problems)) a.never_activated_after_seconds = *v;
  if (auto v = get_duration(*t, "expiry_reminder", "alerts", problems)) a.expiry_reminder_seconds = *v;
  if (auto v = get_duration(*t, "in_use_window", "alerts", problems)) a.in_use_window_seconds = *v;
  if (auto v = get_duration(*t, "retry_base", "alerts", problems)) {
    if (*v < 1) {
      problems.add("alerts.retry_base", "must be at least 1s");
    } else {
      a.retry_base_seconds = *v;
    }
  }
  if (auto v = get_string(*t, "webhook_url", "alerts", problems)) {
    a.webhook_url = *v;
    if (auto why = url_problem(a.webhook_url, /*allow_path=*/true)) problems.add("alerts.webhook_url", *why);
  }
  if (auto v = get_string(*t, "smtp_url", "alerts", problems)) {
    a.smtp_url = *v;
    if (a.smtp_url.rfind("smtp://", 0) != 0 && a.smtp_url.rfind("smtps://", 0) != 0) {
      problems.add("alerts.smtp_url", "'" + a.smtp_url + "' must start with smtp:// or smtps://");
    }
  }
  if (auto v = get_string(*t, "smtp_from", "alerts", problems)) a.smtp_from = *v;
  if (auto v = get_string(*t, "smtp_user", "alerts", problems)) a.smtp_user = *v;
  if (auto v = get_string(*t, "smtp_password_file", "alerts", problems)) a.smtp_password_file = *v;
  if (auto v = get_bool(*t, "smtp_starttls", "alerts", problems)) a.smtp_starttls = *v;
  if (!a.smtp_url.empty() && a.smtp_from.empty()) problems.add("alerts.smtp_from", "required with smtp_url");
}

}  // namespace

void load_sso_sections(const toml::table& root, Config& cfg, config_toml::Problems& problems) {
  load_oidc(root, cfg, problems);
  load_web(root, cfg, problems);
  load_keys(root, cfg, problems);
  load_alerts(root, cfg, problems);
}

void cross_check_sso(const Config& cfg, config_toml::Problems& problems) {
  for (const auto& [idp_group, targets] : cfg.oidc.group_map) {
    for (const auto& g : targets) {
      if (!cfg.find_group(g)) {
        problems.add("oidc.group_map.\"" + idp_group + "\"", "unknown group '" + g + "'");
      }
    }
  }
  if (cfg.oidc.enabled && !cfg.web.enabled) {
    problems.add("web", "required with [oidc]: logins go through wgate's web server (listen, public_url)");
  }
  for (const auto& g : cfg.groups) {
    if (g.key_ttl_seconds > cfg.keys.max_ttl_seconds) {
      problems.add("groups." + g.name + ".key_ttl", "is longer than keys.max_ttl (" +
                                                        format_duration(cfg.keys.max_ttl_seconds) + ")");
    }
  }
}

}  // namespace wgate
