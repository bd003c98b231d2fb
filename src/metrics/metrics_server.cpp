#include "metrics/metrics_server.h"

#include <stdexcept>
#include <utility>

namespace wgate::metrics {

Result<http::Router> make_metrics_router(const DaemonMetrics& metrics) {
  http::Router router;
  WGATE_TRY(router.add("GET", "/metrics", [&metrics](const http::Request&) {
    auto text = render_snapshot(*metrics.scrape());
    // A render error is a bug in the metric definitions; the server turns
    // the exception into a bare 500 and tells on_error what it was.
    if (!text) throw std::runtime_error("metrics: " + text.error().message);
    http::Response r = http::Response::text(std::move(*text));
    r.set_header("Content-Type", kContentType);
    // A scrape must never be answered from a cache.
    r.set_header("Cache-Control", "no-store");
    return r;
  }));
  WGATE_TRY(router.add("GET", "/healthz", [](const http::Request&) { return http::Response::text("ok\n"); }));
  WGATE_TRY(router.add("GET", "/readyz", [&metrics](const http::Request&) {
    auto s = metrics.snapshot();
    if (s->ready) return http::Response::text("ready\n");
    return http::Response::text("not ready: " + s->not_ready + "\n", 503);
  }));
  return router;
}

Result<std::unique_ptr<http::HttpServer>> start_metrics_server(const std::string& listen, const DaemonMetrics& metrics,
                                                               std::function<void(std::string_view)> on_error) {
  WGATE_ASSIGN_OR_RETURN(auto router, make_metrics_router(metrics));
  http::ServerOptions options;
  options.listen = listen;
  // One thread: scrapes are rare (every 15 s or so) and formatting 10,000
  // devices takes milliseconds; the reconcile loop is never on it.
  options.threads = 1;
  options.max_connections = 32;
  options.on_error = std::move(on_error);
  auto server = http::HttpServer::start(std::move(options), std::move(router));
  if (!server) return server.error().with_context("metrics listen " + listen);
  return server;
}

}  // namespace wgate::metrics
