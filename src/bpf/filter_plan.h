// FilterPlan -> the filter's map entries. Pure: no BPF, no I/O.
//
// A FilterPlan says which ruleset each device address uses and what each
// ruleset allows. compile_filter_plan() turns it into the entries of the
// devices hash and the rules LPM trie (bpf/filter_abi.h). The trie answers
// only with the LONGEST matching prefix, so every prefix's entry is the
// union of its own rules and the rules of every shorter prefix of the same
// ruleset that contains it: then, for any (destination, protocol, port), the
// longest match alone gives the same answer as checking every rule.
//
// Semantics (what a rule allows):
//   proto 0: every protocol to every port of `dst` (ports must be 0-65535);
//   TCP (6) / UDP (17): ports port_lo..port_hi (destination port);
//   any other protocol (ICMP 1, GRE 47, ...): the whole protocol, ports must
//   be 0-65535. Beyond the rules, everything is denied.
// Limits: IPv4 only; at most WGATE_FILTER_MAX_RANGES (16) disjoint port
// ranges per (ruleset, prefix, TCP|UDP) after merging (adjacent and
// overlapping ranges merge; more is an error naming the prefix).
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <vector>

#include "bpf/filter_abi.h"
#include "core/cidr.h"
#include "util/result.h"

namespace wgate::bpf {

struct FilterRule {
  Prefix dst;
  uint8_t proto = 0;  // 0 = any protocol
  uint16_t port_lo = 0;
  uint16_t port_hi = 65535;
  auto operator<=>(const FilterRule&) const = default;
};

struct FilterPlan {
  std::map<IpAddress, uint32_t> devices;                    // device address -> ruleset id
  std::map<uint32_t, std::vector<FilterRule>> rulesets;     // ruleset id -> rules
  bool operator==(const FilterPlan&) const = default;
};

// A rules-trie key in comparable form.
struct RuleKey {
  uint32_t ruleset = 0;
  uint32_t addr = 0;  // network order, host bits zero
  uint8_t length = 0;  // destination prefix length 0..32
  auto operator<=>(const RuleKey&) const = default;
  wgate_rule_key to_abi() const { return wgate_rule_key{32u + length, ruleset, addr}; }
};

struct FilterMaps {
  std::map<uint32_t, wgate_device> devices;  // key: address in network order
  std::map<RuleKey, wgate_rule_value> rules;
};

Result<FilterMaps> compile_filter_plan(const FilterPlan& plan);

// What the BPF program decides for a first (or only) fragment, computed from
// the map entries the way the program looks them up: the device, then the
// longest matching prefix, then the protocol and port. `port` is ignored for
// protocols other than TCP and UDP. For tests and, later, explain.
bool maps_allow(const FilterMaps& maps, const IpAddress& src, const IpAddress& dst, uint8_t proto, uint16_t port);

// Whether `v` allows `proto` to every port (what a later fragment needs).
bool allows_whole_protocol(const wgate_rule_value& v, uint8_t proto);
// Whether `v` allows `proto` to `port` (port ignored but for TCP and UDP).
bool value_allows(const wgate_rule_value& v, uint8_t proto, uint16_t port);

}  // namespace wgate::bpf
