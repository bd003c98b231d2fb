#include "netlink/socket.h"

#include <ctime>
#include <string>

namespace wgate::netlink {
namespace {

struct CallbackContext {
  const MessageHandler* handler;
  Status status;
};

int data_callback(const nlmsghdr* nlh, void* data) {
  auto* ctx = static_cast<CallbackContext*>(data);
  if (ctx->handler && *ctx->handler) {
    ctx->status = (*ctx->handler)(nlh);
    if (!ctx->status.ok()) return MNL_CB_ERROR;
  }
  return MNL_CB_OK;
}

}  // namespace

Result<MnlSocket> MnlSocket::open(int bus) {
  mnl_socket* s = mnl_socket_open(bus);
  if (!s) return errno_error(errno, "opening netlink socket");
  MnlSocket sock(s);
  if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) return errno_error(errno, "binding netlink socket");
  // Extended ACKs carry the kernel's own reason for a rejected message.
  int one = 1;
  mnl_socket_setsockopt(s, NETLINK_EXT_ACK, &one, sizeof(one));
  // Seed sequence numbers from the clock so replies to a previous process's
  // socket (same portid reused) cannot be mistaken for ours.
  sock.seq_ = static_cast<uint32_t>(time(nullptr));
  return sock;
}

uint32_t MnlSocket::portid() const { return mnl_socket_get_portid(sock_.get()); }

Status MnlSocket::read_replies(uint32_t seq, const MessageHandler& on_message) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE * 4);
  CallbackContext ctx{&on_message, {}};
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_.get(), buf.data(), buf.size());
    if (n < 0) return errno_error(errno, "reading netlink reply");
    int rc = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid(), data_callback, &ctx);
    if (rc == MNL_CB_ERROR) {
      if (!ctx.status.ok()) return ctx.status;
      return errno_error(errno, "netlink");
    }
    if (rc == MNL_CB_STOP) return ok_status();
  }
}

Status MnlSocket::request(const nlmsghdr* msg, const MessageHandler& on_message) {
  if (mnl_socket_sendto(sock_.get(), msg, msg->nlmsg_len) < 0) return errno_error(errno, "sending netlink request");
  return read_replies(msg->nlmsg_seq, on_message);
}

Status MnlSocket::request_batch(const std::vector<std::vector<uint8_t>>& messages) {
  for (const auto& m : messages) {
    WGATE_TRY(request(reinterpret_cast<const nlmsghdr*>(m.data()), nullptr));
  }
  return ok_status();
}

Status MnlSocket::dump(const std::function<std::vector<uint8_t>()>& build_request, const MessageHandler& on_message,
                       const std::function<void()>& restart) {
  for (int attempt = 0;; ++attempt) {
    std::vector<uint8_t> req = build_request();
    auto* nlh = reinterpret_cast<nlmsghdr*>(req.data());
    Status st = request(nlh, on_message);
    // libmnl reports NLM_F_DUMP_INTR as EINTR.
    if (st.ok() || st.error().sys_errno != EINTR || attempt >= 2) return st;
    if (restart) restart();
  }
}

}  // namespace wgate::netlink
