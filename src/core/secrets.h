// Random secrets and their digests: session tokens, OAuth state and nonce,
// PKCE. OpenSSL's CSPRNG and SHA-256; nothing hand-written.
#pragma once

#include <string>
#include <string_view>

#include "util/result.h"

namespace wgate {

// `bytes` random bytes (OpenSSL RAND_bytes) as unpadded base64url: 32 bytes
// give 43 characters. Error only when the CSPRNG fails.
Result<std::string> random_token(size_t bytes = 32);

// SHA-256 of `text`, lowercase hex: how tokens are stored (a stolen
// database holds no usable session).
std::string sha256_hex(std::string_view text);

// RFC 7636 S256: base64url(SHA-256(verifier)), unpadded.
std::string pkce_challenge_s256(std::string_view verifier);

// Unpadded base64url of raw bytes.
std::string base64url(std::string_view bytes);

// Equal, in time that does not depend on where the first difference is.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace wgate
