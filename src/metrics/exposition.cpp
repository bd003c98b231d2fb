#include "metrics/exposition.h"

#include <charconv>
#include <cmath>
#include <set>

namespace wgate::metrics {
namespace {

bool name_char(char c, bool first, bool colon_ok) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon_ok && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool valid_name(std::string_view name, bool colon_ok) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, colon_ok)) return false;
  }
  return true;
}

const char* type_name(MetricType t) {
  switch (t) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

Status check_labels(const std::string& family, const Labels& labels) {
  std::set<std::string_view> seen;
  for (const auto& [name, value] : labels) {
    // Names starting with "__" are reserved for Prometheus itself.
    if (!valid_label_name(name) || name.rfind("__", 0) == 0) {
      return make_error(family + ": bad label name '" + name + "'");
    }
    if (name == "le") return make_error(family + ": label 'le' is reserved for histogram buckets");
    if (!seen.insert(name).second) return make_error(family + ": label '" + name + "' twice");
  }
  return Status{};
}

void write_series(std::string& out, std::string_view name, const Labels& labels, const std::string* le, double value) {
  out += name;
  if (!labels.empty() || le) {
    out += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out += ',';
      first = false;
      out += k;
      out += "=\"";
      out += escape_label_value(v);
      out += '"';
    }
    if (le) {
      if (!first) out += ',';
      out += "le=\"";
      out += *le;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += format_value(value);
  out += '\n';
}

}  // namespace

bool valid_metric_name(std::string_view name) { return valid_name(name, /*colon_ok=*/true); }
bool valid_label_name(std::string_view name) { return valid_name(name, /*colon_ok=*/false); }

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  if (ec != std::errc()) return "NaN";  // cannot happen: 64 bytes hold any double
  return std::string(buf, end);
}

Result<std::string> render(const std::vector<Family>& families) {
  std::string out;
  std::set<std::string_view> names;
  for (const auto& f : families) {
    if (!valid_metric_name(f.name)) return make_error("bad metric name '" + f.name + "'");
    if (!names.insert(f.name).second) return make_error("metric '" + f.name + "' twice");
    const bool histogram = f.type == MetricType::histogram;
    if (histogram ? !f.samples.empty() : !f.histograms.empty()) {
      return make_error(f.name + ": samples do not match the type " + type_name(f.type));
    }
    out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + f.name + " " + type_name(f.type) + "\n";
    for (const auto& s : f.samples) {
      WGATE_TRY(check_labels(f.name, s.labels));
      write_series(out, f.name, s.labels, nullptr, s.value);
    }
    for (const auto& h : f.histograms) {
      WGATE_TRY(check_labels(f.name, h.labels));
      const std::string bucket = f.name + "_bucket";
      double last_bound = -INFINITY;
      uint64_t last_count = 0;
      for (const auto& [bound, count] : h.buckets) {
        if (!(bound > last_bound) || std::isinf(bound) || count < last_count || count > h.count) {
          return make_error(f.name + ": buckets must have ascending finite bounds and cumulative counts");
        }
        last_bound = bound;
        last_count = count;
        const std::string le = format_value(bound);
        write_series(out, bucket, h.labels, &le, static_cast<double>(count));
      }
      const std::string inf = "+Inf";
      write_series(out, bucket, h.labels, &inf, static_cast<double>(h.count));
      write_series(out, f.name + "_sum", h.labels, nullptr, h.sum);
      write_series(out, f.name + "_count", h.labels, nullptr, static_cast<double>(h.count));
    }
  }
  return out;
}

}  // namespace wgate::metrics
