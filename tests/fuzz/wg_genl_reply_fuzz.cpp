// Fuzzes the WireGuard generic netlink decoders with arbitrary bytes taken as
// a buffer of reply messages, as the kernel's socket would deliver them:
// the dump parser (fed every message in turn, so merging across messages is
// exercised, even after a rejected one), the genl controller reply parser
// and the single-message set decoder. Any crash or sanitizer report is a bug;
// errors are the expected outcome for garbage.
#include <libmnl/libmnl.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "netlink/wg_genl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Netlink buffers are 4-byte aligned; copy so that the fuzzer's arbitrary
  // data pointer does not add misalignment the kernel never produces.
  std::vector<uint32_t> storage((size + 3) / 4);
  if (size > 0) std::memcpy(storage.data(), data, size);

  wgate::netlink::WgDeviceDumpParser parser;
  const auto* bytes = reinterpret_cast<const uint8_t*>(storage.data());
  // Walk the messages by hand: mnl_nlmsg_ok() casts nlmsg_len to int, so a
  // length >= 2^31 passes it and sends mnl_nlmsg_next() out of the buffer.
  size_t off = 0;
  while (size - off >= sizeof(nlmsghdr)) {
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(bytes + off);
    if (nlh->nlmsg_len < sizeof(nlmsghdr) || nlh->nlmsg_len > size - off) break;
    (void)parser.feed(nlh);
    (void)wgate::netlink::parse_family_id(nlh);
    (void)wgate::netlink::decode_set_device(nlh);
    off += MNL_ALIGN(nlh->nlmsg_len);
    if (off > size) break;
  }
  // Touch the result so that merged state is fully materialised.
  const wgate::WgDeviceState& state = parser.state();
  size_t ips = 0;
  for (const auto& peer : state.peers) ips += peer.allowed_ips.size() + peer.endpoint.size();
  return ips == SIZE_MAX ? 1 : 0;
}
