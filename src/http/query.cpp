#include "http/query.h"

namespace wgate::http {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

}  // namespace

Result<std::string> percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return make_error("truncated percent escape");
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return make_error("bad percent escape");
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return make_error("NUL byte in decoded text");
    out.push_back(c);
  }
  return out;
}

std::string percent_encode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    if (unreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::optional<std::string_view> QueryParams::get(std::string_view key) const {
  for (const auto& [k, v] : items_)
    if (k == key) return std::string_view(v);
  return std::nullopt;
}

std::vector<std::string_view> QueryParams::get_all(std::string_view key) const {
  std::vector<std::string_view> out;
  for (const auto& [k, v] : items_)
    if (k == key) out.emplace_back(v);
  return out;
}

Result<QueryParams> parse_query(std::string_view query, const QueryLimits& limits) {
  std::vector<std::pair<std::string, std::string>> items;
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    if (items.size() == limits.max_pairs) return make_error("too many query parameters");
    std::size_t eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    if (!key) return key.error();
    std::string value;
    if (eq != std::string_view::npos) {
      auto v = percent_decode(pair.substr(eq + 1), true);
      if (!v) return v.error();
      value = std::move(*v);
    }
    items.emplace_back(std::move(*key), std::move(value));
  }
  return QueryParams(std::move(items));
}

}  // namespace wgate::http
