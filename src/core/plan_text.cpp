#include "core/plan_text.h"

#include "core/policy.h"

#include <sstream>

namespace wgate {

std::string route_to_string(const Route& r) {
  const Prefix& dst = r.destination;
  const std::string d = dst.length() == 0 ? std::string("default") : dst.to_string();
  std::string out;
  switch (r.type) {
    case RouteType::unicast:
      out = d;
      if (!r.device.empty()) out += " dev " + r.device;
      break;
    case RouteType::throw_route: out = "throw " + d; break;
    case RouteType::blackhole: out = "blackhole " + d; break;
  }
  // `default` alone means IPv4 to ip(8).
  if (dst.length() == 0 && dst.family() == IpFamily::v6) out = "-6 " + out;
  return out + " table " + (r.table == 254 ? std::string("main") : std::to_string(r.table));
}

std::string rule_to_string(const Rule& r) {
  std::string out = r.family == IpFamily::v6 ? "-6 " : "";
  if (!r.iif.empty()) out += "iif " + r.iif + " ";
  return out + "lookup " + std::to_string(r.table) + " priority " + std::to_string(r.priority);
}

std::string gateway_service_to_string(const GatewayService& s) {
  switch (s.protocol) {
    case GatewayService::Protocol::icmp: return "icmp";
    case GatewayService::Protocol::tcp:
    case GatewayService::Protocol::udp: {
      std::string out = s.protocol == GatewayService::Protocol::tcp ? "tcp/" : "udp/";
      out += std::to_string(s.first_port);
      if (s.last_port != s.first_port) out += "-" + std::to_string(s.last_port);
      return out;
    }
  }
  return "?";
}

std::string render_plan(const Plan& plan) {
  std::ostringstream out;
  for (const auto& i : plan.interfaces) {
    out << "interface " << i.name << " group=" << i.group << " port=" << i.listen_port << " table=" << i.table << "\n";
    for (const auto& p : i.reachable) out << "  reach " << p.to_string() << "\n";
    for (const auto& p : i.peers) {
      out << "  peer " << p.public_key.to_base64() << " allowed=" << p.allowed_ip.to_string() << " user=" << p.user
          << " device=" << p.device << " key=" << p.key_id << "\n";
    }
  }
  for (const auto& r : plan.routes) out << "route " << route_to_string(r) << "\n";
  for (const auto& r : plan.rules) out << "rule " << rule_to_string(r) << "\n";
  out << "firewall interfaces=";
  for (size_t i = 0; i < plan.firewall.interfaces.size(); ++i) out << (i ? "," : "") << plan.firewall.interfaces[i].name;
  for (const auto& i : plan.firewall.interfaces) {
    out << " " << i.name << "->";
    for (size_t k = 0; k < i.reachable.size(); ++k) out << (k ? "," : "") << i.reachable[k].to_string();
  }
  out << " protected=";
  for (size_t i = 0; i < plan.firewall.protected_networks.size(); ++i) {
    out << (i ? "," : "") << plan.firewall.protected_networks[i].to_string();
  }
  out << " pools=";
  for (size_t i = 0; i < plan.firewall.user_pools.size(); ++i) {
    out << (i ? "," : "") << plan.firewall.user_pools[i].to_string();
  }
  out << " open_to_users=";
  for (size_t i = 0; i < plan.firewall.open_to_users.size(); ++i) {
    out << (i ? "," : "") << gateway_service_to_string(plan.firewall.open_to_users[i]);
  }
  out << "\n";
  for (const auto& [id, rules] : plan.filter.rulesets) {
    auto name = plan.filter_ruleset_names.find(id);
    out << "filter ruleset " << id << " (" << (name != plan.filter_ruleset_names.end() ? name->second : "?") << "):";
    for (const auto& r : rules) out << " " << r.dst.to_string() << " " << filter_rule_service(r) << ";";
    out << "\n";
  }
  for (const auto& [address, id] : plan.filter.devices) {
    out << "filter device " << address.to_string() << " ruleset " << id << "\n";
  }
  out << "ipv4_forwarding=" << (plan.ipv4_forwarding ? "on" : "off") << "\n";
  for (const auto& w : plan.warnings) out << "warning " << w << "\n";
  return out.str();
}

}  // namespace wgate
