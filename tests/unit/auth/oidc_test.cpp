#include "auth/oidc.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <map>

#include "fake_http_client.h"
#include "test_signer.h"

namespace wgate::auth {
namespace {

using testing::FakeHttpClient;
using testing::json_response;
using testing::jwks_of;
using testing::make_token;
using testing::RecordedRequest;
using testing::TestKey;
using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kIssuer = "https://idp.example.com/realms/corp";
const std::string kDiscoveryUrl = kIssuer + "/.well-known/openid-configuration";
const std::string kJwksUrl = kIssuer + "/protocol/openid-connect/certs";
const std::string kTokenUrl = kIssuer + "/protocol/openid-connect/token";
const std::string kDeviceUrl = kIssuer + "/protocol/openid-connect/auth/device";
const std::string kUserinfoUrl = kIssuer + "/protocol/openid-connect/userinfo";
constexpr UnixTime kNow = 1'800'000'000;

json discovery_doc(const std::string& issuer = kIssuer) {
  return {{"issuer", issuer},
          {"authorization_endpoint", kIssuer + "/protocol/openid-connect/auth"},
          {"token_endpoint", kTokenUrl},
          {"jwks_uri", kJwksUrl},
          {"device_authorization_endpoint", kDeviceUrl},
          {"userinfo_endpoint", kUserinfoUrl},
          {"end_session_endpoint", kIssuer + "/protocol/openid-connect/logout"},
          {"token_endpoint_auth_methods_supported", {"client_secret_basic", "client_secret_post"}},
          {"id_token_signing_alg_values_supported", {"RS256", "ES256"}},
          {"code_challenge_methods_supported", {"plain", "S256"}}};
}

// Query parameters of a URL, decoded (test helper; keys are unique here).
std::map<std::string, std::string> query_of(const std::string& url) {
  std::map<std::string, std::string> out;
  size_t q = url.find('?');
  if (q == std::string::npos) return out;
  std::string query = url.substr(q + 1);
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    std::string pair = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = pair.find('=');
    auto decode = [](const std::string& s) {
      std::string r;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
          r += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
          i += 2;
        } else if (s[i] == '+') {
          r += ' ';
        } else {
          r += s[i];
        }
      }
      return r;
    };
    out[decode(pair.substr(0, eq))] = eq == std::string::npos ? "" : decode(pair.substr(eq + 1));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

class OidcTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new TestKey(TestKey::generate("RSA", "rsa-1"));
    rotated_ = new TestKey(TestKey::generate("EC", "ec-2026"));
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete rotated_;
  }

  void SetUp() override {
    http_ = std::make_shared<FakeHttpClient>();
    jwks_body_ = jwks_of({rsa_->jwk()}).dump();
    http_->set_handler([this](const RecordedRequest& r) { return route(r); });
  }

  // The IdP: discovery and JWKS answered here, the rest by `endpoint_`.
  Result<HttpResponse> route(const RecordedRequest& r) {
    if (r.url == kDiscoveryUrl) return json_response(200, discovery_.dump());
    if (r.url == kJwksUrl) {
      if (jwks_down_) return make_error("GET " + kJwksUrl + ": Couldn't connect to server");
      return json_response(200, jwks_body_);
    }
    if (endpoint_) return endpoint_(r);
    return json_response(404, "{}");
  }

  std::unique_ptr<OidcProvider> provider() {
    OidcProviderOptions options;
    options.issuer = kIssuer;
    options.clock = [this] { return clock_; };
    auto p = OidcProvider::discover(http_, options);
    EXPECT_TRUE(p.ok()) << p.error().message;
    return p.ok() ? std::move(p).value() : nullptr;
  }

  static json id_claims() {
    return {{"iss", kIssuer}, {"aud", "wgate"},       {"sub", "alice-1"},
            {"iat", kNow},    {"exp", kNow + 300},    {"nonce", "n-1"},
            {"email", "alice@example.com"}, {"groups", {"dev"}}};
  }
  static IdTokenExpectations expect() {
    IdTokenExpectations e;
    e.client_id = "wgate";
    e.nonce = "n-1";
    e.now = kNow;
    return e;
  }

  static TestKey* rsa_;
  static TestKey* rotated_;
  std::shared_ptr<FakeHttpClient> http_;
  json discovery_ = discovery_doc();
  std::string jwks_body_;
  bool jwks_down_ = false;
  std::function<Result<HttpResponse>(const RecordedRequest&)> endpoint_;
  std::chrono::steady_clock::time_point clock_{std::chrono::hours(1000)};
};
TestKey* OidcTest::rsa_ = nullptr;
TestKey* OidcTest::rotated_ = nullptr;

