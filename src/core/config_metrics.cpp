// [metrics]: the daemon's Prometheus and health endpoints.
#include "core/config_metrics.h"

#include <charconv>
#include <optional>
#include <string>
#include <string_view>

#include "core/cidr.h"

namespace wgate {
namespace {

using config_toml::Problems;

// Why `listen` is not a numeric "ADDRESS:PORT" the HTTP server can bind
// (it does no name lookup: "localhost:9586" would only fail at start, so it
// is refused here, where the key can be named).
std::optional<std::string> listen_problem(const std::string& listen) {
  const std::string why = "'" + listen + "' is not address:port with a numeric address (e.g. 127.0.0.1:9586, [::1]:9586)";
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return why;
  unsigned port = 0;
  const char* begin = listen.data() + colon + 1;
  const char* end = listen.data() + listen.size();
  auto [ptr, ec] = std::from_chars(begin, end, port);
  if (begin == end || ec != std::errc() || ptr != end || port > 65535) return why;
  std::string_view host(listen.data(), colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return why;
    host = host.substr(1, host.size() - 2);
    if (host.find(':') == std::string_view::npos) return why;  // brackets are for IPv6 only
  } else if (host.find(':') != std::string_view::npos) {
    return why;  // an IPv6 address needs brackets, else its last group reads as the port
  }
  if (!IpAddress::parse(host)) return why;
  return std::nullopt;
}

}  // namespace

void load_metrics_section(const toml::table& root, Config& cfg, Problems& problems) {
  const toml::node* node = root.get("metrics");
  if (!node) return;
  const toml::table* t = node->as_table();
  if (!t) return problems.add("metrics", "must be a table");
  config_toml::reject_unknown_keys(*t, "metrics", {"listen"}, problems);
  MetricsConfig& m = cfg.metrics;
  m.enabled = true;
  if (auto v = config_toml::get_string(*t, "listen", "metrics", problems)) m.listen = *v;
  if (auto why = listen_problem(m.listen)) problems.add("metrics.listen", *why);
}

void cross_check_metrics(const Config& cfg, Problems& problems) {
  // Only an exact match is caught: 0.0.0.0:P against 127.0.0.1:P also
  // collides, but that the bind at start reports with its errno.
  if (cfg.metrics.enabled && cfg.web.enabled && cfg.metrics.listen == cfg.web.listen) {
    problems.add("metrics.listen", "'" + cfg.metrics.listen + "' is also web.listen: each needs its own address");
  }
}

}  // namespace wgate
