#include "netlink/wg_genl.h"

#include "core/names.h"
#include "netlink/attr.h"

#include <arpa/inet.h>
#include <linux/genetlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>

namespace wgate::netlink {
namespace {

constexpr size_t kGenlHeaderSize = attr_align(sizeof(genlmsghdr));
// nla_len is 16 bits, so no nest (WGDEVICE_A_PEERS) can describe more.
constexpr size_t kMaxNestableMessage = kMaxAttrSize;

// ---- building --------------------------------------------------------------

// Puts the genlmsghdr that follows the nlmsghdr of every generic netlink
// message; false when even the headers exceed the builder's size.
bool start_genl(MessageBuilder& b, uint8_t cmd, uint8_t version) {
  genlmsghdr genl{};
  genl.cmd = cmd;
  genl.version = version;
  return b.fits() && b.put_header(genl);
}

bool put_key(MessageBuilder& b, uint16_t type, const WgKey& key) {
  return b.put(type, key.bytes().data(), WgKey::kSize);
}

// ---- reading ---------------------------------------------------------------

Result<WgKey> read_key(const Attr& a, const char* name) {
  WGATE_TRY(want_len(a, WG_KEY_LEN, name));
  std::array<uint8_t, WgKey::kSize> bytes;
  std::memcpy(bytes.data(), a.data.data(), bytes.size());
  return WgKey(bytes);
}

// The payload of a message after its genl header, checked for `cmd`.
Result<std::span<const uint8_t>> genl_payload(const nlmsghdr* nlh, uint8_t cmd, const char* what) {
  if (nlh->nlmsg_len < kMessageHeaderSize + kGenlHeaderSize) {
    return make_error(std::string(what) + ": message too short (" + std::to_string(nlh->nlmsg_len) + " bytes)");
  }
  if (nlh->nlmsg_type < NLMSG_MIN_TYPE) {
    return make_error(std::string(what) + ": unexpected control message type " + std::to_string(nlh->nlmsg_type));
  }
  const auto* base = reinterpret_cast<const uint8_t*>(nlh);
  genlmsghdr genl;
  std::memcpy(&genl, base + kMessageHeaderSize, sizeof(genl));
  if (genl.cmd != cmd) {
    return make_error(std::string(what) + ": unexpected genl command " + std::to_string(genl.cmd));
  }
  size_t start = kMessageHeaderSize + kGenlHeaderSize;
  return std::span<const uint8_t>(base + start, static_cast<size_t>(nlh->nlmsg_len) - start);
}

// ---- endpoints and allowed IPs --------------------------------------------

// "a.b.c.d:port" or "[v6]:port" → sockaddr_in / sockaddr_in6 bytes.
Result<std::vector<uint8_t>> encode_endpoint(const std::string& text) {
  auto bad = [&](const char* why) { return make_error("endpoint \"" + text + "\": " + why); };
  std::string_view host;
  std::string_view port_text;
  bool bracketed = !text.empty() && text.front() == '[';
  if (bracketed) {
    size_t close = text.find("]:");
    if (close == std::string::npos) return bad("expected [address]:port");
    host = std::string_view(text).substr(1, close - 1);
    port_text = std::string_view(text).substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) return bad("missing port");
    host = std::string_view(text).substr(0, colon);
    port_text = std::string_view(text).substr(colon + 1);
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || port_text.size() > 5 || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port == 0 || port > 65535) {
    return bad("bad port");
  }
  auto addr = IpAddress::parse(host);
  if (!addr.ok()) return bad("bad address");
  if (addr->is_v4() == bracketed) return bad(bracketed ? "IPv4 address in brackets" : "IPv6 address needs brackets");

  std::vector<uint8_t> out;
  if (addr->is_v4()) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<uint16_t>(port));
    std::memcpy(&sin.sin_addr, addr->bytes(), 4);
    out.resize(sizeof(sin));
    std::memcpy(out.data(), &sin, sizeof(sin));
  } else {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(static_cast<uint16_t>(port));
    std::memcpy(&sin6.sin6_addr, addr->bytes(), 16);
    out.resize(sizeof(sin6));
    std::memcpy(out.data(), &sin6, sizeof(sin6));
  }
  return out;
}