// --- discovery ---

TEST_F(OidcTest, DiscoveryReadsTheEndpoints) {
  auto p = provider();
  ASSERT_TRUE(p);
  const ProviderMetadata& m = p->metadata();
  EXPECT_EQ(m.issuer, kIssuer);
  EXPECT_EQ(m.token_endpoint, kTokenUrl);
  EXPECT_EQ(m.jwks_uri, kJwksUrl);
  EXPECT_EQ(m.device_authorization_endpoint, kDeviceUrl);
  EXPECT_EQ(m.userinfo_endpoint, kUserinfoUrl);
  EXPECT_EQ(m.end_session_endpoint, kIssuer + "/protocol/openid-connect/logout");
  EXPECT_EQ(m.code_challenge_methods_supported, (std::vector<std::string>{"plain", "S256"}));
  // Discovery alone fetches no keys.
  EXPECT_EQ(http_->count(kJwksUrl), 0u);
  ASSERT_EQ(http_->requests().size(), 1u);
  EXPECT_EQ(http_->requests()[0].method, "GET");
}

TEST_F(OidcTest, DiscoveryDropsTheIssuersTrailingSlashForTheUrlOnly) {
  discovery_["issuer"] = kIssuer + "/";
  OidcProviderOptions options;
  options.issuer = kIssuer + "/";
  auto p = OidcProvider::discover(http_, options);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(http_->requests()[0].url, kDiscoveryUrl);
  EXPECT_EQ((*p)->metadata().issuer, kIssuer + "/");
}

TEST_F(OidcTest, DiscoveryWithAMismatchingIssuerFails) {
  discovery_["issuer"] = "https://evil.example.com";
  OidcProviderOptions options;
  options.issuer = kIssuer;
  auto p = OidcProvider::discover(http_, options);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().message,
            "OIDC discovery (" + kDiscoveryUrl +
                "): provider metadata: issuer 'https://evil.example.com' is not the configured '" + kIssuer + "'");
  // A trailing slash is a different issuer too.
  discovery_["issuer"] = kIssuer + "/";
  EXPECT_FALSE(OidcProvider::discover(http_, options).ok());
}

TEST_F(OidcTest, DiscoveryErrors) {
  OidcProviderOptions options;
  options.issuer = kIssuer;
  discovery_.erase("jwks_uri");
  auto p = OidcProvider::discover(http_, options);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find("\"jwks_uri\" is missing"), std::string::npos) << p.error().message;

  discovery_ = discovery_doc();
  discovery_["token_endpoint"] = "http://idp.example.com/token";
  p = OidcProvider::discover(http_, options);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find("\"token_endpoint\" is not https (the issuer is)"), std::string::npos);

  discovery_ = discovery_doc();
  discovery_["userinfo_endpoint"] = "file:///etc/passwd";
  p = OidcProvider::discover(http_, options);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find("only http and https URLs are allowed, not file://"), std::string::npos)
      << p.error().message;

  options.issuer = "ftp://idp.example.com";
  EXPECT_FALSE(OidcProvider::discover(http_, options).ok());

  options.issuer = "https://other.example.com";
  p = OidcProvider::discover(http_, options);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().message,
            "OIDC discovery (https://other.example.com/.well-known/openid-configuration): HTTP 404");
}

