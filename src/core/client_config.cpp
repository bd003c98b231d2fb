#include "core/client_config.h"

#include "core/time_text.h"

#include <sstream>

namespace wgate {

Result<std::string> render_client_config(const ClientConfigInput& in) {
  const Config& cfg = *in.config;
  if (cfg.server.endpoint.empty()) {
    return make_error("server.endpoint is not set in the config: clients need the gateway's public host");
  }
  std::ostringstream out;
  out << "# wgate: key " << in.key.id << " of " << in.user_name << ", device " << in.device_name << ", group "
      << in.group->name;
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
