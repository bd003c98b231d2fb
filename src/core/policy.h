// Policy resolution: which L4 rules (bpf::FilterRule) a person's device gets
// on their group's interface, and from which [[policy]] each comes. Pure: no
// I/O. compile() builds the eBPF filter's plan from it and explain() names
// the rule that decides, so the two can never disagree.
//
// Semantics (docs/BPF_FILTER.md, "Policies"):
//  - a group without policies: every protocol and port to each prefix of its
//    networks (what it had before policies existed);
//  - a group with policies: exactly what they allow;
//  - a person's policies add to their group's, clipped to the prefixes the
//    group routes; a policy (or the part of it) outside them is not granted
//    and is reported in `not_granted`;
//  - beyond the rules, default deny.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bpf/filter_plan.h"
#include "core/config.h"

namespace wgate {

struct SourcedRule {
  bpf::FilterRule rule;
  const PolicyConfig* policy = nullptr;  // null: the group's full access (it has no policies)
  std::string network;                   // the [networks] name the rule's prefix belongs to
};

struct DeviceRules {
  bool group_has_policies = false;
  bool person_has_policies = false;
  std::vector<SourcedRule> rules;
  // Person policies (or parts) outside the group's networks: not granted.
  std::vector<std::string> not_granted;
  // Non-empty: none of the person's policies is granted, and why (with the
  // group's they need more port ranges than the filter holds).
  std::string person_rules_dropped;
};

// The rules of `person`'s devices on `group`'s interface. An unknown group
// gives no rules.
DeviceRules rules_for(const Config& config, const std::string& group, const std::string& person);

// Whether `person` has policies of their own (then their devices get a
// ruleset of their own rather than their group's).
bool has_person_policies(const Config& config, const std::string& person);

// The first rule (in `rules` order) that allows `proto` (IP protocol number)
// to `dst`, port `port` (tcp/udp; nullopt: any port of it), or nullptr.
// proto nullopt: any traffic at all to `dst`.
const SourcedRule* matching_rule(const std::vector<SourcedRule>& rules, const IpAddress& dst,
                                 std::optional<uint8_t> proto, std::optional<uint16_t> port);

// Whether the eBPF filter can hold `rules` as one ruleset: at most
// WGATE_FILTER_MAX_RANGES separate TCP and UDP port ranges per destination
// prefix after merging (bpf/filter_plan.h). The error names the prefix,
// the protocol and the count.
Status filter_can_hold(const std::vector<SourcedRule>& rules);

// "tcp/22", "udp/53-60", "icmp", "all" (a rule's protocol and ports).
std::string filter_rule_service(const bpf::FilterRule& rule);

}  // namespace wgate
