// Event streams (event_stream.h) on a real server on 127.0.0.1, through
// raw sockets: the wire format, events in order, the stream cap, a client
// that does not read, a client that leaves, the lifetime, keepalives,
// stop() while streaming, and the bad cases (HEAD, a producer that throws,
// a handler's bad stream header).
#include "http/event_stream.h"

#include <sys/socket.h>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"
#include "test_client.h"

namespace wgate::http {
namespace {

using namespace std::chrono_literals;
using testing::get_request;
using testing::TestClient;

TEST(EventFormat, FieldsAndLines) {
  EXPECT_EQ(format_event("status", "{\"a\":1}"), "event: status\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(format_event("audit", "x", "42"), "event: audit\nid: 42\ndata: x\n\n");
  EXPECT_EQ(format_event("", "one\ntwo\r\nthree\rfour"), "data: one\ndata: two\ndata: three\ndata: four\n\n");
  // A trailing line break survives as a last, empty line; empty data is one empty line.
  EXPECT_EQ(format_event("", "a\n"), "data: a\ndata: \n\n");
  EXPECT_EQ(format_event("e", ""), "event: e\ndata: \n\n");
  // A name or id cannot end its field early or inject another field.
  EXPECT_EQ(format_event("st\r\nid: 9\n", "d", std::string("1\n\0" "2", 4)), "event: stid: 9\nid: 12\ndata: d\n\n");
  EXPECT_EQ(format_comment("keep\nalive"), ": keepalive\n\n");
}

// What the producers did, shared with the test.
struct Probe {
  std::atomic<int> live{0};     // producers not yet destroyed
  std::atomic<int> ticks{0};
  std::atomic<int> refused{0};  // sends the sink refused
};

// Sends `count` events ("event: n", id i, data "event i") `every` apart,
// `size` bytes of padding each, then ends (count < 0: never ends).
class CountingProducer final : public EventProducer {
 public:
  CountingProducer(std::shared_ptr<Probe> probe, int count, std::chrono::milliseconds every, std::size_t size = 0)
      : probe_(std::move(probe)), count_(count), every_(every), size_(size) {
    ++probe_->live;
  }
  ~CountingProducer() override { --probe_->live; }

  std::optional<std::chrono::milliseconds> tick(EventSink& sink) override {
    ++probe_->ticks;
    if (count_ >= 0 && sent_ >= count_) return std::nullopt;
    ++sent_;
    if (!sink.send(format_event("n", "event " + std::to_string(sent_) + std::string(size_, '.'),
                                std::to_string(sent_)))) {
      ++probe_->refused;
      return std::nullopt;
    }
    return every_;
  }

 private:
  std::shared_ptr<Probe> probe_;
  int count_;
  std::chrono::milliseconds every_;
  std::size_t size_;
  int sent_ = 0;
};

class EventStreamTest : public ::testing::Test {
 protected:
  void start(ServerOptions o = {}) {
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    o.json_error_prefix = "/api/";
    o.on_error = [this](std::string_view what) {
      std::lock_guard lock(mu_);
      errors_.emplace_back(what);
    };
    Router r;
    auto must = [](Status s) { ASSERT_TRUE(s.ok()) << s.error().message; };
    auto probe = probe_;
    must(r.add("GET", "/api/events", [probe](const Request& q) {
      int count = q.query.get("count") ? std::stoi(std::string(*q.query.get("count"))) : 20;
      int every = q.query.get("every") ? std::stoi(std::string(*q.query.get("every"))) : 5;
      std::size_t size = q.query.get("size") ? std::stoul(std::string(*q.query.get("size"))) : 0;
      return Response::event_stream(
          std::make_shared<CountingProducer>(probe, count, std::chrono::milliseconds(every), size));
    }));
    must(r.add("GET", "/quiet", [probe](const Request&) {
      return Response::event_stream(std::make_shared<CountingProducer>(probe, 0, 0ms));
    }));
    must(r.add("GET", "/silent", [probe](const Request&) {
      // One event, then nothing for a minute.
      return Response::event_stream(std::make_shared<CountingProducer>(probe, -1, 60'000ms));
    }));
    must(r.add("GET", "/throws", [](const Request&) {
      struct Thrower final : EventProducer {
        int n = 0;
        std::optional<std::chrono::milliseconds> tick(EventSink& sink) override {
          if (n++ == 0) {
            sink.send(format_event("first", "ok"));
            return 1ms;
          }
          throw std::runtime_error("producer failed");
        }
      };
      return Response::event_stream(std::make_shared<Thrower>());
    }));
    must(r.add("GET", "/bad-status", [probe](const Request&) {
      auto res = Response::event_stream(std::make_shared<CountingProducer>(probe, 3, 1ms));
      res.status = 201;
      return res;
    }));
    must(r.add("GET", "/bad-header", [probe](const Request&) {
      return Response::event_stream(std::make_shared<CountingProducer>(probe, 3, 1ms))
          .set_header("X-Evil", "a\r\nSet-Cookie: x=1");
    }));
    must(r.add("GET", "/framing", [probe](const Request&) {
      return Response::event_stream(std::make_shared<CountingProducer>(probe, 2, 1ms))
          .set_header("Content-Length", "5")
          .set_header("Transfer-Encoding", "chunked");
    }));
    auto s = HttpServer::start(std::move(o), std::move(r));
    ASSERT_TRUE(s.ok()) << s.error().message;
    server_ = std::move(*s);
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  // Waits (bounded) until `pred` holds.
  template <class F>
  static bool eventually(F pred, std::chrono::milliseconds within = 5s) {
    auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      if (pred()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return pred();
  }

  // Opens a stream: the header (the client's pending() holds what followed).
  std::unique_ptr<TestClient> open(const std::string& target, std::optional<testing::WireReply>& head) {
    auto c = std::make_unique<TestClient>(server_->port());
    c->send(get_request(target));
    head = read_head(*c);
    return c;
  }

  // Reads only the header of a streaming response.
  static std::optional<testing::WireReply> read_head(TestClient& c) {
    // read_reply with head=true stops after the header.
    return c.read_reply(5s, /*head=*/true);
  }

  // Reads until EOF (or the timeout); what arrived after the header.
  static std::string read_to_end(TestClient& c, std::chrono::milliseconds timeout = 5s) {
    std::string out = c.pending();
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[16384];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{c.fd(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
    ADD_FAILURE() << "the stream did not end in time";
    return out;
  }

  std::vector<std::string> errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }

  std::shared_ptr<Probe> probe_ = std::make_shared<Probe>();
  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::vector<std::string> errors_;
};

std::string expected_events(int from, int to) {
  std::string out;
  for (int i = from; i <= to; ++i) out += format_event("n", "event " + std::to_string(i), std::to_string(i));
  return out;
}

TEST_F(EventStreamTest, EventsArriveInOrderAfterTheHeader) {
  start();
  std::optional<testing::WireReply> head;
  auto c = open("/api/events?count=20&every=2", head);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers.get("Content-Type"), "text/event-stream");
  EXPECT_EQ(head->headers.get("Cache-Control"), "no-store");
  EXPECT_EQ(head->headers.get("Connection"), "close");
  EXPECT_FALSE(head->headers.contains("Content-Length"));
  EXPECT_FALSE(head->headers.contains("Transfer-Encoding"));
  // The security headers, as on every response.
  EXPECT_TRUE(head->headers.contains("Content-Security-Policy"));
  EXPECT_EQ(head->headers.get("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(head->headers.get("X-Frame-Options"), "DENY");
  EXPECT_TRUE(eventually([&] { return server_->open_streams() == 1 || probe_->live == 0; }));
  // The producer ends after 20 events: the server flushes them and closes.
  EXPECT_EQ(read_to_end(*c), expected_events(1, 20));
  EXPECT_TRUE(eventually([&] { return server_->open_streams() == 0 && probe_->live == 0; }));
  EXPECT_TRUE(errors().empty());
}

TEST_F(EventStreamTest, HttpOneZeroAndHandlerFramingHeaders) {
  start();
  TestClient c(server_->port());
  c.send("GET /api/events?count=3&every=1 HTTP/1.0\r\n\r\n");
  auto head = read_head(c);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(read_to_end(c), expected_events(1, 3));

  // A handler's own framing headers are the server's to set: dropped.
  std::optional<testing::WireReply> h2;
  auto c2 = open("/framing", h2);
  ASSERT_TRUE(h2);
  EXPECT_EQ(h2->status, 200);
  EXPECT_FALSE(h2->headers.contains("Content-Length"));
  EXPECT_FALSE(h2->headers.contains("Transfer-Encoding"));
  EXPECT_EQ(read_to_end(*c2), expected_events(1, 2));
}

TEST_F(EventStreamTest, CapAnswers503AndALeavingClientFreesItsSlot) {
  ServerOptions o;
  o.max_streams = 2;
  start(o);
  std::optional<testing::WireReply> h1, h2, h3;
  auto c1 = open("/silent", h1);
  auto c2 = open("/silent", h2);
  ASSERT_TRUE(h1 && h2);
  EXPECT_EQ(h1->status, 200);
  EXPECT_EQ(h2->status, 200);
  EXPECT_EQ(server_->open_streams(), 2u);
  // The third: 503, as JSON under the API prefix, and closed.
  auto c3 = open("/api/events?count=-1&every=1000", h3);
  ASSERT_TRUE(h3);
  EXPECT_EQ(h3->status, 503);
  EXPECT_TRUE(c3->closed_within(2s));
  EXPECT_EQ(probe_->live, 2);  // the refused stream's producer is gone

  // A client that leaves (no more writes needed to notice) frees its slot
  // and its producer at once, not at the next event a minute later.
  c1.reset();
  EXPECT_TRUE(eventually([&] { return server_->open_streams() == 1 && probe_->live == 1; }, 3s))
      << server_->open_streams() << " streams, " << probe_->live << " producers";
  std::optional<testing::WireReply> h4;
  auto c4 = open("/silent", h4);
  ASSERT_TRUE(h4);
  EXPECT_EQ(h4->status, 200);
  EXPECT_EQ(server_->open_streams(), 2u);
}

TEST_F(EventStreamTest, AClientThatDoesNotReadIsCutOff) {
  ServerOptions o;
  o.stream_buffer_limit = 16 * 1024;
  o.write_timeout = 30s;  // the buffer bound must cut it, not the write timeout
  start(o);
  auto c = std::make_unique<TestClient>(server_->port());
  int small = 4096;
  ::setsockopt(c->fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  // 8 KiB events every millisecond, never read: the kernel's buffers fill,
  // a write stalls, the queue grows past 16 KiB.
  c->send(get_request("/api/events?count=-1&every=1&size=8192"));
  EXPECT_TRUE(eventually([&] { return probe_->refused > 0 && probe_->live == 0; }, 10s))
      << "ticks " << probe_->ticks << ", refused " << probe_->refused << ", live " << probe_->live;
  EXPECT_EQ(server_->open_streams(), 0u);
  bool heard = false;
  for (const auto& e : errors()) heard = heard || e.find("does not read") != std::string::npos;
  EXPECT_TRUE(heard);
  // It was cut long before its lifetime: at most the kernel's buffers and
  // the queue were ever sent to it (loopback buffers are a few MiB at most).
  EXPECT_LT(probe_->ticks, 2000);
  EXPECT_TRUE(c->closed_within(5s));
}

TEST_F(EventStreamTest, AWriteTheClientDoesNotTakeHitsTheWriteTimeout) {
  ServerOptions o;
  o.stream_buffer_limit = 64 * 1024 * 1024;  // never reached here
  o.write_timeout = 300ms;
  start(o);
  TestClient c(server_->port());
  int small = 4096;
  ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  // One 4 MiB event: larger than the socket buffers, never read.
  c.send(get_request("/api/events?count=1&every=1&size=4194304"));
  EXPECT_TRUE(eventually([&] { return server_->open_streams() == 0 && probe_->live == 0; }, 5s));
  EXPECT_TRUE(c.closed_within(5s));
}

TEST_F(EventStreamTest, LifetimeEndsTheStreamAndKeepalivesFillSilence) {
  ServerOptions o;
  o.stream_lifetime = 600ms;
  o.stream_keepalive = 100ms;
  start(o);
  std::optional<testing::WireReply> head;
  auto start_time = std::chrono::steady_clock::now();
  auto c = open("/silent", head);
  ASSERT_TRUE(head);
  std::string body = read_to_end(*c, 5s);
  auto took = std::chrono::steady_clock::now() - start_time;
  EXPECT_GE(took, 500ms);
  EXPECT_LT(took, 3s);
  // One event, then only keepalive comments (about one per 100 ms).
  std::string first = expected_events(1, 1);
  ASSERT_TRUE(body.starts_with(first)) << body;
  std::string rest = body.substr(first.size());
  std::size_t comments = 0;
  for (std::size_t at = 0; (at = rest.find(": keepalive\n\n", at)) != std::string::npos; at += 13) ++comments;
  EXPECT_EQ(rest.size(), comments * 13) << rest;
  EXPECT_GE(comments, 3u);
  EXPECT_LE(comments, 7u);
  EXPECT_TRUE(eventually([&] { return server_->open_streams() == 0 && probe_->live == 0; }));
}

TEST_F(EventStreamTest, StopWhileStreamingClosesEveryStream) {
  start();
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 3; ++i) {
    std::optional<testing::WireReply> head;
    clients.push_back(open("/api/events?count=-1&every=5", head));
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
  }
  EXPECT_EQ(server_->open_streams(), 3u);
  auto before = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
  for (auto& c : clients) EXPECT_TRUE(c->closed_within(2s));
  EXPECT_EQ(probe_->live, 0);
  EXPECT_EQ(server_->open_streams(), 0u);
  EXPECT_EQ(server_->open_connections(), 0u);
}

TEST_F(EventStreamTest, BadCases) {
  start();
  // HEAD: the header only; no producer runs, no slot is held.
  TestClient h(server_->port());
  h.send("HEAD /api/events HTTP/1.1\r\nHost: x\r\n\r\n");
  auto head = h.read_reply(5s, true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers.get("Content-Type"), "text/event-stream");
  EXPECT_TRUE(h.closed_within(2s));
  EXPECT_EQ(h.pending(), "");
  EXPECT_EQ(probe_->ticks, 0);

  // A producer that throws: its stream ends after what it sent; on_error hears why.
  std::optional<testing::WireReply> t;
  auto c = open("/throws", t);
  ASSERT_TRUE(t);
  EXPECT_EQ(read_to_end(*c), format_event("first", "ok"));
  EXPECT_TRUE(eventually([&] {
    for (const auto& e : errors())
      if (e.find("producer failed") != std::string::npos) return true;
    return false;
  }));

  // A stream with a status other than 200, or a header a client could be
  // attacked with: 500, nothing streamed.
  for (const char* target : {"/bad-status", "/bad-header"}) {
    std::optional<testing::WireReply> b;
    auto bc = open(target, b);
    ASSERT_TRUE(b) << target;
    EXPECT_EQ(b->status, 500) << target;
    EXPECT_EQ(b->headers.get("Set-Cookie"), std::nullopt);
  }
  EXPECT_TRUE(eventually([&] { return probe_->live == 0; }));
  EXPECT_EQ(probe_->ticks, 0);

  // What a client sends while it streams is read and dropped; the events go on.
  std::optional<testing::WireReply> p;
  auto pc = open("/api/events?count=5&every=20", p);
  ASSERT_TRUE(p);
  pc->send(get_request("/api/events") + "garbage\r\n\r\n");
  EXPECT_EQ(read_to_end(*pc), expected_events(1, 5));

  // max_streams 0: every stream is refused.
  server_->stop();
  ServerOptions o;
  o.max_streams = 0;
  start(o);
  std::optional<testing::WireReply> z;
  auto zc = open("/api/events", z);
  ASSERT_TRUE(z);
  EXPECT_EQ(z->status, 503);
  EXPECT_EQ(z->headers.get("Content-Type"), "application/json");
}

TEST(EventStreamOptions, BadBoundsAreRefused) {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.stream_buffer_limit = 100;
  EXPECT_FALSE(HttpServer::start(o, Router{}).ok());
  o.stream_buffer_limit = 4096;
  o.stream_lifetime = 0ms;
  EXPECT_FALSE(HttpServer::start(o, Router{}).ok());
  o.stream_lifetime = 1s;
  o.stream_keepalive = -1ms;
  EXPECT_FALSE(HttpServer::start(o, Router{}).ok());
}

}  // namespace
}  // namespace wgate::http