Result<std::string> decode_endpoint(const Attr& a) {
  // NLA_MIN_LEN(struct sockaddr), then as long as the family says.
  if (a.data.size() < sizeof(sockaddr)) return make_error("WGPEER_A_ENDPOINT: too short (" + std::to_string(a.data.size()) + " bytes)");
  sa_family_t family;
  std::memcpy(&family, a.data.data(), sizeof(family));
  if (family == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, a.data.data(), sizeof(sin));
    auto ip = IpAddress::from_bytes(IpFamily::v4, reinterpret_cast<const uint8_t*>(&sin.sin_addr));
    return ip.to_string() + ":" + std::to_string(ntohs(sin.sin_port));
  }
  if (family == AF_INET6) {
    if (a.data.size() < sizeof(sockaddr_in6)) {
      return make_error("WGPEER_A_ENDPOINT: too short for sockaddr_in6 (" + std::to_string(a.data.size()) + " bytes)");
    }
    sockaddr_in6 sin6;
    std::memcpy(&sin6, a.data.data(), sizeof(sin6));
    auto ip = IpAddress::from_bytes(IpFamily::v6, reinterpret_cast<const uint8_t*>(&sin6.sin6_addr));
    return "[" + ip.to_string() + "]:" + std::to_string(ntohs(sin6.sin6_port));
  }
  return make_error("WGPEER_A_ENDPOINT: unknown address family " + std::to_string(family));
}

Result<Prefix> decode_allowed_ip(const Attr& nest) {
  std::optional<uint16_t> family;
  std::optional<Attr> addr;
  std::optional<uint8_t> cidr;
  WGATE_TRY(for_each_attr(nest.data, "allowed IP", [&](const Attr& a) -> Status {
    switch (a.type) {
      case WGALLOWEDIP_A_FAMILY: {
        WGATE_ASSIGN_OR_RETURN(family, read_fixed<uint16_t>(a, "WGALLOWEDIP_A_FAMILY"));
        break;
      }
      case WGALLOWEDIP_A_IPADDR:
        addr = a;
        break;
      case WGALLOWEDIP_A_CIDR_MASK: {
        WGATE_ASSIGN_OR_RETURN(cidr, read_fixed<uint8_t>(a, "WGALLOWEDIP_A_CIDR_MASK"));
        break;
      }
      default:
        break;
    }
    return ok_status();
  }));
  if (!family || !addr || !cidr) return make_error("allowed IP: missing family, address or mask");
  IpFamily f;
  size_t width;
  if (*family == AF_INET) {
    f = IpFamily::v4;
    width = 4;
  } else if (*family == AF_INET6) {
    f = IpFamily::v6;
    width = 16;
  } else {
    return make_error("WGALLOWEDIP_A_FAMILY: unknown address family " + std::to_string(*family));
  }
  if (addr->data.size() != width) {
    return make_error("WGALLOWEDIP_A_IPADDR: expected " + std::to_string(width) + " bytes, got " +
                      std::to_string(addr->data.size()));
  }
  if (*cidr > width * 8) return make_error("WGALLOWEDIP_A_CIDR_MASK: " + std::to_string(*cidr) + " too long");
  return Prefix(IpAddress::from_bytes(f, addr->data.data()), *cidr);
}

Status decode_allowed_ips(const Attr& nest, std::vector<Prefix>& out) {
  return for_each_attr(nest.data, "WGPEER_A_ALLOWEDIPS", [&](const Attr& a) -> Status {
    WGATE_ASSIGN_OR_RETURN(Prefix p, decode_allowed_ip(a));
    out.push_back(p);
    return ok_status();
  });
}

// Every peer attribute either direction may carry.
struct PeerFields {
  std::optional<WgKey> public_key;
  uint32_t flags = 0;
  std::optional<std::string> endpoint;
  std::optional<uint16_t> keepalive;
  int64_t handshake_sec = 0;
  int64_t handshake_nsec = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  std::vector<Prefix> allowed_ips;
};

