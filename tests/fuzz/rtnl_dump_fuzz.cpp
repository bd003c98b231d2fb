// libFuzzer target: arbitrary bytes as rtnetlink dump replies.
//
// The route, rule and link dump parsers read kernel replies; they must reject
// any malformed framing or attribute without reading out of bounds, and
// whatever they accept must be a well-formed Route/Rule.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "core/plan_text.h"
#include "netlink/rtnl.h"


extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wgate;
  std::span<const uint8_t> bytes(data, size);
  // Resolve a few ifindexes and leave the rest unknown, to reach both paths.
  auto resolve = [](int ifindex) -> std::optional<std::string> {
    if (ifindex > 0 && ifindex < 8) return "if" + std::to_string(ifindex);
    return std::nullopt;
  };
  auto routes = netlink::parse_route_dump(bytes, resolve);
  if (routes.ok()) {
    for (const Route& r : *routes) {
      if (r.destination.length() > r.destination.address().bit_width()) __builtin_trap();
      (void)route_to_string(r);
    }
  }
  auto rules = netlink::parse_rule_dump(bytes);
  if (rules.ok()) {
    for (const Rule& r : *rules) {
      if (r.iif.size() >= 16) __builtin_trap();
      (void)rule_to_string(r);
    }
  }
  auto links = netlink::parse_link_dump(bytes);
  if (links.ok()) {
    for (const auto& l : *links) {
      if (l.name.empty() || l.name.size() >= 16) __builtin_trap();
    }
  }
  return 0;
}