TEST(ProviderMetadataTest, ParsesStrictly) {
  EXPECT_FALSE(parse_provider_metadata("[]", kIssuer).ok());
  EXPECT_FALSE(parse_provider_metadata("{\"issuer\": 5}", kIssuer).ok());
  std::string doc = discovery_doc().dump();
  doc.insert(1, "\"issuer\":\"https://evil.example.com\",");
  auto m = parse_provider_metadata(doc, kIssuer);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message, "provider metadata: document: duplicate member 'issuer'");
  json d = discovery_doc();
  d["code_challenge_methods_supported"] = {"S256", 1};
  EXPECT_FALSE(parse_provider_metadata(d.dump(), kIssuer).ok());
  // An http issuer (a lab IdP) may have http endpoints.
  d = discovery_doc("http://127.0.0.1:8080");
  d["token_endpoint"] = "http://127.0.0.1:8080/token";
  EXPECT_TRUE(parse_provider_metadata(d.dump(), "http://127.0.0.1:8080").ok());
}

// --- PKCE, state, nonce, authorization URL ---

TEST(PkceTest, VerifierAndS256Challenge) {
  // RFC 7636 appendix B.
  EXPECT_EQ(pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  auto a = make_pkce();
  auto b = make_pkce();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->verifier.size(), 43u);
  EXPECT_EQ(a->verifier.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"),
            std::string::npos);
  EXPECT_EQ(a->challenge, pkce_challenge(a->verifier));
  EXPECT_NE(a->verifier, b->verifier);
}

TEST(PkceTest, StateAndNonceAreFreshRandomText) {
  auto s1 = make_state();
  auto s2 = make_state();
  auto n = make_nonce();
  ASSERT_TRUE(s1.ok() && s2.ok() && n.ok());
  EXPECT_EQ(s1->size(), 43u);
  EXPECT_NE(*s1, *s2);
  EXPECT_NE(*s1, *n);
  EXPECT_FALSE(random_token(0).ok());
  EXPECT_FALSE(random_token(4096).ok());
}

TEST_F(OidcTest, AuthorizationUrlCarriesEveryParameterEncoded) {
  discovery_["authorization_endpoint"] = kIssuer + "/auth?kc_idp_hint=corp";
  auto p = provider();
  ASSERT_TRUE(p);
  auto url = p->authorization_url("wgate", "https://vpn.example.com/oidc/callback?x=1&y=2", {"email", "groups"},
                                  "st&ate=1", "n-1", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  ASSERT_TRUE(url.ok()) << url.error().message;
  EXPECT_EQ(url->rfind(kIssuer + "/auth?kc_idp_hint=corp&response_type=code&", 0), 0u) << *url;
  EXPECT_NE(url->find("redirect_uri=https%3A%2F%2Fvpn.example.com%2Foidc%2Fcallback%3Fx%3D1%26y%3D2"),
            std::string::npos)
      << *url;
  auto q = query_of(*url);
  EXPECT_EQ(q["kc_idp_hint"], "corp");
  EXPECT_EQ(q["response_type"], "code");
  EXPECT_EQ(q["client_id"], "wgate");
  EXPECT_EQ(q["redirect_uri"], "https://vpn.example.com/oidc/callback?x=1&y=2");
  EXPECT_EQ(q["scope"], "openid email groups");
  EXPECT_EQ(q["state"], "st&ate=1");
  EXPECT_EQ(q["nonce"], "n-1");
  EXPECT_EQ(q["code_challenge"], "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  EXPECT_EQ(q["code_challenge_method"], "S256");
  EXPECT_FALSE(p->authorization_url("wgate", "https://x/cb", {}, "", "n", "c").ok());
}

// --- code exchange ---

TEST_F(OidcTest, ExchangeCodeAsAPublicClient) {
  endpoint_ = [](const RecordedRequest&) {
    return json_response(200, R"({"access_token":"at","token_type":"Bearer","id_token":"h.p.s",
                                   "refresh_token":"rt","expires_in":300,"scope":"openid email"})");
  };
  auto p = provider();
  auto t = p->exchange_code("code-1", "https://vpn.example.com/cb", "verifier-1", "wgate");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->access_token, "at");
  EXPECT_EQ(t->id_token, "h.p.s");
  EXPECT_EQ(t->refresh_token, "rt");
  EXPECT_EQ(t->expires_in, 300);
  EXPECT_EQ(t->scope, "openid email");
  const RecordedRequest r = http_->requests().back();
  EXPECT_EQ(r.method, "POST form");
  EXPECT_EQ(r.url, kTokenUrl);
  EXPECT_EQ(r.field("grant_type"), "authorization_code");
  EXPECT_EQ(r.field("code"), "code-1");
  EXPECT_EQ(r.field("redirect_uri"), "https://vpn.example.com/cb");
  EXPECT_EQ(r.field("code_verifier"), "verifier-1");
  EXPECT_EQ(r.field("client_id"), "wgate");
  EXPECT_FALSE(r.has_field("client_secret"));
  EXPECT_EQ(r.header("Authorization"), "(absent)");
}

