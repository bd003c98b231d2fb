// JSON log lines: every record is one line of valid JSON with time, level
// and message, whatever the message holds.
#include "log/json_formatter.h"

#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/spdlog.h>
#include <spdlog/sinks/ostream_sink.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace wgate::log {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Nasty messages: quotes, backslashes, newlines, CR, tab, NUL, ESC, DEL,
// every other C0 control, valid non-ASCII, invalid UTF-8, braces.
std::vector<std::string> nasty_messages() {
  std::vector<std::string> m = {
      "plain",
      "say \"hi\" to \\server\\",
      "two\nlines\r\nand a tab\there",
      std::string("nul\0inside", 10),
      "\x1b[31mred\x1b[0m and DEL \x7f",
      "umlaut \xc3\xa4 and emoji \xf0\x9f\x94\x91",
      "invalid \xff\xfe utf-8 \xc3",
      "{\"looks\": \"like json\"}\n{",
      "",
  };
  std::string controls;
  for (int c = 1; c < 0x20; ++c) controls.push_back(static_cast<char>(c));
  m.push_back(controls);
  return m;
}

TEST(JsonLog, EveryLineIsOneValidObjectWithTimeLevelMessage) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("", sink);
  logger.set_formatter(std::make_unique<JsonFormatter>());
  logger.set_level(spdlog::level::trace);
  const auto messages = nasty_messages();
  const spdlog::level::level_enum levels[] = {spdlog::level::info, spdlog::level::warn, spdlog::level::err,
                                              spdlog::level::debug};
  for (size_t i = 0; i < messages.size(); ++i) logger.log(levels[i % 4], "{}", messages[i]);
  logger.flush();

  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), messages.size()) << out.str();
  for (size_t i = 0; i < lines.size(); ++i) {
    auto j = nlohmann::json::parse(lines[i], nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "line " << i << " is not JSON: " << lines[i];
    ASSERT_TRUE(j.is_object());
    ASSERT_TRUE(j.contains("time") && j["time"].is_string());
    ASSERT_TRUE(j.contains("level") && j["level"].is_string());
    ASSERT_TRUE(j.contains("message") && j["message"].is_string());
    EXPECT_EQ(j["level"], std::string(spdlog::level::to_string_view(levels[i % 4]).data()));
    EXPECT_FALSE(j.contains("logger"));  // unnamed logger
    // The time is RFC 3339 UTC with milliseconds.
    const std::string t = j["time"];
    ASSERT_EQ(t.size(), 24u) << t;
    EXPECT_EQ(t[10], 'T');
    EXPECT_EQ(t.back(), 'Z');
  }
  // Valid UTF-8 arrives unchanged, control characters included.
  for (size_t i : {0u, 1u, 2u, 3u, 4u, 5u, 7u, 8u, 9u}) {
    EXPECT_EQ(nlohmann::json::parse(lines[i])["message"], messages[i]) << i;
  }
  // Invalid bytes become U+FFFD, the rest stays.
  const std::string replaced = nlohmann::json::parse(lines[6])["message"];
  EXPECT_EQ(replaced.find("\xff"), std::string::npos);
  EXPECT_NE(replaced.find("\xef\xbf\xbd"), std::string::npos);
  EXPECT_EQ(replaced.rfind("invalid ", 0), 0u);
}

TEST(JsonLog, NamedLoggerAndTimeValue) {
  spdlog::details::log_msg msg("wgate-web", spdlog::level::critical, "boom");
  msg.time = spdlog::log_clock::time_point(std::chrono::milliseconds(1764572400123));  // 2025-12-01T07:00:00.123Z
  auto j = nlohmann::json::parse(json_line(msg));
  EXPECT_EQ(j["time"], "2025-12-01T07:00:00.123Z");
  EXPECT_EQ(j["level"], "critical");
  EXPECT_EQ(j["message"], "boom");
  EXPECT_EQ(j["logger"], "wgate-web");
}

TEST(JsonLog, UseFormatSwitchesTheDefaultLogger) {
  std::ostringstream out;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  spdlog::set_default_logger(logger);
  use_format(LogFormat::json);
  spdlog::info("a \"quoted\"\nmessage");
  use_format(LogFormat::text);
  spdlog::info("back to text");
  spdlog::set_default_logger(previous);
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 2u) << out.str();
  EXPECT_EQ(nlohmann::json::parse(lines[0])["message"], "a \"quoted\"\nmessage");
  EXPECT_TRUE(nlohmann::json::parse(lines[1], nullptr, false).is_discarded()) << lines[1];
  EXPECT_NE(lines[1].find("[info] back to text"), std::string::npos) << lines[1];
}

}  // namespace
}  // namespace wgate::log
