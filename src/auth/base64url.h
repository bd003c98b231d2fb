// Base64url (RFC 4648 section 5) as JOSE uses it (RFC 7515 section 2): no
// padding, no whitespace, only the URL-safe alphabet.
#pragma once

#include <string>
#include <string_view>

#include "util/result.h"

namespace wgate::auth {

// Encodes `data` as unpadded base64url.
std::string base64url_encode(std::string_view data);

// Decodes unpadded base64url. Rejects, with an Error naming the reason: a
// character outside [A-Za-z0-9_-] (including '=' padding and whitespace), a
// length that no encoding has (4n+1), and a non-canonical encoding (unused
// bits of the last character not zero), so that one byte string has exactly
// one accepted text. The empty text decodes to the empty string.
Result<std::string> base64url_decode(std::string_view text);

}  // namespace wgate::auth
