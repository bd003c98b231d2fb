#include "auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <fstream>
#include <iterator>

#include "auth/jwt_internal.h"
#include "test_signer.h"

namespace wgate::auth {
namespace {

using testing::b64json;
using testing::hmac_sha256;
using testing::jwks_of;
using testing::make_token;
using testing::signing_input;
using testing::TestKey;
using json = nlohmann::json;

constexpr UnixTime kNow = 1'800'000'000;  // 2027-01-15T08:00:00Z
const std::string kIssuer = "https://idp.example.com/realms/corp";

json id_claims() {
  return {{"iss", kIssuer},
          {"aud", "wgate"},
          {"sub", "248289761001"},
          {"iat", kNow - 10},
          {"exp", kNow + 300},
          {"nonce", "n-0S6_WzA2Mj"},
          {"email", "alice@example.com"},
          {"email_verified", true},
          {"name", "Alice Example"},
          {"preferred_username", "alice"},
          {"groups", {"dev", "ops"}},
          {"sid", "08a5019c"},
          {"auth_time", kNow - 20}};
}

IdTokenExpectations id_expect() {
  IdTokenExpectations e;
  e.issuer = kIssuer;
  e.client_id = "wgate";
  e.nonce = "n-0S6_WzA2Mj";
  e.now = kNow;
  return e;
}

json logout_claims() {
  return {{"iss", kIssuer},
          {"aud", "wgate"},
          {"iat", kNow - 5},
          {"jti", "bWJq"},
          {"sid", "08a5019c"},
          {"sub", "248289761001"},
          {"events", {{std::string(kBackchannelLogoutEvent), json::object()}}}};
}

LogoutExpectations logout_expect() {
  LogoutExpectations e;
  e.issuer = kIssuer;
  e.client_id = "wgate";
  e.now = kNow;
  return e;
}

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new TestKey(TestKey::generate("RSA", "rsa-1"));
    rsa2_ = new TestKey(TestKey::generate("RSA", "rsa-2"));
    ec_ = new TestKey(TestKey::generate("EC", "ec-1"));
    ed_ = new TestKey(TestKey::generate("ED25519", "ed-1"));
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete rsa2_;
    delete ec_;
    delete ed_;
  }
  void SetUp() override { jwks_ = jwks({rsa_->jwk(), ec_->jwk(), ed_->jwk()}); }

  static Jwks jwks(const std::vector<json>& keys) {
    auto r = parse_jwks(jwks_of(keys).dump());
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r->skipped.empty());
    return std::move(r).value();
  }
  // The error of validating `token` as an ID token ("" when it validates).
  std::string id_error(const std::string& token, const IdTokenExpectations& e = id_expect()) {
    auto r = validate_id_token(token, jwks_, e);
    return r.ok() ? "" : r.error().message;
  }
  std::string logout_error(const std::string& token, const LogoutExpectations& e = logout_expect()) {
    auto r = validate_logout_token(token, jwks_, e);
    return r.ok() ? "" : r.error().message;
  }

  static TestKey* rsa_;
  static TestKey* rsa2_;
  static TestKey* ec_;
  static TestKey* ed_;
  Jwks jwks_;
};
TestKey* JwtTest::rsa_ = nullptr;
TestKey* JwtTest::rsa2_ = nullptr;
TestKey* JwtTest::ec_ = nullptr;
TestKey* JwtTest::ed_ = nullptr;

TEST_F(JwtTest, ValidRs256TokenYieldsItsClaims) {
  auto r = validate_id_token(make_token(*rsa_, id_claims()), jwks_, id_expect());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->sub, "248289761001");
  EXPECT_EQ(r->email, "alice@example.com");
  EXPECT_EQ(r->email_verified, true);
  EXPECT_EQ(r->name, "Alice Example");
  EXPECT_EQ(r->preferred_username, "alice");
  ASSERT_TRUE(r->groups.has_value());
  EXPECT_EQ(*r->groups, (std::vector<std::string>{"dev", "ops"}));
  EXPECT_EQ(r->sid, "08a5019c");
  EXPECT_EQ(r->iat, kNow - 10);
  EXPECT_EQ(r->exp, kNow + 300);
  EXPECT_EQ(r->auth_time, kNow - 20);
  EXPECT_EQ(r->raw["nonce"], "n-0S6_WzA2Mj");
}

