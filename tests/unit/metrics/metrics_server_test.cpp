// /metrics, /healthz and /readyz over a real HttpServer on loopback.
#include "metrics/metrics_server.h"

#include <gtest/gtest.h>

#include "../http/test_client.h"

namespace wgate::metrics {
namespace {

using http::testing::TestClient;

std::optional<http::testing::WireReply> get(std::uint16_t port, const std::string& path) {
  TestClient c(port);
  if (!c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) return std::nullopt;
  return c.read_reply();
}

TEST(MetricsServer, ServesMetricsHealthAndReadiness) {
  DaemonMetrics m("0.1.0");
  auto server = start_metrics_server("127.0.0.1:0", m);
  ASSERT_TRUE(server.ok()) << server.error().message;
  const auto port = (*server)->port();

  auto metrics = get(port, "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->headers.get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics->body.find("wgate_build_info{version=\"0.1.0\"} 1\n"), std::string::npos) << metrics->body;

  auto health = get(port, "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");

  auto ready = get(port, "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_EQ(ready->body, "not ready: no full reconcile pass yet\n");

  DaemonPass pass;
  pass.state = std::make_shared<const State>();
  pass.plan = std::make_shared<const Plan>();
  pass.observed = std::make_shared<const std::map<std::string, WgDeviceState>>();
  m.record(pass);
  ready = get(port, "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "ready\n");

  auto other = get(port, "/api/v1/keys");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  (*server)->stop();
}

TEST(MetricsServer, AnAddressInUseIsAClearError) {
  DaemonMetrics m("0.1.0");
  auto first = start_metrics_server("127.0.0.1:0", m);
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = start_metrics_server("127.0.0.1:" + std::to_string((*first)->port()), m);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("metrics listen 127.0.0.1:"), std::string::npos) << second.error().message;
}

}  // namespace
}  // namespace wgate::metrics
