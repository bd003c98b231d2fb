// The Prometheus text exposition format (version 0.0.4), from plain data.
//
// Pure: no clock, no I/O. Each family is written as `# HELP`, `# TYPE` and
// its samples, in the order given; label values are escaped (`\\`, `\"`,
// `\n`), HELP text too (`\\`, `\n`). No timestamps: Prometheus stamps a
// scrape itself.
//
//   Family f{"wgate_keys", "Keys by state.", MetricType::gauge, {}};
//   f.samples.push_back({{{"state", "active"}}, 3});
//   auto text = render({f});   // "# HELP wgate_keys Keys by state.\n..."
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.h"

namespace wgate::metrics {

enum class MetricType { counter, gauge, histogram };

// Label name -> value, in the order they are written.
using Labels = std::vector<std::pair<std::string, std::string>>;

// One counter or gauge series.
struct Sample {
  Labels labels;
  double value = 0;
};

// One histogram series: cumulative counts per upper bound (ascending; the
// `+Inf` bucket is written from `count`, so it is not listed here).
struct HistogramSample {
  Labels labels;
  std::vector<std::pair<double, uint64_t>> buckets;
  double sum = 0;
  uint64_t count = 0;
};

struct Family {
  std::string name;
  std::string help;
  MetricType type = MetricType::gauge;
  std::vector<Sample> samples;                // counter, gauge
  std::vector<HistogramSample> histograms;    // histogram
};

// The exposition text of `families`. Errors (a bug in the caller, never
// input from outside): a metric or label name that Prometheus would refuse,
// a family name used twice, a label reserved for histograms (`le`), samples
// of the wrong kind for the family's type, or buckets that are not
// ascending and cumulative.
Result<std::string> render(const std::vector<Family>& families);

// Pieces of the format, exposed for tests.
std::string escape_label_value(std::string_view value);
std::string escape_help(std::string_view text);
// Shortest text that reads back as the same double; "+Inf", "-Inf", "NaN".
std::string format_value(double value);
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

// The Content-Type of the text format.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace wgate::metrics