TEST_F(OidcTest, ExchangeCodeWithASecretUsesHttpBasicOrThePostMethod) {
  endpoint_ = [](const RecordedRequest&) {
    return json_response(200, R"({"access_token":"at","token_type":"Bearer","id_token":"h.p.s","expires_in":"60"})");
  };
  auto p = provider();
  auto t = p->exchange_code("c", "https://vpn.example.com/cb", "v", "wgate:app", std::string("s3cr&t"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->expires_in, 60);
  RecordedRequest r = http_->requests().back();
  // base64("wgate%3Aapp:s3cr%26t")
  EXPECT_EQ(r.header("Authorization"), "Basic d2dhdGUlM0FhcHA6czNjciUyNnQ=");
  EXPECT_FALSE(r.has_field("client_secret"));
  EXPECT_FALSE(r.has_field("client_id"));

  discovery_["token_endpoint_auth_methods_supported"] = {"client_secret_post"};
  p = provider();
  ASSERT_TRUE(p->exchange_code("c", "https://vpn.example.com/cb", "v", "wgate", std::string("s3cr&t")).ok());
  r = http_->requests().back();
  EXPECT_EQ(r.header("Authorization"), "(absent)");
  EXPECT_EQ(r.field("client_id"), "wgate");
  EXPECT_EQ(r.field("client_secret"), "s3cr&t");
}

TEST_F(OidcTest, TokenEndpointErrorsSurface) {
  auto p = provider();
  endpoint_ = [](const RecordedRequest&) {
    return json_response(400, R"({"error":"invalid_grant","error_description":"Code not valid"})");
  };
  auto t = p->exchange_code("c", "https://vpn.example.com/cb", "v", "wgate");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message, "token endpoint (" + kTokenUrl + "): invalid_grant: 'Code not valid'");

  endpoint_ = [](const RecordedRequest&) { return json_response(200, R"({"access_token":"at","token_type":"Bearer"})"); };
  t = p->exchange_code("c", "https://vpn.example.com/cb", "v", "wgate");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("no id_token"), std::string::npos);

  endpoint_ = [](const RecordedRequest&) { return HttpResponse{502, "<html>bad gateway</html>", "text/html"}; };
  t = p->exchange_code("c", "https://vpn.example.com/cb", "v", "wgate");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message, "token endpoint (" + kTokenUrl + ") answered HTTP 502");

  endpoint_ = [](const RecordedRequest&) { return json_response(200, R"({"token_type":"Bearer"})"); };
  EXPECT_FALSE(p->exchange_code("c", "https://vpn.example.com/cb", "v", "wgate").ok());
}

// --- ID tokens through the provider: the JWKS cache ---

TEST_F(OidcTest, JwksIsFetchedOnFirstUseAndCached) {
  auto p = provider();
  auto claims = p->validate_id_token(make_token(*rsa_, id_claims()), expect());
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ(claims->sub, "alice-1");
  EXPECT_EQ(http_->count(kJwksUrl), 1u);
  ASSERT_TRUE(p->validate_id_token(make_token(*rsa_, id_claims()), expect()).ok());
  EXPECT_EQ(http_->count(kJwksUrl), 1u);
}

TEST_F(OidcTest, ProviderIssuerOverridesTheExpectation) {
  auto p = provider();
  auto e = expect();
  e.issuer = "https://evil.example.com";
  EXPECT_TRUE(p->validate_id_token(make_token(*rsa_, id_claims()), e).ok());
  json c = id_claims();
  c["iss"] = "https://evil.example.com";
  auto r = p->validate_id_token(make_token(*rsa_, c), e);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "issuer 'https://evil.example.com' is not '" + kIssuer + "'");
}