TEST_F(JwtTest, EveryAlgorithmVerifies) {
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims(), {}, "RS256")), "");
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims(), {}, "RS384")), "");
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims(), {}, "RS512")), "");
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims(), {}, "PS256")), "");
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims(), {}, "PS512")), "");
  EXPECT_EQ(id_error(make_token(*ec_, id_claims())), "");
  EXPECT_EQ(id_error(make_token(*ed_, id_claims())), "");
}

TEST_F(JwtTest, BadSignatureIsRejected) {
  for (const TestKey* key : {rsa_, ec_, ed_}) {
    std::string token = make_token(*key, id_claims());
    std::string sig = *base64url_decode(token.substr(token.rfind('.') + 1));
    sig[sig.size() / 2] = static_cast<char>(sig[sig.size() / 2] ^ 0x01);
    token = token.substr(0, token.rfind('.') + 1) + base64url_encode(sig);
    EXPECT_EQ(id_error(token), "signature does not verify") << key->kid();
  }
}

TEST_F(JwtTest, TamperedClaimsAreRejected) {
  std::string token = make_token(*rsa_, id_claims());
  json forged = id_claims();
  forged["sub"] = "admin";
  size_t first = token.find('.');
  size_t second = token.find('.', first + 1);
  token = token.substr(0, first + 1) + b64json(forged) + token.substr(second);
  EXPECT_EQ(id_error(token), "signature does not verify");
}

TEST_F(JwtTest, SignatureOfAnotherKeyIsRejected) {
  // rsa2 signs, but the header names rsa-1 (in the JWKS).
  EXPECT_EQ(id_error(make_token(*rsa2_, id_claims(), {{"kid", "rsa-1"}})), "signature does not verify");
}

TEST_F(JwtTest, Es256SignatureOfWrongLengthIsRejected) {
  std::string input = signing_input({{"alg", "ES256"}, {"kid", "ec-1"}}, id_claims());
  // An ASN.1 DER signature where JOSE wants r || s.
  std::string rs = ec_->sign("ES256", input);
  EXPECT_EQ(id_error(input + "." + base64url_encode(rs + "x")), "ES256 signature must be 64 bytes, not 65");
}

TEST_F(JwtTest, UnknownKidIsNamed) {
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims(), {{"kid", "rotated-7"}})), "unknown kid 'rotated-7'");
}

TEST_F(JwtTest, KeyWithoutKidOnlyWhenExactlyOneFits) {
  TestKey anon = TestKey::generate("RSA", "");
  jwks_ = jwks({anon.jwk("", false), ec_->jwk()});
  EXPECT_EQ(id_error(make_token(anon, id_claims())), "");
  jwks_ = jwks({anon.jwk("", false), rsa_->jwk()});
  EXPECT_EQ(id_error(make_token(anon, id_claims())), "token has no kid and 2 keys fit RS256: ambiguous");
  jwks_ = jwks({ec_->jwk()});
  EXPECT_EQ(id_error(make_token(anon, id_claims())), "token has no kid and no key in the JWKS fits RS256");
}

TEST_F(JwtTest, AlgMustFitTheKeysTypeAndAlg) {
  // An ES256 token that names the RSA key.
  EXPECT_EQ(id_error(make_token(*ec_, id_claims(), {{"kid", "rsa-1"}})),
            "key 'rsa-1' is an RSA key, not usable with ES256");
  // A key pinned to RS256 does not verify PS256 (nor the other way round).
  jwks_ = jwks({rsa_->jwk("RS256")});
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims(), {}, "PS256")),
            "key 'rsa-1' is an RSA key for RS256, not usable with PS256");
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims(), {}, "RS256")), "");
  // Two keys with one kid that both fit: refused rather than guessed.
  jwks_ = jwks({rsa_->jwk(), rsa2_->jwk("", false)});
  jwks_.keys[1].kid = "rsa-1";
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims())), "kid 'rsa-1' names 2 keys usable with RS256");
}

TEST_F(JwtTest, VerifySignatureRefusesAKeyOfAnotherType) {
  auto jws = parse_jws(make_token(*ec_, id_claims()));
  ASSERT_TRUE(jws.ok());
  auto st = verify_signature(*jws, jwks_.keys[0]);  // the RSA key
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "ES256 cannot be verified with an RSA key");
}

