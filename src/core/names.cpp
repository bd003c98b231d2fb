#include "core/names.h"

#include <string>

namespace wgate {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.';
}

// Length of the UTF-8 sequence starting at s[i], or 0 if it is malformed
// (overlong forms, surrogates and code points above U+10FFFF included).
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

Status check_interface_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 15 && name != "." && name != "..";
  for (char c : name) ok = ok && is_name_char(c);
  if (!ok) {
    return make_error("'" + std::string(name) +
                      "' is not a valid interface name (1-15 characters: letters, digits, - _ .)");
  }
  return ok_status();
}

Status check_user_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name) ok = ok && (is_name_char(c) || c == '@' || c == '+');
  if (!ok) {
    return make_error("'" + std::string(name) +
                      "' is not a valid user name (1-64 characters: letters, digits, . _ @ + -)");
  }
  return ok_status();
}

Status check_device_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name) ok = ok && is_name_char(c);
  if (!ok) {
    return make_error("'" + std::string(name) + "' is not a valid device name (1-64 characters: letters, digits, . _ -)");
  }
  return ok_status();
}

Status check_text(std::string_view field, std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) {
    return make_error(std::string(field) + " is longer than " + std::to_string(max_bytes) + " bytes");
  }
  for (size_t i = 0; i < text.size();) {
    size_t len = utf8_sequence_length(text, i);
    if (len == 0) return make_error(std::string(field) + " is not valid UTF-8");
    if (len == 1 && (static_cast<unsigned char>(text[i]) < 0x20 || text[i] == 0x7f)) {
      return make_error(std::string(field) + " contains a control character");
    }
    i += len;
  }
  return ok_status();
}

}  // namespace wgate
