#include "bpf/filter_plan.h"

#include <netinet/in.h>

#include <algorithm>
#include <bitset>
#include <cstring>
#include <string>
#include <utility>

namespace wgate::bpf {
namespace {

using Range = std::pair<uint16_t, uint16_t>;

// What a set of rules allows to one prefix, before it becomes a map value.
struct Allowed {
  std::bitset<256> whole;  // protocols allowed entirely
  std::vector<Range> tcp;
  std::vector<Range> udp;

  void add(const FilterRule& r) {
    if (r.proto == 0) {
      whole.set();
    } else if ((r.proto == IPPROTO_TCP || r.proto == IPPROTO_UDP) && !(r.port_lo == 0 && r.port_hi == 65535)) {
      (r.proto == IPPROTO_TCP ? tcp : udp).emplace_back(r.port_lo, r.port_hi);
    } else {
      whole.set(r.proto);
    }
  }
};

// Sorts and merges overlapping and adjacent ranges; true if they then cover
// every port.
bool normalize(std::vector<Range>& ranges) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<Range> out;
  for (const auto& r : ranges) {
    if (!out.empty() && uint32_t{r.first} <= uint32_t{out.back().second} + 1) {
      out.back().second = std::max(out.back().second, r.second);
    } else {
      out.push_back(r);
    }
  }
  ranges = std::move(out);
  return ranges.size() == 1 && ranges[0] == Range{0, 65535};
}

Status check_rule(uint32_t ruleset, const FilterRule& r) {
  auto where = [&] {
    return "ruleset " + std::to_string(ruleset) + ", rule " + r.dst.to_string() + " proto " +
           std::to_string(r.proto) + " ports " + std::to_string(r.port_lo) + "-" + std::to_string(r.port_hi);
  };
  if (!r.dst.address().is_v4()) return make_error(where() + ": only IPv4 destinations are supported");
  if (r.port_lo > r.port_hi) return make_error(where() + ": port range is reversed");
  bool has_ports = r.proto == IPPROTO_TCP || r.proto == IPPROTO_UDP;
  if (!has_ports && !(r.port_lo == 0 && r.port_hi == 65535))
    return make_error(where() + ": ports are only for TCP and UDP");
  return ok_status();
}

Result<wgate_rule_value> to_value(Allowed a, uint32_t ruleset, const Prefix& dst) {
  wgate_rule_value v;
  std::memset(&v, 0, sizeof(v));
  if (normalize(a.tcp)) a.whole.set(IPPROTO_TCP);
  if (normalize(a.udp)) a.whole.set(IPPROTO_UDP);
  if (a.whole.test(IPPROTO_TCP)) a.tcp.clear();
  if (a.whole.test(IPPROTO_UDP)) a.udp.clear();
  for (size_t p = 0; p < 256; ++p)
    if (a.whole.test(p)) v.proto_all[p / 64] |= uint64_t{1} << (p % 64);
  for (auto* ranges : {&a.tcp, &a.udp}) {
    if (ranges->size() > WGATE_FILTER_MAX_RANGES)
      return make_error("ruleset " + std::to_string(ruleset) + ", " + dst.to_string() + ": " +
                        std::to_string(ranges->size()) + " separate " + (ranges == &a.tcp ? "TCP" : "UDP") +
                        " port ranges after merging; the filter holds at most " +
                        std::to_string(WGATE_FILTER_MAX_RANGES));
  }
  v.n_tcp = static_cast<uint16_t>(a.tcp.size());
  v.n_udp = static_cast<uint16_t>(a.udp.size());
  for (size_t i = 0; i < a.tcp.size(); ++i) v.tcp[i] = {a.tcp[i].first, a.tcp[i].second};
  for (size_t i = 0; i < a.udp.size(); ++i) v.udp[i] = {a.udp[i].first, a.udp[i].second};
  return v;
}

uint32_t net_order(const IpAddress& a) {
  uint32_t n;
  std::memcpy(&n, a.bytes(), 4);
  return n;
}

}  // namespace

Result<FilterMaps> compile_filter_plan(const FilterPlan& plan) {
  FilterMaps maps;
  for (const auto& [addr, ruleset] : plan.devices) {
    if (!addr.is_v4()) return make_error("device " + addr.to_string() + ": only IPv4 devices are supported");
    maps.devices[net_order(addr)] = wgate_device{ruleset};
  }
  for (const auto& [id, rules] : plan.rulesets) {
    for (const auto& r : rules) WGATE_TRY(check_rule(id, r));
    std::vector<Prefix> prefixes;
    for (const auto& r : rules) prefixes.push_back(r.dst);
    std::sort(prefixes.begin(), prefixes.end());
    prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
    // Quadratic in the rules of one ruleset (32 rules: 1,024 checks), which
    // keeps the merge obviously right; rulesets are independent.
    for (const auto& p : prefixes) {
      Allowed a;
      for (const auto& r : rules)
        if (r.dst.contains(p)) a.add(r);
      WGATE_ASSIGN_OR_RETURN(wgate_rule_value v, to_value(std::move(a), id, p));
      maps.rules[RuleKey{id, net_order(p.address()), static_cast<uint8_t>(p.length())}] = v;
    }
  }
  return maps;
}

bool allows_whole_protocol(const wgate_rule_value& v, uint8_t proto) {
  return (v.proto_all[proto / 64] >> (proto % 64)) & 1;
}

bool value_allows(const wgate_rule_value& v, uint8_t proto, uint16_t port) {
  if (allows_whole_protocol(v, proto)) return true;
  const wgate_port_range* r = proto == IPPROTO_TCP ? v.tcp : proto == IPPROTO_UDP ? v.udp : nullptr;
  size_t n = proto == IPPROTO_TCP ? v.n_tcp : proto == IPPROTO_UDP ? v.n_udp : 0;
  for (size_t i = 0; i < n; ++i)
    if (port >= r[i].lo && port <= r[i].hi) return true;
  return false;
}

bool maps_allow(const FilterMaps& maps, const IpAddress& src, const IpAddress& dst, uint8_t proto, uint16_t port) {
  if (!src.is_v4() || !dst.is_v4()) return false;
  auto dev = maps.devices.find(net_order(src));
  if (dev == maps.devices.end()) return false;
  for (int len = 32; len >= 0; --len) {
    auto it = maps.rules.find(RuleKey{dev->second.ruleset, net_order(dst.masked(len)), static_cast<uint8_t>(len)});
    if (it != maps.rules.end()) return value_allows(it->second, proto, port);
  }
  return false;
}

}  // namespace wgate::bpf
