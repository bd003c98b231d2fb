// The error codes the kernel puts in NLMSG_ERROR and NLMSG_DONE, as Errors.
#pragma once

#include <cstdint>
#include <string>

#include "util/result.h"

namespace wgate::netlink {

// The largest errno the kernel returns (MAX_ERRNO in <linux/err.h>, which is
// not part of the UAPI headers).
inline constexpr int32_t kMaxKernelErrno = 4095;

// The Error for a non-zero netlink error code, prefixed with `what`. The
// kernel sends -errno (-1 .. -4095), which becomes sys_errno. Any other value
// (positive, or INT32_MIN, whose negation does not fit an int) is a reply
// that breaks the protocol: still an Error, with sys_errno EPROTO and the
// code in the message, so no caller mistakes it for a real errno (EEXIST,
// EINTR) it acts on.
inline Error kernel_error(int32_t code, const std::string& what) {
  if (code < 0 && code >= -kMaxKernelErrno) return errno_error(-code, what);
  return Error{what + ": malformed error code " + std::to_string(code) + " (not a negative errno)", EPROTO};
}

}  // namespace wgate::netlink
