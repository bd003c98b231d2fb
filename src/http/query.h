// Percent-decoding and query strings (also application/x-www-form-urlencoded
// bodies, which share the syntax).
//
// Pure functions of their input; every malformed input is an error value,
// never an exception: a `%` not followed by two hex digits, a decoded NUL
// byte (refused so that no value can cut a C string short), or more pairs
// than the limit.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.h"

namespace wgate::http {

// Decodes %XX escapes. With `plus_is_space` (query strings and forms) a '+'
// becomes a space; in paths it stays a '+'.
Result<std::string> percent_decode(std::string_view in, bool plus_is_space);

// Encodes everything but RFC 3986 unreserved characters (for building
// query strings and Location headers).
std::string percent_encode(std::string_view in);

// The pairs of a query string, decoded, in order; repeated keys kept.
class QueryParams {
 public:
  QueryParams() = default;
  explicit QueryParams(std::vector<std::pair<std::string, std::string>> items) : items_(std::move(items)) {}

  // The first value of `key`, if present.
  std::optional<std::string_view> get(std::string_view key) const;
  // Every value of `key`, in order ("?tag=a&tag=b").
  std::vector<std::string_view> get_all(std::string_view key) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }
  std::size_t size() const { return items_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

struct QueryLimits {
  std::size_t max_pairs = 100;
};

// Parses "a=1&b=x%20y&a=2&flag" (no leading '?'). Empty segments ("a=1&&b")
// are skipped; a key without '=' has an empty value.
Result<QueryParams> parse_query(std::string_view query, const QueryLimits& limits = {});

}  // namespace wgate::http
