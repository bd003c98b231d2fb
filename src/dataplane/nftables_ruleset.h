// The text of wgate's nftables table, rendered from a FirewallPlan.
//
// Pure functions, no I/O: the nftables firewall applies this text in one
// transaction and checks the observed table against the same spec, so what
// is applied and what is expected can never drift apart.
//
// The table ("inet wgate") holds one base chain `forward` (hook forward,
// priority filter, policy accept: forwarding that is not wgate's business is
// left alone) with four counted drop rules:
//   - toward a protected network (v4 / v6) from any interface that is not a
//     wgate interface: closes the back door through the gateway's outer side;
//   - toward a user pool (v4 / v6) from a source that is not in a protected
//     network: only the protected side may reach users (this also drops
//     user-to-user traffic, which the group tables blackhole anyway).
// Interfaces and prefixes live in named sets so the rule count is constant.
#pragma once

#include <string>
#include <vector>

#include "core/cidr.h"
#include "core/plan.h"
#include "util/result.h"

namespace wgate {

inline constexpr const char* kNftFamily = "inet";
inline constexpr const char* kNftTable = "wgate";
inline constexpr const char* kNftChain = "forward";

// A FirewallPlan normalised for nftables: interfaces sorted and deduplicated;
// prefixes split by family, sorted, with duplicates and prefixes covered by
// another one removed (interval sets reject overlapping elements).
struct NftRulesetSpec {
  std::vector<std::string> interfaces;
  std::vector<Prefix> protected4;
  std::vector<Prefix> protected6;
  std::vector<Prefix> pools4;
  std::vector<Prefix> pools6;
  // 16 hex digits over the normalised plan and the ruleset layout version;
  // carried in every rule's comment so the observer can tell which plan the
  // kernel's table was built from.
  std::string fingerprint;
  // Comments of the chain's rules, in rule order.
  std::vector<std::string> rule_comments;
};

// Normalises `plan`. Deterministic: equal plans up to order and duplicates
// give equal specs.
NftRulesetSpec nft_ruleset_spec(const FirewallPlan& plan);

// Rejects what cannot be rendered safely: interface names that are empty,
// longer than 15 bytes, or hold characters outside [A-Za-z0-9_.-] (they are
// quoted into the ruleset text).
Status validate_firewall_plan(const FirewallPlan& plan);

// The full `table inet wgate { ... }` definition for `plan` (deterministic).
// Precondition: validate_firewall_plan(plan) succeeded.
std::string render_nft_ruleset(const FirewallPlan& plan);

}  // namespace wgate
