#include "http/event_stream.h"

namespace wgate::http {
namespace {

std::string without(std::string_view s, std::string_view drop) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (drop.find(c) == std::string_view::npos) out.push_back(c);
  return out;
}

}  // namespace

std::string format_event(std::string_view name, std::string_view data, std::string_view id) {
  static constexpr std::string_view kLineBreaks("\r\n\0", 3);
  std::string out;
  out.reserve(data.size() + name.size() + id.size() + 32);
  if (!name.empty()) out += "event: " + without(name, kLineBreaks) + "\n";
  if (!id.empty()) out += "id: " + without(id, kLineBreaks) + "\n";
  // Each line of the data on its own "data:" field; the client joins them
  // with LF again (a trailing line break gives a last, empty data line, so
  // the client sees it too).
  std::size_t start = 0;
  while (true) {
    std::size_t end = data.find_first_of("\r\n", start);
    out += "data: ";
    out.append(data.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    out += "\n";
    if (end == std::string_view::npos) break;
    start = end + 1;
    if (data[end] == '\r' && start < data.size() && data[start] == '\n') ++start;
  }
  out += "\n";
  return out;
}

std::string format_comment(std::string_view text) { return ": " + without(text, "\r\n") + "\n\n"; }

}  // namespace wgate::http
