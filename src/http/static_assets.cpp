#include "http/static_assets.h"

#include <openssl/evp.h>

#include <array>

namespace wgate::http {
namespace {

std::string etag_of(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) len = 0;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  // 128 bits of the digest name the content well enough for a cache.
  for (unsigned i = 0; i < std::min(len, 16u); ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  if (len == 0) out.append(std::to_string(data.size()));  // digest unavailable: still a validator
  out.push_back('"');
  return out;
}

// If-None-Match: "*" or a list of entity tags, compared weakly (RFC 9110
// 13.1.2: W/ is ignored for this header).
bool none_match_hits(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    std::size_t comma = header.find(',');
    std::string_view tag = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag == "*") return true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
  }
  return false;
}

}  // namespace

std::string_view content_type_for(std::string_view name) {
  std::size_t dot = name.rfind('.');
  std::size_t slash = name.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash))
    return "application/octet-stream";
  std::string ext(name.substr(dot + 1));
  for (char& c : ext)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  struct Type {
    std::string_view ext, type;
  };
  static constexpr Type kTypes[] = {
      {"html", "text/html; charset=utf-8"},     {"htm", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"}, {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},       {"json", "application/json"},
      {"map", "application/json"},              {"txt", "text/plain; charset=utf-8"},
      {"svg", "image/svg+xml"},                 {"png", "image/png"},
      {"jpg", "image/jpeg"},                    {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},                     {"webp", "image/webp"},
      {"ico", "image/x-icon"},                  {"woff", "font/woff"},
      {"woff2", "font/woff2"},                  {"wasm", "application/wasm"},
      {"webmanifest", "application/manifest+json"},
  };
  for (const Type& t : kTypes)
    if (t.ext == ext) return t.type;
  return "application/octet-stream";
}

StaticAssets::StaticAssets(std::span<const EmbeddedFile> files) {
  auto assets = std::make_shared<std::vector<Asset>>();
  assets->reserve(files.size());
  for (const EmbeddedFile& f : files) assets->push_back(Asset{f, etag_of(f.data)});
  assets_ = std::move(assets);
}

Response StaticAssets::serve_asset(const Asset& asset, const Request& request) {
  Response r;
  r.headers.set("ETag", asset.etag);
  r.headers.set("Cache-Control", "no-cache");
  auto inm = request.headers.get("If-None-Match");
  if (inm && none_match_hits(*inm, asset.etag)) {
    r.status = 304;
    return r;
  }
  r.headers.set("Content-Type",
                asset.file.content_type.empty() ? content_type_for(asset.file.name) : asset.file.content_type);
  r.body.assign(asset.file.data);
  return r;
}

Response StaticAssets::serve(std::string_view name, const Request& request) const {
  for (const Asset& a : *assets_)
    if (a.file.name == name) return serve_asset(a, request);
  return Response::status_only(404);
}

Status StaticAssets::add_routes(Router& router, std::string_view prefix) const {
  if (prefix.empty() || prefix.front() != '/' || prefix.back() != '/')
    return make_error("asset prefix '" + std::string(prefix) + "' must start and end with '/'");
  for (std::size_t i = 0; i < assets_->size(); ++i) {
    std::string_view name = (*assets_)[i].file.name;
    if (name.empty() || name.front() == '/' || name.find_first_of("{}") != std::string_view::npos)
      return make_error("asset name '" + std::string(name) + "' cannot be routed");
    auto handler = [assets = assets_, i](const Request& q) { return serve_asset((*assets)[i], q); };
    WGATE_TRY(router.add("GET", std::string(prefix) + std::string(name), handler));
    if (name == "index.html") WGATE_TRY(router.add("GET", std::string(prefix), handler));
  }
  return ok_status();
}

}  // namespace wgate::http