TEST_F(OidcTest, UnknownKidRefetchesTheJwks) {
  auto p = provider();
  ASSERT_TRUE(p->validate_id_token(make_token(*rsa_, id_claims()), expect()).ok());
  // The provider rotates to a new key.
  jwks_body_ = jwks_of({rsa_->jwk(), rotated_->jwk()}).dump();
  clock_ += 31s;  // a refetch is allowed 30 s after the last fetch
  auto r = p->validate_id_token(make_token(*rotated_, id_claims()), expect());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(http_->count(kJwksUrl), 2u);
}

TEST_F(OidcTest, UnknownKidRefetchIsRateLimited) {
  auto p = provider();
  ASSERT_TRUE(p->validate_id_token(make_token(*rsa_, id_claims()), expect()).ok());  // fetch 1
  clock_ += 1s;
  auto r = p->validate_id_token(make_token(*rsa_, id_claims(), {{"kid", "junk-1"}}), expect());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "unknown kid 'junk-1'");
  EXPECT_EQ(http_->count(kJwksUrl), 1u);  // within 30 s of fetch 1: no refetch
  clock_ += 30s;
  r = p->validate_id_token(make_token(*rsa_, id_claims(), {{"kid", "junk-2"}}), expect());
  EXPECT_EQ(http_->count(kJwksUrl), 2u);  // refetched once
  for (int i = 0; i < 20; ++i) {
    clock_ += 1s;
    r = p->validate_id_token(make_token(*rsa_, id_claims(), {{"kid", "junk-" + std::to_string(i)}}), expect());
    ASSERT_FALSE(r.ok());
  }
  EXPECT_EQ(http_->count(kJwksUrl), 2u);  // a flood of unknown kids costs nothing
  // Known keys keep working in between.
  EXPECT_TRUE(p->validate_id_token(make_token(*rsa_, id_claims()), expect()).ok());
  // The rotated key arrives after the interval.
  jwks_body_ = jwks_of({rotated_->jwk()}).dump();
  clock_ += 30s;
  EXPECT_TRUE(p->validate_id_token(make_token(*rotated_, id_claims()), expect()).ok());
  EXPECT_EQ(http_->count(kJwksUrl), 3u);
}

TEST_F(OidcTest, StaleJwksIsRefetchedAndKeptWhenTheRefetchFails) {
  auto p = provider();
  ASSERT_TRUE(p->validate_id_token(make_token(*rsa_, id_claims()), expect()).ok());
  clock_ += 2h;
  jwks_down_ = true;
  auto r = p->validate_id_token(make_token(*rsa_, id_claims()), expect());
  EXPECT_TRUE(r.ok()) << r.error().message;  // stale-if-error
  EXPECT_EQ(http_->count(kJwksUrl), 2u);
  jwks_down_ = false;
  jwks_body_ = jwks_of({rotated_->jwk()}).dump();  // rsa-1 withdrawn
  clock_ += 31s;
  r = p->validate_id_token(make_token(*rsa_, id_claims()), expect());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "unknown kid 'rsa-1'");
}

TEST_F(OidcTest, FailedFirstFetchIsReportedAndRetriedAfterTheInterval) {
  jwks_down_ = true;
  auto p = provider();
  auto r = p->validate_id_token(make_token(*rsa_, id_claims()), expect());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "JWKS: GET " + kJwksUrl + ": Couldn't connect to server");
  clock_ += 5s;
  r = p->validate_id_token(make_token(*rsa_, id_claims()), expect());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "JWKS unavailable (JWKS: GET " + kJwksUrl + ": Couldn't connect to server); next attempt in 25 s");
  EXPECT_EQ(http_->count(kJwksUrl), 1u);
  jwks_down_ = false;
  clock_ += 25s;
  EXPECT_TRUE(p->validate_id_token(make_token(*rsa_, id_claims()), expect()).ok());
}

TEST_F(OidcTest, BadJwksDocumentIsAnError) {
  jwks_body_ = "<html>";
  auto p = provider();
  auto r = p->jwks();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "JWKS (" + kJwksUrl + "): JWKS: invalid JSON");
}

