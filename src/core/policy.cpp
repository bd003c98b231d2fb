#include "core/policy.h"

#include <algorithm>

namespace wgate {
namespace {

constexpr uint8_t kIcmp = 1;
constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;

bpf::FilterRule to_rule(const Prefix& dst, const GatewayService& s) {
  switch (s.protocol) {
    case GatewayService::Protocol::tcp: return bpf::FilterRule{dst, kTcp, s.first_port, s.last_port};
    case GatewayService::Protocol::udp: return bpf::FilterRule{dst, kUdp, s.first_port, s.last_port};
    case GatewayService::Protocol::icmp: break;
  }
  return bpf::FilterRule{dst, kIcmp, 0, 65535};
}

void add_policy(const PolicyConfig& policy, const std::vector<Prefix>& destinations, DeviceRules& out) {
  for (const auto& dst : destinations) {
    for (const auto& s : policy.allow) out.rules.push_back(SourcedRule{to_rule(dst, s), &policy, policy.network});
  }
}

}  // namespace

bool has_person_policies(const Config& config, const std::string& person) {
  return std::any_of(config.policies.begin(), config.policies.end(),
                     [&](const PolicyConfig& p) { return !p.person.empty() && p.person == person; });
}

DeviceRules rules_for(const Config& config, const std::string& group_name, const std::string& person) {
  DeviceRules out;
  const GroupConfig* group = config.find_group(group_name);
  if (!group) return out;
  // The prefixes the group routes, with their network's name.
  std::vector<std::pair<Prefix, std::string>> routed;
  for (const auto& name : group->networks) {
    if (const NetworkConfig* net = config.find_network(name)) {
      for (const auto& p : net->prefixes) routed.emplace_back(p, name);
    }
  }
  for (const auto& p : config.policies) out.group_has_policies = out.group_has_policies || p.group == group_name;
  if (out.group_has_policies) {
    for (const auto& p : config.policies) {
      if (p.group == group_name) add_policy(p, p.destinations, out);
    }
  } else {
    for (const auto& [prefix, name] : routed) out.rules.push_back(SourcedRule{bpf::FilterRule{prefix, 0, 0, 65535}, nullptr, name});
  }
  for (const auto& p : config.policies) {
    if (p.person.empty() || p.person != person) continue;
    out.person_has_policies = true;
    // Only what the group routes: the part of each destination inside one
    // of the group's prefixes.
    std::vector<Prefix> granted;
    for (const auto& dst : p.destinations) {
      for (const auto& [r, name] : routed) {
        if (r.contains(dst)) {
          granted.push_back(dst);
        } else if (dst.contains(r)) {
          granted.push_back(r);
        }
      }
    }
    std::sort(granted.begin(), granted.end());
    granted.erase(std::unique(granted.begin(), granted.end()), granted.end());
    if (granted.empty()) {
      out.not_granted.push_back(p.describe() + ": group " + group_name + " does not route " + p.to +
                                ", so it is not granted on " + group->interface);
    } else if (!std::all_of(p.destinations.begin(), p.destinations.end(), [&](const Prefix& d) {
                 return std::any_of(routed.begin(), routed.end(), [&](const auto& r) { return r.first.contains(d); });
               })) {
      out.not_granted.push_back(p.describe() + ": only the part of " + p.to + " that group " + group_name +
                                " routes is granted on " + group->interface);
    }
    add_policy(p, granted, out);
  }
  if (out.person_has_policies) {
    if (auto fits = filter_can_hold(out.rules); !fits) {
      // Their policies on top of the group's exceed what the filter holds
      // (the group's alone were checked with the config): they get the
      // group's rules only, rather than a ruleset that fails to load and
      // takes everyone's filter update with it. compile() and explain both
      // come here, so they agree.
      DeviceRules fallback = rules_for(config, group_name, "");
      fallback.person_has_policies = true;
      fallback.not_granted = std::move(out.not_granted);
      fallback.person_rules_dropped = "their policies together with group " + group_name +
                                      "'s do not fit the filter (" + fits.error().message + ")";
      fallback.not_granted.push_back(fallback.person_rules_dropped + ", so none of them is granted on " +
                                     group->interface);
      return fallback;
    }
  }
  return out;
}

const SourcedRule* matching_rule(const std::vector<SourcedRule>& rules, const IpAddress& dst,
                                 std::optional<uint8_t> proto, std::optional<uint16_t> port) {
  for (const auto& r : rules) {
    if (!r.rule.dst.contains(dst)) continue;
    if (!proto || r.rule.proto == 0) return &r;
    if (r.rule.proto != *proto) continue;
    if ((*proto != kTcp && *proto != kUdp) || !port) return &r;
    if (r.rule.port_lo <= *port && *port <= r.rule.port_hi) return &r;
  }
  return nullptr;
}

Status filter_can_hold(const std::vector<SourcedRule>& rules) {
  bpf::FilterPlan plan;
  auto& one = plan.rulesets[1];
  for (const auto& r : rules) one.push_back(r.rule);
  auto compiled = bpf::compile_filter_plan(plan);
  if (compiled) return ok_status();
  // The compiler names its ruleset by number, which means nothing here.
  std::string why = compiled.error().message;
  if (why.starts_with("ruleset 1, ")) why.erase(0, std::string_view("ruleset 1, ").size());
  return make_error(why);
}

std::string filter_rule_service(const bpf::FilterRule& rule) {
  if (rule.proto == 0) return "all";
  if (rule.proto == kIcmp) return "icmp";
  if (rule.proto == kTcp || rule.proto == kUdp) {
    std::string out = rule.proto == kTcp ? "tcp/" : "udp/";
    out += std::to_string(rule.port_lo);
    if (rule.port_hi != rule.port_lo) out += "-" + std::to_string(rule.port_hi);
    return out;
  }
  return "proto " + std::to_string(rule.proto);
}

}  // namespace wgate
