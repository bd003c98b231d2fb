// The daemon's HTTP endpoints on the [metrics] listen address:
//   GET /metrics  the Prometheus text format of the newest DaemonSnapshot
//   GET /healthz  200 "ok": the process is alive and serving
//   GET /readyz   200 "ready" once a full pass succeeded and the store is
//                 readable, else 503 with the reason
// Served by http::HttpServer on its own thread (not the reconcile loop's);
// each request only copies the snapshot pointer and formats it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "http/router.h"
#include "http/server.h"
#include "metrics/daemon_metrics.h"
#include "util/result.h"

namespace wgate::metrics {

// The routes above over `metrics`, which must outlive the router.
Result<http::Router> make_metrics_router(const DaemonMetrics& metrics);

// Binds `listen` ("127.0.0.1:9586") and serves the routes. `metrics` must
// outlive the server; stop it (or destroy it) before `metrics` goes.
// Errors: the address cannot be bound.
Result<std::unique_ptr<http::HttpServer>> start_metrics_server(const std::string& listen, const DaemonMetrics& metrics,
                                                               std::function<void(std::string_view)> on_error = {});

}  // namespace wgate::metrics