TEST_F(OidcTest, LogoutTokenThroughTheProvider) {
  auto p = provider();
  json c = {{"iss", kIssuer}, {"aud", "wgate"}, {"iat", kNow}, {"jti", "j-1"}, {"sid", "s-1"},
            {"events", {{std::string(kBackchannelLogoutEvent), json::object()}}}};
  LogoutExpectations e;
  e.client_id = "wgate";
  e.now = kNow;
  auto r = p->validate_logout_token(make_token(*rsa_, c), e);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->sid, "s-1");
  c["nonce"] = "x";
  EXPECT_FALSE(p->validate_logout_token(make_token(*rsa_, c), e).ok());
}

// --- device authorization grant ---

const char* kDeviceAnswer = R"({"device_code":"GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS",
  "user_code":"WDJB-MJHT","verification_uri":"https://idp.example.com/device",
  "verification_uri_complete":"https://idp.example.com/device?user_code=WDJB-MJHT",
  "expires_in":1800,"interval":5})";

TEST_F(OidcTest, StartDeviceAuthorization) {
  endpoint_ = [](const RecordedRequest&) { return json_response(200, kDeviceAnswer); };
  auto p = provider();
  auto d = p->start_device_authorization("wgate-cli", {"email"});
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->device_code, "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS");
  EXPECT_EQ(d->user_code, "WDJB-MJHT");
  EXPECT_EQ(d->verification_uri, "https://idp.example.com/device");
  EXPECT_EQ(d->verification_uri_complete, "https://idp.example.com/device?user_code=WDJB-MJHT");
  EXPECT_EQ(d->expires_in, 1800s);
  EXPECT_EQ(d->interval, 5s);
  RecordedRequest r = http_->requests().back();
  EXPECT_EQ(r.url, kDeviceUrl);
  EXPECT_EQ(r.field("client_id"), "wgate-cli");
  EXPECT_EQ(r.field("scope"), "openid email");
}

TEST_F(OidcTest, DeviceAuthorizationDefaultsAndErrors) {
  endpoint_ = [](const RecordedRequest&) {
    return json_response(200, R"({"device_code":"d","user_code":"u","verification_url":"https://g.co/device",
                                   "expires_in":"600","interval":0})");
  };
  auto p = provider();
  auto d = p->start_device_authorization("wgate-cli", {});
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->verification_uri, "https://g.co/device");
  EXPECT_EQ(d->interval, 5s);  // 0 would be a tight loop
  EXPECT_EQ(d->expires_in, 600s);

  endpoint_ = [](const RecordedRequest&) {
    return json_response(200, R"({"device_code":"d","verification_uri":"https://x/device","expires_in":600})");
  };
  d = p->start_device_authorization("wgate-cli", {});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("\"user_code\" is missing"), std::string::npos);

  endpoint_ = [](const RecordedRequest&) {
    return json_response(401, R"({"error":"invalid_client","error_description":"unknown client"})");
  };
  d = p->start_device_authorization("wgate-cli", {});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().message,
            "device authorization endpoint (" + kDeviceUrl + "): invalid_client: 'unknown client'");

  discovery_.erase("device_authorization_endpoint");
  p = provider();
  d = p->start_device_authorization("wgate-cli", {});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().message, "the provider offers no device authorization endpoint");
}

