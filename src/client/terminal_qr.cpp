#include "client/terminal_qr.h"

#include <qrencode.h>

#include <memory>

namespace wgate::client {
namespace {

struct QrFree {
  void operator()(QRcode* q) const { QRcode_free(q); }
};

}  // namespace

Result<std::string> terminal_qr(const std::string& text) {
  std::unique_ptr<QRcode, QrFree> qr(QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_L, QR_MODE_8, 1));
  if (!qr) return make_error("cannot encode a QR code for the URL");
  const int width = qr->width;
  const int quiet = 2;
  auto dark = [&](int x, int y) {
    if (x < 0 || y < 0 || x >= width || y >= width) return false;
    return (qr->data[y * width + x] & 1) != 0;
  };
  // Light background, dark modules: the terminal's colours may be either
  // way round, so the quiet zone and light modules are drawn as blocks.
  std::string out;
  for (int y = -quiet; y < width + quiet; y += 2) {
    for (int x = -quiet; x < width + quiet; ++x) {
      const bool top = dark(x, y);
      const bool bottom = dark(x, y + 1);
      if (!top && !bottom) {
        out += "\u2588";  // full block: both light
      } else if (top && !bottom) {
        out += "\u2584";  // lower half light
      } else if (!top && bottom) {
        out += "\u2580";  // upper half light
      } else {
        out += " ";
      }
    }
    out += "\n";
  }
  return out;
}

}  // namespace wgate::client
