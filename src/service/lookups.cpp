// Service: whois, plan, audit, status.
#include <algorithm>
#include <map>

#include "core/compile.h"
#include "core/ipam.h"
#include "service/attribution.h"
#include "service/service.h"

namespace wgate::service {

Result<AttributionContext> load_attribution_context(Store& store) {
  AttributionContext context;
  WGATE_ASSIGN_OR_RETURN(auto users, store.list_users());
  for (auto& u : users) context.users[u.id] = std::move(u);
  WGATE_ASSIGN_OR_RETURN(auto devices, store.list_devices(/*include_removed=*/true));
  for (auto& d : devices) context.devices_by_user[d.user_id].push_back(std::move(d));
  WGATE_ASSIGN_OR_RETURN(auto keys, store.list_keys());
  for (auto& k : keys) context.keys_by_device[k.device_id].push_back(std::move(k));
  return context;
}

WhoisAnswer attribute(const IpAddress& address, UnixTime at, const std::vector<Lease>& history,
                      const AttributionContext& context) {
  WhoisAnswer answer;
  answer.address = address;
  answer.at = at;
  auto name_of = [&](int64_t user_id) {
    auto u = context.users.find(user_id);
    return u != context.users.end() ? u->second.name : std::to_string(user_id);
  };
  for (const auto& l : history) {
    answer.history.push_back({name_of(l.user_id), l.block, l.from, l.until});
    if (l.held_at(at)) answer.lease = l;
  }
  if (!answer.lease) return answer;
  answer.block = answer.lease->block;
  if (auto u = context.users.find(answer.lease->user_id); u != context.users.end()) answer.user = u->second;

  // The device is the one in the address's slot at that time; its slot is
  // relative to the block, so it is the same device wherever the block was.
  auto slot = slot_of(answer.lease->block, address);
  auto valid_keys_of = [&](const Device& d) {
    std::vector<Key> out;
    auto keys = context.keys_by_device.find(d.id);
    if (keys == context.keys_by_device.end()) return out;
    for (const auto& k : keys->second) {
      if (k.valid_at(at)) out.push_back(k);
    }
    return out;
  };
  const bool shared_address = answer.lease->block.size() == 1;
  auto devices = context.devices_by_user.find(answer.lease->user_id);
  if (devices == context.devices_by_user.end()) return answer;
  for (const auto& d : devices->second) {
    if (!d.existed_at(at)) continue;
    auto valid = valid_keys_of(d);
    if (shared_address ? !valid.empty() : (slot && d.slot == *slot)) {
      answer.devices.push_back(d);
      answer.keys.insert(answer.keys.end(), valid.begin(), valid.end());
    }
  }
  return answer;
}

Result<WhoisAnswer> whois(Store& store, const Config& config, const std::string& address, UnixTime at) {
  (void)config;
  auto ip = IpAddress::parse(address);
  if (!ip) return ip.error().with_context("address");
  WGATE_ASSIGN_OR_RETURN(auto history, store.lease_history(*ip));
  WGATE_ASSIGN_OR_RETURN(auto context, load_attribution_context(store));
  return attribute(*ip, at, history, context);
}

Result<Plan> plan(Store& store, const Config& config, UnixTime now) {
  WGATE_ASSIGN_OR_RETURN(State state, store.snapshot());
  return compile(config, state, now);
}

Result<PlanPreview> plan_preview(Store& store, const Config& current, const Config& next, UnixTime now) {
  WGATE_ASSIGN_OR_RETURN(State state, store.snapshot());
  return preview_plan_change(compile(current, state, now), compile(next, state, now));
}

Result<Explanation> explain(Store& store, const Config& config, const std::string& target,
                            const std::string& destination, const std::optional<std::string>& protocol_port,
                            UnixTime now) {
  ExplainQuery query;
  // A target that parses as an address is a device address; anything else
  // a person's name.
  if (auto address = IpAddress::parse(target)) {
    query.device = *address;
  } else {
    query.person = target;
  }
  auto dst = IpAddress::parse(destination);
  if (!dst) return dst.error().with_context("explain: the destination '" + destination + "'");
  query.destination = *dst;
  if (protocol_port) {
    WGATE_ASSIGN_OR_RETURN(auto pp, parse_protocol_port(*protocol_port));
    query.protocol = pp.first;
    query.port = pp.second;
  }
#ifndef WGATE_HAVE_BPF_FILTER
  query.filter_built = false;
#endif
  WGATE_ASSIGN_OR_RETURN(State state, store.snapshot());
  const Plan compiled = compile(config, state, now);
  return wgate::explain(config, state, compiled, query, now);
}

Result<std::vector<AuditRecord>> audit_log(Store& store, size_t limit) { return store.audit_log(limit); }

Result<StatusView> status(Store& store, const Config& config, WgBackend& wg) {
  WGATE_ASSIGN_OR_RETURN(State state, store.snapshot());
  std::map<int64_t, std::string> user_names;
  for (const auto& u : state.users) user_names[u.id] = u.name;
  WGATE_ASSIGN_OR_RETURN(auto devices, store.list_devices(/*include_removed=*/true));
  std::map<int64_t, std::string> device_names;
  for (const auto& d : devices) device_names[d.id] = d.name;
  std::map<WgKey, const Key*> key_by_public;
  for (const auto& k : state.keys) key_by_public[k.public_key] = &k;

  StatusView view;
  view.backend = wg.kind();
  for (const auto& g : config.groups) {
    InterfaceStatus iface;
    iface.name = g.interface;
    iface.group = g.name;
    iface.port = g.port;
    auto exists = wg.device_exists(g.interface);
    if (!exists) {
      iface.error = exists.error().message;
    } else if (*exists) {
      auto dev = wg.get_device(g.interface);
      if (!dev) {
        iface.error = dev.error().message;
      } else {
        iface.up = true;
        iface.public_key = dev->public_key;
        iface.listen_port = dev->listen_port;
        for (const auto& p : dev->peers) {
          PeerStatus ps{p, std::nullopt, "", ""};
          if (auto it = key_by_public.find(p.public_key); it != key_by_public.end()) {
            ps.key_id = it->second->id;
            ps.user = user_names[it->second->user_id];
            ps.device = device_names[it->second->device_id];
          }
          iface.peers.push_back(std::move(ps));
        }
      }
    }
    view.interfaces.push_back(std::move(iface));
  }
  return view;
}

}  // namespace wgate::service