// The token endpoint answering a device code poll from a script.
struct PollScript {
  std::vector<HttpResponse> answers;
  size_t next = 0;
  Result<HttpResponse> operator()(const RecordedRequest& r) {
    if (r.field("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" || r.field("device_code") != "dc") {
      return json_response(400, R"({"error":"invalid_request"})");
    }
    if (next >= answers.size()) return make_error("POST " + kTokenUrl + ": Timeout was reached");
    return answers[next++];
  }
};

HttpResponse oauth_error(const std::string& code) { return json_response(400, "{\"error\":\"" + code + "\"}"); }
const char* kTokens = R"({"access_token":"at","token_type":"Bearer","id_token":"h.p.s","refresh_token":"rt"})";

DeviceAuthorization device_code() {
  DeviceAuthorization d;
  d.device_code = "dc";
  d.user_code = "WDJB-MJHT";
  d.verification_uri = "https://idp.example.com/device";
  d.expires_in = 600s;
  d.interval = 5s;
  return d;
}

TEST_F(OidcTest, PollDeviceTokenMapsEachAnswer) {
  auto p = provider();
  auto script = std::make_shared<PollScript>();
  script->answers = {oauth_error("authorization_pending"), oauth_error("slow_down"), oauth_error("access_denied"),
                     oauth_error("expired_token"), json_response(200, kTokens), oauth_error("invalid_client")};
  endpoint_ = [script](const RecordedRequest& r) { return (*script)(r); };
  std::vector<DevicePollStatus> seen;
  for (int i = 0; i < 5; ++i) {
    auto poll = p->poll_device_token("dc", "wgate-cli");
    ASSERT_TRUE(poll.ok()) << poll.error().message;
    seen.push_back(poll->status);
    if (poll->status == DevicePollStatus::tokens) {
      EXPECT_EQ(poll->tokens.access_token, "at");
    }
  }
  EXPECT_EQ(seen, (std::vector<DevicePollStatus>{DevicePollStatus::pending, DevicePollStatus::slow_down,
                                                 DevicePollStatus::denied, DevicePollStatus::expired,
                                                 DevicePollStatus::tokens}));
  auto poll = p->poll_device_token("dc", "wgate-cli");
  ASSERT_FALSE(poll.ok());
  EXPECT_EQ(poll.error().message, "token endpoint (" + kTokenUrl + "): invalid_client");
  EXPECT_EQ(http_->requests().back().field("client_id"), "wgate-cli");
}

struct FakeTime {
  std::chrono::steady_clock::time_point now{std::chrono::hours(5000)};
  std::vector<std::chrono::seconds> sleeps;
  DeviceWait wait() {
    DeviceWait w;
    w.now = [this] { return now; };
    w.sleep = [this](std::chrono::seconds s) {
      sleeps.push_back(s);
      now += s;
    };
    return w;
  }
};

TEST_F(OidcTest, WaitForDeviceTokenPendingThenSlowDownThenTokens) {
  auto p = provider();
  auto script = std::make_shared<PollScript>();
  script->answers = {oauth_error("authorization_pending"), oauth_error("slow_down"),
                     oauth_error("authorization_pending"), json_response(200, kTokens)};
  endpoint_ = [script](const RecordedRequest& r) { return (*script)(r); };
  FakeTime time;
  auto t = p->wait_for_device_token(device_code(), "wgate-cli", std::nullopt, time.wait());
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->access_token, "at");
  // 5 s before each poll; slow_down adds 5 s for that and every later poll.
  EXPECT_EQ(time.sleeps, (std::vector<std::chrono::seconds>{5s, 5s, 10s, 10s}));
}

TEST_F(OidcTest, WaitForDeviceTokenEndsOnDenialExpiryAndDeadline) {
  auto p = provider();
  auto script = std::make_shared<PollScript>();
  endpoint_ = [script](const RecordedRequest& r) { return (*script)(r); };
  FakeTime time;

  script->answers = {oauth_error("authorization_pending"),
                     json_response(400, R"({"error":"access_denied","error_description":"User said no"})")};
  auto t = p->wait_for_device_token(device_code(), "wgate-cli", std::nullopt, time.wait());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message, "the login was refused at the provider: 'User said no'");

  *script = PollScript{{oauth_error("expired_token")}};
  t = p->wait_for_device_token(device_code(), "wgate-cli", std::nullopt, time.wait());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message, "the device code expired before the login was finished");

  // The code's own lifetime: 600 s at 5 s per poll is at most 120 polls.
  *script = PollScript{std::vector<HttpResponse>(200, oauth_error("authorization_pending"))};
  t = p->wait_for_device_token(device_code(), "wgate-cli", std::nullopt, time.wait());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message, "the device code expired before the login was finished");
  EXPECT_EQ(script->next, 120u);

  // The caller's deadline, earlier than the code's expiry.
  *script = PollScript{std::vector<HttpResponse>(200, oauth_error("authorization_pending"))};
  DeviceWait w = time.wait();
  w.deadline = time.now + 60s;
  t = p->wait_for_device_token(device_code(), "wgate-cli", std::nullopt, w);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message, "gave up waiting for the login at the provider");
  EXPECT_EQ(script->next, 12u);
}

