#include "notify/webhook.h"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <chrono>
#include <thread>

#include "fakes.h"
#include "loopback_servers.h"
#include "notify/dispatcher.h"
#include "notify/memory_outbox.h"
#include "sample_alert.h"

namespace wgate::notify::testing {
namespace {

// A Slack-style path: its last segments are the secret token.
constexpr const char* kSecretPath = "/services/T0001/B0002/XyZsEcReTtOkEn42";
constexpr const char* kToken = "XyZsEcReTtOkEn42";

std::unique_ptr<Notifier> webhook(const std::string& url, long timeout_ms = 5000) {
  WebhookConfig c;
  c.url = url;
  c.timeout_ms = timeout_ms;
  c.connect_timeout_ms = 2000;
  c.proxy = "";  // loopback only, whatever the environment's proxy
  auto n = make_webhook_notifier(c);
  EXPECT_TRUE(n.ok()) << n.error().message;
  return n.ok() ? std::move(*n) : nullptr;
}

TEST(WebhookPayload, TextPlusStructuredFieldsSlackEscaped) {
  Alert a = sample_alert(7, AlertKind::expired_in_use);
  a.text = "use <wgate login> & then";
  const auto j = webhook_payload(a);
  EXPECT_EQ(j["text"], a.subject + "\nuse &lt;wgate login&gt; &amp; then");
  EXPECT_EQ(j["person"], "alice");
  EXPECT_EQ(j["device"], "laptop");
  EXPECT_EQ(j["key_id"], 7);
  EXPECT_EQ(j["kind"], "expired_in_use");
  EXPECT_EQ(j["dedup_key"], "expired_in_use:7");
  EXPECT_EQ(j["group"], "dev");
  EXPECT_EQ(j["created_at"], 1000);
  EXPECT_EQ(j["expires_at"], 900000);
  EXPECT_EQ(j["last_handshake_at"], 899990);
  EXPECT_EQ(j["due_at"], 2000);
  EXPECT_FALSE(j.contains("email"));  // chat channels are wider audiences
  EXPECT_TRUE(webhook_payload(sample_alert(7))["expires_at"].is_null());
}

TEST(WebhookConfig, RefusesWhatIsNotAnHttpUrlWithoutQuotingIt) {
  WebhookConfig c;
  c.url = "ftp://user:hunter2pass@example.com/path/SECRET123";
  auto r = make_webhook_notifier(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("http or https"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("hunter2pass"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("SECRET123"), std::string::npos) << r.error().message;
  c.url = "not a url at all SECRET123";
  r = make_webhook_notifier(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("SECRET123"), std::string::npos) << r.error().message;
  c.url = "https://hooks.example.com/x";
  c.timeout_ms = 0;
  EXPECT_FALSE(make_webhook_notifier(c).ok());
}

TEST(WebhookConfig, TargetShowsSchemeHostAndPortOnly) {
  auto n = webhook(std::string("https://hooks.example.com") + kSecretPath + "?token=abcdefgh");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->target(), "webhook https://hooks.example.com/…");
  EXPECT_EQ(n->channel(), "webhook");
  auto bare = webhook("https://hooks.example.com:8443");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->target(), "webhook https://hooks.example.com:8443");
}

TEST(Webhook, PostsTheJsonAndSucceedsOn2xx) {
  FakeWebhookServer server({204});
  auto n = webhook(server.url(kSecretPath));
  ASSERT_TRUE(n);
  const Alert a = sample_alert(7);
  Status s = n->send(a, {});
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, kSecretPath);
  EXPECT_EQ(reqs[0].headers["content-type"], "application/json");
  EXPECT_EQ(reqs[0].headers["x-wgate-dedup-key"], "never_activated:7");
  EXPECT_EQ(reqs[0].headers.count("expect"), 0u);
  auto body = nlohmann::json::parse(reqs[0].body);
  EXPECT_EQ(body, webhook_payload(a));
}

TEST(Webhook, A500IsAnErrorNamingTheHostNotTheToken) {
  FakeWebhookServer server({500});
  auto n = webhook(server.url(kSecretPath));
  ASSERT_TRUE(n);
  Status s = n->send(sample_alert(7), {});
  ASSERT_FALSE(s.ok());
  const std::string& m = s.error().message;
  EXPECT_EQ(m, "webhook http://" + server.url("").substr(7) + "/…: HTTP 500: server_error: try later");
  EXPECT_EQ(m.find(kToken), std::string::npos);
}

TEST(Webhook, ARedirectIsNotFollowed) {
  FakeWebhookServer server({301});
  auto n = webhook(server.url(kSecretPath));
  ASSERT_TRUE(n);
  Status s = n->send(sample_alert(7), {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("HTTP 301"), std::string::npos) << s.error().message;
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(Webhook, ConnectionRefusedIsAnErrorWithoutTheToken) {
  uint16_t port;
  {
    FakeWebhookServer closed;
    port = closed.port();
  }  // nothing listens there now
  auto n = webhook("http://127.0.0.1:" + std::to_string(port) + kSecretPath);
  ASSERT_TRUE(n);
  Status s = n->send(sample_alert(7), {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("webhook http://127.0.0.1:" + std::to_string(port) + "/…: "), std::string::npos)
      << s.error().message;
  EXPECT_EQ(s.error().message.find(kToken), std::string::npos) << s.error().message;
}

TEST(Webhook, ASilentServerTimesOut) {
  FakeWebhookServer server({0});  // reads the request, never answers
  auto n = webhook(server.url(kSecretPath), /*timeout_ms=*/300);
  ASSERT_TRUE(n);
  const auto t = std::chrono::steady_clock::now();
  Status s = n->send(sample_alert(7), {});
  ASSERT_FALSE(s.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t, std::chrono::seconds(3));
  EXPECT_NE(s.error().message.find("imeout"), std::string::npos) << s.error().message;
  server.stop();
}

TEST(Webhook, StopCutsASendShort) {
  FakeWebhookServer server({0});
  auto n = webhook(server.url(kSecretPath), /*timeout_ms=*/30000);
  ASSERT_TRUE(n);
  std::stop_source stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop.request_stop();
  });
  const auto t = std::chrono::steady_clock::now();
  Status s = n->send(sample_alert(7), stop.get_token());
  stopper.join();
  ASSERT_FALSE(s.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t, std::chrono::seconds(3));
  EXPECT_NE(s.error().message.find("cancelled"), std::string::npos) << s.error().message;
  server.stop();
}

TEST(Webhook, TheEnvironmentsProxyIsUsedUnlessTheConfigSaysNone) {
  uint16_t dead;
  {
    FakeWebhookServer closed;
    dead = closed.port();
  }
  const std::string proxy = "http://127.0.0.1:" + std::to_string(dead);
  ASSERT_EQ(::setenv("http_proxy", proxy.c_str(), 1), 0);
  FakeWebhookServer server({200, 200});
  WebhookConfig c;
  c.url = server.url(kSecretPath);
  auto from_env = make_webhook_notifier(c);  // proxy unset: the environment's
  ASSERT_TRUE(from_env.ok());
  Status s = (*from_env)->send(sample_alert(7), {});
  c.proxy = "";
  auto none = make_webhook_notifier(c);
  ASSERT_TRUE(none.ok());
  Status direct = (*none)->send(sample_alert(7), {});
  ::unsetenv("http_proxy");
  EXPECT_FALSE(s.ok());  // went to the dead proxy
  EXPECT_TRUE(direct.ok()) << direct.error().message;
  EXPECT_EQ(server.requests().size(), 1u);
}

// The whole path: alert -> outbox -> dispatcher -> libcurl -> a receiver that
// answers 500 twice, then 200.
TEST(WebhookDelivery, AReceiverFailingTwiceGetsExactlyOneAcceptedPost) {
  FakeWebhookServer server({500, 500});
  MemoryOutbox outbox;
  auto clock = std::make_unique<FakeClock>(1000, 100'000);
  FakeClock* clk = clock.get();
  std::vector<std::unique_ptr<Notifier>> ns;
  ns.push_back(webhook(server.url(kSecretPath)));
  std::vector<DispatchEvent> events;
  std::mutex mu;
  Dispatcher d(outbox, std::move(ns), {}, std::move(clock), [&](const DispatchEvent& e) {
    std::lock_guard l(mu);
    events.push_back(e);
  });
  ASSERT_TRUE(d.raise({sample_alert(7)}, 1000).ok());
  d.start();
  ASSERT_TRUE(eventually([&] {
    auto all = outbox.list(1);
    return all.ok() && !all->empty() && all->front().status == DeliveryStatus::delivered;
  }));
  d.stop();

  auto accepted = server.accepted();
  ASSERT_EQ(accepted.size(), 1u);
  auto body = nlohmann::json::parse(accepted[0].body);
  EXPECT_EQ(body["person"], "alice");
  EXPECT_EQ(body["device"], "laptop");
  EXPECT_NE(body["text"].get<std::string>().find("alice"), std::string::npos);
  EXPECT_EQ(server.requests().size(), 3u);
  auto all = outbox.list(1);
  EXPECT_EQ(all->front().attempts, 3);
  EXPECT_EQ(all->front().delivered_at, 1040);
  EXPECT_EQ(clk->waits().at(0), 1010);
  std::lock_guard l(mu);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, DispatchEvent::Type::retry);
  EXPECT_NE(events[0].error.find("HTTP 500"), std::string::npos);
  EXPECT_EQ(events[0].error.find(kToken), std::string::npos) << events[0].error;
  EXPECT_EQ(events[2].type, DispatchEvent::Type::delivered);
}

}  // namespace
}  // namespace wgate::notify::testing
