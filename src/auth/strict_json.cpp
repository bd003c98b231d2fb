#include "auth/strict_json.h"

#include <set>
#include <string>
#include <vector>

namespace wgate::auth::internal {

Result<nlohmann::json> parse_json_strict(std::string_view text, std::string_view what) {
  using json = nlohmann::json;
  std::vector<std::set<std::string>> open_objects;  // member names seen, per open object
  std::string duplicate;
  bool too_deep = false;

  // Keys only occur directly inside the innermost open object, so a stack
  // of name sets (arrays push nothing) finds every duplicate.
  json::parser_callback_t check = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxJsonDepth) too_deep = true;
        if (event == json::parse_event_t::object_start) open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get_ref<const std::string&>()).second && duplicate.empty()) {
          duplicate = parsed.get_ref<const std::string&>();
        }
        break;
      default:
        break;
    }
    // Once refused, keep nothing: the parser still reads to the end (to
    // report syntax errors) but builds no deep or large value.
    return !too_deep && duplicate.empty();
  };

  json value = json::parse(text.begin(), text.end(), check, /*allow_exceptions=*/false);
  if (too_deep) {
    return make_error(std::string(what) + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth));
  }
  if (!duplicate.empty()) {
    return make_error(std::string(what) + ": duplicate member " + quote_text(duplicate));
  }
  if (value.is_discarded()) return make_error(std::string(what) + ": invalid JSON");
  return value;
}

std::string quote_text(std::string_view text, size_t max_bytes) {
  const size_t kMaxShown = max_bytes;
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  out += text.size() > kMaxShown ? "'..." : "'";
  return out;
}

}  // namespace wgate::auth::internal
