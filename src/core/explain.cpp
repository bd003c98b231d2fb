#include "core/explain.h"

#include <algorithm>
#include <charconv>
#include <tuple>

#include "core/ipam.h"
#include "core/plan_text.h"
#include "core/policy.h"
#include "core/time_text.h"

namespace wgate {
namespace {

std::string describe_prefixes(const Config& config, const GroupConfig& group) {
  std::string out;
  for (const auto& name : group.networks) {
    const NetworkConfig* net = config.find_network(name);
    if (!net) continue;
    for (const auto& p : net->prefixes) out += (out.empty() ? "" : ", ") + name + " " + p.to_string();
  }
  return out.empty() ? "none" : out;
}

// The configured network a prefix of `group` belongs to ("" when none).
std::string network_of(const Config& config, const GroupConfig& group, const Prefix& prefix) {
  for (const auto& name : group.networks) {
    const NetworkConfig* net = config.find_network(name);
    if (net && std::find(net->prefixes.begin(), net->prefixes.end(), prefix) != net->prefixes.end()) return name;
  }
  return "";
}

std::string gateway_services(const Plan& plan) {
  std::string out;
  for (const auto& s : plan.firewall.open_to_users) out += (out.empty() ? "" : ", ") + gateway_service_to_string(s);
  return out.empty() ? "none" : out;
}

std::string expiry_text(const Key& key) {
  return key.expires_at == 0 ? "never expires" : "expires " + format_utc(key.expires_at);
}

// Why the device has no peer in the plan, from its keys (newest first).
std::string why_no_peer(const Config& config, const State& state, const User& user, const Device& device,
                        const std::optional<IpAddress>& address, UnixTime now) {
  std::vector<const Key*> keys;
  for (const auto& k : state.keys) {
    if (k.device_id == device.id) keys.push_back(&k);
  }
  if (keys.empty()) return "device " + device.name + " has no key";
  std::sort(keys.begin(), keys.end(), [](const Key* a, const Key* b) {
    return std::tie(a->created_at, a->id) > std::tie(b->created_at, b->id);
  });
  for (const Key* k : keys) {
    if (!k->active_at(now)) continue;
    const bool member = std::any_of(state.memberships.begin(), state.memberships.end(), [&](const Membership& m) {
      return m.user_id == user.id && m.group == k->group;
    });
    if (!config.find_group(k->group)) return "key " + std::to_string(k->id) + " is for group " + k->group + ", which the config no longer has";
    if (!member) return "key " + std::to_string(k->id) + " is for group " + k->group + ", and " + user.name + " is not a member of it";
    if (!address) return "key " + std::to_string(k->id) + " is active, but the device has no address (no current lease that fits the pool)";
    return "key " + std::to_string(k->id) + " is active but not in the plan (see `wgate plan` warnings)";
  }
  const Key* newest = keys.front();
  if (newest->revoked_at) {
    return "key " + std::to_string(newest->id) + " was revoked at " + format_utc(*newest->revoked_at) + "; there is no active key";
  }
  return "key " + std::to_string(newest->id) + " expired at " + format_utc(newest->expires_at) +
         "; there is no active key (log in again for a new one)";
}

// The eBPF filter's step: the rule of the device's ruleset (core/policy.h,
// the same one compile() gives the filter) that allows the traffic, or why
// none does.
template <class Step>
void l4_step(const Config& config, const Plan& plan, const ExplainQuery& query, const std::string& person,
             const PlannedInterface& iface, DeviceExplanation& de, Step& step) {
  const DeviceRules rules = rules_for(config, iface.group, person);
  if (!query.filter_built) {
    step("l4-rules", true,
         "this wgate was built without the eBPF filter (no kernel BTF): per-person port rules are not enforced, "
         "everything group " + iface.group + " routes passes");
    return;
  }
  std::optional<uint8_t> proto;
  if (query.protocol) proto = *query.protocol == "tcp" ? 6 : *query.protocol == "udp" ? 17 : 1;
  const SourcedRule* rule = matching_rule(rules.rules, query.destination, proto, query.port);
  const std::string traffic =
      query.protocol ? *query.protocol + (query.port ? "/" + std::to_string(*query.port) : std::string()) : "traffic";
  if (rule) {
    if (rule->policy) {
      de.rule = rule->policy->describe();
      step("l4-rules", true,
           de.rule + " allows " + filter_rule_service(rule->rule) + " to " + rule->rule.dst.to_string() +
               (query.protocol ? "" : " (some traffic: name a protocol and port to check one)"));
    } else {
      de.rule = "group " + iface.group + " has no policies";
      step("l4-rules", true,
           "group " + iface.group + " has no policies: all protocols and ports to " + rule->rule.dst.to_string() +
               (rule->network.empty() ? "" : " (network " + rule->network + ")"));
    }
    return;
  }
  std::string detail = "no rule allows " + traffic + " to " + query.destination.to_string() + " (" +
                       (rules.group_has_policies ? "group " + iface.group + " has policies" : "group " + iface.group + " has no policies") +
                       (rules.person_has_policies ? ", " + person + " has policies of their own" : "") +
                       "; default deny)";
  std::string allowed_there;
  for (const auto& r : rules.rules) {
    if (r.rule.dst.contains(query.destination)) allowed_there += (allowed_there.empty() ? "" : ", ") + filter_rule_service(r.rule);
  }
  if (!allowed_there.empty()) detail += "; to " + query.destination.to_string() + " only " + allowed_there + " is allowed";
  if (!rules.person_rules_dropped.empty()) detail += "; " + person + "'s own policies are not granted: " + rules.person_rules_dropped;
  for (const auto& p : config.policies) {
    if (p.person != person || !rules.person_rules_dropped.empty()) continue;
    for (const auto& d : p.destinations) {
      if (d.contains(query.destination)) {
        detail += "; " + p.describe() + " is not granted here: group " + iface.group + " does not route " +
                  query.destination.to_string() + " (a person's policies only narrow what their group routes)";
        break;
      }
    }
  }
  // The filter passes what the kernel delivers to the gateway itself (a
  // FIB lookup says so) and leaves it to the input guard; the plan does
  // not know the gateway's addresses, so say both outcomes.
  detail += ". If " + query.destination.to_string() +
            " is an address of the gateway itself, the filter leaves it to the input guard, which opens to users "
            "only: " + gateway_services(plan) + " (server.allow_to_gateway)";
  step("l4-rules", false, detail);
}

}  // namespace

Result<std::pair<std::string, std::optional<uint16_t>>> parse_protocol_port(std::string_view text) {
  const auto slash = text.find('/');
  const std::string proto(text.substr(0, slash));
  if (proto != "tcp" && proto != "udp" && proto != "icmp") {
    return make_error("'" + std::string(text) + "': the protocol must be tcp, udp or icmp (e.g. tcp/5432, icmp)");
  }
  if (slash == std::string_view::npos) return std::pair<std::string, std::optional<uint16_t>>{proto, std::nullopt};
  if (proto == "icmp") return make_error("'" + std::string(text) + "': icmp has no port");
  const std::string_view digits = text.substr(slash + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || value > 65535) {
    return make_error("'" + std::string(text) + "': the port must be a number from 0 to 65535");
  }
  return std::pair<std::string, std::optional<uint16_t>>{proto, static_cast<uint16_t>(value)};
}

Result<Explanation> explain(const Config& config, const State& state, const Plan& plan, const ExplainQuery& query,
                            UnixTime now) {
  if (query.person.empty() != query.device.has_value()) {  // both, or neither
    return make_error("explain: give a person's name or a device address (one of the two)");
  }
  if (!query.destination.is_v4()) return make_error("explain: the destination must be an IPv4 address");
  if (query.port && (!query.protocol || (*query.protocol != "tcp" && *query.protocol != "udp"))) {
    return make_error("explain: a port needs tcp or udp");
  }

  // Who, and which of their devices.
  const User* user = nullptr;
  std::optional<std::string> only_device;
  if (!query.person.empty()) {
    for (const auto& u : state.users) {
      if (u.name == query.person) user = &u;
    }
    if (!user) return make_error("explain: no person named '" + query.person + "'");
  } else {
    std::string owner;
    for (const auto& i : plan.interfaces) {
      for (const auto& p : i.peers) {
        if (p.allowed_ip.address() == *query.device) {
          owner = p.user;
          only_device = p.device;
        }
      }
    }
    if (owner.empty()) {
      // Not in the plan: the device in that slot of a current lease.
      for (const auto& l : state.current_leases) {
        if (!l.block.contains(*query.device)) continue;
        auto slot = slot_of(l.block, *query.device);
        for (const auto& d : state.devices) {
          if (d.user_id == l.user_id && slot && d.slot == *slot) only_device = d.name;
        }
        for (const auto& u : state.users) {
          if (u.id == l.user_id) owner = u.name;
        }
      }
      if (owner.empty() || !only_device) {
        return make_error("explain: " + query.device->to_string() + " is no device's address (no peer and no current lease's device has it)");
      }
    }
    for (const auto& u : state.users) {
      if (u.name == owner) user = &u;
    }
    if (!user) return make_error("explain: the owner of " + query.device->to_string() + " is not in the store");
  }

  Explanation out;
  out.person = user->name;
  out.destination = query.destination;
  out.protocol = query.protocol;
  out.port = query.port;

  std::optional<Prefix> block;
  for (const auto& l : state.current_leases) {
    if (l.user_id == user->id && l.block.family() == IpFamily::v4) block = l.block;
  }
  std::string groups;
  for (const auto& m : state.memberships) {
    if (m.user_id == user->id) groups += (groups.empty() ? "" : ", ") + m.group;
  }
  std::vector<const Device*> devices;
  for (const auto& d : state.devices) {
    if (d.user_id == user->id && d.current() && (!only_device || d.name == *only_device)) devices.push_back(&d);
  }
  std::sort(devices.begin(), devices.end(), [](const Device* a, const Device* b) { return a->name < b->name; });

  const std::string what = query.destination.to_string() +
                           (query.protocol ? " " + *query.protocol + (query.port ? "/" + std::to_string(*query.port) : "") : "");
  for (const Device* d : devices) {
    DeviceExplanation de;
    de.device = d->name;
    if (block) de.address = device_address(*block, d->slot);
    auto step = [&de](std::string name, bool passed, std::string detail) {
      de.steps.push_back(ExplainStep{std::move(name), passed, std::move(detail)});
      de.deciding = de.steps.back().name;
      return passed;
    };
    [&] {
      if (!step("person", !user->disabled,
                user->disabled ? user->name + " is disabled"
                               : user->name + " is enabled; groups: " + (groups.empty() ? "none" : groups))) {
        return;
      }
      const PlannedInterface* iface = nullptr;
      const PlannedPeer* peer = nullptr;
      for (const auto& i : plan.interfaces) {
        for (const auto& p : i.peers) {
          if (p.user == user->name && p.device == d->name) {
            iface = &i;
            peer = &p;
          }
        }
      }
      if (!peer) {
        step("key", false, why_no_peer(config, state, *user, *d, de.address, now));
        return;
      }
      de.key_id = peer->key_id;
      de.group = iface->group;
      de.interface = iface->name;
      std::string expiry;
      for (const auto& k : state.keys) {
        if (k.id == peer->key_id) expiry = expiry_text(k);
      }
      step("key", true,
           "key " + std::to_string(peer->key_id) + " is the device's peer on " + iface->name + " (group " +
               iface->group + "), " + expiry);
      const GroupConfig* group = config.find_group(iface->group);
      const Prefix* through = nullptr;
      for (const auto& p : iface->reachable) {
        if (p.contains(query.destination) && (!through || p.length() > through->length())) through = &p;
      }
      if (!through) {
        step("table", false,
             "table " + std::to_string(iface->table) + " of group " + iface->group + " sends " +
                 query.destination.to_string() + " to its blackhole default: it is in none of the group's networks (" +
                 (group ? describe_prefixes(config, *group) : std::string("none")) +
                 "). If it is an address of the gateway itself, only these services are open to users: " +
                 gateway_services(plan));
        return;
      }
      const std::string network = group ? network_of(config, *group, *through) : "";
      if (!step("table", true,
                "table " + std::to_string(iface->table) + " has a throw route for " + through->to_string() +
                    (network.empty() ? "" : " (network " + network + ")") + ": the main table routes it on")) {
        return;
      }
      bool guard_allows = false;
      for (const auto& f : plan.firewall.interfaces) {
        if (f.name != iface->name) continue;
        for (const auto& p : f.reachable) guard_allows = guard_allows || p.contains(query.destination);
      }
      if (!step("firewall", guard_allows,
                guard_allows ? "the nftables guard lets " + iface->name + " forward into " + through->to_string()
                             : "the nftables guard lets " + iface->name + " forward only into its group's networks")) {
        return;
      }
      l4_step(config, plan, query, user->name, *iface, de, step);
    }();
    de.allowed = !de.steps.empty() && std::all_of(de.steps.begin(), de.steps.end(), [](const ExplainStep& s) {
      return s.passed;
    }) && de.deciding == "l4-rules";
    out.allowed = out.allowed || de.allowed;
    out.devices.push_back(std::move(de));
  }

  if (out.devices.empty()) {
    out.summary = user->name + " has no device" + (only_device ? " " + *only_device : std::string()) +
                  ": nothing reaches " + what;
  } else if (out.allowed) {
    std::string from;
    for (const auto& de : out.devices) {
      if (de.allowed) from += (from.empty() ? "" : ", ") + de.device;
    }
    out.summary = user->name + " can reach " + what + " from " + from;
  } else {
    const auto& first = out.devices.front();
    out.summary = user->name + " cannot reach " + what + ": " + first.device + ": " + first.steps.back().detail;
  }
  return out;
}

}  // namespace wgate
