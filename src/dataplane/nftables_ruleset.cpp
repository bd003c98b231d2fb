#include "dataplane/nftables_ruleset.h"

#include "core/names.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string_view>

namespace wgate {
namespace {

// Bumped whenever the rendered layout changes. It is part of the rendered
// text (the table comment), so it changes the fingerprint too.
constexpr const char* kLayoutVersion = "wgate-nft-v2";

// Stands in for the fingerprint while the text it is computed over is
// rendered.
constexpr const char* kFingerprintSlot = "@FP@";

// Sorts, then drops duplicates and prefixes covered by an earlier (shorter or
// equal) one: after sorting by (address, length), a covering prefix always
// precedes what it covers, and everything it covers follows contiguously.
std::vector<Prefix> normalise(std::vector<Prefix> prefixes) {
  std::sort(prefixes.begin(), prefixes.end());
  std::vector<Prefix> out;
  for (const Prefix& p : prefixes) {
    if (!out.empty() && out.back().contains(p)) continue;
    out.push_back(p);
  }
  return out;
}

void split(const std::vector<Prefix>& in, std::vector<Prefix>& v4, std::vector<Prefix>& v6) {
  for (const Prefix& p : in) (p.family() == IpFamily::v4 ? v4 : v6).push_back(p);
  v4 = normalise(std::move(v4));
  v6 = normalise(std::move(v6));
}

// Port ranges of one protocol, sorted and merged where they overlap or
// touch: a concatenated interval set rejects overlapping elements.
void merge_services(std::vector<GatewayService>& services) {
  std::sort(services.begin(), services.end());
  std::vector<GatewayService> out;
  for (const GatewayService& s : services) {
    if (!out.empty() && out.back().protocol == s.protocol && int{s.first_port} <= int{out.back().last_port} + 1) {
      out.back().last_port = std::max(out.back().last_port, s.last_port);
      continue;
    }
    out.push_back(s);
  }
  services = std::move(out);
}

uint64_t fnv1a64(std::string_view text) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string join_prefixes(const std::vector<Prefix>& prefixes) {
  std::string out;
  for (const Prefix& p : prefixes) {
    if (!out.empty()) out += ", ";
    out += p.to_string();
  }
  return out;
}

std::string join_allowed(const std::vector<std::pair<std::string, Prefix>>& allowed) {
  std::string out;
  for (const auto& [name, prefix] : allowed) {
    if (!out.empty()) out += ", ";
    out += "\"" + name + "\" . " + prefix.to_string();
  }
  return out;
}

std::string join_services(const std::vector<GatewayService>& services) {
  std::string out;
  for (const GatewayService& s : services) {
    if (!out.empty()) out += ", ";
    out += s.protocol == GatewayService::Protocol::tcp ? "tcp . " : "udp . ";
    out += std::to_string(s.first_port);
    if (s.last_port != s.first_port) out += "-" + std::to_string(s.last_port);
  }
  return out;
}

void render_set(std::string& out, const char* name, const char* type, bool interval,
                const std::string& elements) {
  out += "\tset ";
  out += name;
  out += " {\n\t\ttype ";
  out += type;
  out += "\n";
  if (interval) out += "\t\tflags interval\n";
  // An empty `elements = { }` is a syntax error: an empty set has no line.
  if (!elements.empty()) out += "\t\telements = { " + elements + " }\n";
  out += "\t}\n";
}

// The table for `spec`, with `fingerprint` in every rule comment; appends
// each comment to `comments` when given.
std::string render(const NftRulesetSpec& spec, const std::string& fingerprint,
                   std::vector<std::string>* comments) {
  std::string ifaces;
  for (const std::string& name : spec.interfaces) {
    if (!ifaces.empty()) ifaces += ", ";
    ifaces += "\"" + name + "\"";
  }
  std::string out;
  auto rule = [&](const std::string& statement, const char* role) {
    const std::string comment = std::string("wgate ") + role + " fp=" + fingerprint;
    if (comments != nullptr) comments->push_back(comment);
    out += "\t\t" + statement + " comment \"" + comment + "\"\n";
  };

  out += "table inet wgate {\n";
  out += std::string("\tcomment \"managed by wgate (") + kLayoutVersion + "); edits are overwritten\"\n";
  render_set(out, "ifaces", "ifname", false, ifaces);
  render_set(out, "allowed4", "ifname . ipv4_addr", true, join_allowed(spec.allowed4));
  render_set(out, "allowed6", "ifname . ipv6_addr", true, join_allowed(spec.allowed6));
  render_set(out, "protected4", "ipv4_addr", true, join_prefixes(spec.protected4));
  render_set(out, "protected6", "ipv6_addr", true, join_prefixes(spec.protected6));
  render_set(out, "pools4", "ipv4_addr", true, join_prefixes(spec.pools4));
  render_set(out, "pools6", "ipv6_addr", true, join_prefixes(spec.pools6));
  render_set(out, "services", "inet_proto . inet_service", true, join_services(spec.services));

  out += "\tchain forward {\n";
  out += "\t\ttype filter hook forward priority filter; policy accept;\n";
  rule("iifname != @ifaces ip daddr @protected4 counter drop", "protected4");
  rule("iifname != @ifaces ip6 daddr @protected6 counter drop", "protected6");
  // An empty allowed set drops everything from wgate interfaces: a group
  // without networks reaches nothing.
  rule("iifname @ifaces iifname . ip daddr != @allowed4 counter drop", "allowed4");
  rule("iifname @ifaces iifname . ip6 daddr != @allowed6 counter drop", "allowed6");
  rule("ip daddr @pools4 ip saddr != @protected4 counter drop", "pools4");
  rule("ip6 daddr @pools6 ip6 saddr != @protected6 counter drop", "pools6");
  rule("ip daddr @pools4 fib saddr . iif oif missing counter drop", "rpf4");
  rule("ip6 daddr @pools6 fib saddr . iif oif missing counter drop", "rpf6");
  out += "\t}\n";

  out += "\tchain input {\n";
  out += "\t\ttype filter hook input priority filter; policy accept;\n";
  rule("iifname @ifaces jump users_to_gateway", "to-gateway");
  out += "\t}\n";

  out += "\tchain users_to_gateway {\n";
  rule("meta l4proto . th dport @services accept", "services");
  if (spec.icmp_echo) {
    rule("icmp type echo-request accept", "echo4");
    rule("icmpv6 type echo-request accept", "echo6");
  }
  rule("icmp type { destination-unreachable, time-exceeded, parameter-problem } accept", "icmp-errors4");
  rule("icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } accept",
       "icmp-errors6");
  rule("icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept", "nd");
  rule("counter drop", "gateway");
  out += "\t}\n";
  out += "}\n";
  return out;
}

}  // namespace

namespace {

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// The normalised plan and its text, rendered once: the fingerprint is taken
// over the text with a placeholder in its place, then filled in.
std::pair<NftRulesetSpec, std::string> spec_and_text(const FirewallPlan& plan) {
  NftRulesetSpec spec;
  std::map<std::string, std::vector<Prefix>> reachable;
  for (const FirewallInterface& i : plan.interfaces) {
    std::vector<Prefix>& r = reachable[i.name];
    r.insert(r.end(), i.reachable.begin(), i.reachable.end());
  }
  for (const auto& [name, prefixes] : reachable) {
    spec.interfaces.push_back(name);
    std::vector<Prefix> v4, v6;
    split(prefixes, v4, v6);
    for (const Prefix& p : v4) spec.allowed4.emplace_back(name, p);
    for (const Prefix& p : v6) spec.allowed6.emplace_back(name, p);
  }
  split(plan.protected_networks, spec.protected4, spec.protected6);
  split(plan.user_pools, spec.pools4, spec.pools6);
  for (const GatewayService& s : plan.open_to_users) {
    if (s.protocol == GatewayService::Protocol::icmp) {
      spec.icmp_echo = true;
    } else {
      spec.services.push_back(s);
    }
  }
  merge_services(spec.services);

  // Over the rendered text itself, so that nothing the table holds can
  // change without changing the fingerprint.
  std::string text = render(spec, kFingerprintSlot, &spec.rule_comments);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a64(text)));
  spec.fingerprint = hex;
  for (std::string& comment : spec.rule_comments) comment = replace_all(std::move(comment), kFingerprintSlot, hex);
  return {std::move(spec), replace_all(std::move(text), kFingerprintSlot, hex)};
}

}  // namespace

NftRulesetSpec nft_ruleset_spec(const FirewallPlan& plan) { return spec_and_text(plan).first; }

Status validate_firewall_plan(const FirewallPlan& plan) {
  for (const FirewallInterface& iface : plan.interfaces) {
    const std::string& name = iface.name;
    // Names are quoted into the ruleset: the shared check keeps them inert.
    if (auto st = check_interface_name(name); !st) return st.error().with_context("firewall plan");
  }
  return ok_status();
}

std::string render_nft_ruleset(const FirewallPlan& plan) { return spec_and_text(plan).second; }

}  // namespace wgate
