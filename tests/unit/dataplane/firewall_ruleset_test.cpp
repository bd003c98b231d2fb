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
  plan.interfaces = {FirewallInterface{"wg-eng", {}}, FirewallInterface{"wg-admin", {}}};
  plan.protected_networks = {pfx("10.2.0.0/16"), pfx("10.1.0.0/16")};
  plan.user_pools = {pfx("10.100.0.0/24")};
  return plan;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

TEST(NftRulesetTest, GoldenTextForTwoInterfacesTwoNetworksOnePool) {
  const std::string golden = R"(table inet wgate {
	comment "managed by wgate; edits are overwritten"
	set ifaces {
		type ifname
		elements = { "wg-admin", "wg-eng" }
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
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname != @ifaces ip daddr @protected4 counter drop comment "wgate protected4 fp=FP"
		iifname != @ifaces ip6 daddr @protected6 counter drop comment "wgate protected6 fp=FP"
		ip daddr @pools4 ip saddr != @protected4 counter drop comment "wgate pools4 fp=FP"
		ip6 daddr @pools6 ip6 saddr != @protected6 counter drop comment "wgate pools6 fp=FP"
	}
}
)";
  const FirewallPlan plan = two_ifaces_two_nets_one_pool();
  const NftRulesetSpec spec = nft_ruleset_spec(plan);
  // The fingerprint is pinned so an accidental change of the hash (which
  // would make every deployed table look stale) fails here.
  EXPECT_EQ(spec.fingerprint, "db5f4b7c46243a84");
  EXPECT_EQ(render_nft_ruleset(plan), replace_all(golden, "FP", spec.fingerprint));
}

TEST(NftRulesetTest, OrderAndDuplicatesDoNotChangeTheText) {
  FirewallPlan a = two_ifaces_two_nets_one_pool();
  FirewallPlan b;
  b.interfaces = {FirewallInterface{"wg-admin", {}}, FirewallInterface{"wg-eng", {}}, FirewallInterface{"wg-admin", {}}};
  b.protected_networks = {pfx("10.1.0.0/16"), pfx("10.2.0.0/16"), pfx("10.1.0.0/16")};
  b.user_pools = {pfx("10.100.0.0/24"), pfx("10.100.0.0/24")};
  EXPECT_EQ(render_nft_ruleset(a), render_nft_ruleset(b));
  EXPECT_EQ(render_nft_ruleset(a), render_nft_ruleset(a));
}

TEST(NftRulesetTest, EmptyPlanRendersTableWithEmptySetsAndAllRules) {
  const std::string text = render_nft_ruleset(FirewallPlan{});
  EXPECT_EQ(text.find("elements"), std::string::npos) << text;  // `elements = { }` is invalid
  EXPECT_NE(text.find("set ifaces {\n\t\ttype ifname\n\t}\n"), std::string::npos) << text;
  EXPECT_NE(text.find("type filter hook forward priority filter; policy accept;"), std::string::npos);
  EXPECT_EQ(nft_ruleset_spec(FirewallPlan{}).rule_comments.size(), 4u);
  size_t drops = 0;
  for (size_t at = text.find("counter drop"); at != std::string::npos; at = text.find("counter drop", at + 1)) {
    ++drops;
  }
  EXPECT_EQ(drops, 4u);
  EXPECT_EQ(text.substr(0, 18), "table inet wgate {");
  EXPECT_EQ(text.substr(text.size() - 2), "}\n");
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