Result<PeerFields> decode_peer(const Attr& nest) {
  PeerFields p;
  WGATE_TRY(for_each_attr(nest.data, "peer", [&](const Attr& a) -> Status {
    switch (a.type) {
      case WGPEER_A_PUBLIC_KEY: {
        WGATE_ASSIGN_OR_RETURN(p.public_key, read_key(a, "WGPEER_A_PUBLIC_KEY"));
        break;
      }
      case WGPEER_A_PRESHARED_KEY:
        // Not modelled (wgate uses none), but still validated.
        WGATE_TRY(want_len(a, WG_KEY_LEN, "WGPEER_A_PRESHARED_KEY"));
        break;
      case WGPEER_A_FLAGS: {
        WGATE_ASSIGN_OR_RETURN(p.flags, read_fixed<uint32_t>(a, "WGPEER_A_FLAGS"));
        break;
      }
      case WGPEER_A_ENDPOINT: {
        WGATE_ASSIGN_OR_RETURN(p.endpoint, decode_endpoint(a));
        break;
      }
      case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL: {
        WGATE_ASSIGN_OR_RETURN(p.keepalive, read_fixed<uint16_t>(a, "WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL"));
        break;
      }
      case WGPEER_A_LAST_HANDSHAKE_TIME: {
        WGATE_ASSIGN_OR_RETURN(auto ts, read_fixed<__kernel_timespec>(a, "WGPEER_A_LAST_HANDSHAKE_TIME"));
        p.handshake_sec = ts.tv_sec;
        p.handshake_nsec = ts.tv_nsec;
        break;
      }
      case WGPEER_A_RX_BYTES: {
        WGATE_ASSIGN_OR_RETURN(p.rx_bytes, read_fixed<uint64_t>(a, "WGPEER_A_RX_BYTES"));
        break;
      }
      case WGPEER_A_TX_BYTES: {
        WGATE_ASSIGN_OR_RETURN(p.tx_bytes, read_fixed<uint64_t>(a, "WGPEER_A_TX_BYTES"));
        break;
      }
      case WGPEER_A_ALLOWEDIPS:
        WGATE_TRY(decode_allowed_ips(a, p.allowed_ips));
        break;
      case WGPEER_A_PROTOCOL_VERSION:
        WGATE_TRY(want_len(a, sizeof(uint32_t), "WGPEER_A_PROTOCOL_VERSION"));
        break;
      default:
        break;
    }
    return ok_status();
  }));
  if (!p.public_key) return make_error("peer without WGPEER_A_PUBLIC_KEY");
  return p;
}

// ---- set: one peer ---------------------------------------------------------

enum class PeerFit { none, partial, complete };

// Puts peers[i] (from its allowed IP `*next_ip` on) into `b`. On `partial`,
// *next_ip is where the next message continues. `none` leaves `b` unchanged.
PeerFit put_peer(MessageBuilder& b, const WgPeerUpdate& peer, const std::vector<uint8_t>* endpoint, size_t* next_ip) {
  const size_t start = *next_ip;
  auto peer_nest = b.nest_start(0);
  if (!peer_nest) return PeerFit::none;
  // Also drops the nests opened inside the peer.
  auto give_up = [&] {
    b.nest_cancel(*peer_nest);
    return PeerFit::none;
  };
  if (!put_key(b, WGPEER_A_PUBLIC_KEY, peer.public_key)) return give_up();
  if (start == 0) {
    // Flags and settings only in the peer's first fragment: a repeated
    // REPLACE_ALLOWEDIPS would drop the IPs the previous fragment added.
    uint32_t flags = 0;
    if (peer.remove) flags |= WGPEER_F_REMOVE_ME;
    if (peer.replace_allowed_ips && !peer.remove) flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
    if (flags && !b.put_u32(WGPEER_A_FLAGS, flags)) return give_up();
    if (!peer.remove) {
      if (endpoint && !b.put(WGPEER_A_ENDPOINT, endpoint->data(), endpoint->size())) return give_up();
      if (peer.persistent_keepalive &&
          !b.put_u16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, *peer.persistent_keepalive)) {
        return give_up();
      }
    }
  }
  if (peer.remove || start >= peer.allowed_ips.size()) {
    b.nest_end(*peer_nest);
    return PeerFit::complete;
  }
  auto ips_nest = b.nest_start(WGPEER_A_ALLOWEDIPS);
  if (!ips_nest) return give_up();
  size_t i = start;
  for (; i < peer.allowed_ips.size(); ++i) {
    const Prefix& p = peer.allowed_ips[i];
    auto ip_nest = b.nest_start(0);
    if (!ip_nest) break;
    const IpAddress& addr = p.address();
    if (!b.put_u16(WGALLOWEDIP_A_FAMILY, addr.is_v4() ? AF_INET : AF_INET6) ||
        !b.put(WGALLOWEDIP_A_IPADDR, addr.bytes(), addr.byte_width()) ||
        !b.put_u8(WGALLOWEDIP_A_CIDR_MASK, static_cast<uint8_t>(p.length()))) {
      b.nest_cancel(*ip_nest);
      break;
    }
    b.nest_end(*ip_nest);
  }
  // Not one allowed IP fitted: move the whole peer to the next message rather
  // than send a fragment that only names it.
  if (i == start) return give_up();
  b.nest_end(*ips_nest);
  b.nest_end(*peer_nest);
  *next_ip = i;
  return i == peer.allowed_ips.size() ? PeerFit::complete : PeerFit::partial;
}

