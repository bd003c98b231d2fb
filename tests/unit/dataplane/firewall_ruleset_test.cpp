// render_nft_ruleset / nft_ruleset_spec: pure, no kernel.
#include <gtest/gtest.h>

#include <string>

#include "dataplane/nftables_ruleset.h"

namespace wgate {
namespace {

Prefix pfx(const char* text) {
  auto p = Prefix::parse(text);
  EXPECT_TRUE(p.ok()) << text;
  return p.ok() ? *p : Prefix();
}

FirewallPlan two_ifaces_two_nets_one_pool() {
  FirewallPlan plan;
  plan.interfaces = {FirewallInterface{"wg-eng", {pfx("10.2.0.0/16")}},
                     FirewallInterface{"wg-admin", {pfx("10.2.0.0/16"), pfx("10.1.0.0/16")}}};
  plan.protected_networks = {pfx("10.2.0.0/16"), pfx("10.1.0.0/16")};
  plan.user_pools = {pfx("10.100.0.0/24")};
  using P = GatewayService::Protocol;
  plan.open_to_users = {{P::udp, 53, 53}, {P::tcp, 22, 22}, {P::tcp, 8000, 8100}};
  return plan;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(NftRulesetTest, GoldenTextForTwoInterfacesTwoNetworksOnePool) {
  const std::string golden = R"(table inet wgate {
	comment "managed by wgate (wgate-nft-v2); edits are overwritten"
	set ifaces {
		type ifname
		elements = { "wg-admin", "wg-eng" }
	}
	set allowed4 {
		type ifname . ipv4_addr
		flags interval
		elements = { "wg-admin" . 10.1.0.0/16, "wg-admin" . 10.2.0.0/16, "wg-eng" . 10.2.0.0/16 }
	}
	set allowed6 {
		type ifname . ipv6_addr
		flags interval
	}
	set protected4 {
		type ipv4_addr
		flags interval
		elements = { 10.1.0.0/16, 10.2.0.0/16 }
	}
	set protected6 {
		type ipv6_addr
		flags interval
	}
	set pools4 {
		type ipv4_addr
		flags interval
		elements = { 10.100.0.0/24 }
	}
	set pools6 {
		type ipv6_addr
		flags interval
	}
	set services {
		type inet_proto . inet_service
		flags interval
		elements = { tcp . 22, tcp . 8000-8100, udp . 53 }
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname != @ifaces ip daddr @protected4 counter drop comment "wgate protected4 fp=FP"
		iifname != @ifaces ip6 daddr @protected6 counter drop comment "wgate protected6 fp=FP"
		iifname @ifaces iifname . ip daddr != @allowed4 counter drop comment "wgate allowed4 fp=FP"
		iifname @ifaces iifname . ip6 daddr != @allowed6 counter drop comment "wgate allowed6 fp=FP"
		ip daddr @pools4 ip saddr != @protected4 counter drop comment "wgate pools4 fp=FP"
		ip6 daddr @pools6 ip6 saddr != @protected6 counter drop comment "wgate pools6 fp=FP"
		ip daddr @pools4 fib saddr . iif oif missing counter drop comment "wgate rpf4 fp=FP"
		ip6 daddr @pools6 fib saddr . iif oif missing counter drop comment "wgate rpf6 fp=FP"
	}
	chain input {
		type filter hook input priority filter; policy accept;
		iifname @ifaces jump users_to_gateway comment "wgate to-gateway fp=FP"
	}
	chain users_to_gateway {
		meta l4proto . th dport @services accept comment "wgate services fp=FP"
		icmp type { destination-unreachable, time-exceeded, parameter-problem } accept comment "wgate icmp-errors4 fp=FP"
		icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } accept comment "wgate icmp-errors6 fp=FP"
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept comment "wgate nd fp=FP"
		counter drop comment "wgate gateway fp=FP"
	}
}
)";
  const FirewallPlan plan = two_ifaces_two_nets_one_pool();
  const NftRulesetSpec spec = nft_ruleset_spec(plan);
  // The fingerprint is pinned so an accidental change of the hash (which
  // would make every deployed table look stale) fails here.
  EXPECT_EQ(spec.fingerprint, "e85a3713ed26da4d");
  EXPECT_EQ(render_nft_ruleset(plan), replace_all(golden, "FP", spec.fingerprint));
}

