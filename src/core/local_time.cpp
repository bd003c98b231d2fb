#include "core/local_time.h"

#include <sys/stat.h>

#include <cstdlib>
#include <ctime>
#include <mutex>
#include <optional>

namespace wgate {
namespace {

// The C library reads the zone from $TZ, a process-wide setting: every use
// goes through this lock and puts the old value back.
std::mutex& tz_mutex() {
  static std::mutex m;
  return m;
}

class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const std::string& zone) : lock_(tz_mutex()) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    ::setenv("TZ", (":" + zone).c_str(), 1);
    ::tzset();
  }
  ~ScopedTimeZone() {
    if (old_) {
      ::setenv("TZ", old_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  ScopedTimeZone(const ScopedTimeZone&) = delete;
  ScopedTimeZone& operator=(const ScopedTimeZone&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
  std::optional<std::string> old_;
};

}  // namespace

Result<int> parse_time_of_day(std::string_view text) {
  auto digit = [&](size_t i) { return i < text.size() && text[i] >= '0' && text[i] <= '9'; };
  if (text.size() != 5 || !digit(0) || !digit(1) || text[2] != ':' || !digit(3) || !digit(4)) {
    return make_error("'" + std::string(text) + "' is not a time of day (HH:MM, 24 h)");
  }
  int h = (text[0] - '0') * 10 + (text[1] - '0');
  int m = (text[3] - '0') * 10 + (text[4] - '0');
  if (h > 23 || m > 59) return make_error("'" + std::string(text) + "' is not a time of day (HH:MM, 24 h)");
  return h * 60 + m;
}

Status check_time_zone(std::string_view zone) {
  if (zone == "UTC") return ok_status();
  bool ok = !zone.empty() && zone.size() < 64 && zone.front() != '/' && zone.find("..") == std::string_view::npos;
  for (char c : zone) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '_' ||
                c == '-' || c == '+');
  }
  struct stat st {};
  if (!ok || ::stat(("/usr/share/zoneinfo/" + std::string(zone)).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return make_error("'" + std::string(zone) + "' is not a time zone of this machine's tz database (e.g. UTC, "
                      "Europe/Berlin; package tzdata)");
  }
  return ok_status();
}

UnixTime next_time_of_day(UnixTime after, int minute_of_day, const std::string& zone) {
  ScopedTimeZone tz(zone);
  time_t t = static_cast<time_t>(after);
  struct tm local {};
  ::localtime_r(&t, &local);
  for (int day = 0; day < 3; ++day) {
    struct tm want = local;
    want.tm_mday += day;
    want.tm_hour = minute_of_day / 60;
    want.tm_min = minute_of_day % 60;
    want.tm_sec = 0;
    want.tm_isdst = -1;  // let the zone decide
    time_t candidate = ::mktime(&want);
    if (candidate >= t) return static_cast<UnixTime>(candidate);
  }
  return after + 86400;  // not reached: one of three days has the time
}

}  // namespace wgate