TEST_F(JwtTest, AlgNoneIsNeverAllowed) {
  for (const char* none : {"none", "None", "NONE", "nOnE"}) {
    std::string token = signing_input({{"alg", none}, {"kid", "rsa-1"}}, id_claims()) + ".";
    EXPECT_EQ(id_error(token), "alg none is not allowed") << none;
    // ... also with a signature attached.
    EXPECT_EQ(id_error(token + "c2ln"), "alg none is not allowed") << none;
  }
}

TEST_F(JwtTest, Hs256SignedWithThePublicKeyIsRejected) {
  // The key confusion attack: the attacker signs with HMAC, using the
  // provider's public key (which everybody has) as the secret, hoping the
  // verifier feeds "the key" to whatever alg the header names.
  for (const std::string& secret :
       {rsa_->public_pem(), [&] {
          unsigned char* der = nullptr;
          int len = i2d_PUBKEY(rsa_->pkey(), &der);
          std::string s(reinterpret_cast<char*>(der), static_cast<size_t>(len));
          OPENSSL_free(der);
          return s;
        }()}) {
    for (const char* alg : {"HS256", "HS384", "HS512", "hs256"}) {
      std::string input = signing_input({{"alg", alg}, {"kid", "rsa-1"}}, id_claims());
      std::string token = input + "." + base64url_encode(hmac_sha256(secret, input));
      EXPECT_EQ(id_error(token),
                std::string(alg) + " is not accepted: HMAC algorithms are never used with a provider's keys");
    }
  }
}

TEST_F(JwtTest, UnsupportedAlgIsNamed) {
  std::string input = signing_input({{"alg", "ES384"}, {"kid", "ec-1"}}, id_claims());
  EXPECT_EQ(id_error(input + ".c2ln"), "alg 'ES384' is not supported");
  input = signing_input({{"kid", "ec-1"}}, id_claims());
  EXPECT_EQ(id_error(input + ".c2ln"), "header has no \"alg\"");
  input = signing_input({{"alg", 256}}, id_claims());
  EXPECT_EQ(id_error(input + ".c2ln"), "header \"alg\" is not a string");
}

TEST_F(JwtTest, AllowedAlgsRestrictTheAlgorithm) {
  auto e = id_expect();
  e.allowed_algs = {JwsAlg::rs256};
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims()), e), "");
  EXPECT_EQ(id_error(make_token(*ec_, id_claims()), e),
            "alg ES256 is not among the algorithms accepted for this provider");
}

TEST_F(JwtTest, WrongIssuerIsRejected) {
  json c = id_claims();
  c["iss"] = "https://idp.example.com/realms/corp/";
  EXPECT_EQ(id_error(make_token(*rsa_, c)),
            "issuer 'https://idp.example.com/realms/corp/' is not 'https://idp.example.com/realms/corp'");
  c.erase("iss");
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "claim \"iss\" is missing");
}

TEST_F(JwtTest, WrongAudienceIsRejected) {
  json c = id_claims();
  c["aud"] = "other-app";
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "audience ['other-app'] does not contain client 'wgate'");
  c["aud"] = json::array();
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "claim \"aud\" is not a string or an array of strings");
  c["aud"] = {"wgate", 5};
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "claim \"aud\" is not a string or an array of strings");
  c.erase("aud");
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "claim \"aud\" is missing");
}

TEST_F(JwtTest, SeveralAudiencesNeedAzpNamingUs) {
  json c = id_claims();
  c["aud"] = {"wgate", "https://api.example.com"};
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "token has several audiences and no azp");
  c["azp"] = "wgate";
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "");
  c["azp"] = "other-app";
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "azp 'other-app' is not client 'wgate'");
  // A lone audience with a foreign azp is refused too.
  c["aud"] = "wgate";
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "azp 'other-app' is not client 'wgate'");
}

TEST_F(JwtTest, ExpiredTokenIsRejectedAfterTheLeeway) {
  json c = id_claims();
  c["exp"] = kNow - 61;
  EXPECT_EQ(id_error(make_token(*rsa_, c)),
            "token expired at 2027-01-15T07:58:59Z (now 2027-01-15T08:00:00Z, leeway 60 s)");
  c["exp"] = kNow - 59;
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "");
  auto e = id_expect();
  e.leeway = std::chrono::seconds(0);
  c["exp"] = kNow;
  EXPECT_NE(id_error(make_token(*rsa_, c), e).find("token expired at"), std::string::npos);
  c.erase("exp");
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "claim \"exp\" is missing");
}

