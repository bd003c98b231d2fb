// Wall-clock times of day in a named time zone: for keys that expire at a
// fixed time of day ("03:00 Europe/Berlin") rather than after a TTL, so
// people never lose their tunnel mid-morning.
#pragma once

#include <string>
#include <string_view>

#include "core/model.h"
#include "util/result.h"

namespace wgate {

// "HH:MM" (24 h) -> minutes after midnight. Errors name the text.
Result<int> parse_time_of_day(std::string_view text);

// A zone name from the tz database ("UTC", "Europe/Berlin"): it must exist
// on this machine (/usr/share/zoneinfo), since the C library would silently
// take an unknown one for UTC.
Status check_time_zone(std::string_view zone);

// The first moment at or after `after` whose local time in `zone` is
// `minute_of_day` (a time skipped by a daylight-saving jump counts as the
// moment the clock jumps past it). Precondition: check_time_zone(zone).
UnixTime next_time_of_day(UnixTime after, int minute_of_day, const std::string& zone);

}  // namespace wgate
