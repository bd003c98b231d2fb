#include "core/time_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wgate {
namespace {

using ::testing::HasSubstr;

constexpr UnixTime kNow = 1800000000;
constexpr UnixTime k20261123T0700Z = 1795417200;  // date -u -d 2026-11-23T07:00:00Z +%s

UnixTime parsed(const char* text) {
  auto r = parse_time(text, kNow);
  EXPECT_TRUE(r.ok()) << text << ": " << r.error().message;
  return r.ok() ? *r : -1;
}

TEST(TimeText, NowAndUnixSeconds) {
  EXPECT_EQ(parsed("now"), kNow);
  EXPECT_EQ(parsed("0"), 0);
  EXPECT_EQ(parsed("1795417200"), k20261123T0700Z);
}

TEST(TimeText, Rfc3339Utc) {
  EXPECT_EQ(parsed("2026-11-23T07:00:00Z"), k20261123T0700Z);
  EXPECT_EQ(parsed("2026-11-23t07:00:00z"), k20261123T0700Z);
  EXPECT_EQ(parsed("2026-11-23T07:00Z"), k20261123T0700Z);      // no seconds
  EXPECT_EQ(parsed("2026-11-23 07:00:00"), k20261123T0700Z);    // a space, no zone: UTC
  EXPECT_EQ(parsed("2026-11-23T07:00:01Z"), k20261123T0700Z + 1);
  EXPECT_EQ(parsed("1970-01-01T00:00:00Z"), 0);
}

TEST(TimeText, Rfc3339Offsets) {
  EXPECT_EQ(parsed("2026-11-23T08:00:00+01:00"), k20261123T0700Z);
  EXPECT_EQ(parsed("2026-11-23T08:00:00+0100"), k20261123T0700Z);
  EXPECT_EQ(parsed("2026-11-23T02:00:00-05:00"), k20261123T0700Z);
  EXPECT_EQ(parsed("2026-11-23T12:45:00+05:45"), k20261123T0700Z);
  EXPECT_EQ(parsed("2026-11-23T07:00:00+00:00"), k20261123T0700Z);
  EXPECT_EQ(parsed("2026-11-23T07:00:00-00:00"), k20261123T0700Z);
  // The offset moves the date too.
  EXPECT_EQ(parsed("2026-11-22T23:00:00-08:00"), k20261123T0700Z);
  EXPECT_EQ(parsed("2027-01-01T00:30:00+01:00"), 1798759800);  // 2026-12-31T23:30:00Z
}

TEST(TimeText, Rfc3339FractionsAreTruncated) {
  EXPECT_EQ(parsed("2026-11-23T07:00:00.250Z"), k20261123T0700Z);
  EXPECT_EQ(parsed("2026-11-23T07:00:00.999999999Z"), k20261123T0700Z);
  EXPECT_EQ(parsed("2026-11-23T07:00:00.5"), k20261123T0700Z);
  EXPECT_EQ(parsed("2026-11-23T08:00:00.123456+01:00"), k20261123T0700Z);
}

TEST(TimeText, LeapDaysAndLeapSeconds) {
  EXPECT_EQ(parsed("2024-02-29T12:00:00Z"), 1709208000);
  EXPECT_EQ(parsed("2000-02-29T00:00:00Z"), 951782400);  // divisible by 400: a leap year
  // A leap second reads as the start of the next second.
  EXPECT_EQ(parsed("2016-12-31T23:59:60Z"), 1483228800);
}

TEST(TimeText, RejectsInvalidDatesAndTimes) {
  for (const char* bad : {
           "2026-02-29T00:00:00Z",        // not a leap year
           "2100-02-29T00:00:00Z",        // divisible by 100, not by 400
           "2026-04-31T00:00:00Z",        // April has 30 days
           "2026-13-01T00:00:00Z",        // month
           "2026-00-10T00:00:00Z",        // month
           "2026-11-00T00:00:00Z",        // day
           "2026-11-23T24:00:00Z",        // hour
           "2026-11-23T07:60:00Z",        // minute
           "2026-11-23T07:00:61Z",        // second
           "2026-11-23T07:00:00+24:00",   // offset hour
           "2026-11-23T07:00:00+01:60",   // offset minute
           "2026-11-23T07:00:00+01",      // offset without minutes
           "2026-11-23T07:00:00.Z",       // empty fraction
           "2026-11-23T07:00:00.1234567890Z",  // more than nanoseconds
           "2026-11-23T07:00.5Z",         // a fraction without seconds
           "2026-11-23T07:00:00Zjunk",    // trailing text
           "2026-11-23T07:00:00 Z",
           "2026-11-23",                  // a date alone
           "2026-11-23T7:00:00Z",         // one-digit hour
           "26-11-23T07:00:00Z",
           "yesterday",
           "",
           "-5",
           "1e9",
       }) {
    auto r = parse_time(bad, kNow);
    EXPECT_FALSE(r.ok()) << "'" << bad << "' parsed as " << (r.ok() ? *r : 0);
  }
}

TEST(TimeText, ErrorNamesTheTextAndTheForms) {
  auto r = parse_time("2026-02-30T00:00:00Z", kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("'2026-02-30T00:00:00Z' is not a time"));
  EXPECT_THAT(r.error().message, HasSubstr("RFC 3339"));
  EXPECT_THAT(r.error().message, HasSubstr("+01:00"));
}

TEST(TimeText, FormatUtcRoundTrips) {
  EXPECT_EQ(format_utc(k20261123T0700Z), "2026-11-23T07:00:00Z");
  EXPECT_EQ(format_utc(0), "1970-01-01T00:00:00Z");
  for (UnixTime t : {UnixTime{0}, k20261123T0700Z, UnixTime{951782399}, UnixTime{4102444800}}) {
    EXPECT_EQ(parsed(format_utc(t).c_str()), t);
  }
}

}  // namespace
}  // namespace wgate
