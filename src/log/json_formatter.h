// Log output formats for spdlog: readable text (the default) or JSON lines,
// one object per line, for log shippers:
//
//   {"time":"2026-12-01T06:50:00.123Z","level":"info","message":"..."}
//
// plus "logger" when the logger has a name. Every message is escaped by
// nlohmann-json (quotes, backslashes, newlines and every other control
// character become escapes; invalid UTF-8 becomes U+FFFD), so one record is
// always exactly one line of valid JSON whatever the message holds.
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>

#include "core/config.h"

namespace wgate::log {

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// The JSON line for one message (no trailing newline); the formatter's core,
// exposed for tests.
std::string json_line(const spdlog::details::log_msg& msg);

// Switches the default logger (and so every spdlog:: call) to `format`.
void use_format(LogFormat format);

}  // namespace wgate::log
