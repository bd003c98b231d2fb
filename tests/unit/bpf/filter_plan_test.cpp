// compile_filter_plan(): the merge of overlapping prefixes, the limits, and
// a property test of the compiled maps against the brute-force reference.
// Pure: no BPF, no root.
#include "bpf/filter_plan.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include "packet.h"
#include "reference.h"
#include "../test_support.h"

namespace wgate::bpf {
namespace {

using wgate::testing::ip;
using wgate::testing::pfx;

FilterRule rule(const char* dst, uint8_t proto, uint16_t lo = 0, uint16_t hi = 65535) {
  return FilterRule{pfx(dst), proto, lo, hi};
}

FilterPlan one_device(std::vector<FilterRule> rules) {
  FilterPlan p;
  p.devices[ip("10.100.0.2")] = 7;
  p.rulesets[7] = std::move(rules);
  return p;
}

bool allowed(const FilterMaps& m, const char* dst, uint8_t proto, uint16_t port) {
  return maps_allow(m, ip("10.100.0.2"), ip(dst), proto, port);
}

TEST(FilterPlan, LongerPrefixInheritsTheShorterOnesPorts) {
  auto m = compile_filter_plan(one_device({rule("10.1.0.0/16", IPPROTO_TCP, 22, 22),
                                           rule("10.1.2.0/24", IPPROTO_TCP, 443, 443)}));
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->rules.size(), 2u);
  EXPECT_TRUE(allowed(*m, "10.1.2.3", IPPROTO_TCP, 22));   // from the /16
  EXPECT_TRUE(allowed(*m, "10.1.2.3", IPPROTO_TCP, 443));  // its own
  EXPECT_FALSE(allowed(*m, "10.1.2.3", IPPROTO_TCP, 80));
  EXPECT_TRUE(allowed(*m, "10.1.3.3", IPPROTO_TCP, 22));
  EXPECT_FALSE(allowed(*m, "10.1.3.3", IPPROTO_TCP, 443));
  EXPECT_FALSE(allowed(*m, "10.2.0.1", IPPROTO_TCP, 22));
  const auto& v = m->rules.at(RuleKey{7, testing::addr("10.1.2.0"), 24});
  ASSERT_EQ(v.n_tcp, 2);
  EXPECT_EQ(v.tcp[0].lo, 22);
  EXPECT_EQ(v.tcp[1].lo, 443);
}

TEST(FilterPlan, RangesMergeAndFullRangesBecomeWholeProtocols) {
  auto m = compile_filter_plan(one_device({rule("10.1.0.0/16", IPPROTO_UDP, 10, 20),
                                           rule("10.1.0.0/16", IPPROTO_UDP, 21, 30),  // adjacent
                                           rule("10.1.0.0/16", IPPROTO_UDP, 15, 25),  // overlapping
                                           rule("10.1.0.0/16", IPPROTO_TCP, 0, 100),
                                           rule("10.1.0.0/16", IPPROTO_TCP, 101, 65535)}));
  ASSERT_TRUE(m.ok()) << m.error().message;
  const auto& v = m->rules.begin()->second;
  ASSERT_EQ(v.n_udp, 1);
  EXPECT_EQ(v.udp[0].lo, 10);
  EXPECT_EQ(v.udp[0].hi, 30);
  EXPECT_EQ(v.n_tcp, 0);
  EXPECT_TRUE(allows_whole_protocol(v, IPPROTO_TCP));
  EXPECT_FALSE(allows_whole_protocol(v, IPPROTO_UDP));
}

TEST(FilterPlan, AnyProtocolAllowsEverything) {
  auto m = compile_filter_plan(one_device({rule("10.1.0.0/16", 0)}));
  ASSERT_TRUE(m.ok());
  for (uint8_t p : {1, 6, 17, 47, 255}) EXPECT_TRUE(allowed(*m, "10.1.9.9", p, 1234)) << int(p);
  EXPECT_TRUE(allowed(*m, "10.1.9.9", 0, 0));
}

TEST(FilterPlan, DeviceWithoutRulesetAndUnknownSourceAreDenied) {
  FilterPlan p = one_device({rule("0.0.0.0/0", 0)});
  p.devices[ip("10.100.0.3")] = 99;  // no such ruleset: nothing allowed
  auto m = compile_filter_plan(p);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(maps_allow(*m, ip("10.100.0.2"), ip("8.8.8.8"), IPPROTO_UDP, 53));
  EXPECT_FALSE(maps_allow(*m, ip("10.100.0.3"), ip("8.8.8.8"), IPPROTO_UDP, 53));
  EXPECT_FALSE(maps_allow(*m, ip("10.100.0.4"), ip("8.8.8.8"), IPPROTO_UDP, 53));
}

TEST(FilterPlan, RefusesWhatTheFilterCannotHold) {
  auto v6 = compile_filter_plan(one_device({rule("fd00::/64", IPPROTO_TCP)}));
  ASSERT_FALSE(v6.ok());
  EXPECT_NE(v6.error().message.find("IPv4"), std::string::npos);
  FilterPlan dev6;
  dev6.devices[ip("fd00::2")] = 1;
  EXPECT_FALSE(compile_filter_plan(dev6).ok());
  EXPECT_FALSE(compile_filter_plan(one_device({rule("10.0.0.0/8", IPPROTO_TCP, 30, 20)})).ok());
  auto icmp_ports = compile_filter_plan(one_device({rule("10.0.0.0/8", IPPROTO_ICMP, 1, 2)}));
  ASSERT_FALSE(icmp_ports.ok());
  EXPECT_NE(icmp_ports.error().message.find("only for TCP and UDP"), std::string::npos);
  EXPECT_FALSE(compile_filter_plan(one_device({rule("10.0.0.0/8", 0, 80, 80)})).ok());

  std::vector<FilterRule> many;
  for (uint16_t i = 0; i < WGATE_FILTER_MAX_RANGES; ++i) many.push_back(rule("10.0.0.0/8", IPPROTO_TCP, i * 10, i * 10));
  EXPECT_TRUE(compile_filter_plan(one_device(many)).ok());
  // One more separate range, inherited by a longer prefix: too many there.
  many.push_back(rule("10.1.0.0/16", IPPROTO_TCP, 1000, 1000));
  auto too_many = compile_filter_plan(one_device(many));
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().message.find("10.1.0.0/16"), std::string::npos) << too_many.error().message;
}

