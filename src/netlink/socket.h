// MnlSocket: a move-only owner of a libmnl netlink socket, with request and
// dump helpers that turn netlink errors into Status values.
#pragma once

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <vector>

#include "util/result.h"

namespace wgate::netlink {

// Called for each reply message; return an error to stop.
using MessageHandler = std::function<Status(const nlmsghdr*)>;

// What one reply message says about its request; pure, so that the parsing
// of the kernel's replies is unit-tested and fuzzed without a socket. `nlh`
// must be readable for nlh->nlmsg_len bytes.
//
// NLMSG_ERROR: ok for an ACK (code 0); otherwise an Error with the errno and
// the kernel's extended-ACK text, or, for a code that is no negative errno,
// sys_errno EPROTO (netlink/kernel_error.h). A message too short for
// nlmsgerr is an Error.
Status ack_status(const nlmsghdr* nlh);
// NLMSG_DONE: ok, unless it carries a negative code (a dump that failed
// part-way), which becomes an Error as in ack_status.
Status done_status(const nlmsghdr* nlh);

class MnlSocket {
 public:
  // Opens and binds a socket on `bus` (NETLINK_ROUTE, NETLINK_GENERIC).
  static Result<MnlSocket> open(int bus);

  MnlSocket(MnlSocket&&) noexcept = default;
  MnlSocket& operator=(MnlSocket&&) noexcept = default;

  uint32_t portid() const;
  uint32_t next_seq() { return ++seq_; }

  // Sends one message (whose nlmsg_seq the caller set from next_seq()) and
  // reads replies until the kernel's ACK or NLMSG_DONE. An NLMSG_ERROR reply
  // becomes an Error with its errno. `on_message` may be null.
  Status request(const nlmsghdr* msg, const MessageHandler& on_message);

  // Sends a batch of messages (each with its own seq and NLM_F_ACK), packed
  // into as few datagrams as fit 64 KiB, and waits for every ACK. Used for
  // large WireGuard sets. Stops at the first datagram with an error.
  Status request_batch(const std::vector<std::vector<uint8_t>>& messages);

  // A dump request. If the kernel marks the dump interrupted
  // (NLM_F_DUMP_INTR: the object changed while being dumped), `restart` is
  // called and the whole dump is repeated, at most 3 times; after that the
  // error is returned, because a torn dump would make the diff wrong.
  Status dump(const std::function<std::vector<uint8_t>()>& build_request,
              const MessageHandler& on_message, const std::function<void()>& restart);

 private:
  struct Deleter {
    void operator()(mnl_socket* s) const { mnl_socket_close(s); }
  };
  explicit MnlSocket(mnl_socket* s) : sock_(s) {}
  Status read_until_answered(std::set<uint32_t> pending, const MessageHandler& on_message, bool* interrupted);

  std::unique_ptr<mnl_socket, Deleter> sock_;
  uint32_t seq_ = 0;
};

}  // namespace wgate::netlink