TEST_F(OidcTest, WaitForDeviceTokenBacksOffOnTransportFailures) {
  auto p = provider();
  int calls = 0;
  endpoint_ = [&calls](const RecordedRequest&) -> Result<HttpResponse> {
    ++calls;
    if (calls == 1) return make_error("POST " + kTokenUrl + ": Timeout was reached");
    if (calls == 2) return HttpResponse{503, "", "text/plain"};
    if (calls == 3) return oauth_error("authorization_pending");
    return json_response(200, kTokens);
  };
  FakeTime time;
  auto t = p->wait_for_device_token(device_code(), "wgate-cli", std::nullopt, time.wait());
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(time.sleeps, (std::vector<std::chrono::seconds>{5s, 10s, 20s, 20s}));

  // Too many failures in a row end the wait with the last one.
  endpoint_ = [](const RecordedRequest&) -> Result<HttpResponse> {
    return make_error("POST " + kTokenUrl + ": Timeout was reached");
  };
  t = p->wait_for_device_token(device_code(), "wgate-cli", std::nullopt, time.wait());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message, "POST " + kTokenUrl + ": Timeout was reached");
}

// --- refresh and userinfo ---

TEST_F(OidcTest, RefreshTellsLostAccessFromFailures) {
  auto p = provider();
  endpoint_ = [](const RecordedRequest& r) {
    if (r.field("grant_type") != "refresh_token") return json_response(400, R"({"error":"unsupported_grant_type"})");
    if (r.field("refresh_token") == "good") return json_response(200, kTokens);
    if (r.field("refresh_token") == "revoked") {
      return json_response(400, R"({"error":"invalid_grant","error_description":"Token is not active"})");
    }
    if (r.field("refresh_token") == "misconfigured") return json_response(401, R"({"error":"invalid_client"})");
    return HttpResponse{500, "oops", "text/plain"};
  };
  auto r = p->refresh("good", "wgate");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, RefreshResult::Status::tokens);
  EXPECT_EQ(r->tokens.refresh_token, "rt");

  r = p->refresh("revoked", "wgate");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, RefreshResult::Status::access_lost);
  EXPECT_EQ(r->description, "Token is not active");

  r = p->refresh("misconfigured", "wgate");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "token endpoint (" + kTokenUrl + "): invalid_client");

  r = p->refresh("other", "wgate");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "token endpoint (" + kTokenUrl + ") answered HTTP 500");
}

TEST_F(OidcTest, UserinfoChecksTheSubject) {
  auto p = provider();
  endpoint_ = [](const RecordedRequest& r) {
    if (r.header("Authorization") != "Bearer at-1") return HttpResponse{401, "", ""};
    return json_response(200, R"({"sub":"alice-1","email":"alice@example.com","email_verified":true,
                                   "groups":["dev","ops"],"preferred_username":"alice"})");
  };
  auto u = p->userinfo("at-1", "alice-1");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->email, "alice@example.com");
  EXPECT_EQ(u->email_verified, true);
  EXPECT_EQ(u->groups, (std::vector<std::string>{"dev", "ops"}));
  EXPECT_EQ(u->raw["preferred_username"], "alice");

  u = p->userinfo("at-1", "bob-2");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().message, "userinfo endpoint (" + kUserinfoUrl + "): sub 'alice-1' is not the expected 'bob-2'");

  u = p->userinfo("expired", "alice-1");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().message, "userinfo endpoint (" + kUserinfoUrl + "): access token refused (HTTP 401)");

  endpoint_ = [](const RecordedRequest&) { return HttpResponse{200, "h.p.s", "application/jwt"}; };
  u = p->userinfo("at-1", "alice-1");
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message.find("application/jwt"), std::string::npos);

  endpoint_ = [](const RecordedRequest&) { return json_response(200, R"({"sub":"alice-1","groups":"ops"})"); };
  u = p->userinfo("at-1", "alice-1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->groups, std::vector<std::string>{"ops"});
  endpoint_ = [](const RecordedRequest&) { return json_response(200, R"({"sub":"alice-1","groups":[1]})"); };
  EXPECT_FALSE(p->userinfo("at-1", "alice-1").ok());
}

}  // namespace
}  // namespace wgate::auth
