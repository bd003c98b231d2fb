#include "service/json.h"

#include "core/plan_text.h"
#include "core/time_text.h"

namespace wgate::service {
namespace {

using nlohmann::json;

template <class T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}
json opt_text(const std::optional<IpAddress>& a) { return a ? json(a->to_string()) : json(nullptr); }
json opt_text(const std::optional<Prefix>& p) { return p ? json(p->to_string()) : json(nullptr); }

template <class Items, class F>
json array_of(const Items& items, F f) {
  json out = json::array();
  for (const auto& item : items) out.push_back(f(item));
  return out;
}

json device_json(const Device& d) {
  return {{"id", d.id}, {"name", d.name}, {"slot", d.slot}, {"created_at", d.created_at}, {"removed_at", opt(d.removed_at)}};
}

json key_core(const Key& k) {
  return {{"id", k.id},
          {"group", k.group},
          {"public_key", k.public_key.to_base64()},
          {"created_at", k.created_at},
          {"expires_at", k.expires_at ? json(k.expires_at) : json(nullptr)},
          {"revoked_at", opt(k.revoked_at)},
          {"last_handshake_at", opt(k.last_handshake_at)}};
}

}  // namespace

json to_json(const PersonView& p) {
  return {{"id", p.user.id},
          {"name", p.user.name},
          {"email", p.user.email},
          {"disabled", p.user.disabled},
          {"block", opt_text(p.block)},
          {"groups", p.groups},
          {"devices", array_of(p.devices,
                               [](const DeviceView& d) {
                                 json j = device_json(d.device);
                                 j["address"] = opt_text(d.address);
                                 return j;
                               })},
          {"created_at", p.user.created_at}};
}

json to_json(const KeyView& k) {
  json j = key_core(k.key);
  j["user"] = k.user;
  j["device"] = k.device;
  j["address"] = opt_text(k.address);
  j["state"] = to_string(k.state);
  // In the data plane now (what `active` meant before devices existed).
  j["active"] = k.state == KeyState::active || k.state == KeyState::never_used;
  return j;
}

json to_json(const GroupView& g) {
  return {{"name", g.name},       {"interface", g.interface}, {"port", g.port},
          {"table", g.table},     {"networks", g.networks},   {"members", g.members}};
}

json to_json(const WhoisAnswer& a) {
  json j = {{"address", a.address.to_string()}, {"at", a.at}, {"at_utc", format_utc(a.at)}};
  j["user"] = a.user ? json(a.user->name) : json(nullptr);
  j["email"] = a.user ? json(a.user->email) : json(nullptr);
  j["block"] = opt_text(a.block);
  j["lease_from"] = a.lease ? json(a.lease->from) : json(nullptr);
  j["lease_until"] = a.lease ? opt(a.lease->until) : json(nullptr);
  j["device"] = a.devices.size() == 1 ? json(a.devices[0].name) : json(nullptr);
  j["devices"] = array_of(a.devices, [](const Device& d) { return d.name; });
  j["keys"] = array_of(a.keys, key_core);
  j["history"] = array_of(a.history, [](const WhoisAnswer::HistoryEntry& h) {
    return json{{"user", h.user}, {"block", h.block.to_string()}, {"from", h.from}, {"until", opt(h.until)}};
  });
  return j;
}

json to_json(const ClientConfigView& c) {
  return {{"key_id", c.key.key.id},
          {"user", c.key.user},
          {"device", c.key.device},
          {"group", c.group},
          {"address", opt_text(c.key.address)},
          {"config", c.text}};
}

json to_json(const StatusView& s) {
  json out = {{"backend", s.backend}, {"interfaces", json::array()}};
  for (const auto& i : s.interfaces) {
    json iface = {{"name", i.name}, {"group", i.group}, {"port", i.port}, {"up", i.up}};
    if (!i.error.empty()) iface["error"] = i.error;
    if (!i.up) {
      out["interfaces"].push_back(iface);
      continue;
    }
    iface["listen_port"] = i.listen_port;
    if (i.public_key) iface["public_key"] = i.public_key->to_base64();
    iface["peers"] = array_of(i.peers, [](const PeerStatus& p) {
      json pj = {{"public_key", p.peer.public_key.to_base64()},
                 {"endpoint", p.peer.endpoint},
                 {"latest_handshake", p.peer.last_handshake_sec},
                 {"rx_bytes", p.peer.rx_bytes},
                 {"tx_bytes", p.peer.tx_bytes},
                 {"allowed_ips", array_of(p.peer.allowed_ips, [](const Prefix& a) { return a.to_string(); })}};
      if (p.key_id) {
        pj["key_id"] = *p.key_id;
        pj["user"] = p.user;
        pj["device"] = p.device;
      }
      return pj;
    });
    out["interfaces"].push_back(iface);
  }
  return out;
}

