// A raw-socket HTTP client for the server tests: loopback only, every read
// bounded by a timeout, responses parsed just enough to check them.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.h"
#include "util/fd.h"

namespace wgate::http::testing {

struct WireReply {
  int status = 0;
  HeaderMap headers;
  std::string body;
};

class TestClient {
 public:
  // Connects to 127.0.0.1:port; fails the test if it cannot.
  explicit TestClient(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_.valid() && ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    EXPECT_TRUE(connected_) << "connect to 127.0.0.1:" << port;
    int one = 1;
    ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }

  bool connected() const { return connected_; }
  int fd() const { return fd_.get(); }

  // Sends everything; false if the peer is gone.
  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads one response (Content-Length framed, or up to EOF without one).
  // nullopt when the connection ends or nothing complete arrives in time.
  std::optional<WireReply> read_reply(std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                      bool head = false) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(deadline)) return std::nullopt;
    WireReply r;
    std::string_view head_text(buffer_.data(), end);
    std::size_t eol = head_text.find("\r\n");
    std::string_view status_line = head_text.substr(0, eol);
    if (status_line.size() < 12) return std::nullopt;
    r.status = std::stoi(std::string(status_line.substr(9, 3)));
    while (eol != std::string_view::npos) {
      head_text.remove_prefix(eol + 2);
      eol = head_text.find("\r\n");
      std::string_view line = head_text.substr(0, eol);
      std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      r.headers.add(line.substr(0, colon), value);
    }
    buffer_.erase(0, end + 4);
    std::size_t length = 0;
    bool has_length = false;
    if (auto cl = r.headers.get("Content-Length")) {
      length = std::stoul(std::string(*cl));
      has_length = true;
    }
    if (head || r.status == 204 || r.status == 304 || r.status / 100 == 1) length = 0;
    if (!has_length && !head && r.status != 204 && r.status != 304 && r.status / 100 != 1) {
      while (fill(deadline)) {
      }
      length = buffer_.size();
    }
    while (buffer_.size() < length)
      if (!fill(deadline)) return std::nullopt;
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  // Whether the server closes the connection (EOF or reset) within `timeout`,
  // dropping whatever else it sends.
  bool closed_within(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      if (left <= 0) return false;
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, left) <= 0) return false;
      char tmp[4096];
      ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
      if (n <= 0) return true;
    }
  }

  // Bytes received but not consumed by read_reply.
  const std::string& pending() const { return buffer_; }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline) {
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0) return false;
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) return false;
    char tmp[16384];
    ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buffer_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  UniqueFd fd_;
  bool connected_ = false;
  std::string buffer_;
};

// "GET /path HTTP/1.1" with a Host and the given extra header lines.
inline std::string get_request(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + std::string(extra) + "\r\n";
}

}  // namespace wgate::http::testing
