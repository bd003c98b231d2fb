// libFuzzer target: arbitrary bytes as the kernel's NLMSG_ERROR / NLMSG_DONE
// replies (ack_status, done_status in netlink/socket.h), whose error codes
// and extended-ACK attributes come from outside. Every input must give a
// Status without a sanitizer report; an error must never carry an errno
// outside 1..4095 (the code is the kernel's, and may be malformed).
#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "netlink/socket.h"

namespace {

void check(const wgate::Status& st) {
  if (!st.ok() && (st.error().sys_errno < 0 || st.error().sys_errno > 4095)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The socket hands these functions 4-byte aligned messages whose
  // nlmsg_len fits the bytes read; give them the same.
  if (size < sizeof(nlmsghdr)) return 0;
  std::vector<uint32_t> storage((size + 3) / 4);
  std::memcpy(storage.data(), data, size);
  auto* nlh = reinterpret_cast<nlmsghdr*>(storage.data());
  if (nlh->nlmsg_len < sizeof(nlmsghdr) || nlh->nlmsg_len > size) nlh->nlmsg_len = static_cast<uint32_t>(size);
  check(wgate::netlink::ack_status(nlh));
  check(wgate::netlink::done_status(nlh));
  return 0;
}