Status check_ifname(const std::string& name) { return check_interface_name(name); }

}  // namespace

// ---- genl controller -------------------------------------------------------

std::vector<uint8_t> encode_get_family(const std::string& family_name, uint32_t seq) {
  MessageBuilder b(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq,
                   kMessageHeaderSize + kGenlHeaderSize + kAttrHeaderSize + attr_align(family_name.size() + 1));
  // Sized above to fit, so neither put can fail.
  (void)(start_genl(b, CTRL_CMD_GETFAMILY, 1) && b.put_strz(CTRL_ATTR_FAMILY_NAME, family_name));
  return std::move(b).finish();
}

Result<uint16_t> parse_family_id(const nlmsghdr* nlh) {
  WGATE_ASSIGN_OR_RETURN(auto payload, genl_payload(nlh, CTRL_CMD_NEWFAMILY, "genl controller reply"));
  std::optional<uint16_t> id;
  WGATE_TRY(for_each_attr(payload, "genl controller reply", [&](const Attr& a) -> Status {
    if (a.type == CTRL_ATTR_FAMILY_ID) {
      WGATE_ASSIGN_OR_RETURN(id, read_fixed<uint16_t>(a, "CTRL_ATTR_FAMILY_ID"));
    }
    return ok_status();
  }));
  if (!id) return make_error("genl controller reply without CTRL_ATTR_FAMILY_ID");
  if (*id < NLMSG_MIN_TYPE) return make_error("genl controller reply: bad family id " + std::to_string(*id));
  return *id;
}

// ---- WG_CMD_SET_DEVICE -----------------------------------------------------