TEST_F(JwtTest, IatAndNbfInTheFutureAreRejectedBeyondTheLeeway) {
  json c = id_claims();
  c["iat"] = kNow + 61;
  EXPECT_EQ(id_error(make_token(*rsa_, c)),
            "token issued in the future, at 2027-01-15T08:01:01Z (now 2027-01-15T08:00:00Z, leeway 60 s)");
  c["iat"] = kNow + 60;
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "");
  c["nbf"] = kNow + 120;
  EXPECT_EQ(id_error(make_token(*rsa_, c)),
            "token not valid before 2027-01-15T08:02:00Z (now 2027-01-15T08:00:00Z, leeway 60 s)");
  c["nbf"] = kNow + 30;
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "");
  c.erase("iat");
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "claim \"iat\" is missing");
}

TEST_F(JwtTest, NumericDatesMustBeNumbersInRange) {
  json c = id_claims();
  c["exp"] = static_cast<double>(kNow) + 300.75;  // fractions are allowed
  auto r = validate_id_token(make_token(*rsa_, c), jwks_, id_expect());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exp, kNow + 300);
  for (json bad : {json("1800000300"), json(-1), json(1e300), json(18446744073709551615ULL), json(true)}) {
    c["exp"] = bad;
    EXPECT_NE(id_error(make_token(*rsa_, c)).find("claim \"exp\" is not"), std::string::npos) << bad.dump();
  }
}

TEST_F(JwtTest, NonceMustMatchWhenOneWasSent) {
  json c = id_claims();
  c["nonce"] = "n-attacker";
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "nonce mismatch");
  c.erase("nonce");
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "nonce missing (the request sent one)");
  auto e = id_expect();
  e.nonce.reset();  // device grant: no nonce sent, none checked
  EXPECT_EQ(id_error(make_token(*rsa_, c), e), "");
  c["nonce"] = 5;
  EXPECT_EQ(id_error(make_token(*rsa_, c), e), "claim \"nonce\" is not a string");
}

TEST_F(JwtTest, MaxAgeNeedsARecentAuthTime) {
  auto e = id_expect();
  e.max_age = std::chrono::seconds(600);
  json c = id_claims();
  EXPECT_EQ(id_error(make_token(*rsa_, c), e), "");
  c["auth_time"] = kNow - 3600;
  EXPECT_EQ(id_error(make_token(*rsa_, c), e),
            "authentication at 2027-01-15T07:00:00Z is older than max_age 600 s (now 2027-01-15T08:00:00Z)");
  c.erase("auth_time");
  EXPECT_EQ(id_error(make_token(*rsa_, c), e), "claim \"auth_time\" is missing (max_age was requested)");
}

TEST_F(JwtTest, SubjectIsRequiredAndBounded) {
  json c = id_claims();
  c["sub"] = "";
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "claim \"sub\" is empty");
  c["sub"] = std::string(256, 'a');
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "claim \"sub\" is longer than 255 bytes");
  c["sub"] = std::string("a\0b", 3);
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "claim \"sub\" contains NUL");
  c.erase("sub");
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "claim \"sub\" is missing");
}

TEST_F(JwtTest, GroupsFromAConfigurableClaim) {
  json c = id_claims();
  c.erase("groups");
  auto r = validate_id_token(make_token(*rsa_, c), jwks_, id_expect());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->groups.has_value());

  c["groups"] = json::array();
  r = validate_id_token(make_token(*rsa_, c), jwks_, id_expect());
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->groups.has_value());
  EXPECT_TRUE(r->groups->empty());

  c["roles"] = "vpn-admins";
  auto e = id_expect();
  e.groups_claim = "roles";
  r = validate_id_token(make_token(*rsa_, c), jwks_, e);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->groups, std::vector<std::string>{"vpn-admins"});

  c["roles"] = {"a", 1};
  EXPECT_EQ(id_error(make_token(*rsa_, c), e), "claim \"roles\" is not an array of strings");
  c["roles"] = {{"name", "a"}};
  EXPECT_EQ(id_error(make_token(*rsa_, c), e), "claim \"roles\" is not an array of strings");
}

