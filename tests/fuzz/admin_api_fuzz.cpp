// Fuzz target: raw bytes as one HTTP request to the admin API's real router
// (web/admin_api.h) over a real SQLite store in a temporary directory, with
// an admin API token (write scope) inserted after the request line, so the
// bytes reach the handlers: query and body parsing, cursors, the service's
// checks and the store. Every answer must be an HTTP/1.1 response and never
// a 500 (bad input is a 4xx; the store is local and healthy; /status answers
// 503, as no data plane is given).
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/config.h"
#include "http/router.h"
#include "http/wire.h"
#include "service/admin.h"
#include "service/service.h"
#include "web/admin_api.h"

namespace {

struct World {
  wgate::Config config;
  wgate::http::Router router;
  std::string header;  // "Authorization: Bearer ...\r\n"
};

World& world() {
  static World* w = [] {
    auto* out = new World;
    char tmpl[] = "/tmp/wgate-admin-fuzz-XXXXXX";
    if (!mkdtemp(tmpl)) __builtin_trap();
    const std::string dir = tmpl;
    auto config = wgate::parse_config(R"(
[server]
endpoint = "vpn.example.com"
store = ")" + dir + R"(/wgate.db"
state_dir = ")" + dir + R"(/state"
[pool]
ipv4 = "10.100.0.0/16"
per_user = 4
[networks]
vpc-a = ["10.1.0.0/16"]
[groups.dev]
networks = ["vpc-a"]
interface = "wgf-dev"
port = 51820
table = 1001
)",
                                      "fuzz.toml");
    if (!config) __builtin_trap();
    out->config = *config;
    if (!wgate::service::initialize(out->config)) __builtin_trap();
    auto store = wgate::open_sqlite_store(out->config.server.store_path);
    if (!store) __builtin_trap();
    const wgate::Actor root{"fuzz"};
    (void)wgate::service::add_user(**store, out->config, {"alice", "", {"dev"}}, 100, root);
    auto token = wgate::service::create_api_token(**store, {"fuzz", "write", "366d"}, 100, root);
    if (!token) __builtin_trap();
    out->header = "Authorization: Bearer " + token->secret + "\r\n";
    wgate::web::AdminApiDeps deps;
    deps.config = &out->config;
    const std::string path = out->config.server.store_path;
    deps.open_store = [path] { return wgate::open_sqlite_store(path); };
    deps.now = [] { return wgate::UnixTime{1000}; };
    if (!wgate::web::add_admin_routes(out->router, deps)) __builtin_trap();
    return out;
  }();
  return *w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& w = world();
  std::string bytes(reinterpret_cast<const char*>(data), size);
  // Authenticated: the token goes right after the request line.
  if (auto eol = bytes.find("\r\n"); eol != std::string::npos) bytes.insert(eol + 2, w.header);
  wgate::http::wire::Limits limits;
  limits.body_limit = wgate::web::kAdminBodyLimit;
  limits.max_body_limit = wgate::web::kAdminBodyLimit;
  auto outcome = wgate::http::wire::parse_request_bytes(bytes, w.router, limits);
  if (!outcome.response.starts_with("HTTP/1.1 ")) __builtin_trap();
  // 503 is /status here (no data plane in this process); a 500 is a bug.
  if (outcome.status == 500 || outcome.response.starts_with("HTTP/1.1 500")) __builtin_trap();
  return 0;
}
