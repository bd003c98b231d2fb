// JSON from the outside world (tokens, JWKS, provider answers), parsed the
// one strict way the auth module uses everywhere. Private to src/auth/.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

#include "util/result.h"

namespace wgate::auth::internal {

// Nesting deeper than this is refused: no legitimate token, JWKS or
// provider answer comes near it, and the refusal keeps every later
// recursive walk (dump, comparisons) shallow.
inline constexpr int kMaxJsonDepth = 32;

// Parses `text` as one JSON value. Errors: invalid JSON (incl. invalid
// UTF-8), nesting deeper than kMaxJsonDepth, and an object with the same
// member name twice. Duplicates are refused rather than resolved: RFC 7515
// section 4 and RFC 7519 section 4 allow either, and refusing means no two
// parsers (ours and the one a provider or an attacker tested against) can
// read different claims from one token. `what` names the text in errors.
Result<nlohmann::json> parse_json_strict(std::string_view text, std::string_view what);

// Outside text for an error message: in single quotes, at most `max_bytes`
// bytes (then "..."), bytes outside printable ASCII and '\\' as \xNN.
std::string quote_text(std::string_view text, size_t max_bytes = 64);

}  // namespace wgate::auth::internal