TEST(NftRulesetTest, OrderAndDuplicatesDoNotChangeTheText) {
  FirewallPlan a = two_ifaces_two_nets_one_pool();
  FirewallPlan b;
  b.interfaces = {FirewallInterface{"wg-admin", {pfx("10.1.0.0/16"), pfx("10.2.0.0/16")}},
                  FirewallInterface{"wg-eng", {pfx("10.2.0.0/16"), pfx("10.2.0.0/16")}},
                  FirewallInterface{"wg-admin", {pfx("10.2.0.0/16")}}};
  b.protected_networks = {pfx("10.1.0.0/16"), pfx("10.2.0.0/16"), pfx("10.1.0.0/16")};
  b.user_pools = {pfx("10.100.0.0/24"), pfx("10.100.0.0/24")};
  using P = GatewayService::Protocol;
  b.open_to_users = {{P::tcp, 8000, 8100}, {P::udp, 53, 53}, {P::tcp, 22, 22}, {P::udp, 53, 53}};
  EXPECT_EQ(render_nft_ruleset(a), render_nft_ruleset(b));
  EXPECT_EQ(render_nft_ruleset(a), render_nft_ruleset(a));
}

TEST(NftRulesetTest, EmptyPlanRendersTableWithEmptySetsAndAllRules) {
  const std::string text = render_nft_ruleset(FirewallPlan{});
  EXPECT_EQ(text.find("elements"), std::string::npos) << text;  // `elements = { }` is invalid
  EXPECT_NE(text.find("set ifaces {\n\t\ttype ifname\n\t}\n"), std::string::npos) << text;
  EXPECT_NE(text.find("set allowed4 {\n\t\ttype ifname . ipv4_addr\n\t\tflags interval\n\t}\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("type filter hook forward priority filter; policy accept;"), std::string::npos);
  EXPECT_NE(text.find("type filter hook input priority filter; policy accept;"), std::string::npos);
  EXPECT_EQ(nft_ruleset_spec(FirewallPlan{}).rule_comments.size(), 14u);
  EXPECT_EQ(count(text, "counter drop"), 9u);  // eight in forward, one for the gateway
  EXPECT_EQ(count(text, "echo-request"), 0u) << "icmp is not open unless the plan opens it";
  EXPECT_EQ(text.substr(0, 18), "table inet wgate {");
  EXPECT_EQ(text.substr(text.size() - 2), "}\n");
}

TEST(NftRulesetTest, AllowedSetPairsEachInterfaceWithItsOwnNetworksOnly) {
  FirewallPlan plan;
  plan.interfaces = {FirewallInterface{"wg-a", {pfx("10.1.0.0/16"), pfx("10.1.2.0/24"), pfx("fd01::/64")}},
                     FirewallInterface{"wg-b", {pfx("10.0.0.0/8")}},
                     FirewallInterface{"wg-none", {}}};
  const NftRulesetSpec spec = nft_ruleset_spec(plan);
  using Pair = std::pair<std::string, Prefix>;
  // Covered prefixes go (interval sets reject overlaps within one
  // interface); the same prefix under two interfaces is two elements.
  EXPECT_EQ(spec.allowed4, (std::vector<Pair>{{"wg-a", pfx("10.1.0.0/16")}, {"wg-b", pfx("10.0.0.0/8")}}));
  EXPECT_EQ(spec.allowed6, (std::vector<Pair>{{"wg-a", pfx("fd01::/64")}}));
  EXPECT_EQ(spec.interfaces, (std::vector<std::string>{"wg-a", "wg-b", "wg-none"}));
  const std::string text = render_nft_ruleset(plan);
  EXPECT_NE(text.find("elements = { \"wg-a\" . 10.1.0.0/16, \"wg-b\" . 10.0.0.0/8 }"), std::string::npos) << text;
  EXPECT_NE(text.find("elements = { \"wg-a\" . fd01::/64 }"), std::string::npos) << text;
}

TEST(NftRulesetTest, ServicesMergeOverlapsAndIcmpOpensEchoOnly) {
  using P = GatewayService::Protocol;
  FirewallPlan plan;
  plan.open_to_users = {{P::tcp, 20, 30}, {P::tcp, 22, 22}, {P::tcp, 31, 40}, {P::tcp, 50, 50},
                        {P::udp, 22, 22}, {P::udp, 1, 65535}, {P::icmp, 0, 0}};
  const NftRulesetSpec spec = nft_ruleset_spec(plan);
  EXPECT_EQ(spec.services, (std::vector<GatewayService>{{P::tcp, 20, 40}, {P::tcp, 50, 50}, {P::udp, 1, 65535}}));
  EXPECT_TRUE(spec.icmp_echo);
  const std::string text = render_nft_ruleset(plan);
  EXPECT_NE(text.find("elements = { tcp . 20-40, tcp . 50, udp . 1-65535 }"), std::string::npos) << text;
  EXPECT_NE(text.find("\t\ticmp type echo-request accept comment \"wgate echo4 "), std::string::npos) << text;
  EXPECT_NE(text.find("\t\ticmpv6 type echo-request accept comment \"wgate echo6 "), std::string::npos) << text;
  // The open services come before the final drop.
  EXPECT_LT(text.find("echo-request"), text.find("counter drop comment \"wgate gateway "));
}

TEST(NftRulesetTest, SplitsFamiliesAndDropsCoveredPrefixes) {
  FirewallPlan plan;
  plan.protected_networks = {pfx("10.1.0.0/16"), pfx("fd00:1::/64"), pfx("10.0.0.0/8"),
                             pfx("192.168.1.0/24"), pfx("fd00::/16")};
  plan.user_pools = {pfx("10.100.0.0/24"), pfx("fd64::/64")};
  const NftRulesetSpec spec = nft_ruleset_spec(plan);
  EXPECT_EQ(spec.protected4, (std::vector<Prefix>{pfx("10.0.0.0/8"), pfx("192.168.1.0/24")}));
  EXPECT_EQ(spec.protected6, (std::vector<Prefix>{pfx("fd00::/16")}));
  EXPECT_EQ(spec.pools4, (std::vector<Prefix>{pfx("10.100.0.0/24")}));
  EXPECT_EQ(spec.pools6, (std::vector<Prefix>{pfx("fd64::/64")}));
  const std::string text = render_nft_ruleset(plan);
  EXPECT_NE(text.find("elements = { 10.0.0.0/8, 192.168.1.0/24 }"), std::string::npos) << text;
  EXPECT_NE(text.find("elements = { fd00::/16 }"), std::string::npos) << text;
  EXPECT_EQ(text.find("10.1.0.0/16"), std::string::npos) << text;
}

TEST(NftRulesetTest, FingerprintFollowsEveryPartOfThePlan) {
  const FirewallPlan base = two_ifaces_two_nets_one_pool();
  const std::string fp = nft_ruleset_spec(base).fingerprint;
  EXPECT_EQ(fp.size(), 16u);

  FirewallPlan other = base;
  other.interfaces.push_back(FirewallInterface{"wg-ops", {}});
  EXPECT_NE(nft_ruleset_spec(other).fingerprint, fp);
  other = base;
  other.interfaces[0].reachable.push_back(pfx("10.1.0.0/16"));
  EXPECT_NE(nft_ruleset_spec(other).fingerprint, fp);
  other = base;
  other.open_to_users.push_back(GatewayService{GatewayService::Protocol::icmp, 0, 0});
  EXPECT_NE(nft_ruleset_spec(other).fingerprint, fp);
  other = base;
  other.open_to_users[0].last_port = 54;
  EXPECT_NE(nft_ruleset_spec(other).fingerprint, fp);
  other = base;
  other.protected_networks.push_back(pfx("10.3.0.0/16"));
  EXPECT_NE(nft_ruleset_spec(other).fingerprint, fp);
  other = base;
  other.user_pools = {pfx("10.101.0.0/24")};
  EXPECT_NE(nft_ruleset_spec(other).fingerprint, fp);
  // Moving a prefix from networks to pools must not collide either.
  other = base;
  other.protected_networks = {pfx("10.1.0.0/16")};
  other.user_pools = {pfx("10.100.0.0/24"), pfx("10.2.0.0/16")};
  EXPECT_NE(nft_ruleset_spec(other).fingerprint, fp);
  for (const std::string& comment : nft_ruleset_spec(base).rule_comments) {
    EXPECT_NE(comment.find("fp=" + fp), std::string::npos) << comment;
  }
}

TEST(NftRulesetTest, ValidationRejectsNamesThatCannotBeQuotedSafely) {
  FirewallPlan plan;
  plan.interfaces = {FirewallInterface{"wg-eng.0_1", {}}, FirewallInterface{"WG9", {}}};
  EXPECT_TRUE(validate_firewall_plan(plan).ok());
  for (const char* bad : {"", "0123456789abcdef", "a\"b", "a b", "a}b", "wg\n0"}) {
    plan.interfaces = {FirewallInterface{bad, {}}};
    auto st = validate_firewall_plan(plan);
    EXPECT_FALSE(st.ok()) << "accepted " << bad;
  }
  plan.interfaces = {FirewallInterface{"0123456789abcde", {}}};  // exactly 15 bytes
  EXPECT_TRUE(validate_firewall_plan(plan).ok());
}

}  // namespace
}  // namespace wgate
