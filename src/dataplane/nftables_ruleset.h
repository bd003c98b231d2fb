// The text of wgate's nftables table, rendered from a FirewallPlan.
//
// Pure functions, no I/O: the nftables firewall applies this text in one
// transaction; render_nft_ruleset() is the only place that knows the layout.
//
// The table ("inet wgate") holds two base chains, both at priority filter
// with policy accept (traffic that is not wgate's business is left alone):
//
// `forward` (hook forward), eight counted drop rules, each independent of the
// routing tables and `ip rule`s (v4 and v6 alike):
//   - protected4/6: toward a protected network from any interface that is
//     not a wgate interface: closes the back door through the outer side;
//   - allowed4/6: from a wgate interface toward anything outside that
//     interface's own group networks (one lookup in a concatenated
//     `ifname . addr` interval set): group separation holds even when a
//     group's `ip rule` is missing and its traffic falls to the main table;
//   - pools4/6: toward a user pool from a source outside every protected
//     network: only the protected side may reach users;
//   - rpf4/6: toward a user pool from a source that would not be routed back
//     out of the interface the packet came in on (`fib saddr . iif oif
//     missing`; in the forward hook the kernel looks the source up as if it
//     arrived on the output interface, so the group's `ip rule iif` applies).
//     Spoofed protected sources from the outer side are dropped here, with
//     rp_filter off as well.
//
// `input` (hook input): everything arriving on a wgate interface jumps to
// `users_to_gateway`, which accepts only the plan's open services (tcp/udp
// port ranges in one `l4proto . port` interval set; icmp = echo request
// v4 and v6), ICMP errors (so that PMTU discovery and error reporting work
// for the connections users have with opened services; stateless, so they
// cannot be tied to a connection, but the kernel only acts on errors that
// match its own sockets), and IPv6 neighbour solicitations/advertisements
// with hop limit 255 (link-local by definition; WireGuard links never need
// them, other link types do). Everything else from users to any of the
// gateway's addresses is dropped and counted.
//
// Interfaces, prefixes and services live in named sets, so the rule count
// does not grow with the plan.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/cidr.h"
#include "core/plan.h"
#include "util/result.h"

namespace wgate {

inline constexpr const char* kNftFamily = "inet";
inline constexpr const char* kNftTable = "wgate";

// A FirewallPlan normalised for nftables: interfaces sorted and deduplicated;
// prefixes split by family, sorted, with duplicates and prefixes covered by
// another one removed (interval sets reject overlapping elements); services
// merged where they overlap or touch.
struct NftRulesetSpec {
  std::vector<std::string> interfaces;
  // (interface, prefix): the elements of allowed4 / allowed6, sorted; an
  // interface listed twice in the plan gets the union of its prefixes.
  std::vector<std::pair<std::string, Prefix>> allowed4;
  std::vector<std::pair<std::string, Prefix>> allowed6;
  std::vector<Prefix> protected4;
  std::vector<Prefix> protected6;
  std::vector<Prefix> pools4;
  std::vector<Prefix> pools6;
  std::vector<GatewayService> services;  // tcp/udp only, sorted, merged
  bool icmp_echo = false;                // "icmp" is open
  // 16 hex digits over the rendered text (which names the layout version);
  // carried in every rule's comment so that an operator, and the tests, can
  // tell which plan the kernel's table was built from.
  std::string fingerprint;
  // Comments of every rule, in the order rendered ("wgate <role> fp=<fp>").
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
