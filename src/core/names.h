// Validation of names and free text that enter wgate from outside (config,
// CLI, later the API and the IdP), in one place so that every module agrees.
#pragma once

#include <string_view>

#include "util/result.h"

namespace wgate {

// A Linux interface name wgate will create or touch: 1-15 characters
// (IFNAMSIZ-1) of letters, digits, '-', '_' and '.', and not "." or "..".
// Stricter than the kernel, because names also end up in file paths (UAPI
// sockets, key files) and in nftables rules.
Status check_interface_name(std::string_view name);

// A user name: 1-64 characters of letters, digits and . _ @ + -
Status check_user_name(std::string_view name);

// A device name (a key's device: "laptop", later the hostname the CLI login
// sends): 1-64 characters of letters, digits and . _ -
Status check_device_name(std::string_view name);

// Free text (e-mail, key label): valid UTF-8, no control characters, at most
// `max_bytes`. `field` names it in the error.
Status check_text(std::string_view field, std::string_view text, size_t max_bytes);

}  // namespace wgate
