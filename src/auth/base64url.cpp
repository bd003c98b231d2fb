#include "auth/base64url.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace wgate::auth {

std::string base64url_encode(std::string_view data) {
  // EVP_EncodeBlock writes 4 characters per 3 bytes plus a NUL.
  std::vector<unsigned char> out(4 * ((data.size() + 2) / 3) + 1);
  int n = EVP_EncodeBlock(out.data(), reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  std::string text(reinterpret_cast<const char*>(out.data()), static_cast<size_t>(n));
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return text;
}

namespace {

bool is_base64url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

Result<std::string> base64url_decode(std::string_view text) {
  // OpenSSL's decoder takes standard base64 and tolerates whitespace and
  // padding, so the strict alphabet is checked here first.
  auto bad = std::find_if_not(text.begin(), text.end(), is_base64url_char);
  if (bad != text.end()) {
    unsigned char c = static_cast<unsigned char>(*bad);
    std::string shown = (c >= 0x21 && c < 0x7f) ? std::string("'") + *bad + "'" : "byte " + std::to_string(c);
    return make_error("invalid base64url: " + shown + " at offset " + std::to_string(bad - text.begin()));
  }
  if (text.size() % 4 == 1) return make_error("invalid base64url: length " + std::to_string(text.size()));
  if (text.size() > static_cast<size_t>(INT32_MAX) / 2) return make_error("invalid base64url: too long");
  if (text.empty()) return std::string();

  std::string padded(text);
  for (char& c : padded) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
  }
  size_t pad = (4 - padded.size() % 4) % 4;
  padded.append(pad, '=');

  std::vector<unsigned char> out(padded.size() / 4 * 3 + 1);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(padded.data()),
                          static_cast<int>(padded.size()));
  if (n < 0 || static_cast<size_t>(n) < pad) return make_error("invalid base64url");
  // EVP_DecodeBlock counts the bytes the padding stands for as zeros.
  std::string decoded(reinterpret_cast<const char*>(out.data()), static_cast<size_t>(n) - pad);
  // Canonical form: the unused low bits of the last character are zero,
  // i.e. encoding the result gives back the same text.
  if (base64url_encode(decoded) != text) return make_error("invalid base64url: non-canonical encoding");
  return decoded;
}

}  // namespace wgate::auth
