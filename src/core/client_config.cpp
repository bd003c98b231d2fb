#include "core/client_config.h"

#include <ctime>
#include <sstream>

namespace wgate {

std::string format_utc(UnixTime t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<UnixTime> parse_time(const std::string& text, UnixTime now) {
  if (text == "now") return now;
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos && text.size() <= 12) {
    return static_cast<UnixTime>(std::stoll(text));
  }
  for (const char* fmt : {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                          "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"}) {
    struct tm tm {};
    const char* end = strptime(text.c_str(), fmt, &tm);
    if (end && *end == '\0') return static_cast<UnixTime>(timegm(&tm));
  }
  return make_error("'" + text + "' is not a time (use Unix seconds, 'now' or 2026-11-23T07:00:00Z, UTC)");
}

Result<std::string> render_client_config(const ClientConfigInput& in) {
  const Config& cfg = *in.config;
  if (cfg.server.endpoint.empty()) {
    return make_error("server.endpoint is not set in the config: clients need the gateway's public host");
  }
  std::ostringstream out;
  out << "# wgate: key " << in.key.id << " of " << in.user_name << ", group " << in.group->name;
  if (in.key.expires_at) out << ", expires " << format_utc(in.key.expires_at);
  out << "\n[Interface]\n";
  if (in.private_key) {
    out << "PrivateKey = " << in.private_key->to_base64() << "\n";
  } else {
    out << "# PrivateKey = <the private key of " << in.key.public_key.to_base64() << ", kept on your device>\n";
  }
  out << "Address = " << Prefix(in.address, in.address.bit_width()).to_string() << "\n\n";
  out << "[Peer]\n";
  out << "PublicKey = " << in.gateway_public_key.to_base64() << "\n";
  bool v6_host = cfg.server.endpoint.find(':') != std::string::npos && cfg.server.endpoint.front() != '[';
  out << "Endpoint = " << (v6_host ? "[" + cfg.server.endpoint + "]" : cfg.server.endpoint) << ":" << in.group->port
      << "\n";
  out << "AllowedIPs = ";
  bool first = true;
  for (const auto& name : in.group->networks) {
    const NetworkConfig* net = cfg.find_network(name);
    if (!net) continue;
    for (const auto& p : net->prefixes) {
      out << (first ? "" : ", ") << p.to_string();
      first = false;
    }
  }
  out << "\n";
  if (cfg.server.client_keepalive) out << "PersistentKeepalive = " << cfg.server.client_keepalive << "\n";
  return out.str();
}

}  // namespace wgate
