#include "http/router.h"

#include <algorithm>

#include "http/query.h"

namespace wgate::http {
namespace {

bool valid_param_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::vector<std::string_view> split_raw(std::string_view path) {
  std::vector<std::string_view> out;
  path.remove_prefix(1);  // the leading '/'
  while (true) {
    std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> split_path(std::string_view raw_path) {
  if (raw_path.empty() || raw_path.front() != '/') return make_error("path does not start with '/'");
  std::vector<std::string> out;
  for (std::string_view raw : split_raw(raw_path)) {
    auto seg = percent_decode(raw, false);
    if (!seg) return seg.error().with_context("path");
    out.push_back(std::move(*seg));
  }
  return out;
}

Status Router::add(std::string_view method, std::string_view pattern, Handler handler, RouteOptions options) {
  if (method.empty() || !valid_header_name(method)) return make_error("bad method '" + std::string(method) + "'");
  if (pattern.empty() || pattern.front() != '/')
    return make_error("route pattern '" + std::string(pattern) + "' does not start with '/'");
  Route route{std::string(method), {}, std::move(handler), options};
  for (std::string_view raw : split_raw(pattern)) {
    Segment seg;
    if (raw.starts_with('{') && raw.ends_with('}') && raw.size() >= 2) {
      seg.text = std::string(raw.substr(1, raw.size() - 2));
      seg.param = true;
      if (!valid_param_name(seg.text))
        return make_error("route pattern '" + std::string(pattern) + "': bad parameter name '" + seg.text + "'");
      for (const Segment& s : route.segments)
        if (s.param && s.text == seg.text)
          return make_error("route pattern '" + std::string(pattern) + "': parameter '" + seg.text + "' repeated");
    } else {
      if (raw.find_first_of("{}") != std::string_view::npos)
        return make_error("route pattern '" + std::string(pattern) + "': '{' or '}' inside a literal segment");
      seg.text = std::string(raw);
    }
    route.segments.push_back(std::move(seg));
  }
  for (const Route& r : routes_) {
    bool same_shape = r.method == route.method && r.segments.size() == route.segments.size() &&
                      std::equal(r.segments.begin(), r.segments.end(), route.segments.begin(),
                                 [](const Segment& a, const Segment& b) {
                                   return a.param == b.param && (a.param || a.text == b.text);
                                 });
    if (same_shape)
      return make_error("route " + route.method + " '" + std::string(pattern) + "' is already registered");
  }
  routes_.push_back(std::move(route));
  return ok_status();
}

std::size_t Router::largest_body_limit(std::size_t default_limit) const {
  std::size_t largest = default_limit;
  for (const Route& r : routes_) largest = std::max(largest, r.options.body_limit.value_or(default_limit));
  return largest;
}

Result<RouteMatch> Router::match(std::string_view method, std::string_view raw_path) const {
  auto segments = split_path(raw_path);
  if (!segments) return segments.error();

  auto matches = [&](const Route& r) {
    if (r.segments.size() != segments->size()) return false;
    for (std::size_t i = 0; i < r.segments.size(); ++i)
      if (!r.segments[i].param && r.segments[i].text != (*segments)[i]) return false;
    return true;
  };
  // Lexicographic: at the first place two matching routes differ, the literal
  // one is the more specific.
  auto more_specific = [](const Route& a, const Route& b) {
    for (std::size_t i = 0; i < a.segments.size(); ++i)
      if (a.segments[i].param != b.segments[i].param) return !a.segments[i].param;
    return false;
  };

  const Route* best = nullptr;
  const Route* best_get = nullptr;
  std::vector<std::string> methods;
  for (const Route& r : routes_) {
    if (!matches(r)) continue;
    methods.push_back(r.method);
    if (r.method == method && (!best || more_specific(r, *best))) best = &r;
    if (r.method == "GET" && (!best_get || more_specific(r, *best_get))) best_get = &r;
  }
  if (!best && method == "HEAD") best = best_get;

  RouteMatch m;
  if (best) {
    m.kind = RouteMatch::Kind::kFound;
    m.handler = &best->handler;
    m.options = best->options;
    for (std::size_t i = 0; i < best->segments.size(); ++i)
      if (best->segments[i].param) m.params.emplace_back(best->segments[i].text, (*segments)[i]);
    return m;
  }
  if (methods.empty()) return m;  // kNotFound
  if (std::find(methods.begin(), methods.end(), "GET") != methods.end()) methods.emplace_back("HEAD");
  std::sort(methods.begin(), methods.end());
  methods.erase(std::unique(methods.begin(), methods.end()), methods.end());
  m.kind = RouteMatch::Kind::kMethodNotAllowed;
  for (const std::string& name : methods) {
    if (!m.allow.empty()) m.allow.append(", ");
    m.allow.append(name);
  }
  return m;
}

}  // namespace wgate::http
