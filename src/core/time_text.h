// Times as people type and read them: RFC 3339 text and Unix seconds.
#pragma once

#include <string>
#include <string_view>

#include "core/model.h"
#include "util/result.h"

namespace wgate {

// "2026-11-23T07:00:00Z"
std::string format_utc(UnixTime t);

// Accepts "now", Unix seconds, or an RFC 3339 date-time:
// "2026-11-23T07:00:00Z", "2026-11-23T08:00:00+01:00",
// "2026-11-23T07:00:00.250Z" (fractions are truncated to the second), also
// without seconds, with a space instead of 'T', or without a zone (UTC).
// Errors name the text and the accepted forms.
Result<UnixTime> parse_time(std::string_view text, UnixTime now);

}  // namespace wgate
