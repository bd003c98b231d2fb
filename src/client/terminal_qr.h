// A QR code drawn with Unicode half blocks, for the device login's
// verification URL in a terminal (libqrencode does the encoding).
#pragma once

#include <string>

#include "util/result.h"

namespace wgate::client {

// Two rows of modules per text line, dark on light, with a quiet zone.
Result<std::string> terminal_qr(const std::string& text);

}  // namespace wgate::client
