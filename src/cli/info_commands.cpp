// wgate whois, status, plan, audit
#include <iostream>
#include <map>

#include "agent/dataplane_set.h"
#include "cli/commands.h"
#include "core/client_config.h"
#include "core/compile.h"
#include "core/plan_text.h"

namespace wgate::cli {
namespace {

struct WhoisOptions {
  std::string address, at;
};

bool key_valid_at(const Key& k, UnixTime t) {
  return k.created_at <= t && (!k.revoked_at || t < *k.revoked_at) && (k.expires_at == 0 || t < k.expires_at);
}

}  // namespace

void register_info_commands(CLI::App& app, Context& ctx) {
  auto& whois_opts = ctx.options<WhoisOptions>();
  auto* whois = app.add_subcommand("whois", "Who held an address (now, or at a past time)");
  whois->add_option("address", whois_opts.address, "A user address, e.g. 10.100.0.7")->required();
  whois->add_option("--at", whois_opts.at, "When: Unix seconds or 2026-11-23T07:00:00Z (UTC); default now");
  whois->callback([&ctx, &whois_opts] {
    IpAddress ip = get_or_fail(IpAddress::parse(whois_opts.address));
    UnixTime now = ctx.now();
    UnixTime at = whois_opts.at.empty() ? now : get_or_fail(parse_time(whois_opts.at, now));
    auto history = get_or_fail(ctx.store().lease_history(ip));
    std::map<int64_t, User> users;
    for (const auto& u : get_or_fail(ctx.store().list_users())) users[u.id] = u;
    const Lease* hit = nullptr;
    for (const auto& l : history) {
      if (l.held_at(at)) hit = &l;
    }
    nlohmann::json j = {{"address", ip.to_string()}, {"at", at}, {"at_utc", format_utc(at)}};
    if (!hit) {
      j["user"] = nullptr;
    } else {
      const User& u = users[hit->user_id];
      j["user"] = u.name;
      j["email"] = u.email;
      j["lease_from"] = hit->from;
      j["lease_until"] = hit->until ? nlohmann::json(*hit->until) : nlohmann::json(nullptr);
      nlohmann::json keys = nlohmann::json::array();
      for (const auto& k : get_or_fail(ctx.store().list_keys())) {
        if (k.user_id == u.id && key_valid_at(k, at)) {
          keys.push_back({{"id", k.id}, {"group", k.group}, {"public_key", k.public_key.to_base64()}});
        }
      }
      j["keys"] = keys;
    }
    nlohmann::json hist = nlohmann::json::array();
    for (const auto& l : history) {
      hist.push_back({{"user", users[l.user_id].name},
                      {"from", l.from},
                      {"until", l.until ? nlohmann::json(*l.until) : nlohmann::json(nullptr)}});
    }
    j["history"] = hist;
    ctx.emit(j, [&] {
      if (!hit) {
        std::cout << ip.to_string() << " was not leased at " << format_utc(at) << "\n";
      } else {
        std::cout << ip.to_string() << " at " << format_utc(at) << ": " << j["user"].get<std::string>();
        if (!j["email"].get<std::string>().empty()) std::cout << " <" << j["email"].get<std::string>() << ">";
        std::cout << " (leased since " << format_utc(hit->from) << ", keys:";
        for (const auto& k : j["keys"]) std::cout << " " << k["id"];
        std::cout << ")\n";
      }
    });
  });

  auto* status = app.add_subcommand("status", "Interfaces, peers, handshakes and bytes, as the data plane sees them");
  status->callback([&ctx] {
    const Config& cfg = ctx.config();
    DataplaneSet dp = get_or_fail(make_dataplane(cfg));
    std::map<WgKey, std::pair<Key, std::string>> owner;
    std::map<int64_t, std::string> names;
    for (const auto& u : get_or_fail(ctx.store().list_users())) names[u.id] = u.name;
    for (const auto& k : get_or_fail(ctx.store().list_keys())) owner[k.public_key] = {k, names[k.user_id]};
    UnixTime now = ctx.now();
    nlohmann::json out = {{"backend", dp.wg->kind()}, {"interfaces", nlohmann::json::array()}};
    for (const auto& g : cfg.groups) {
      nlohmann::json iface = {{"name", g.interface}, {"group", g.name}, {"port", g.port}};
      auto exists = dp.wg->device_exists(g.interface);
      if (!exists || !*exists) {
        iface["up"] = false;
        out["interfaces"].push_back(iface);
        continue;
      }
      auto dev = dp.wg->get_device(g.interface);
      if (!dev) {
        iface["up"] = false;
        iface["error"] = dev.error().message;
        out["interfaces"].push_back(iface);
        continue;
      }
      iface["up"] = true;
      iface["listen_port"] = dev->listen_port;
      if (dev->public_key) iface["public_key"] = dev->public_key->to_base64();
      nlohmann::json peers = nlohmann::json::array();
      for (const auto& p : dev->peers) {
        nlohmann::json pj = {{"public_key", p.public_key.to_base64()},
                             {"endpoint", p.endpoint},
                             {"latest_handshake", p.last_handshake_sec},
                             {"rx_bytes", p.rx_bytes},
                             {"tx_bytes", p.tx_bytes}};
        nlohmann::json ips = nlohmann::json::array();
        for (const auto& a : p.allowed_ips) ips.push_back(a.to_string());
        pj["allowed_ips"] = ips;
        if (auto it = owner.find(p.public_key); it != owner.end()) {
          pj["key_id"] = it->second.first.id;
          pj["user"] = it->second.second;
        }
        peers.push_back(pj);
      }
      iface["peers"] = peers;
      out["interfaces"].push_back(iface);
    }
    ctx.emit(out, [&] {
      std::cout << "backend: " << out["backend"].get<std::string>() << "\n";
      for (const auto& i : out["interfaces"]) {
        std::cout << "interface " << i["name"].get<std::string>() << " (group " << i["group"].get<std::string>()
                  << "): " << (i["up"].get<bool>() ? "up" : "DOWN");
        if (i.contains("error")) std::cout << " (" << i["error"].get<std::string>() << ")";
        std::cout << "\n";
        if (!i.contains("peers")) continue;
        for (const auto& p : i["peers"]) {
          int64_t hs = p["latest_handshake"].get<int64_t>();
          std::cout << "  peer " << p["public_key"].get<std::string>() << " "
                    << (p.contains("user") ? p["user"].get<std::string>() : std::string("?")) << " "
                    << (p["allowed_ips"].empty() ? std::string("-") : p["allowed_ips"][0].get<std::string>())
                    << " handshake " << (hs ? std::to_string(now - hs) + "s ago" : std::string("never")) << " rx "
                    << p["rx_bytes"] << " tx " << p["tx_bytes"] << "\n";
        }
      }
    });
  });

  auto* plan = app.add_subcommand("plan", "Print the desired state compiled from config and store");
  plan->callback([&ctx] {
    State state = get_or_fail(ctx.store().snapshot());
    Plan p = compile(ctx.config(), state, ctx.now());
    auto strings = [](const auto& items, auto to_string) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& item : items) arr.push_back(to_string(item));
      return arr;
    };
    auto prefix_text = [](const Prefix& x) { return x.to_string(); };
    nlohmann::json j = {{"interfaces", nlohmann::json::array()}};
    for (const auto& i : p.interfaces) {
      nlohmann::json peers = nlohmann::json::array();
      for (const auto& peer : i.peers) {
        peers.push_back({{"public_key", peer.public_key.to_base64()},
                         {"allowed_ip", peer.allowed_ip.to_string()},
                         {"user", peer.user},
                         {"key_id", peer.key_id}});
      }
      j["interfaces"].push_back({{"name", i.name},
                                 {"group", i.group},
                                 {"port", i.listen_port},
                                 {"table", i.table},
                                 {"reachable", strings(i.reachable, prefix_text)},
                                 {"peers", peers}});
    }
    j["routes"] = strings(p.routes, route_to_string);
    j["rules"] = strings(p.rules, rule_to_string);
    nlohmann::json fw_ifaces = nlohmann::json::array();
    for (const auto& i : p.firewall.interfaces) {
      fw_ifaces.push_back({{"name", i.name}, {"reachable", strings(i.reachable, prefix_text)}});
    }
    j["firewall"] = {{"interfaces", fw_ifaces},
                     {"protected_networks", strings(p.firewall.protected_networks, prefix_text)},
                     {"user_pools", strings(p.firewall.user_pools, prefix_text)}};
    j["ipv4_forwarding"] = p.ipv4_forwarding;
    j["warnings"] = p.warnings;
    ctx.emit(j, [&] { std::cout << render_plan(p); });
  });

  auto& audit_limit = ctx.options<size_t>();
  audit_limit = 50;
  auto* audit = app.add_subcommand("audit", "Show the newest audit records, in order");
  audit->add_option("--limit", audit_limit, "How many records");
  audit->callback([&ctx, &audit_limit] {
    auto records = get_or_fail(ctx.store().audit_log(audit_limit));
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : records) {
      arr.push_back({{"id", r.id}, {"at", r.at}, {"actor", r.actor}, {"action", r.action}, {"subject", r.subject},
                     {"detail", r.detail}});
    }
    ctx.emit(arr, [&] {
      for (const auto& r : records) {
        std::cout << format_utc(r.at) << " " << r.actor << " " << r.action << " " << r.subject << " " << r.detail
                  << "\n";
      }
    });
  });
}

}  // namespace wgate::cli
