// WireGuard over generic netlink: message encoding and decoding as values.
//
// No sockets here: every function builds or reads bytes, so the exact wire
// format is unit-testable without root or a wireguard module. The layout is
// the one documented in <linux/wireguard.h> (family "wireguard", version 1);
// the family id is resolved at run time through the genl controller
// (CTRL_CMD_GETFAMILY), which also makes the kernel load the module.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/netstate.h"
#include "util/result.h"

namespace wgate::netlink {

// Largest message encode_set_device builds by default. wireguard-tools uses
// MNL_SOCKET_BUFFER_SIZE (the page size, at most 8192); 4096 is that value on
// every common platform and is always accepted by the kernel.
inline constexpr size_t kWgDefaultMessageSize = 4096;

// ---- genl controller -------------------------------------------------------

// CTRL_CMD_GETFAMILY for `family_name` (NLM_F_REQUEST | NLM_F_ACK).
std::vector<uint8_t> encode_get_family(const std::string& family_name, uint32_t seq);

// Reads CTRL_ATTR_FAMILY_ID from the controller's reply. An Error names what
// is missing or malformed. `nlh` must be readable for nlh->nlmsg_len bytes.
Result<uint16_t> parse_family_id(const nlmsghdr* nlh);

// ---- WG_CMD_SET_DEVICE -----------------------------------------------------

// Encodes `update` as WG_CMD_SET_DEVICE messages (NLM_F_REQUEST | NLM_F_ACK),
// keyed by WGDEVICE_A_IFNAME, with sequence numbers first_seq, first_seq+1,...
//
// Every message is at most `max_message_size` bytes (checked at each
// attribute). What does not fit continues in the next message:
//  - device attributes and WGDEVICE_F_REPLACE_PEERS only in the first one;
//  - a peer is never split before at least one of its allowed IPs is in the
//    message; when its allowed IPs overflow, the next message repeats only its
//    public key and continues the list, WITHOUT WGPEER_F_REPLACE_ALLOWEDIPS
//    (which must clear the list only once);
//  - a removed peer carries only its key and WGPEER_F_REMOVE_ME.
// An empty update (update.empty()) encodes to no messages.
// Errors: interface name empty or longer than IFNAMSIZ-1, an unparsable
// endpoint, or a max_message_size that cannot hold one peer (or > 65535, the
// largest nest netlink can describe).
Result<std::vector<std::vector<uint8_t>>> encode_set_device(const WgDeviceUpdate& update, uint16_t family_id,
                                                            uint32_t first_seq,
                                                            size_t max_message_size = kWgDefaultMessageSize);

// The inverse of encode_set_device for ONE message: device fields, the
// REPLACE_PEERS flag and the peers (fragments, as they are in this message)
// with their flags. For tests and fakes that stand in for the kernel.
Result<WgDeviceUpdate> decode_set_device(const nlmsghdr* nlh);

// ---- WG_CMD_GET_DEVICE -----------------------------------------------------

// WG_CMD_GET_DEVICE for `ifname` (NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP).
std::vector<uint8_t> encode_get_device(const std::string& ifname, uint16_t family_id, uint32_t seq);

// Accumulates the reply messages of a WG_CMD_GET_DEVICE dump into one
// WgDeviceState. The kernel spreads a large device over several messages:
// device attributes come only in the first, later ones carry more peers, and
// a peer whose allowed IPs overflow is repeated (key + allowed IPs only) at
// the start of the next message; adjacent entries with the same key are
// merged here.
//
// Every attribute length is validated; malformed input yields an Error naming
// the attribute and leaves the parser in an unspecified (but safe) state.
// Unknown attributes are skipped, for newer kernels.
class WgDeviceDumpParser {
 public:
  // Parses one reply message. `nlh` must be readable for nlh->nlmsg_len
  // bytes; it need not be 4-byte padded at its end.
  Status feed(const nlmsghdr* nlh);

  // Forgets everything fed so far (for a dump restarted after
  // NLM_F_DUMP_INTR).
  void reset() { state_ = WgDeviceState{}; }

  const WgDeviceState& state() const { return state_; }
  WgDeviceState take() { return std::move(state_); }

 private:
  WgDeviceState state_;
};

}  // namespace wgate::netlink
