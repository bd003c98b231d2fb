#include "core/time_text.h"

#include <charconv>
#include <ctime>

namespace wgate {
namespace {

// Reads exactly `digits` decimal digits at `pos`.
bool read_number(std::string_view text, size_t& pos, int digits, int& out) {
  if (pos + digits > text.size()) return false;
  int value = 0;
  for (int i = 0; i < digits; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  pos += digits;
  out = value;
  return true;
}

bool expect_char(std::string_view text, size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

bool valid_date(int year, int month, int day) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return false;
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  int max = kDays[month - 1] + (month == 2 && leap ? 1 : 0);
  return day <= max;
}

std::optional<UnixTime> parse_rfc3339(std::string_view text) {
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_number(text, pos, 4, year) || !expect_char(text, pos, '-') || !read_number(text, pos, 2, month) ||
      !expect_char(text, pos, '-') || !read_number(text, pos, 2, day)) {
    return std::nullopt;
  }
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ')) return std::nullopt;
  ++pos;
  if (!read_number(text, pos, 2, hour) || !expect_char(text, pos, ':') || !read_number(text, pos, 2, minute)) {
    return std::nullopt;
  }
  if (pos < text.size() && text[pos] == ':') {
    ++pos;
    if (!read_number(text, pos, 2, second)) return std::nullopt;
    if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
      ++pos;
      size_t start = pos;
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
      if (pos == start || pos - start > 9) return std::nullopt;
    }
  }
  int offset_seconds = 0;
  if (pos < text.size()) {
    char zone = text[pos];
    if (zone == 'Z' || zone == 'z') {
      ++pos;
    } else if (zone == '+' || zone == '-') {
      ++pos;
      int oh = 0, om = 0;
      if (!read_number(text, pos, 2, oh)) return std::nullopt;
      expect_char(text, pos, ':');  // "+01:00" and "+0100" both
      if (!read_number(text, pos, 2, om) || oh > 23 || om > 59) return std::nullopt;
      offset_seconds = (zone == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    } else {
      return std::nullopt;
    }
  }
  if (pos != text.size()) return std::nullopt;
  // 60 is a leap second (RFC 3339 5.7): it reads as the next second's start.
  if (!valid_date(year, month, day) || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<UnixTime>(timegm(&tm)) - offset_seconds;
}

}  // namespace

std::string format_utc(UnixTime t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<UnixTime> parse_time(std::string_view text, UnixTime now) {
  if (text == "now") return now;
  if (!text.empty() && text.size() <= 12 && text.find_first_not_of("0123456789") == std::string_view::npos) {
    UnixTime value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
  }
  if (auto t = parse_rfc3339(text)) return *t;
  return make_error("'" + std::string(text) +
                    "' is not a time (use Unix seconds, 'now', or RFC 3339 such as 2026-11-23T07:00:00Z or "
                    "2026-11-23T08:00:00+01:00)");
}

}  // namespace wgate