TEST_F(JwtTest, ProfileClaimsMustHaveTheirTypes) {
  json c = id_claims();
  c["email"] = {"a@example.com"};
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "claim \"email\" is not a string");
  c = id_claims();
  c["email_verified"] = "false";
  auto r = validate_id_token(make_token(*rsa_, c), jwks_, id_expect());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->email_verified, false);
  c["email_verified"] = 1;
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "claim \"email_verified\" is not a boolean");
}

TEST_F(JwtTest, LogoutTokenIsNoIdToken) {
  json c = logout_claims();
  c["exp"] = kNow + 120;
  auto e = id_expect();
  e.nonce.reset();
  EXPECT_EQ(id_error(make_token(*rsa_, c), e), "a logout token is not an ID token");
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims(), {{"typ", "logout+jwt"}})), "a logout token is not an ID token");
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims(), {{"typ", "application/Logout+JWT"}})),
            "a logout token is not an ID token");
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims(), {{"typ", "JWT"}})), "");
}

TEST_F(JwtTest, MalformedBase64urlIsRejected) {
  std::string token = make_token(*rsa_, id_claims());
  size_t first = token.find('.');
  EXPECT_EQ(id_error(token.substr(0, first) + "=" + token.substr(first)).rfind("header: invalid base64url", 0), 0u);
  std::string bad_payload = token;
  bad_payload[first + 5] = '+';
  EXPECT_EQ(id_error(bad_payload).rfind("payload: invalid base64url: '+'", 0), 0u) << id_error(bad_payload);
  EXPECT_EQ(id_error(token + "=").rfind("signature: invalid base64url", 0), 0u);
  EXPECT_EQ(id_error(token.substr(0, token.rfind('.') + 1)), "signature is empty");
}

TEST_F(JwtTest, StructureErrors) {
  EXPECT_EQ(id_error(""), "not a compact JWS (1 parts, 3 expected)");
  EXPECT_EQ(id_error("a.b"), "not a compact JWS (2 parts, 3 expected)");
  EXPECT_EQ(id_error("a.b.c.d.e"), "encrypted tokens (JWE) are not supported");
  EXPECT_EQ(id_error(base64url_encode("[1]") + ".e30.c2ln"), "header: not a JSON object");
  EXPECT_EQ(id_error(base64url_encode("{\"alg\":") + ".e30.c2ln"), "header: invalid JSON");
  std::string header = b64json({{"alg", "RS256"}});
  EXPECT_EQ(id_error(header + "." + base64url_encode("\"claims\"") + ".c2ln"), "payload: not a JSON object");
}

TEST_F(JwtTest, OversizedTokenIsRejectedBeforeDecoding) {
  json c = id_claims();
  c["padding"] = std::string(kMaxTokenBytes, 'x');
  std::string token = make_token(*rsa_, c);
  EXPECT_EQ(id_error(token), "token is " + std::to_string(token.size()) + " bytes, at most 65536 accepted");
  c["padding"] = std::string(30'000, 'x');
  EXPECT_EQ(id_error(make_token(*rsa_, c)), "");
}

TEST_F(JwtTest, DuplicateMembersRefuseTheToken) {
  // The signature is valid: the refusal is about ambiguity, not forgery.
  std::string header = b64json({{"alg", "RS256"}, {"kid", "rsa-1"}});
  std::string claims_text = id_claims().dump();
  claims_text.insert(1, "\"sub\":\"admin\",");
  std::string input = header + "." + base64url_encode(claims_text);
  EXPECT_EQ(id_error(input + "." + base64url_encode(rsa_->sign("RS256", input))), "payload: duplicate member 'sub'");

  std::string dup_header = base64url_encode(R"({"alg":"RS256","kid":"rsa-1","alg":"none"})");
  input = dup_header + "." + b64json(id_claims());
  EXPECT_EQ(id_error(input + "." + base64url_encode(rsa_->sign("RS256", input))), "header: duplicate member 'alg'");
}

TEST_F(JwtTest, CritAndUnencodedPayloadsAreRefused) {
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims(), {{"crit", {"exp"}}, {"exp", 1}})),
            "header \"crit\" names extensions wgate does not understand");
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims(), {{"b64", false}})),
            "unencoded payloads (\"b64\": false) are not supported");
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims(), {{"kid", 5}})), "header \"kid\" is not a string");
}

