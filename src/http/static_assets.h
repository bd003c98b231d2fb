// StaticAssets: serves a fixed set of in-memory files (the UI, embedded in
// the binary at build time by the CMake function wgate_embed_files) with
// content types, strong ETags and 304 answers to If-None-Match.
//
// The file bytes are not copied: they must outlive every Router the routes
// were added to (the arrays wgate_embed_files generates are static).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"
#include "http/router.h"
#include "util/result.h"

namespace wgate::http {

struct EmbeddedFile {
  std::string_view name;          // path below the mount point: "app.js", "css/site.css"
  std::string_view data;          // the bytes
  std::string_view content_type;  // empty: from the name's extension
};

// The Content-Type for a file name's extension (html, js, css, json, svg,
// png, ico, txt, woff2, wasm, map, ...); application/octet-stream otherwise.
std::string_view content_type_for(std::string_view name);

class StaticAssets {
 public:
  // Computes every file's ETag (SHA-256 of its bytes) once.
  explicit StaticAssets(std::span<const EmbeddedFile> files);

  // Registers GET (and so HEAD) for each file at `prefix` + name, and a file
  // named "index.html" also at `prefix` itself. `prefix` starts and ends
  // with '/' ("/" or "/ui/"). Errors: a bad prefix, a name that would not
  // route (empty, a leading '/', '{' or '}'), or a route already taken.
  Status add_routes(Router& router, std::string_view prefix) const;

  // The response for file `name` ("Not Found" if there is none): 200 with
  // the bytes, or 304 when the request's If-None-Match names its ETag;
  // Cache-Control: no-cache (the browser revalidates, the ETag saves the
  // transfer).
  Response serve(std::string_view name, const Request& request) const;

 private:
  struct Asset {
    EmbeddedFile file;
    std::string etag;  // quoted
  };
  static Response serve_asset(const Asset& asset, const Request& request);
  std::shared_ptr<const std::vector<Asset>> assets_;
};

}  // namespace wgate::http