json to_json(const PlanPreview& p) {
  return {{"interfaces_added", p.interfaces_added},   {"interfaces_removed", p.interfaces_removed},
          {"interfaces_changed", p.interfaces_changed}, {"routes_added", p.routes_added},
          {"routes_removed", p.routes_removed},       {"rules_added", p.rules_added},
          {"rules_removed", p.rules_removed},         {"peers_added", p.peers_added},
          {"peers_removed", p.peers_removed},         {"peers_moved", p.peers_moved},
          {"filter_rules_added", p.filter_rules_added}, {"filter_rules_removed", p.filter_rules_removed},
          {"access_gained", p.access_gained},         {"access_lost", p.access_lost},
          {"warnings_added", p.warnings_added},       {"changes", !p.empty()}};
}

json to_json(const Plan& p) {
  auto prefixes = [](const std::vector<Prefix>& v) { return array_of(v, [](const Prefix& x) { return x.to_string(); }); };
  json j = {{"interfaces", json::array()}};
  for (const auto& i : p.interfaces) {
    j["interfaces"].push_back({{"name", i.name},
                               {"group", i.group},
                               {"port", i.listen_port},
                               {"table", i.table},
                               {"reachable", prefixes(i.reachable)},
                               {"peers", array_of(i.peers, [](const PlannedPeer& peer) {
                                  return json{{"public_key", peer.public_key.to_base64()},
                                              {"allowed_ip", peer.allowed_ip.to_string()},
                                              {"user", peer.user},
                                              {"device", peer.device},
                                              {"key_id", peer.key_id}};
                                })}});
  }
  j["routes"] = array_of(p.routes, route_to_string);
  j["rules"] = array_of(p.rules, rule_to_string);
  j["firewall"] = {{"interfaces", array_of(p.firewall.interfaces,
                                           [&](const FirewallInterface& i) {
                                             return json{{"name", i.name}, {"reachable", prefixes(i.reachable)}};
                                           })},
                   {"protected_networks", prefixes(p.firewall.protected_networks)},
                   {"user_pools", prefixes(p.firewall.user_pools)},
                   {"open_to_users", array_of(p.firewall.open_to_users, gateway_service_to_string)}};
  j["ipv4_forwarding"] = p.ipv4_forwarding;
  j["warnings"] = p.warnings;
  return j;
}

json to_json(const AuditRecord& r) {
  return {{"id", r.id}, {"at", r.at}, {"actor", r.actor}, {"action", r.action}, {"subject", r.subject}, {"detail", r.detail}};
}

json to_json(const LeaseMove& m) {
  return {{"user", m.user}, {"from", m.from.to_string()}, {"to", m.to.to_string()}};
}

json to_json(const Explanation& e) {
  json devices = json::array();
  for (const auto& d : e.devices) {
    json steps = json::array();
    for (const auto& s : d.steps) steps.push_back({{"step", s.name}, {"passed", s.passed}, {"detail", s.detail}});
    devices.push_back({{"device", d.device},
                       {"address", d.address ? json(d.address->to_string()) : json(nullptr)},
                       {"key_id", d.key_id ? json(*d.key_id) : json(nullptr)},
                       {"group", d.group},
                       {"interface", d.interface},
                       {"allowed", d.allowed},
                       {"deciding_step", d.deciding},
                       {"rule", d.rule.empty() ? json(nullptr) : json(d.rule)},
                       {"steps", steps}});
  }
  return {{"person", e.person},
          {"destination", e.destination.to_string()},
          {"protocol", e.protocol ? json(*e.protocol) : json(nullptr)},
          {"port", e.port ? json(*e.port) : json(nullptr)},
          {"allowed", e.allowed},
          {"summary", e.summary},
          {"devices", devices}};
}

json to_json(const FlowRecord& f) {
  json j = {{"id", f.id},
            {"at", f.at},
            {"user", f.user_id ? json(f.user) : json(nullptr)},
            {"device", f.user_id ? json(f.device) : json(nullptr)},
            {"source", f.source.to_string()},
            {"destination", f.destination.to_string()},
            {"protocol", flow_protocol_name(f.protocol)},
            {"verdict", f.allowed ? "allow" : "deny"},
            {"reason", f.reason},
            {"interface", f.interface}};
  if (f.protocol == 1) {
    j["icmp_type"] = f.destination_port >> 8;
    j["icmp_code"] = f.destination_port & 0xff;
  } else {
    j["source_port"] = f.source_port;
    j["destination_port"] = f.destination_port;
  }
  return j;
}

json to_json(const FlowPage& p) {
  return {{"flows", array_of(p.flows, [](const FlowRecord& f) { return to_json(f); })},
          {"next_cursor", opt(p.next_cursor)}};
}

namespace {
json counters_json(const TrafficCounters& c) {
  return {{"pass_packets", c.pass_packets},
          {"pass_bytes", c.pass_bytes},
          {"drop_packets", c.drop_packets},
          {"drop_bytes", c.drop_bytes}};
}
}  // namespace

json to_json(const TrafficView& t) {
  json j = counters_json(t.total);
  j["user"] = t.user.empty() ? json(nullptr) : json(t.user);
  j["updated_at"] = t.updated_at;
  j["devices"] = array_of(t.devices, [](const TrafficTotal& d) {
    json dj = counters_json(d.counters);
    dj["device"] = d.device;
    dj["updated_at"] = d.updated_at;
    return dj;
  });
  return j;
}

}  // namespace wgate::service
