// rtnetlink messages as values: links, routes and policy rules.
//
// Pure encoding and decoding, no sockets, so every byte can be checked by unit
// tests and every parser fuzzed. Messages are built by named constructors and
// carry no sequence number until the caller stamps one (set_seq) right before
// sending. Parsers validate every length they rely on (message header, fixed
// family header, each attribute) and name what was wrong in the Error.
//
// Ownership: every route and rule built here carries kWgateRouteProtocol, and
// the dump parsers return only entries with that protocol, so wgate never
// reports (and therefore never deletes) anybody else's routes or rules.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/netstate.h"
#include "dataplane/router.h"  // kWgateRouteProtocol (header-only constant)
#include "util/result.h"

namespace wgate::netlink {

// One encoded rtnetlink request: a netlink header plus payload, with every
// attribute padded to 4 bytes.
class RtnlMessage {
 public:
  // RTM_NEWLINK, NLM_F_CREATE|NLM_F_EXCL: a link of kind "wireguard"
  // (IFLA_IFNAME + IFLA_LINKINFO{IFLA_INFO_KIND}). The link starts down.
  // Fails when `name` is empty or does not fit IFNAMSIZ.
  static Result<RtnlMessage> new_wireguard_link(std::string_view name);
  // RTM_NEWLINK without NLM_F_CREATE, addressed by IFLA_IFNAME, setting IFF_UP
  // (ifi_flags = ifi_change = IFF_UP, so no other flag changes).
  static Result<RtnlMessage> set_link_up(std::string_view name);
  // RTM_DELLINK addressed by IFLA_IFNAME.
  static Result<RtnlMessage> delete_link(std::string_view name);
  // RTM_GETLINK addressed by IFLA_IFNAME; the kernel answers one RTM_NEWLINK
  // (parse with parse_link_message) or ENODEV. Requests an ACK so the reply
  // ends in a way the reader can see.
  static Result<RtnlMessage> get_link(std::string_view name);
  // RTM_GETLINK dump of every link in the namespace.
  static RtnlMessage dump_links();

  // RTM_NEWROUTE, NLM_F_CREATE|NLM_F_EXCL. Unicast routes go out of `oif`
  // with scope link (no gateway); throw and blackhole routes ignore `oif`.
  // The table is always sent as RTA_TABLE (u32); rtm_table holds it too when
  // it fits in 8 bits, otherwise RT_TABLE_UNSPEC. Fails for table 0 or a
  // unicast route without an oif > 0.
  static Result<RtnlMessage> new_route(const Route& route, int oif);
  // RTM_DELROUTE matching type, destination, table and wgate's protocol (so
  // only wgate's route can be deleted), any scope. For unicast routes an
  // `oif` <= 0 leaves the output interface unconstrained.
  static Result<RtnlMessage> delete_route(const Route& route, int oif);
  // RTM_GETROUTE dump of all tables in every family (AF_UNSPEC); the parser
  // keeps only AF_INET and AF_INET6 entries.
  static RtnlMessage dump_routes();

  // RTM_NEWRULE (fib_rule_hdr, action FR_ACT_TO_TBL, FRA_IIFNAME when `iif`
  // is not empty, FRA_TABLE, FRA_PRIORITY, FRA_PROTOCOL), NLM_F_CREATE|
  // NLM_F_EXCL so an identical rule is refused rather than duplicated.
  // Fails for table 0 or an iif that does not fit IFNAMSIZ.
  static Result<RtnlMessage> new_rule(const Rule& rule);
  // RTM_DELRULE with the same attributes, so only wgate's rule matches.
  static Result<RtnlMessage> delete_rule(const Rule& rule);
  // RTM_GETRULE dump in every family (AF_UNSPEC).
  static RtnlMessage dump_rules();

  // Stamps nlmsg_seq (nlmsg_pid stays 0: the kernel fills it).
  void set_seq(uint32_t seq);
  const nlmsghdr* header() const { return reinterpret_cast<const nlmsghdr*>(bytes_.data()); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  explicit RtnlMessage(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  std::vector<uint8_t> bytes_;
};

// What an RTM_NEWLINK reply says about a link.
struct LinkInfo {
  int index = 0;
  std::string name;
  uint32_t flags = 0;  // IFF_*
  std::string kind;    // IFLA_INFO_KIND ("wireguard", "veth", "tun"...); empty for kindless links (lo, physical)
};

// Maps a route's output ifindex to a link name; nullopt when unknown.
using LinkNameResolver = std::function<std::optional<std::string>(int ifindex)>;

// Parses one RTM_NEWLINK message. `nlh` must point at nlmsg_len readable
// bytes (as delivered by MnlSocket, which checks that).
Result<LinkInfo> parse_link_message(const nlmsghdr* nlh);

// Parses one RTM_NEWROUTE message from a dump. Returns nullopt for routes that
// are not wgate's (other protocol, family other than IPv4/IPv6, or a type
// other than unicast/throw/blackhole). A unicast route's device is resolved
// through `resolve`; an unknown ifindex is an error, a missing RTA_OIF leaves
// the device empty.
Result<std::optional<Route>> parse_route_message(const nlmsghdr* nlh, const LinkNameResolver& resolve);

// Parses one RTM_NEWRULE message; nullopt for rules that are not wgate's
// (other protocol, other family, or an action other than FR_ACT_TO_TBL).
Result<std::optional<Rule>> parse_rule_message(const nlmsghdr* nlh);

// Whole dump replies as raw bytes (one or more netlink messages back to back,
// optionally ending in NLMSG_DONE). Every message length is checked against
// the buffer; an NLMSG_ERROR message becomes an Error with its errno.
Result<std::vector<LinkInfo>> parse_link_dump(std::span<const uint8_t> bytes);
Result<std::vector<Route>> parse_route_dump(std::span<const uint8_t> bytes, const LinkNameResolver& resolve);
Result<std::vector<Rule>> parse_rule_dump(std::span<const uint8_t> bytes);


}  // namespace wgate::netlink
