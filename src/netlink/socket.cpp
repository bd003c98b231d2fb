#include "netlink/socket.h"

#include "netlink/attr.h"
#include "netlink/kernel_error.h"

#include <linux/netlink.h>

#include <cstring>
#include <ctime>
#include <set>
#include <span>
#include <string>

namespace wgate::netlink {
namespace {

// Reads the kernel's extended-ACK text (NLMSGERR_ATTR_MSG), when present, so
// that errors say e.g. "Nexthop device is not up" and not only the errno.
std::string extack_message(const nlmsghdr* nlh) {
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  const auto* base = static_cast<const uint8_t*>(mnl_nlmsg_get_payload(nlh));
  const size_t payload_len = nlh->nlmsg_len - MNL_NLMSG_HDRLEN;  // the caller checked >= nlmsgerr
  nlmsgerr err;
  std::memcpy(&err, base, sizeof(err));
  size_t offset = sizeof(nlmsgerr);
  // Without NLM_F_CAPPED the whole request follows the error header, and the
  // attributes start after it at the next 4-byte boundary (netlink_ack pads
  // the payload). An echoed length below a header is malformed: before this
  // check it wrapped the offset around to an arbitrary, unaligned place.
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
    if (err.msg.nlmsg_len < sizeof(nlmsghdr)) return "";
    offset = NLMSG_ALIGN(offset + (err.msg.nlmsg_len - sizeof(nlmsghdr)));
  }
  if (offset > payload_len) return "";
  // Best effort: the text of the first NLMSGERR_ATTR_MSG before anything
  // malformed; the errno stands on its own without it.
  AttrWalker walker(std::span<const uint8_t>(base + offset, payload_len - offset), "extended ACK");
  for (;;) {
    auto next = walker.next();
    if (!next.ok() || !next->has_value()) return "";
    const Attr& a = **next;
    if (a.type == NLMSGERR_ATTR_MSG && !a.data.empty()) {
      const auto* text = reinterpret_cast<const char*>(a.data.data());
      return std::string(text, strnlen(text, a.data.size()));
    }
  }
}

}  // namespace

Status ack_status(const nlmsghdr* nlh) {
  if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(nlmsgerr)) return make_error("netlink: truncated error reply");
  nlmsgerr err;
  std::memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
  if (err.error == 0) return ok_status();
  // Never negated here: the kernel's code may be malformed (INT32_MIN).
  Error e = kernel_error(err.error, "netlink");
  std::string extack = extack_message(nlh);
  if (!extack.empty()) e.message += " (" + extack + ")";
  return e;
}

Status done_status(const nlmsghdr* nlh) {
  // A DONE without a code (older kernels, other families) ends a good dump.
  if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(int32_t)) return ok_status();
  int32_t code;
  std::memcpy(&code, mnl_nlmsg_get_payload(nlh), sizeof(code));
  if (code >= 0) return ok_status();
  return kernel_error(code, "netlink");
}

Result<MnlSocket> MnlSocket::open(int bus) {
  mnl_socket* s = mnl_socket_open(bus);
  if (!s) return errno_error(errno, "opening netlink socket");
  MnlSocket sock(s);
  if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) return errno_error(errno, "binding netlink socket");
  int one = 1;
  mnl_socket_setsockopt(s, NETLINK_EXT_ACK, &one, sizeof(one));
  // Replies to a request must not be truncated to our request's size.
  mnl_socket_setsockopt(s, NETLINK_CAP_ACK, &one, sizeof(one));
  // Seed sequence numbers from the clock so replies addressed to a previous
  // process's socket (same portid reused) cannot be mistaken for ours.
  sock.seq_ = static_cast<uint32_t>(time(nullptr));
  return sock;
}

uint32_t MnlSocket::portid() const { return mnl_socket_get_portid(sock_.get()); }

