#include "dataplane/nftables_ruleset.h"

#include "core/names.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string_view>

namespace wgate {
namespace {

// Bumped whenever the rendered layout changes, so that an upgraded agent sees
// the old table as out of sync and replaces it.
constexpr const char* kLayoutVersion = "wgate-nft-v1";

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

}  // namespace

NftRulesetSpec nft_ruleset_spec(const FirewallPlan& plan) {
  NftRulesetSpec spec;
  for (const FirewallInterface& i : plan.interfaces) spec.interfaces.push_back(i.name);
  std::sort(spec.interfaces.begin(), spec.interfaces.end());
  spec.interfaces.erase(std::unique(spec.interfaces.begin(), spec.interfaces.end()),
                        spec.interfaces.end());
  split(plan.protected_networks, spec.protected4, spec.protected6);
  split(plan.user_pools, spec.pools4, spec.pools6);

  std::string canonical = kLayoutVersion;
  canonical += "|if:";
  for (const std::string& name : spec.interfaces) canonical += name + ",";
  canonical += "|p4:" + join_prefixes(spec.protected4);
  canonical += "|p6:" + join_prefixes(spec.protected6);
  canonical += "|u4:" + join_prefixes(spec.pools4);
  canonical += "|u6:" + join_prefixes(spec.pools6);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a64(canonical)));
  spec.fingerprint = hex;

  for (const char* role : {"protected4", "protected6", "pools4", "pools6"}) {
    spec.rule_comments.push_back(std::string("wgate ") + role + " fp=" + spec.fingerprint);
  }
  return spec;
}

Status validate_firewall_plan(const FirewallPlan& plan) {
  for (const FirewallInterface& iface : plan.interfaces) {
    const std::string& name = iface.name;
    // Names are quoted into the ruleset: the shared check keeps them inert.
    if (auto st = check_interface_name(name); !st) return st.error().with_context("firewall plan");
  }
  return ok_status();
}

std::string render_nft_ruleset(const FirewallPlan& plan) {
  const NftRulesetSpec spec = nft_ruleset_spec(plan);
  std::string ifaces;
  for (const std::string& name : spec.interfaces) {
    if (!ifaces.empty()) ifaces += ", ";
    ifaces += "\"" + name + "\"";
  }

  std::string out;
  out += "table inet wgate {\n";
  out += "\tcomment \"managed by wgate; edits are overwritten\"\n";
  render_set(out, "ifaces", "ifname", false, ifaces);
  render_set(out, "protected4", "ipv4_addr", true, join_prefixes(spec.protected4));
  render_set(out, "protected6", "ipv6_addr", true, join_prefixes(spec.protected6));
  render_set(out, "pools4", "ipv4_addr", true, join_prefixes(spec.pools4));
  render_set(out, "pools6", "ipv6_addr", true, join_prefixes(spec.pools6));
  out += "\tchain forward {\n";
  out += "\t\ttype filter hook forward priority filter; policy accept;\n";
  const std::string matches[4] = {
      "iifname != @ifaces ip daddr @protected4",
      "iifname != @ifaces ip6 daddr @protected6",
      "ip daddr @pools4 ip saddr != @protected4",
      "ip6 daddr @pools6 ip6 saddr != @protected6",
  };
  for (size_t i = 0; i < 4; ++i) {
    out += "\t\t" + matches[i] + " counter drop comment \"" + spec.rule_comments[i] + "\"\n";
  }
  out += "\t}\n";
  out += "}\n";
  return out;
}

}  // namespace wgate
