#include "metrics/exposition.h"

#include <gtest/gtest.h>

#include <cmath>

namespace wgate::metrics {
namespace {

TEST(Exposition, GoldenOutput) {
  std::vector<Family> families;
  families.push_back({"wgate_keys", "Keys by state.", MetricType::gauge,
                      {{{{"state", "active"}}, 3}, {{{"state", "revoked"}}, 0}}, {}});
  families.push_back({"wgate_passes_total", "Passes.", MetricType::counter, {{{}, 12}}, {}});
  HistogramSample h;
  h.buckets = {{0.005, 1}, {0.1, 3}, {1, 3}};
  h.sum = 0.25;
  h.count = 4;
  families.push_back({"wgate_duration_seconds", "Durations.", MetricType::histogram, {}, {h}});
  auto text = render(families);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(*text,
            "# HELP wgate_keys Keys by state.\n"
            "# TYPE wgate_keys gauge\n"
            "wgate_keys{state=\"active\"} 3\n"
            "wgate_keys{state=\"revoked\"} 0\n"
            "# HELP wgate_passes_total Passes.\n"
            "# TYPE wgate_passes_total counter\n"
            "wgate_passes_total 12\n"
            "# HELP wgate_duration_seconds Durations.\n"
            "# TYPE wgate_duration_seconds histogram\n"
            "wgate_duration_seconds_bucket{le=\"0.005\"} 1\n"
            "wgate_duration_seconds_bucket{le=\"0.1\"} 3\n"
            "wgate_duration_seconds_bucket{le=\"1\"} 3\n"
            "wgate_duration_seconds_bucket{le=\"+Inf\"} 4\n"
            "wgate_duration_seconds_sum 0.25\n"
            "wgate_duration_seconds_count 4\n");
}

TEST(Exposition, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escape_label_value(R"(a\b"c)" "\n" "d"), R"(a\\b\"c\nd)");
  EXPECT_EQ(escape_label_value("plain ünïcode"), "plain ünïcode");
  EXPECT_EQ(escape_help("a\\b\nc \"quoted\""), "a\\\\b\\nc \"quoted\"");  // quotes stay in HELP
  Family f{"m", "line one\nline two", MetricType::gauge, {{{{"person", "o\"brien\\\n"}, {"device", "x"}}, 1}}, {}};
  auto text = render({f});
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(*text,
            "# HELP m line one\\nline two\n"
            "# TYPE m gauge\n"
            "m{person=\"o\\\"brien\\\\\\n\",device=\"x\"} 1\n");
}

TEST(Exposition, FormatsValues) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(-1.5), "-1.5");
  EXPECT_EQ(format_value(1764561600), "1764561600");
  EXPECT_EQ(format_value(18446744073709551615.0), "18446744073709551616");  // 2^64: shortest form, read back exact
  EXPECT_EQ(format_value(1e300), "1e+300");
  EXPECT_EQ(format_value(INFINITY), "+Inf");
  EXPECT_EQ(format_value(-INFINITY), "-Inf");
  EXPECT_EQ(format_value(NAN), "NaN");
}

TEST(Exposition, Names) {
  EXPECT_TRUE(valid_metric_name("wgate_keys"));
  EXPECT_TRUE(valid_metric_name("a:b_c9"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_FALSE(valid_metric_name("9a"));
  EXPECT_FALSE(valid_metric_name("a-b"));
  EXPECT_TRUE(valid_label_name("_x1"));
  EXPECT_FALSE(valid_label_name("a:b"));
  EXPECT_FALSE(valid_label_name("1a"));
}

TEST(Exposition, RefusesWhatPrometheusWouldRefuse) {
  auto bad = [](std::vector<Family> f) { return !render(f).ok(); };
  EXPECT_TRUE(bad({{"bad-name", "", MetricType::gauge, {}, {}}}));
  EXPECT_TRUE(bad({{"m", "", MetricType::gauge, {}, {}}, {"m", "", MetricType::counter, {}, {}}}));
  EXPECT_TRUE(bad({{"m", "", MetricType::gauge, {{{{"a-b", "x"}}, 1}}, {}}}));
  EXPECT_TRUE(bad({{"m", "", MetricType::gauge, {{{{"__name__", "x"}}, 1}}, {}}}));
  EXPECT_TRUE(bad({{"m", "", MetricType::gauge, {{{{"a", "x"}, {"a", "y"}}, 1}}, {}}}));
  EXPECT_TRUE(bad({{"m", "", MetricType::gauge, {{{{"le", "1"}}, 1}}, {}}}));
  EXPECT_TRUE(bad({{"m", "", MetricType::gauge, {}, {HistogramSample{}}}}));
  EXPECT_TRUE(bad({{"m", "", MetricType::histogram, {{{}, 1}}, {}}}));
  HistogramSample not_cumulative;
  not_cumulative.buckets = {{1, 3}, {2, 2}};
  not_cumulative.count = 3;
  EXPECT_TRUE(bad({{"m", "", MetricType::histogram, {}, {not_cumulative}}}));
  HistogramSample not_ascending;
  not_ascending.buckets = {{2, 1}, {1, 2}};
  not_ascending.count = 2;
  EXPECT_TRUE(bad({{"m", "", MetricType::histogram, {}, {not_ascending}}}));
  HistogramSample over_count;
  over_count.buckets = {{1, 5}};
  over_count.count = 2;
  EXPECT_TRUE(bad({{"m", "", MetricType::histogram, {}, {over_count}}}));
  EXPECT_TRUE(render({}).ok());
}

}  // namespace
}  // namespace wgate::metrics