// Reads replies until every sequence number in `pending` has been answered
// (by an ACK, an error, or the NLMSG_DONE of a dump). Walks the messages
// itself rather than through mnl_cb_run, because libmnl stops at the first
// NLM_F_DUMP_INTR message, leaving the rest of the dump in the socket, and
// ignores the error code a failed dump carries in NLMSG_DONE.
Status MnlSocket::read_until_answered(std::set<uint32_t> pending, const MessageHandler& on_message,
                                      bool* interrupted) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE * 8);
  Status first_error;
  while (!pending.empty()) {
    ssize_t n = mnl_socket_recvfrom(sock_.get(), buf.data(), buf.size());
    if (n < 0) return errno_error(errno, "reading netlink reply");
    size_t remaining = static_cast<size_t>(n);
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data());
    while (remaining >= sizeof(nlmsghdr) && nlh->nlmsg_len >= sizeof(nlmsghdr) && nlh->nlmsg_len <= remaining) {
      if (nlh->nlmsg_pid == portid() && pending.count(nlh->nlmsg_seq)) {
        if (nlh->nlmsg_type == NLMSG_ERROR) {
          if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(nlmsgerr)) return make_error("netlink: truncated error reply");
          Status st = ack_status(nlh);
          if (!st.ok() && first_error.ok()) first_error = st;
          pending.erase(nlh->nlmsg_seq);
        } else if (nlh->nlmsg_type == NLMSG_DONE) {
          Status st = done_status(nlh);
          if (!st.ok() && first_error.ok()) first_error = st;
          pending.erase(nlh->nlmsg_seq);
        } else if (nlh->nlmsg_type == NLMSG_OVERRUN) {
          return make_error("netlink: overrun (replies were lost)");
        } else if (nlh->nlmsg_type >= NLMSG_MIN_TYPE) {
          if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) *interrupted = true;
          // After an error or an interruption the rest is read but unused.
          if (first_error.ok() && !*interrupted && on_message) {
            Status st = on_message(nlh);
            if (!st.ok()) first_error = st;
          }
        }
      }
      size_t step = NLMSG_ALIGN(nlh->nlmsg_len);
      if (step >= remaining) break;
      remaining -= step;
      nlh = reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(nlh) + NLMSG_ALIGN(nlh->nlmsg_len));
    }
  }
  return first_error;
}

Status MnlSocket::request(const nlmsghdr* msg, const MessageHandler& on_message) {
  if (mnl_socket_sendto(sock_.get(), msg, msg->nlmsg_len) < 0) return errno_error(errno, "sending netlink request");
  bool interrupted = false;
  WGATE_TRY(read_until_answered({msg->nlmsg_seq}, on_message, &interrupted));
  if (interrupted) return Error{"netlink: dump interrupted (the object changed while it was read)", EINTR};
  return ok_status();
}

Status MnlSocket::request_batch(const std::vector<std::vector<uint8_t>>& messages) {
  // Several messages go in one datagram (the kernel processes each in turn
  // and ACKs each); datagrams stay well under the socket's send buffer.
  constexpr size_t kMaxDatagram = 64 * 1024;
  size_t i = 0;
  while (i < messages.size()) {
    std::vector<uint8_t> datagram;
    std::set<uint32_t> pending;
    while (i < messages.size() && (datagram.empty() || datagram.size() + messages[i].size() <= kMaxDatagram)) {
      const auto* nlh = reinterpret_cast<const nlmsghdr*>(messages[i].data());
      pending.insert(nlh->nlmsg_seq);
      datagram.insert(datagram.end(), messages[i].begin(), messages[i].end());
      datagram.resize(NLMSG_ALIGN(datagram.size()));
      ++i;
    }
    if (mnl_socket_sendto(sock_.get(), datagram.data(), datagram.size()) < 0) {
      return errno_error(errno, "sending netlink batch");
    }
    bool interrupted = false;
    // The kernel applies every message of a datagram even after one fails;
    // stop sending further datagrams and leave the rest to the next pass.
    WGATE_TRY(read_until_answered(std::move(pending), nullptr, &interrupted));
  }
  return ok_status();
}

Status MnlSocket::dump(const std::function<std::vector<uint8_t>()>& build_request, const MessageHandler& on_message,
                       const std::function<void()>& restart) {
  for (int attempt = 0;; ++attempt) {
    std::vector<uint8_t> req = build_request();
    auto* nlh = reinterpret_cast<nlmsghdr*>(req.data());
    Status st = request(nlh, on_message);
    // The whole dump was read to its end before we get here, so a retry
    // starts on a clean socket.
    if (st.ok() || st.error().sys_errno != EINTR || attempt >= 2) return st;
    if (restart) restart();
  }
}

}  // namespace wgate::netlink
