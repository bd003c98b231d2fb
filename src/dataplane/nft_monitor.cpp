#include "dataplane/nft_monitor.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <optional>
#include <string_view>

#include "dataplane/nftables_ruleset.h"

namespace wgate {
namespace {

// Netlink datagrams of nftables events stay well below this; a longer one
// is reported as truncated (and so as "maybe ours").
constexpr size_t kDatagramBuffer = 64 * 1024;

// The attribute that names the table in an event of type `msg`, or nullopt
// for types that carry none we know of.
std::optional<uint16_t> table_attribute(uint16_t msg) {
  switch (msg) {
    case NFT_MSG_NEWTABLE:
    case NFT_MSG_DELTABLE:
      return NFTA_TABLE_NAME;
    case NFT_MSG_NEWCHAIN:
    case NFT_MSG_DELCHAIN:
      return NFTA_CHAIN_TABLE;
    case NFT_MSG_NEWRULE:
    case NFT_MSG_DELRULE:
      return NFTA_RULE_TABLE;
    case NFT_MSG_NEWSET:
    case NFT_MSG_DELSET:
      return NFTA_SET_TABLE;
    case NFT_MSG_NEWSETELEM:
    case NFT_MSG_DELSETELEM:
      return NFTA_SET_ELEM_LIST_TABLE;
    case NFT_MSG_NEWOBJ:
    case NFT_MSG_DELOBJ:
      return NFTA_OBJ_TABLE;
    case NFT_MSG_NEWFLOWTABLE:
    case NFT_MSG_DELFLOWTABLE:
      return NFTA_FLOWTABLE_TABLE;
    default:
      return std::nullopt;
  }
}

struct TableName {
  uint16_t attribute = 0;
  std::optional<std::string_view> name;
};

// Whether one event could concern `inet wgate`; in doubt, yes.
bool may_concern_wgate(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type < NLMSG_MIN_TYPE) return true;  // overrun, error: unexpected here
  if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES) return true;
  const uint16_t msg = NFNL_MSG_TYPE(nlh->nlmsg_type);
  // Announced after every commit, whatever it touched; the objects a commit
  // changed are announced one by one.
  if (msg == NFT_MSG_NEWGEN) return false;
  if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(nfgenmsg)) return true;
  const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  if (nfg->nfgen_family != NFPROTO_INET) return nfg->nfgen_family == NFPROTO_UNSPEC;
  const std::optional<uint16_t> attribute = table_attribute(msg);
  if (!attribute) return true;
  TableName table{*attribute, std::nullopt};
  mnl_attr_parse(
      nlh, sizeof(nfgenmsg),
      [](const nlattr* attr, void* data) -> int {
        auto* t = static_cast<TableName*>(data);
        if (mnl_attr_get_type(attr) == t->attribute && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0) {
          t->name = std::string_view(mnl_attr_get_str(attr));
        }
        return MNL_CB_OK;
      },
      &table);
  return !table.name || *table.name == kNftTable;
}

// Whether any event in one datagram could concern `inet wgate`.
bool datagram_may_concern_wgate(const char* data, size_t len) {
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(data);
  int remaining = static_cast<int>(len);
  while (mnl_nlmsg_ok(nlh, remaining)) {
    if (may_concern_wgate(nlh)) return true;
    nlh = mnl_nlmsg_next(nlh, &remaining);
  }
  return remaining != 0;  // a torn message: in doubt
}

}  // namespace

NftMonitor::NftMonitor(mnl_socket* s) : sock_(s), buffer_(kDatagramBuffer) {}

Result<NftMonitor> NftMonitor::open(int receive_buffer_bytes) {
  mnl_socket* s = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (s == nullptr) return errno_error(errno, "nft monitor: opening netlink socket");
  NftMonitor monitor(s);
  if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) return errno_error(errno, "nft monitor: binding");
  // FORCE lifts the rmem_max cap for a privileged caller; else the capped
  // request still beats the default.
  if (setsockopt(monitor.fd(), SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer_bytes, sizeof receive_buffer_bytes) != 0 &&
      setsockopt(monitor.fd(), SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof receive_buffer_bytes) != 0) {
    return errno_error(errno, "nft monitor: setting the receive buffer");
  }
  int group = NFNLGRP_NFTABLES;
  if (mnl_socket_setsockopt(s, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
    return errno_error(errno, "nft monitor: subscribing to nftables events");
  }
  return monitor;
}

int NftMonitor::fd() const { return mnl_socket_get_fd(sock_.get()); }

Result<bool> NftMonitor::drain() {
  bool maybe_ours = false;
  for (;;) {
    // MSG_TRUNC: the datagram's real length comes back even when it did
    // not fit, so a truncated datagram is recognised.
    ssize_t n = recv(fd(), buffer_.data(), buffer_.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return maybe_ours;
      if (errno == EINTR) continue;
      // Events were dropped; the socket stays usable and reading goes on.
      if (errno == ENOBUFS) {
        maybe_ours = true;
        continue;
      }
      return errno_error(errno, "nft monitor: reading events");
    }
    const auto len = static_cast<size_t>(n);
    if (len > buffer_.size()) {
      maybe_ours = true;
      continue;
    }
    // Every datagram is still read, so the socket is empty afterwards.
    if (!maybe_ours && datagram_may_concern_wgate(buffer_.data(), len)) maybe_ours = true;
  }
}

}  // namespace wgate