TEST_F(JwtTest, EmbeddedKeysAreIgnored) {
  // A header "jwk" with the attacker's own key changes nothing: the token
  // is still checked against the JWKS.
  TestKey attacker = TestKey::generate("EC", "ec-1");
  std::string token = make_token(attacker, id_claims(), {{"jwk", attacker.jwk()}});
  EXPECT_EQ(id_error(token), "signature does not verify");
}

TEST_F(JwtTest, ExpectationsAreChecked) {
  auto e = id_expect();
  e.leeway = std::chrono::seconds(-1);
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims()), e), "leeway -1 s is outside 0 to 86400 s");
  e = id_expect();
  e.client_id = "";
  EXPECT_EQ(id_error(make_token(*rsa_, id_claims()), e), "the expected issuer and client_id must not be empty");
  auto l = logout_expect();
  l.issuer = "";
  EXPECT_EQ(logout_error(make_token(*rsa_, logout_claims()), l), "the expected issuer and client_id must not be empty");
}

// --- logout tokens ---

TEST_F(JwtTest, ValidLogoutToken) {
  json c = logout_claims();
  c["exp"] = kNow + 115;
  auto r = validate_logout_token(make_token(*ec_, c, {{"typ", "logout+jwt"}}), jwks_, logout_expect());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->sub, "248289761001");
  EXPECT_EQ(r->sid, "08a5019c");
  EXPECT_EQ(r->jti, "bWJq");
  EXPECT_EQ(r->iat, kNow - 5);
  // exp + leeway - 1 (kNow + 174) is earlier than iat + max_age + leeway.
  EXPECT_EQ(r->valid_until, kNow + 174);
}

TEST_F(JwtTest, LogoutValidUntilFollowsMaxAgeWithoutExp) {
  auto r = validate_logout_token(make_token(*ec_, logout_claims()), jwks_, logout_expect());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->valid_until, kNow - 5 + 300 + 60);
  auto e = logout_expect();
  e.max_age.reset();
  r = validate_logout_token(make_token(*ec_, logout_claims()), jwks_, e);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->valid_until.has_value());
}

TEST_F(JwtTest, LogoutTokenWithNonceIsRejected) {
  json c = logout_claims();
  c["nonce"] = "n-0S6_WzA2Mj";
  EXPECT_EQ(logout_error(make_token(*rsa_, c)), "a logout token must not contain a nonce");
}

TEST_F(JwtTest, LogoutTokenWithoutTheEventIsRejected) {
  json c = logout_claims();
  c.erase("events");
  EXPECT_EQ(logout_error(make_token(*rsa_, c)), "logout token has no \"events\" claim");
  c["events"] = {std::string(kBackchannelLogoutEvent)};  // an early draft's array form
  EXPECT_EQ(logout_error(make_token(*rsa_, c)), "claim \"events\" is not a JSON object");
  c["events"] = {{"http://schemas.openid.net/event/other", json::object()}};
  EXPECT_EQ(logout_error(make_token(*rsa_, c)), "claim \"events\" does not hold the back-channel logout event");
  c["events"] = {{std::string(kBackchannelLogoutEvent), "yes"}};
  EXPECT_EQ(logout_error(make_token(*rsa_, c)), "the back-channel logout event is not a JSON object");
}

TEST_F(JwtTest, LogoutTokenNeedsSubOrSidAndJti) {
  json c = logout_claims();
  c.erase("sub");
  EXPECT_EQ(logout_error(make_token(*rsa_, c)), "");
  c.erase("sid");
  EXPECT_EQ(logout_error(make_token(*rsa_, c)), "logout token names neither \"sub\" nor \"sid\"");
  c = logout_claims();
  c.erase("jti");
  EXPECT_EQ(logout_error(make_token(*rsa_, c)), "claim \"jti\" is missing");
}