Result<std::vector<std::vector<uint8_t>>> encode_set_device(const WgDeviceUpdate& update, uint16_t family_id,
                                                            uint32_t first_seq, size_t max_message_size) {
  WGATE_TRY(check_ifname(update.name));
  if (max_message_size > kMaxNestableMessage) {
    return make_error("max_message_size " + std::to_string(max_message_size) + " exceeds " +
                      std::to_string(kMaxNestableMessage));
  }
  if (update.empty()) return std::vector<std::vector<uint8_t>>{};

  // Parse every endpoint first, so a bad one fails before anything is built.
  std::vector<std::optional<std::vector<uint8_t>>> endpoints(update.peers.size());
  for (size_t i = 0; i < update.peers.size(); ++i) {
    const auto& peer = update.peers[i];
    if (peer.endpoint && !peer.remove) {
      WGATE_ASSIGN_OR_RETURN(endpoints[i], encode_endpoint(*peer.endpoint));
    }
  }

  auto too_small = [&](const char* what) {
    return make_error("max_message_size " + std::to_string(max_message_size) + " cannot hold " + what);
  };
  std::vector<std::vector<uint8_t>> messages;
  const auto& peers = update.peers;
  size_t peer_i = 0;  // next peer to encode
  size_t ip_i = 0;    // its next allowed IP (> 0: the peer continues)
  for (bool first = true; first || peer_i < peers.size(); first = false) {
    MessageBuilder b(family_id, NLM_F_REQUEST | NLM_F_ACK, first_seq + static_cast<uint32_t>(messages.size()),
                     max_message_size);
    if (!start_genl(b, WG_CMD_SET_DEVICE, WG_GENL_VERSION) || !b.put_strz(WGDEVICE_A_IFNAME, update.name)) {
      return too_small("the message headers");
    }
    if (first) {
      bool ok = (!update.private_key || put_key(b, WGDEVICE_A_PRIVATE_KEY, *update.private_key)) &&
                (!update.listen_port || b.put_u16(WGDEVICE_A_LISTEN_PORT, *update.listen_port)) &&
                (!update.fwmark || b.put_u32(WGDEVICE_A_FWMARK, *update.fwmark)) &&
                (!update.replace_peers || b.put_u32(WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS));
      if (!ok) return too_small("the device attributes");
    }
    size_t fragments = 0;
    if (peer_i < peers.size()) {
      auto peers_nest = b.nest_start(WGDEVICE_A_PEERS);
      while (peers_nest && peer_i < peers.size()) {
        const auto& ep = endpoints[peer_i];
        PeerFit fit = put_peer(b, peers[peer_i], ep ? &*ep : nullptr, &ip_i);
        if (fit == PeerFit::none) break;
        ++fragments;
        if (fit == PeerFit::partial) break;
        ++peer_i;
        ip_i = 0;
      }
      if (peers_nest) {
        if (fragments > 0) {
          b.nest_end(*peers_nest);
        } else {
          b.nest_cancel(*peers_nest);
        }
      }
    }
    // A later message holds nothing but the name and peers: if not one peer
    // fragment fitted, no message ever will.
    if (!first && fragments == 0) return too_small("one peer");
    messages.push_back(std::move(b).finish());
  }
  return messages;
}

Result<WgDeviceUpdate> decode_set_device(const nlmsghdr* nlh) {
  WGATE_ASSIGN_OR_RETURN(auto payload, genl_payload(nlh, WG_CMD_SET_DEVICE, "WG_CMD_SET_DEVICE"));
  WgDeviceUpdate u;
  WGATE_TRY(for_each_attr(payload, "WG_CMD_SET_DEVICE", [&](const Attr& a) -> Status {
    switch (a.type) {
      case WGDEVICE_A_IFNAME: {
        WGATE_ASSIGN_OR_RETURN(u.name, read_ifname(a, "WGDEVICE_A_IFNAME"));
        break;
      }
      case WGDEVICE_A_PRIVATE_KEY: {
        WGATE_ASSIGN_OR_RETURN(u.private_key, read_key(a, "WGDEVICE_A_PRIVATE_KEY"));
        break;
      }
      case WGDEVICE_A_LISTEN_PORT: {
        WGATE_ASSIGN_OR_RETURN(u.listen_port, read_fixed<uint16_t>(a, "WGDEVICE_A_LISTEN_PORT"));
        break;
      }
      case WGDEVICE_A_FWMARK: {
        WGATE_ASSIGN_OR_RETURN(u.fwmark, read_fixed<uint32_t>(a, "WGDEVICE_A_FWMARK"));
        break;
      }
      case WGDEVICE_A_FLAGS: {
        WGATE_ASSIGN_OR_RETURN(uint32_t flags, read_fixed<uint32_t>(a, "WGDEVICE_A_FLAGS"));
        u.replace_peers = (flags & WGDEVICE_F_REPLACE_PEERS) != 0;
        break;
      }
      case WGDEVICE_A_PEERS:
        return for_each_attr(a.data, "WGDEVICE_A_PEERS", [&](const Attr& peer_attr) -> Status {
          WGATE_ASSIGN_OR_RETURN(PeerFields f, decode_peer(peer_attr));
          WgPeerUpdate p;
          p.public_key = *f.public_key;
          p.remove = (f.flags & WGPEER_F_REMOVE_ME) != 0;
          p.replace_allowed_ips = (f.flags & WGPEER_F_REPLACE_ALLOWEDIPS) != 0;
          p.allowed_ips = std::move(f.allowed_ips);
          p.endpoint = std::move(f.endpoint);
          p.persistent_keepalive = f.keepalive;
          u.peers.push_back(std::move(p));
          return ok_status();
        });
      default:
        break;
    }
    return ok_status();
  }));
  return u;
}

