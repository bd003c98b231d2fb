// The WireGuard cross-platform configuration protocol ("UAPI"), as spoken
// over /var/run/wireguard/<if>.sock by wireguard-go
// (https://www.wireguard.com/xplatform/#configuration-protocol).
//
// Text lines "key=value\n"; a request starts with "get=1" or "set=1" and
// ends with an empty line; the reply ends with "errno=N" and an empty line.
// Keys are 64 lowercase hex characters. wireguard-go reports errors as
// negative errno values ("errno=-22"), so errno is parsed as signed.
//
// Pure functions, no I/O: the socket handling lives in uapi_socket.cpp
// and the parser is fuzzed (tests/fuzz/uapi_reply_fuzz.cpp).
#pragma once

#include <string>
#include <string_view>

#include "core/netstate.h"
#include "util/result.h"

namespace wgate {

// The complete "get" request.
inline constexpr std::string_view kUapiGetRequest = "get=1\n\n";

// Checks that `update` can be written as a set request without changing its
// meaning: endpoints must be "ip:port" or "[ip6]:port" (no line breaks or
// other characters that could inject protocol lines). Call before
// format_set_request() for any update whose strings come from outside.
Status validate_set_request(const WgDeviceUpdate& update);

// Formats the complete "set" request for `update`, including "set=1" and the
// terminating empty line. Device keys come first (private_key, listen_port,
// fwmark, replace_peers=true), then per peer: public_key, and either
// remove=true alone, or endpoint, persistent_keepalive_interval,
// replace_allowed_ips=true and allowed_ip lines. The update's name is not
// part of the request (it selects the socket). Precondition:
// validate_set_request(update).ok().
std::string format_set_request(const WgDeviceUpdate& update);

// Parses the complete reply to a "get" request (everything up to and
// including the terminating empty line; nothing may follow it).
// Unknown keys are ignored (forks add their own); a known key with a
// malformed value, a malformed line, a peer key before any public_key, a
// missing errno line or a missing terminator is an Error naming the line.
// A nonzero errno is an Error whose sys_errno is its absolute value.
// The result has public_key derived from private_key; name and ifindex are
// left for the caller.
Result<WgDeviceState> parse_get_reply(std::string_view reply);

// Parses the reply to a "set" request ("errno=N\n\n") and returns N, which
// may be negative (wireguard-go) or positive. Error only when the reply is
// malformed.
Result<int> parse_set_reply(std::string_view reply);

// True when `buffer` holds a complete reply, i.e. contains the terminating
// empty line. Lets a reader stop without waiting for the peer to close.
bool uapi_reply_complete(std::string_view buffer);

}  // namespace wgate