TEST(FilterPlan, EntriesAreOnePerDistinctPrefix) {
  FilterPlan p = one_device({});
  for (int i = 0; i < 32; ++i)
    p.rulesets[7].push_back(FilterRule{Prefix(IpAddress::v4((10u << 24) | (uint32_t(i) << 8)), 24), IPPROTO_TCP,
                                       uint16_t(8000 + i), uint16_t(8010 + i)});
  auto m = compile_filter_plan(p);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->rules.size(), 32u);
  EXPECT_EQ(m->devices.size(), 1u);
}

// The property the LPM layout rests on: longest match of the merged entries
// == "any rule matches", for random nested and overlapping rule sets.
TEST(FilterPlan, MapsAgreeWithBruteForceOnRandomPolicies) {
  int checked = 0;
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    testing::RandomPolicy gen(seed);
    FilterPlan plan = gen.plan(8, 4, 24);
    auto maps = compile_filter_plan(plan);
    if (!maps.ok()) {
      // Only the range limit may refuse a random plan.
      ASSERT_NE(maps.error().message.find("port ranges"), std::string::npos) << maps.error().message;
      continue;
    }
    for (int q = 0; q < 500; ++q) {
      auto dev = std::next(plan.devices.begin(), gen.below(static_cast<uint32_t>(plan.devices.size())));
      IpAddress dst = gen.destination_near(plan, dev->second);
      uint8_t proto = gen.proto();
      uint16_t port = gen.port();
      ASSERT_EQ(maps_allow(*maps, dev->first, dst, proto, port),
                testing::reference_allows(plan, dev->first, dst, proto, port))
          << "seed " << seed << " src " << dev->first.to_string() << " dst " << dst.to_string() << " proto "
          << int(proto) << " port " << port;
      ++checked;
    }
  }
  EXPECT_GT(checked, 90000);
}

}  // namespace
}  // namespace wgate::bpf
