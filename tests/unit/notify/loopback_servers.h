// Tiny servers on 127.0.0.1 (a free port, never any other address) for the
// senders' tests: an HTTP endpoint that answers from a script of status
// codes, and an SMTP server that speaks just enough (EHLO/HELO, MAIL FROM,
// RCPT TO, DATA, RSET, NOOP, QUIT; refuses STARTTLS and AUTH). Each serves
// one connection at a time on its own thread and records what it got.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "util/fd.h"

namespace wgate::notify::testing {

// A connected client socket with line and byte reads that give up when the
// server stops or after 10 s of silence.
class Conn {
 public:
  Conn(int fd, const std::atomic<bool>& stopping) : fd_(fd), stopping_(stopping) {}

  // Waits for input; false on stop, timeout, EOF or error.
  bool fill() {
    for (int waited = 0; waited < 10000; waited += 20) {
      if (stopping_) return false;
      pollfd p{fd_.get(), POLLIN, 0};
      int r = ::poll(&p, 1, 20);
      if (r < 0) return false;
      if (r == 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n <= 0) return false;
      in_.append(buf, static_cast<size_t>(n));
      return true;
    }
    return false;
  }
  std::optional<std::string> line() {  // without its CRLF
    while (true) {
      size_t at = in_.find("\r\n");
      if (at != std::string::npos) {
        std::string l = in_.substr(0, at);
        in_.erase(0, at + 2);
        return l;
      }
      if (!fill()) return std::nullopt;
    }
  }
  std::optional<std::string> bytes(size_t n) {
    while (in_.size() < n) {
      if (!fill()) return std::nullopt;
    }
    std::string b = in_.substr(0, n);
    in_.erase(0, n);
    return b;
  }
  void write(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_.get(), s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  // Holds the connection open, saying nothing, until the server stops.
  void hang() {
    while (!stopping_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

 private:
  UniqueFd fd_;
  const std::atomic<bool>& stopping_;
  std::string in_;
};

class LoopbackServer {
 public:
  explicit LoopbackServer(std::function<void(Conn&)> serve) : serve_(std::move(serve)) {
    listen_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(listen_.valid());
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    EXPECT_EQ(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_.get(), 16), 0);
    socklen_t len = sizeof a;
    EXPECT_EQ(::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~LoopbackServer() { stop(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint16_t port() const { return port_; }
  std::string base() const { return "127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_; }

 private:
  void run() {
    while (!stopping_) {
      pollfd p{listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      Conn c(fd, stopping_);
      serve_(c);
    }
  }

  std::function<void(Conn&)> serve_;
  UniqueFd listen_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// --- HTTP -------------------------------------------------------------------

struct HttpRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  int answered = 0;  // the status code it got
};

// Answers each request with the next code of `codes` (then 200), or, for a
// code of 0, hangs without answering. Requests that got a 2xx are the
// accepted ones.
class FakeWebhookServer {
 public:
  explicit FakeWebhookServer(std::vector<int> codes = {}) : codes_(codes.begin(), codes.end()),
        server_([this](Conn& c) { serve(c); }) {}

  std::string url(const std::string& path) const { return "http://" + server_.base() + path; }
  uint16_t port() const { return server_.port(); }
  std::vector<HttpRequest> requests() const {
    std::lock_guard l(mu_);
    return requests_;
  }
  std::vector<HttpRequest> accepted() const {
    std::vector<HttpRequest> out;
    for (auto& r : requests()) {
      if (r.answered >= 200 && r.answered < 300) out.push_back(r);
    }
    return out;
  }
  void stop() { server_.stop(); }

 private:
  void serve(Conn& c) {
    HttpRequest r;
    auto first = c.line();
    if (!first) return;
    size_t sp1 = first->find(' '), sp2 = first->rfind(' ');
    r.method = first->substr(0, sp1);
    r.path = first->substr(sp1 + 1, sp2 - sp1 - 1);
    while (auto l = c.line()) {
      if (l->empty()) break;
      size_t colon = l->find(':');
      std::string name = l->substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
      std::string value = colon + 1 < l->size() ? l->substr(colon + 1) : "";
      value.erase(0, value.find_first_not_of(' '));
      r.headers[name] = value;
    }
    if (auto cl = r.headers.find("content-length"); cl != r.headers.end()) {
      auto body = c.bytes(std::stoul(cl->second));
      if (!body) return;
      r.body = *body;
    }
    int code = 200;
    {
      std::lock_guard l(mu_);
      if (!codes_.empty()) {
        code = codes_.front();
        codes_.pop_front();
      }
      r.answered = code;
      requests_.push_back(r);
    }
    if (code == 0) return c.hang();
    const std::string body = code >= 300 ? "server_error: try later" : "ok";
    std::string head = "HTTP/1.1 " + std::to_string(code) + " Fake\r\nContent-Type: text/plain\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n";
    if (code >= 300 && code < 400) head += "Location: http://127.0.0.1:1/elsewhere\r\n";
    c.write(head + "\r\n" + body);
  }

  mutable std::mutex mu_;
  std::deque<int> codes_;
  std::vector<HttpRequest> requests_;
  LoopbackServer server_;  // last: its thread uses the members above
};

// --- SMTP -------------------------------------------------------------------

struct SmtpSession {
  std::vector<std::string> commands;  // every command line, in order
  std::string mail_from;
  std::vector<std::string> rcpt_to;
  std::string data;  // the message, dot-unstuffed, CRLF line ends
  bool accepted = false;  // DATA ended with 250
};

class FakeSmtpServer {
 public:
  FakeSmtpServer() : server_([this](Conn& c) { serve(c); }) {}

  std::string url() const { return "smtp://" + server_.base(); }
  void reject_rcpt(const std::string& address) {
    std::lock_guard l(mu_);
    rejected_.insert(address);
  }
  void fail_data(int times) {
    std::lock_guard l(mu_);
    fail_data_ = times;
  }
  // Sessions are recorded when their connection ends, which may be after
  // the client's call returned (libcurl sends QUIT when it closes).
  std::vector<SmtpSession> sessions() const {
    std::lock_guard l(mu_);
    return sessions_;
  }
  bool wait_for_sessions(size_t n) const {
    for (int i = 0; i < 5000; ++i) {
      {
        std::lock_guard l(mu_);
        if (sessions_.size() >= n) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }
  std::vector<SmtpSession> accepted() const {
    std::vector<SmtpSession> out;
    for (auto& s : sessions()) {
      if (s.accepted) out.push_back(s);
    }
    return out;
  }

 private:
  static std::string upper(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::toupper(ch); });
    return s;
  }
  static std::string angle(const std::string& arg) {
    size_t a = arg.find('<'), b = arg.find('>');
    return a == std::string::npos || b == std::string::npos ? arg : arg.substr(a + 1, b - a - 1);
  }

  void serve(Conn& c) {
    SmtpSession s;
    c.write("220 fake.test ESMTP\r\n");
    while (auto l = c.line()) {
      s.commands.push_back(*l);
      const std::string cmd = upper(l->substr(0, l->find(' ')));
      if (cmd == "EHLO") {
        c.write("250-fake.test\r\n250 HELP\r\n");
      } else if (cmd == "HELO" || cmd == "RSET" || cmd == "NOOP") {
        c.write("250 OK\r\n");
      } else if (cmd == "STARTTLS") {
        c.write("454 TLS not available\r\n");
      } else if (cmd == "MAIL") {
        s.mail_from = angle(*l);
        c.write("250 OK\r\n");
      } else if (cmd == "RCPT") {
        const std::string to = angle(*l);
        bool rejected;
        {
          std::lock_guard g(mu_);
          rejected = rejected_.count(to) > 0;
        }
        if (rejected) {
          c.write("550 no such user\r\n");
        } else {
          s.rcpt_to.push_back(to);
          c.write("250 OK\r\n");
        }
      } else if (cmd == "DATA") {
        c.write("354 go ahead\r\n");
        std::string data;
        bool complete = false;
        while (auto dl = c.line()) {
          if (*dl == ".") {
            complete = true;
            break;
          }
          data += (!dl->empty() && dl->front() == '.' ? dl->substr(1) : *dl) + "\r\n";  // RFC 5321 4.5.2
        }
        if (!complete) break;
        bool fail;
        {
          std::lock_guard g(mu_);
          fail = fail_data_ > 0;
          if (fail) --fail_data_;
        }
        s.data = data;
        if (fail) {
          c.write("451 try again later\r\n");
        } else {
          s.accepted = true;
          c.write("250 OK queued\r\n");
        }
      } else if (cmd == "QUIT") {
        c.write("221 bye\r\n");
        break;
      } else {
        c.write("502 not implemented\r\n");
      }
    }
    std::lock_guard l(mu_);
    sessions_.push_back(std::move(s));
  }

  mutable std::mutex mu_;
  std::set<std::string> rejected_;
  int fail_data_ = 0;
  std::vector<SmtpSession> sessions_;
  LoopbackServer server_;  // last: its thread uses the members above
};

}  // namespace wgate::notify::testing
