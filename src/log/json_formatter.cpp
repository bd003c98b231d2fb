#include "log/json_formatter.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

namespace wgate::log {
namespace {

// RFC 3339 in UTC with milliseconds: sortable as text, and what log
// shippers parse without a format hint.
std::string utc_millis(spdlog::log_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  long frac = static_cast<long>(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // room for any int the format could print (GCC checks it)
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

}  // namespace

std::string json_line(const spdlog::details::log_msg& msg) {
  const auto level = spdlog::level::to_string_view(msg.level);
  nlohmann::json j = {
      {"time", utc_millis(msg.time)},
      {"level", std::string(level.data(), level.size())},
      {"message", std::string(msg.payload.data(), msg.payload.size())},
  };
  if (msg.logger_name.size() > 0) j["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
  // replace: a message with invalid UTF-8 (a peer's name, a server's
  // answer) still becomes valid JSON instead of an exception in a log call.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void JsonFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  const std::string line = json_line(msg);
  dest.append(line.data(), line.data() + line.size());
  dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonFormatter::clone() const { return std::make_unique<JsonFormatter>(); }

void use_format(LogFormat format) {
  if (format == LogFormat::json) {
    spdlog::set_formatter(std::make_unique<JsonFormatter>());
  } else {
    spdlog::set_formatter(std::make_unique<spdlog::pattern_formatter>());
  }
}

}  // namespace wgate::log
