// Router: method + path routing with `{name}` path parameters.
//
// Routes are registered by the caller before the server starts; the server
// only reads the Router afterwards (so matching needs no lock). Matching is
// on the request path's segments, each percent-decoded on its own, so an
// encoded "%2F" stays inside one parameter value and never splits a path.
//
//   Router r;
//   WGATE_TRY(r.add("GET", "/api/v1/keys/{id}", [](const Request& q) {
//     return Response::json("{\"id\":\"" + std::string(q.param("id")) + "\"}");
//   }));
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/message.h"
#include "util/result.h"

namespace wgate::http {

// A request handler. Runs on one of the server's threads (concurrently with
// other handlers when ServerOptions::threads > 1); it should not block for
// long, since it holds that thread. An exception it throws becomes a 500
// with no details (ServerOptions::on_error hears what()).
using Handler = std::function<Response(const Request&)>;

struct RouteOptions {
  // The largest request body this route accepts (413 above it); absent:
  // ServerOptions::body_limit.
  std::optional<std::size_t> body_limit;
};

struct RouteMatch {
  enum class Kind { kFound, kNotFound, kMethodNotAllowed };
  Kind kind = Kind::kNotFound;
  const Handler* handler = nullptr;  // kFound: owned by the Router
  RouteOptions options;              // kFound
  std::vector<std::pair<std::string, std::string>> params;  // kFound, decoded
  std::string allow;  // kMethodNotAllowed: the path's methods ("GET, HEAD, POST")
};

class Router {
 public:
  // Registers `handler` for `method` (e.g. "GET", case-sensitive) on
  // `pattern`: "/"-separated segments, each a literal or `{name}` (name of
  // [A-Za-z0-9_], unique in the pattern, a whole segment). Errors: a pattern
  // not starting with '/', a malformed or repeated `{name}`, or a route of
  // the same method and shape (literals equal, parameters in the same
  // places) already registered.
  Status add(std::string_view method, std::string_view pattern, Handler handler, RouteOptions options = {});

  // Matches a method and the raw (still percent-encoded) path of a request
  // target. A literal segment beats a parameter at the first place they
  // differ ("/keys/new" before "/keys/{id}"). HEAD is served by the GET route
  // when no HEAD route exists. A path some route matches for other methods
  // only is kMethodNotAllowed, with their list in `allow`. Error: a segment
  // that does not percent-decode (a bad escape, a NUL byte): a 400.
  Result<RouteMatch> match(std::string_view method, std::string_view raw_path) const;

  std::size_t size() const { return routes_.size(); }

  // The largest body limit of any route, `default_limit` standing in for
  // routes without their own.
  std::size_t largest_body_limit(std::size_t default_limit) const;

 private:
  struct Segment {
    std::string text;  // literal text, or the parameter's name
    bool param = false;
  };
  struct Route {
    std::string method;
    std::vector<Segment> segments;
    Handler handler;
    RouteOptions options;
  };
  std::vector<Route> routes_;
};

// Splits "/a/b%2Fc/" into decoded segments {"a", "b/c", ""}; error on a bad
// escape or NUL. Exposed for the fuzz target and Request::path.
Result<std::vector<std::string>> split_path(std::string_view raw_path);

}  // namespace wgate::http