// ---- WG_CMD_GET_DEVICE -----------------------------------------------------

std::vector<uint8_t> encode_get_device(const std::string& ifname, uint16_t family_id, uint32_t seq) {
  MessageBuilder b(family_id, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, seq,
                   kMessageHeaderSize + kGenlHeaderSize + kAttrHeaderSize + attr_align(ifname.size() + 1));
  // Sized above to fit, so neither put can fail.
  (void)(start_genl(b, WG_CMD_GET_DEVICE, WG_GENL_VERSION) && b.put_strz(WGDEVICE_A_IFNAME, ifname));
  return std::move(b).finish();
}

Status WgDeviceDumpParser::feed(const nlmsghdr* nlh) {
  WGATE_ASSIGN_OR_RETURN(auto payload, genl_payload(nlh, WG_CMD_GET_DEVICE, "WG_CMD_GET_DEVICE reply"));
  return for_each_attr(payload, "WG_CMD_GET_DEVICE reply", [&](const Attr& a) -> Status {
    switch (a.type) {
      case WGDEVICE_A_IFINDEX: {
        WGATE_ASSIGN_OR_RETURN(uint32_t ifindex, read_fixed<uint32_t>(a, "WGDEVICE_A_IFINDEX"));
        state_.ifindex = static_cast<int>(ifindex);
        break;
      }
      case WGDEVICE_A_IFNAME: {
        WGATE_ASSIGN_OR_RETURN(state_.name, read_ifname(a, "WGDEVICE_A_IFNAME"));
        break;
      }
      case WGDEVICE_A_PRIVATE_KEY: {
        WGATE_ASSIGN_OR_RETURN(state_.private_key, read_key(a, "WGDEVICE_A_PRIVATE_KEY"));
        break;
      }
      case WGDEVICE_A_PUBLIC_KEY: {
        WGATE_ASSIGN_OR_RETURN(state_.public_key, read_key(a, "WGDEVICE_A_PUBLIC_KEY"));
        break;
      }
      case WGDEVICE_A_LISTEN_PORT: {
        WGATE_ASSIGN_OR_RETURN(state_.listen_port, read_fixed<uint16_t>(a, "WGDEVICE_A_LISTEN_PORT"));
        break;
      }
      case WGDEVICE_A_FWMARK: {
        WGATE_ASSIGN_OR_RETURN(state_.fwmark, read_fixed<uint32_t>(a, "WGDEVICE_A_FWMARK"));
        break;
      }
      case WGDEVICE_A_PEERS:
        return for_each_attr(a.data, "WGDEVICE_A_PEERS", [&](const Attr& peer_attr) -> Status {
          WGATE_ASSIGN_OR_RETURN(PeerFields f, decode_peer(peer_attr));
          // A repeated key continues the previous peer's allowed IPs.
          if (!state_.peers.empty() && state_.peers.back().public_key == *f.public_key) {
            auto& ips = state_.peers.back().allowed_ips;
            ips.insert(ips.end(), f.allowed_ips.begin(), f.allowed_ips.end());
            return ok_status();
          }
          WgPeerState p;
          p.public_key = *f.public_key;
          p.allowed_ips = std::move(f.allowed_ips);
          p.endpoint = f.endpoint.value_or("");
          p.persistent_keepalive = f.keepalive.value_or(0);
          p.last_handshake_sec = f.handshake_sec;
          p.last_handshake_nsec = f.handshake_nsec;
          p.rx_bytes = f.rx_bytes;
          p.tx_bytes = f.tx_bytes;
          state_.peers.push_back(std::move(p));
          return ok_status();
        });
      default:
        break;
    }
    return ok_status();
  });
}

}  // namespace wgate::netlink
