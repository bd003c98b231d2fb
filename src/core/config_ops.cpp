// [log] and [connections].
#include "core/config_ops.h"

#include <string>

namespace wgate {
namespace {

using config_toml::Problems;

const toml::table* section(const toml::table& root, const char* name, Problems& problems) {
  const toml::node* node = root.get(name);
  if (!node) return nullptr;
  const toml::table* t = node->as_table();
  if (!t) problems.add(name, "must be a table");
  return t;
}

// WireGuard's REKEY_AFTER_TIME: a device in use handshakes at least this
// often, so a shorter idle threshold calls busy devices disconnected.
constexpr int64_t kRekeyAfterSeconds = 120;

void load_log(const toml::table& root, Config& cfg, Problems& problems) {
  const toml::table* t = section(root, "log", problems);
  if (!t) return;
  config_toml::reject_unknown_keys(*t, "log", {"format"}, problems);
  if (auto v = config_toml::get_string(*t, "format", "log", problems)) {
    if (auto f = parse_log_format(*v)) {
      cfg.log.format = *f;
    } else {
      problems.add("log.format", "'" + *v + "' is not \"text\" or \"json\"");
    }
  }
}

void load_connections(const toml::table& root, Config& cfg, Problems& problems) {
  const toml::table* t = section(root, "connections", problems);
  if (!t) return;
  config_toml::reject_unknown_keys(*t, "connections", {"idle_after", "notify", "stale_after", "disable_stale_after"},
                                   problems);
  ConnectionsConfig& c = cfg.connections;
  if (auto v = config_toml::get_duration(*t, "idle_after", "connections", problems)) {
    if (*v <= kRekeyAfterSeconds) {
      problems.add("connections.idle_after",
                   "must be longer than 2m (WireGuard re-handshakes every 2 minutes while a device is in use; "
                   "3m leaves room for jitter and a retried handshake)");
    } else {
      c.idle_after_seconds = *v;
    }
  }
  if (auto v = config_toml::get_bool(*t, "notify", "connections", problems)) c.notify = *v;
  if (auto v = config_toml::get_duration(*t, "stale_after", "connections", problems)) {
    if (*v < 3600) {
      problems.add("connections.stale_after", "must be at least 1h");
    } else {
      c.stale_after_seconds = *v;
    }
  }
  if (auto v = config_toml::get_duration(*t, "disable_stale_after", "connections", problems)) {
    // A day at least: revoking keys is not undone by the next handshake,
    // so a typo such as "90s" for "90d" must not cut everyone off.
    if (*v < 86400) {
      problems.add("connections.disable_stale_after", "must be at least 1d (it revokes keys)");
    } else {
      c.disable_stale_after_seconds = *v;
    }
  }
}

}  // namespace

std::optional<LogFormat> parse_log_format(std::string_view text) {
  if (text == "text") return LogFormat::text;
  if (text == "json") return LogFormat::json;
  return std::nullopt;
}

void load_ops_sections(const toml::table& root, Config& cfg, Problems& problems) {
  load_log(root, cfg, problems);
  load_connections(root, cfg, problems);
}

void cross_check_ops(const Config& cfg, Problems& problems) {
  if (cfg.connections.notify && cfg.alerts.webhook_url.empty()) {
    problems.add("connections.notify", "needs [alerts] webhook_url (the channel connection events are sent to)");
  }
  const auto& c = cfg.connections;
  if (c.disable_stale_after_seconds && *c.disable_stale_after_seconds < c.stale_after_seconds) {
    problems.add("connections.disable_stale_after", "must not be shorter than connections.stale_after");
  }
}

}  // namespace wgate
