// libFuzzer target: arbitrary text as a time (`whois --at`, later the API's
// time filters). parse_time must answer every input with a time or an
// Error naming the text, and a time it accepts in RFC 3339 form must read
// back the same when formatted and parsed again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/time_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto t = wgate::parse_time(text, 1'800'000'000);
  if (!t.ok()) {
    if (t.error().message.empty()) std::abort();
    return 0;
  }
  // Round trip for times formatting can show (years 1000..9999, four digits).
  if (*t >= -30'610'224'000 && *t < 253'402'300'800) {
    auto again = wgate::parse_time(wgate::format_utc(*t), 0);
    if (!again.ok() || *again != *t) std::abort();
  }
  return 0;
}