TEST_F(JwtTest, LogoutTokenTimesAndAudience) {
  json c = logout_claims();
  c["iat"] = kNow - 3600;
  EXPECT_EQ(logout_error(make_token(*rsa_, c)),
            "logout token issued at 2027-01-15T07:00:00Z is older than 300 s (now 2027-01-15T08:00:00Z)");
  c["iat"] = kNow + 3600;
  EXPECT_NE(logout_error(make_token(*rsa_, c)).find("logout token issued in the future"), std::string::npos);
  c = logout_claims();
  c["exp"] = kNow - 120;
  EXPECT_NE(logout_error(make_token(*rsa_, c)).find("logout token expired at"), std::string::npos);
  c = logout_claims();
  c["aud"] = "other";
  EXPECT_EQ(logout_error(make_token(*rsa_, c)), "audience ['other'] does not contain client 'wgate'");
  c = logout_claims();
  c["iss"] = "https://evil.example.com";
  EXPECT_EQ(logout_error(make_token(*rsa_, c)),
            "issuer 'https://evil.example.com' is not 'https://idp.example.com/realms/corp'");
}

TEST_F(JwtTest, LogoutTokenSignatureIsChecked) {
  EXPECT_EQ(logout_error(make_token(*rsa2_, logout_claims(), {{"kid", "rsa-1"}})), "signature does not verify");
  std::string input = signing_input({{"alg", "none"}}, logout_claims());
  EXPECT_EQ(logout_error(input + "."), "alg none is not allowed");
}

TEST_F(JwtTest, IdTokenIsNoLogoutToken) {
  EXPECT_EQ(logout_error(make_token(*rsa_, id_claims())), "claim \"jti\" is missing");
  json c = id_claims();
  c["jti"] = "j1";
  EXPECT_EQ(logout_error(make_token(*rsa_, c)), "logout token has no \"events\" claim");
}

TEST_F(JwtTest, ClaimChecksAloneNeedNoSignature) {
  // What the fuzz target reaches: the claim rules on a parsed token.
  std::string input = signing_input({{"alg", "EdDSA"}}, id_claims());
  auto jws = parse_jws(input + ".c2ln");
  ASSERT_TRUE(jws.ok());
  EXPECT_EQ(jws->signing_input, input);
  EXPECT_EQ(jws->signature, "sig");
  auto claims = internal::check_id_token_claims(*jws, id_expect());
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ(claims->sub, "248289761001");
}

}  // namespace
}  // namespace wgate::auth

namespace wgate::auth {
namespace {

// The fuzz seeds were signed outside this code (OpenSSL's command line,
// r||s cut from DER by a script): they verify here, a cross-check of the
// ES256 conversion and of EdDSA that does not share code with the signer.
TEST(JwtFuzzSeeds, TokensSignedByTheCommandLineVerify) {
  auto jwks = parse_jwks(R"({"keys":[
    {"kty":"EC","kid":"ec-1","crv":"P-256","x":"h_umm87liHTO0kcCczWvPMtOEUDtA9qYQSXUMo3w7EQ","y":"NivlTtc2vI29rLwSlN3QDkd2ddFDcl-iBOXe6lAwc5k"},
    {"kty":"OKP","kid":"ed-1","crv":"Ed25519","x":"hGujQQhPmC_UHgan7JpfXC8ZjcZLqfeoLQ5GCh9rT3M"}]})");
  ASSERT_TRUE(jwks.ok());
  ASSERT_EQ(jwks->keys.size(), 2u);
  IdTokenExpectations e;
  e.issuer = "https://idp.example.com";
  e.client_id = "wgate";
  e.nonce = "n-1";
  e.now = 1'800'000'000;
  auto seed = [](const std::string& name) {
    std::ifstream in(std::string(WGATE_TEST_DATA) + "/../fuzz/corpus/jwt_parse/" + name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  for (const char* name : {"id-token-es256", "id-token-eddsa", "id-token-no-kid"}) {
    auto r = validate_id_token(seed(name), *jwks, e);
    EXPECT_TRUE(r.ok()) << name << ": " << (r.ok() ? "" : r.error().message);
  }
  LogoutExpectations l;
  l.issuer = e.issuer;
  l.client_id = e.client_id;
  l.now = e.now;
  auto r = validate_logout_token(seed("logout-token-es256"), *jwks, l);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  r = validate_logout_token(seed("logout-token-with-nonce"), *jwks, l);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "a logout token must not contain a nonce");
}

}  // namespace
}  // namespace wgate::auth
