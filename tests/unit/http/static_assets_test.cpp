#include "http/static_assets.h"

#include <vector>
#include <gtest/gtest.h>

#include "http_test_assets.h"

namespace wgate::http {
namespace {

TEST(ContentType, ByExtension) {
  EXPECT_EQ(content_type_for("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(content_type_for("js/app.JS"), "text/javascript; charset=utf-8");
  EXPECT_EQ(content_type_for("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type_for("logo.svg"), "image/svg+xml");
  EXPECT_EQ(content_type_for("font.woff2"), "font/woff2");
  EXPECT_EQ(content_type_for("x.wasm"), "application/wasm");
  EXPECT_EQ(content_type_for("README"), "application/octet-stream");
  EXPECT_EQ(content_type_for("dir.d/README"), "application/octet-stream");
  EXPECT_EQ(content_type_for("archive.tar.gz"), "application/octet-stream");
}

TEST(EmbeddedFiles, GeneratedAtBuildTime) {
  auto files = embedded::http_test_assets();
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].name, "index.html");
  EXPECT_EQ(files[1].name, "app.js");
  EXPECT_EQ(files[1].data, "console.log(\"wgate\");\n");
  EXPECT_EQ(files[3].name, "empty.txt");
  EXPECT_EQ(files[3].data.size(), 0u);
}

TEST(StaticAssets, EtagsAndConditionalRequests) {
  const EmbeddedFile files[] = {{"a.txt", "alpha", ""}, {"b.bin", "beta", "application/x-custom"}};
  StaticAssets assets(files);
  Request q;
  Response a = assets.serve("a.txt", q);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "alpha");
  EXPECT_EQ(a.headers.get("Content-Type"), "text/plain; charset=utf-8");
  std::string etag(*a.headers.get("ETag"));
  EXPECT_EQ(etag.front(), '"');
  EXPECT_EQ(assets.serve("b.bin", q).headers.get("Content-Type"), "application/x-custom");
  EXPECT_NE(assets.serve("b.bin", q).headers.get("ETag"), etag);  // content decides
  EXPECT_EQ(assets.serve("missing", q).status, 404);

  for (std::string inm : std::vector<std::string>{etag, "W/" + etag, "\"x\", " + etag, "*"}) {
    Request c;
    c.headers.set("If-None-Match", inm);
    Response r = assets.serve("a.txt", c);
    EXPECT_EQ(r.status, 304) << inm;
    EXPECT_TRUE(r.body.empty());
  }
  Request stale;
  stale.headers.set("If-None-Match", "\"stale\"");
  EXPECT_EQ(assets.serve("a.txt", stale).status, 200);
}

TEST(StaticAssets, RoutesUnderAPrefix) {
  const EmbeddedFile files[] = {{"index.html", "<p>", ""}, {"css/site.css", "p{}", ""}};
  Router r;
  {
    StaticAssets assets(files);  // the routes keep what they need
    ASSERT_TRUE(assets.add_routes(r, "/ui/").ok());
    EXPECT_FALSE(assets.add_routes(r, "/ui/").ok());  // taken
    EXPECT_FALSE(assets.add_routes(r, "ui").ok());
  }
  auto m = r.match("GET", "/ui/css/site.css");
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->kind, RouteMatch::Kind::kFound);
  EXPECT_EQ((*m->handler)(Request{}).body, "p{}");
  m = r.match("GET", "/ui/");
  ASSERT_EQ(m->kind, RouteMatch::Kind::kFound);
  EXPECT_EQ((*m->handler)(Request{}).body, "<p>");
  const EmbeddedFile bad[] = {{"/abs", "x", ""}};
  Router r2;
  EXPECT_FALSE(StaticAssets(bad).add_routes(r2, "/").ok());
}

}  // namespace
}  // namespace wgate::http
