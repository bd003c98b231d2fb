// The brute-force meaning of a FilterPlan: a packet passes if any rule of
// its device's ruleset covers it. The compiled maps and the BPF program must
// agree with this on every (source, destination, protocol, port).
#pragma once

#include <netinet/in.h>

#include <random>
#include <string>

#include "bpf/filter_plan.h"

namespace wgate::bpf::testing {

inline bool reference_allows(const FilterPlan& plan, const IpAddress& src, const IpAddress& dst, uint8_t proto,
                             uint16_t port) {
  auto dev = plan.devices.find(src);
  if (dev == plan.devices.end()) return false;
  auto rs = plan.rulesets.find(dev->second);
  if (rs == plan.rulesets.end()) return false;
  const bool has_ports = proto == IPPROTO_TCP || proto == IPPROTO_UDP;
  for (const auto& r : rs->second) {
    if (!r.dst.contains(dst)) continue;
    if (r.proto != 0 && r.proto != proto) continue;
    if (!has_ports || (port >= r.port_lo && port <= r.port_hi)) return true;
  }
  return false;
}

// Random rule sets over a small space (10.0.0.0/16, ports 0..99 and a few
// full ranges), so that prefixes nest and port ranges overlap often.
class RandomPolicy {
 public:
  explicit RandomPolicy(uint32_t seed) : rng_(seed) {}

  uint32_t below(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }

  IpAddress address() { return IpAddress::v4((10u << 24) | below(1u << 16)); }

  FilterRule rule() {
    FilterRule r;
    int len = 16 + static_cast<int>(below(17));  // 16..32
    r.dst = Prefix(address(), len);
    static constexpr uint8_t kProtos[] = {0, IPPROTO_TCP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDP, IPPROTO_ICMP, 47};
    r.proto = kProtos[below(sizeof(kProtos))];
    if ((r.proto == IPPROTO_TCP || r.proto == IPPROTO_UDP) && below(8) != 0) {
      r.port_lo = static_cast<uint16_t>(below(100));
      r.port_hi = static_cast<uint16_t>(r.port_lo + below(10));
    }
    return r;
  }

  // `devices` devices over `rulesets` rulesets of up to `max_rules` rules;
  // device i is 10.200.x.y.
  FilterPlan plan(int devices, int rulesets, int max_rules) {
    FilterPlan p;
    for (int i = 0; i < rulesets; ++i) {
      auto& rules = p.rulesets[static_cast<uint32_t>(i + 1)];
      int n = static_cast<int>(below(static_cast<uint32_t>(max_rules) + 1));
      for (int k = 0; k < n; ++k) rules.push_back(rule());
    }
    for (int i = 0; i < devices; ++i)
      p.devices[IpAddress::v4((10u << 24) | (200u << 16) | static_cast<uint32_t>(i + 1))] =
          1 + below(static_cast<uint32_t>(rulesets));
    return p;
  }

  // A destination near one of the plan's rules (inside it, or one address
  // past either end), or anywhere.
  IpAddress destination_near(const FilterPlan& plan, uint32_t ruleset) {
    auto it = plan.rulesets.find(ruleset);
    if (it == plan.rulesets.end() || it->second.empty() || below(5) == 0) return address();
    const FilterRule& r = it->second[below(static_cast<uint32_t>(it->second.size()))];
    uint64_t size = r.dst.size();
    switch (below(3)) {
      case 0: return r.dst.nth(below(static_cast<uint32_t>(std::min<uint64_t>(size, 1u << 16))));
      case 1: return r.dst.address().plus(~uint64_t{0});  // one before
      default: return r.dst.address().plus(size);        // one after
    }
  }

  uint16_t port() { return below(4) == 0 ? static_cast<uint16_t>(below(65536)) : static_cast<uint16_t>(below(112)); }
  uint8_t proto() {
    static constexpr uint8_t kProtos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 47, 50};
    return kProtos[below(sizeof(kProtos))];
  }

 private:
  std::mt19937 rng_;
};

}  // namespace wgate::bpf::testing
