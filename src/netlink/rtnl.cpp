#include "netlink/rtnl.h"

#include "core/plan_text.h"

#include "core/names.h"
#include "netlink/attr.h"
#include "netlink/kernel_error.h"

#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>

namespace wgate::netlink {
namespace {

// Every message built here is small (fixed headers, a name, a few u32s); the
// builder checks each put against this bound all the same.
constexpr size_t kMaxRequestSize = 512;

constexpr uint16_t kCreateFlags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
constexpr uint16_t kChangeFlags = NLM_F_REQUEST | NLM_F_ACK;
constexpr uint16_t kDumpFlags = NLM_F_REQUEST | NLM_F_DUMP;

Error too_big(const std::string& what) {
  return make_error(what + ": request does not fit " + std::to_string(kMaxRequestSize) + " bytes");
}

Status check_ifname(std::string_view name, const char* what) {
  if (auto st = check_interface_name(name); !st) return st.error().with_context(what);
  return ok_status();
}

uint8_t af_of(IpFamily f) { return f == IpFamily::v4 ? AF_INET : AF_INET6; }

uint8_t rtn_type_of(RouteType t) {
  switch (t) {
    case RouteType::unicast:
      return RTN_UNICAST;
    case RouteType::throw_route:
      return RTN_THROW;
    case RouteType::blackhole:
      return RTN_BLACKHOLE;
  }
  return RTN_UNSPEC;
}

// rtm_table / fib_rule_hdr.table are 8 bits; bigger ids live only in the u32
// attribute, which the kernel prefers whenever it is present.
uint8_t short_table(uint32_t table) { return table < 256 ? static_cast<uint8_t>(table) : static_cast<uint8_t>(RT_TABLE_UNSPEC); }

// ---------------------------------------------------------------- parsing

// Reads a trivially copyable value from possibly unaligned bytes.
template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// The bytes of one message after the netlink header, checked to hold the
// fixed family header `T`; `rest` receives the attribute stream after it.
template <class T>
Result<T> fixed_header(std::span<const uint8_t> msg, uint16_t want_type, const char* what,
                       std::span<const uint8_t>* rest) {
  if (msg.size() < NLMSG_HDRLEN) return make_error(std::string(what) + ": message shorter than nlmsghdr");
  auto nlh = load<nlmsghdr>(msg.data());
  if (nlh.nlmsg_type != want_type) {
    return make_error(std::string(what) + ": unexpected message type " + std::to_string(nlh.nlmsg_type));
  }
  if (nlh.nlmsg_len < NLMSG_HDRLEN || nlh.nlmsg_len > msg.size()) {
    return make_error(std::string(what) + ": nlmsg_len " + std::to_string(nlh.nlmsg_len) + " does not fit " +
                      std::to_string(msg.size()) + " bytes");
  }
  auto payload = msg.subspan(NLMSG_HDRLEN, nlh.nlmsg_len - NLMSG_HDRLEN);
  if (payload.size() < sizeof(T)) {
    return make_error(std::string(what) + ": payload of " + std::to_string(payload.size()) +
                      " bytes is too short for its " + std::to_string(sizeof(T)) + "-byte header");
  }
  size_t attrs_at = NLMSG_ALIGN(sizeof(T));
  *rest = attrs_at <= payload.size() ? payload.subspan(attrs_at) : std::span<const uint8_t>();
  return load<T>(payload.data());
}

Result<LinkInfo> parse_link(std::span<const uint8_t> msg) {
  const char* what = "RTM_NEWLINK";
  std::span<const uint8_t> rest;
  WGATE_ASSIGN_OR_RETURN(ifinfomsg ifi, fixed_header<ifinfomsg>(msg, RTM_NEWLINK, what, &rest));
  LinkInfo info;
  info.index = ifi.ifi_index;
  info.flags = ifi.ifi_flags;
  WGATE_TRY(for_each_attr(rest, what, [&](const Attr& a) -> Status {
    if (a.type == IFLA_IFNAME) {
      WGATE_ASSIGN_OR_RETURN(info.name, read_ifname(a, "IFLA_IFNAME"));
    } else if (a.type == IFLA_LINKINFO) {
      WGATE_TRY(for_each_attr(a.data, "IFLA_LINKINFO", [&](const Attr& li) -> Status {
        if (li.type != IFLA_INFO_KIND) return ok_status();
        // A NUL-terminated string; the kernel's kinds are short names.
        std::string_view text(reinterpret_cast<const char*>(li.data.data()), li.data.size());
        text = text.substr(0, text.find('\0'));
        if (text.size() > 64) return make_error(std::string(what) + ": IFLA_INFO_KIND longer than 64 bytes");
        info.kind = std::string(text);
        return ok_status();
      }));
    }
    return ok_status();
  }));
  if (info.name.empty()) {
    return make_error(std::string(what) + ": link " + std::to_string(info.index) + " has no IFLA_IFNAME");
  }
  return info;
}

Result<std::optional<Route>> parse_route(std::span<const uint8_t> msg, const LinkNameResolver& resolve) {
  const char* what = "RTM_NEWROUTE";
  std::span<const uint8_t> rest;
  WGATE_ASSIGN_OR_RETURN(rtmsg rtm, fixed_header<rtmsg>(msg, RTM_NEWROUTE, what, &rest));
  // Cheap ownership filters first: other families (MPLS, multicast tables)
  // and other protocols are none of our business, whatever their layout.
  if (rtm.rtm_family != AF_INET && rtm.rtm_family != AF_INET6) return std::optional<Route>();
  if (rtm.rtm_protocol != kWgateRouteProtocol) return std::optional<Route>();

  Route route;
  switch (rtm.rtm_type) {
    case RTN_UNICAST:
      route.type = RouteType::unicast;
      break;
    case RTN_THROW:
      route.type = RouteType::throw_route;
      break;
    case RTN_BLACKHOLE:
      route.type = RouteType::blackhole;
      break;
    default:
      return std::optional<Route>();
  }
  const IpFamily family = rtm.rtm_family == AF_INET ? IpFamily::v4 : IpFamily::v6;
  const size_t width = family == IpFamily::v4 ? 4 : 16;
  if (rtm.rtm_dst_len > width * 8) {
    return make_error(std::string(what) + ": rtm_dst_len " + std::to_string(rtm.rtm_dst_len) + " exceeds " +
                      std::to_string(width * 8));
  }

  uint8_t dst[16] = {};
  bool have_dst = false;
  uint32_t table = rtm.rtm_table;
  int oif = 0;
  WGATE_TRY(for_each_attr(rest, what, [&](const Attr& a) -> Status {
    switch (a.type) {
      case RTA_DST:
        WGATE_TRY(want_len(a, width, "RTA_DST"));
        std::memcpy(dst, a.data.data(), width);
        have_dst = true;
        break;
      case RTA_TABLE: {
        WGATE_ASSIGN_OR_RETURN(table, read_fixed<uint32_t>(a, "RTA_TABLE"));
        break;
      }
      case RTA_OIF: {
        WGATE_ASSIGN_OR_RETURN(uint32_t v, read_fixed<uint32_t>(a, "RTA_OIF"));
        oif = static_cast<int>(v);
        break;
      }
      default:
        break;
    }
    return ok_status();
  }));
  if (!have_dst && rtm.rtm_dst_len != 0) {
    return make_error(std::string(what) + ": /" + std::to_string(rtm.rtm_dst_len) + " route without RTA_DST");
  }
  route.table = table;
  route.destination = Prefix(IpAddress::from_bytes(family, dst), rtm.rtm_dst_len);
  // Only unicast routes have a meaningful device: the kernel reports IPv6
  // throw/blackhole routes on "lo", which is an implementation detail.
  if (route.type == RouteType::unicast && oif != 0) {
    auto name = resolve ? resolve(oif) : std::nullopt;
    if (!name) {
      return make_error(std::string(what) + ": route " + route.destination.to_string() +
                        " uses unknown interface index " + std::to_string(oif));
    }
    route.device = *name;
  }
  return std::optional<Route>(std::move(route));
}

Result<std::optional<Rule>> parse_rule(std::span<const uint8_t> msg) {
  const char* what = "RTM_NEWRULE";
  std::span<const uint8_t> rest;
  WGATE_ASSIGN_OR_RETURN(fib_rule_hdr frh, fixed_header<fib_rule_hdr>(msg, RTM_NEWRULE, what, &rest));
  if (frh.family != AF_INET && frh.family != AF_INET6) return std::optional<Rule>();
  if (frh.action != FR_ACT_TO_TBL) return std::optional<Rule>();

  Rule rule;
  rule.family = frh.family == AF_INET ? IpFamily::v4 : IpFamily::v6;
  rule.table = frh.table;
  bool ours = false;
  WGATE_TRY(for_each_attr(rest, what, [&](const Attr& a) -> Status {
    switch (a.type) {
      case FRA_PROTOCOL: {
        WGATE_ASSIGN_OR_RETURN(uint8_t protocol, read_fixed<uint8_t>(a, "FRA_PROTOCOL"));
        ours = protocol == kWgateRouteProtocol;
        break;
      }
      case FRA_TABLE: {
        WGATE_ASSIGN_OR_RETURN(rule.table, read_fixed<uint32_t>(a, "FRA_TABLE"));
        break;
      }
      case FRA_PRIORITY: {
        WGATE_ASSIGN_OR_RETURN(rule.priority, read_fixed<uint32_t>(a, "FRA_PRIORITY"));
        break;
      }
      case FRA_IIFNAME: {
        WGATE_ASSIGN_OR_RETURN(rule.iif, read_ifname(a, "FRA_IIFNAME"));
        break;
      }
      default:
        break;
    }
    return ok_status();
  }));
  if (!ours) return std::optional<Rule>();
  return std::optional<Rule>(std::move(rule));
}

// Walks netlink messages back to back, handing each data message to `each`.
Status walk_dump(std::span<const uint8_t> bytes, const std::function<Status(std::span<const uint8_t>)>& each) {
  size_t off = 0;
  while (off < bytes.size()) {
    size_t left = bytes.size() - off;
    if (left < NLMSG_HDRLEN) {
      return make_error("netlink dump: " + std::to_string(left) + " trailing bytes, too short for nlmsghdr");
    }
    auto nlh = load<nlmsghdr>(bytes.data() + off);
    if (nlh.nlmsg_len < NLMSG_HDRLEN || nlh.nlmsg_len > left) {
      return make_error("netlink dump: nlmsg_len " + std::to_string(nlh.nlmsg_len) + " at offset " +
                        std::to_string(off) + " does not fit the " + std::to_string(left) + " bytes left");
    }
    auto msg = bytes.subspan(off, nlh.nlmsg_len);
    if (nlh.nlmsg_type == NLMSG_DONE) return ok_status();
    if (nlh.nlmsg_type == NLMSG_ERROR) {
      if (nlh.nlmsg_len < NLMSG_HDRLEN + sizeof(int32_t)) return make_error("netlink dump: truncated NLMSG_ERROR");
      // The code is read as the kernel wrote it, never negated here: a
      // malformed INT32_MIN has no positive counterpart.
      int32_t code = load<int32_t>(msg.data() + NLMSG_HDRLEN);
      if (code == 0) return ok_status();  // an ACK ends the reply like DONE
      return kernel_error(code, "netlink dump");
    }
    if (nlh.nlmsg_type != NLMSG_NOOP) WGATE_TRY(each(msg));
    off += NLMSG_ALIGN(nlh.nlmsg_len);
  }
  return ok_status();
}

std::span<const uint8_t> message_bytes(const nlmsghdr* nlh) {
  return {reinterpret_cast<const uint8_t*>(nlh), nlh->nlmsg_len};
}

}  // namespace

// ---------------------------------------------------------------- building

namespace {

// An ifinfomsg request addressed by IFLA_IFNAME. `up` goes into both
// ifi_flags and ifi_change so that only IFF_UP is touched.
Result<std::vector<uint8_t>> encode_link(uint16_t type, uint16_t flags, std::string_view name, unsigned up,
                                         bool wireguard) {
  WGATE_TRY(check_ifname(name, "link"));
  MessageBuilder b(type, flags, 0, kMaxRequestSize);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_flags = up;
  ifi.ifi_change = up;
  bool ok = b.put_header(ifi) && b.put_strz(IFLA_IFNAME, name);
  if (ok && wireguard) {
    auto info = b.nest_start(IFLA_LINKINFO);
    ok = info && b.put_strz(IFLA_INFO_KIND, "wireguard");
    if (ok) b.nest_end(*info);
  }
  if (!ok) return too_big("link " + std::string(name));
  return std::move(b).finish();
}

Result<std::vector<uint8_t>> encode_route(uint16_t type, uint16_t flags, const Route& route, int oif) {
  if (route.table == 0) return make_error("route " + route_to_string(route) + ": table 0 is not a valid table");
  const bool unicast = route.type == RouteType::unicast;
  const bool adding = type == RTM_NEWROUTE;
  if (unicast && adding && oif <= 0) {
    return make_error("route " + route_to_string(route) + ": a unicast route needs an output interface");
  }
  MessageBuilder b(type, flags, 0, kMaxRequestSize);
  const Prefix& dst = route.destination;
  rtmsg rtm{};
  rtm.rtm_family = af_of(dst.family());
  rtm.rtm_dst_len = static_cast<uint8_t>(dst.length());
  rtm.rtm_table = short_table(route.table);
  rtm.rtm_protocol = kWgateRouteProtocol;
  // A gatewayless unicast route is on-link; deletes match any scope.
  rtm.rtm_scope = !adding ? RT_SCOPE_NOWHERE : unicast ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  rtm.rtm_type = rtn_type_of(route.type);
  bool ok = b.put_header(rtm) &&
            (dst.length() == 0 || b.put(RTA_DST, dst.address().bytes(), dst.address().byte_width())) &&
            (!unicast || oif <= 0 || b.put_u32(RTA_OIF, static_cast<uint32_t>(oif))) &&
            b.put_u32(RTA_TABLE, route.table);
  if (!ok) return too_big("route " + route_to_string(route));
  return std::move(b).finish();
}

Result<std::vector<uint8_t>> encode_rule(uint16_t type, uint16_t flags, const Rule& rule) {
  if (rule.table == 0) return make_error("rule " + rule_to_string(rule) + ": table 0 is not a valid table");
  if (!rule.iif.empty()) WGATE_TRY(check_ifname(rule.iif, "rule iif"));
  MessageBuilder b(type, flags, 0, kMaxRequestSize);
  fib_rule_hdr frh{};
  frh.family = af_of(rule.family);
  frh.table = short_table(rule.table);
  frh.action = FR_ACT_TO_TBL;
  bool ok = b.put_header(frh) && (rule.iif.empty() || b.put_strz(FRA_IIFNAME, rule.iif)) &&
            b.put_u32(FRA_TABLE, rule.table) && b.put_u32(FRA_PRIORITY, rule.priority) &&
            b.put_u8(FRA_PROTOCOL, kWgateRouteProtocol);
  if (!ok) return too_big("rule " + rule_to_string(rule));
  return std::move(b).finish();
}

// A dump request with a zeroed family header `T` (family AF_UNSPEC: all).
template <class T>
std::vector<uint8_t> encode_dump(uint16_t type) {
  MessageBuilder b(type, kDumpFlags, 0, kMaxRequestSize);
  (void)b.put_header(T{});  // a fixed header always fits kMaxRequestSize
  return std::move(b).finish();
}

}  // namespace

Result<RtnlMessage> RtnlMessage::new_wireguard_link(std::string_view name) {
  WGATE_ASSIGN_OR_RETURN(auto bytes, encode_link(RTM_NEWLINK, kCreateFlags, name, 0, true));
  return RtnlMessage(std::move(bytes));
}

Result<RtnlMessage> RtnlMessage::set_link_up(std::string_view name) {
  WGATE_ASSIGN_OR_RETURN(auto bytes, encode_link(RTM_NEWLINK, kChangeFlags, name, IFF_UP, false));
  return RtnlMessage(std::move(bytes));
}

Result<RtnlMessage> RtnlMessage::delete_link(std::string_view name) {
  WGATE_ASSIGN_OR_RETURN(auto bytes, encode_link(RTM_DELLINK, kChangeFlags, name, 0, false));
  return RtnlMessage(std::move(bytes));
}

Result<RtnlMessage> RtnlMessage::get_link(std::string_view name) {
  WGATE_ASSIGN_OR_RETURN(auto bytes, encode_link(RTM_GETLINK, kChangeFlags, name, 0, false));
  return RtnlMessage(std::move(bytes));
}

RtnlMessage RtnlMessage::dump_links() { return RtnlMessage(encode_dump<ifinfomsg>(RTM_GETLINK)); }

Result<RtnlMessage> RtnlMessage::new_route(const Route& route, int oif) {
  WGATE_ASSIGN_OR_RETURN(auto bytes, encode_route(RTM_NEWROUTE, kCreateFlags, route, oif));
  return RtnlMessage(std::move(bytes));
}

Result<RtnlMessage> RtnlMessage::delete_route(const Route& route, int oif) {
  WGATE_ASSIGN_OR_RETURN(auto bytes, encode_route(RTM_DELROUTE, kChangeFlags, route, oif));
  return RtnlMessage(std::move(bytes));
}

RtnlMessage RtnlMessage::dump_routes() { return RtnlMessage(encode_dump<rtmsg>(RTM_GETROUTE)); }

Result<RtnlMessage> RtnlMessage::new_rule(const Rule& rule) {
  WGATE_ASSIGN_OR_RETURN(auto bytes, encode_rule(RTM_NEWRULE, kCreateFlags, rule));
  return RtnlMessage(std::move(bytes));
}

Result<RtnlMessage> RtnlMessage::delete_rule(const Rule& rule) {
  WGATE_ASSIGN_OR_RETURN(auto bytes, encode_rule(RTM_DELRULE, kChangeFlags, rule));
  return RtnlMessage(std::move(bytes));
}

RtnlMessage RtnlMessage::dump_rules() { return RtnlMessage(encode_dump<fib_rule_hdr>(RTM_GETRULE)); }

void RtnlMessage::set_seq(uint32_t seq) { reinterpret_cast<nlmsghdr*>(bytes_.data())->nlmsg_seq = seq; }

// ---------------------------------------------------------------- parsing API

Result<LinkInfo> parse_link_message(const nlmsghdr* nlh) { return parse_link(message_bytes(nlh)); }

Result<std::optional<Route>> parse_route_message(const nlmsghdr* nlh, const LinkNameResolver& resolve) {
  return parse_route(message_bytes(nlh), resolve);
}

Result<std::optional<Rule>> parse_rule_message(const nlmsghdr* nlh) { return parse_rule(message_bytes(nlh)); }

Result<std::vector<LinkInfo>> parse_link_dump(std::span<const uint8_t> bytes) {
  std::vector<LinkInfo> out;
  WGATE_TRY(walk_dump(bytes, [&](std::span<const uint8_t> msg) -> Status {
    WGATE_ASSIGN_OR_RETURN(auto link, parse_link(msg));
    out.push_back(std::move(link));
    return ok_status();
  }));
  return out;
}

Result<std::vector<Route>> parse_route_dump(std::span<const uint8_t> bytes, const LinkNameResolver& resolve) {
  std::vector<Route> out;
  WGATE_TRY(walk_dump(bytes, [&](std::span<const uint8_t> msg) -> Status {
    WGATE_ASSIGN_OR_RETURN(auto route, parse_route(msg, resolve));
    if (route) out.push_back(std::move(*route));
    return ok_status();
  }));
  return out;
}

Result<std::vector<Rule>> parse_rule_dump(std::span<const uint8_t> bytes) {
  std::vector<Rule> out;
  WGATE_TRY(walk_dump(bytes, [&](std::span<const uint8_t> msg) -> Status {
    WGATE_ASSIGN_OR_RETURN(auto rule, parse_rule(msg));
    if (rule) out.push_back(std::move(*rule));
    return ok_status();
  }));
  return out;
}

// ---------------------------------------------------------------- describe

}  // namespace wgate::netlink
