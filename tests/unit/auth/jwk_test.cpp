#include "auth/jwk.h"

#include <gtest/gtest.h>

#include "test_signer.h"

namespace wgate::auth {
namespace {

using testing::jwks_of;
using testing::TestKey;
using json = nlohmann::json;

class JwkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new TestKey(TestKey::generate("RSA", "rsa-1"));
    ec_ = new TestKey(TestKey::generate("EC", "ec-1"));
    ed_ = new TestKey(TestKey::generate("ED25519", "ed-1"));
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete ec_;
    delete ed_;
  }
  static Jwks parse(const json& doc) {
    auto r = parse_jwks(doc.dump());
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? std::move(r).value() : Jwks{};
  }
  // The one skip reason of a JWKS holding only `key`.
  static std::string skip_reason(const json& key) {
    Jwks jwks = parse(jwks_of({key}));
    EXPECT_TRUE(jwks.keys.empty());
    return jwks.skipped.size() == 1 ? jwks.skipped[0] : "(" + std::to_string(jwks.skipped.size()) + " reasons)";
  }
  static TestKey* rsa_;
  static TestKey* ec_;
  static TestKey* ed_;
};
TestKey* JwkTest::rsa_ = nullptr;
TestKey* JwkTest::ec_ = nullptr;
TestKey* JwkTest::ed_ = nullptr;

TEST_F(JwkTest, ParsesRsaEcAndEd25519Keys) {
  Jwks jwks = parse(jwks_of({rsa_->jwk("RS256"), ec_->jwk(), ed_->jwk("EdDSA")}));
  EXPECT_TRUE(jwks.skipped.empty()) << jwks.skipped[0];
  ASSERT_EQ(jwks.keys.size(), 3u);
  EXPECT_EQ(jwks.keys[0].kid, "rsa-1");
  EXPECT_EQ(jwks.keys[0].type, KeyType::rsa);
  EXPECT_EQ(jwks.keys[0].alg, "RS256");
  EXPECT_EQ(jwks.keys[0].use, "sig");
  EXPECT_EQ(jwks.keys[1].type, KeyType::ec_p256);
  EXPECT_EQ(jwks.keys[1].alg, "");
  EXPECT_EQ(jwks.keys[2].type, KeyType::ed25519);
  for (const Jwk& k : jwks.keys) {
    ASSERT_TRUE(k.key);
    EXPECT_EQ(EVP_PKEY_eq(k.key.get(), k.kid == "rsa-1" ? rsa_->pkey() : k.kid == "ec-1" ? ec_->pkey() : ed_->pkey()),
              1)
        << k.kid;
  }
  EXPECT_TRUE(jwks.has_kid("ec-1"));
  EXPECT_FALSE(jwks.has_kid("ec-2"));
}

TEST_F(JwkTest, WeakRsaKeyIsSkippedWithItsSize) {
  TestKey weak = TestKey::generate("RSA", "weak", 1024);
  Jwks jwks = parse(jwks_of({weak.jwk(), rsa_->jwk()}));
  ASSERT_EQ(jwks.keys.size(), 1u);
  EXPECT_EQ(jwks.keys[0].kid, "rsa-1");
  ASSERT_EQ(jwks.skipped.size(), 1u);
  EXPECT_EQ(jwks.skipped[0], "key 0 (kid 'weak'): RSA modulus has 1024 bits, at least 2048 required");
}

TEST_F(JwkTest, RsaExponentMustBeOddAndSmall) {
  json k = rsa_->jwk();
  k["e"] = base64url_encode(std::string("\x01\x00\x00", 3));
  EXPECT_NE(skip_reason(k).find("public exponent"), std::string::npos);
  k["e"] = base64url_encode(std::string("\x01", 1));
  EXPECT_NE(skip_reason(k).find("public exponent"), std::string::npos);
  k["e"] = base64url_encode(std::string(9, '\x01'));
  EXPECT_NE(skip_reason(k).find("public exponent"), std::string::npos);
}

TEST_F(JwkTest, EcPointOffTheCurveIsSkipped) {
  json k = ec_->jwk();
  auto y = base64url_decode(k["y"].get<std::string>());
  ASSERT_TRUE(y.ok());
  std::string bad = *y;
  bad[31] = static_cast<char>(bad[31] ^ 1);
  k["y"] = base64url_encode(bad);
  std::string reason = skip_reason(k);
  EXPECT_NE(reason.find("P-256 point"), std::string::npos) << reason;
}

TEST_F(JwkTest, EcCoordinatesMustHaveFullLength) {
  json k = ec_->jwk();
  k["x"] = base64url_encode(std::string(31, 'a'));
  EXPECT_NE(skip_reason(k).find("32 bytes each"), std::string::npos);
  k = ec_->jwk();
  k["crv"] = "P-384";
  EXPECT_NE(skip_reason(k).find("curve 'P-384' is not supported"), std::string::npos);
  k.erase("crv");
  EXPECT_NE(skip_reason(k).find("\"crv\" is missing"), std::string::npos);
}

TEST_F(JwkTest, Ed25519KeyMustBe32Bytes) {
  json k = ed_->jwk();
  k["x"] = base64url_encode(std::string(31, 'a'));
  EXPECT_NE(skip_reason(k).find("32 bytes"), std::string::npos);
  k = ed_->jwk();
  k["crv"] = "Ed448";
  EXPECT_NE(skip_reason(k).find("'Ed448' is not supported"), std::string::npos);
}

TEST_F(JwkTest, SymmetricAndUnknownKeyTypesAreSkipped) {
  // An "oct" key would be an HMAC secret: never a verification key here.
  EXPECT_EQ(skip_reason({{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "s"}}), "key 0 (kid 's'): kty 'oct' is not supported");
  EXPECT_EQ(skip_reason({{"kid", "s"}}), "key 0 (kid 's'): \"kty\" is missing");
  EXPECT_EQ(skip_reason({{"kty", 7}}), "key 0: \"kty\" is not a string");
  EXPECT_EQ(skip_reason("a string"), "key 0: not a JSON object");
}

TEST_F(JwkTest, KeysNotForSignaturesAreSkipped) {
  json k = rsa_->jwk();
  k["use"] = "enc";
  EXPECT_NE(skip_reason(k).find("use 'enc' is not \"sig\""), std::string::npos);
  k = rsa_->jwk();
  k["key_ops"] = {"encrypt"};
  EXPECT_NE(skip_reason(k).find("\"key_ops\" does not contain \"verify\""), std::string::npos);
  k["key_ops"] = {"verify"};
  EXPECT_EQ(parse(jwks_of({k})).keys.size(), 1u);
}

TEST_F(JwkTest, PublishedPrivateKeyIsSkipped) {
  json k = ec_->jwk();
  k["d"] = base64url_encode(std::string(32, 'a'));
  EXPECT_NE(skip_reason(k).find("private key material"), std::string::npos);
}

TEST_F(JwkTest, KeyAlgMustBeASignatureAlgorithmOfItsType) {
  EXPECT_NE(skip_reason(rsa_->jwk("ES256")).find("alg 'ES256' does not fit a key of type RSA"), std::string::npos);
  EXPECT_NE(skip_reason(rsa_->jwk("RSA-OAEP")).find("is not a signature algorithm"), std::string::npos);
  EXPECT_NE(skip_reason(rsa_->jwk("HS256")).find("is not a signature algorithm"), std::string::npos);
  EXPECT_NE(skip_reason(ec_->jwk("none")).find("is not a signature algorithm"), std::string::npos);
  EXPECT_EQ(parse(jwks_of({rsa_->jwk("PS256")})).keys.size(), 1u);
}

TEST_F(JwkTest, MalformedBase64IsSkipped) {
  json k = rsa_->jwk();
  k["n"] = k["n"].get<std::string>() + "=";
  EXPECT_NE(skip_reason(k).find("\"n\": invalid base64url"), std::string::npos);
  k = rsa_->jwk();
  k["e"] = 65537;
  EXPECT_NE(skip_reason(k).find("\"e\" is not a string"), std::string::npos);
}

TEST_F(JwkTest, DocumentErrors) {
  EXPECT_FALSE(parse_jwks("").ok());
  EXPECT_FALSE(parse_jwks("{\"keys\": [").ok());
  EXPECT_EQ(parse_jwks("[]").error().message, "JWKS: not a JSON object");
  EXPECT_EQ(parse_jwks("{}").error().message, "JWKS: no \"keys\" array");
  EXPECT_EQ(parse_jwks("{\"keys\": {}}").error().message, "JWKS: no \"keys\" array");
  EXPECT_EQ(parse_jwks("{\"keys\": [], \"keys\": []}").error().message, "JWKS: duplicate member 'keys'");
  auto deep = parse_jwks(std::string(100, '[') + std::string(100, ']'));
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.error().message.find("nested deeper"), std::string::npos);
  auto empty = parse_jwks("{\"keys\": []}");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->keys.empty());
}

TEST_F(JwkTest, DuplicateMemberInsideAKeyRefusesTheDocument) {
  std::string doc = jwks_of({ec_->jwk()}).dump();
  doc.insert(doc.find("\"kty\""), "\"kty\":\"RSA\",");
  auto r = parse_jwks(doc);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "JWKS: duplicate member 'kty'");
}

TEST_F(JwkTest, OnlyTheFirstKeysAreRead) {
  std::vector<json> keys(kMaxJwksKeys + 3, ed_->jwk());
  Jwks jwks = parse(jwks_of(keys));
  EXPECT_EQ(jwks.keys.size(), kMaxJwksKeys);
  ASSERT_EQ(jwks.skipped.size(), 1u);
  EXPECT_NE(jwks.skipped[0].find("only the first 64"), std::string::npos);
}

TEST(JwsAlgTest, NamesRoundTripAndNoneOrHmacIsNoAlgorithm) {
  for (JwsAlg a : {JwsAlg::rs256, JwsAlg::rs384, JwsAlg::rs512, JwsAlg::ps256, JwsAlg::ps384, JwsAlg::ps512,
                   JwsAlg::es256, JwsAlg::eddsa}) {
    EXPECT_EQ(alg_from_name(alg_name(a)), a);
  }
  for (const char* name : {"none", "HS256", "HS384", "HS512", "rs256", "ES384", "Ed25519", ""}) {
    EXPECT_FALSE(alg_from_name(name).has_value()) << name;
  }
  EXPECT_EQ(key_type_for(JwsAlg::ps384), KeyType::rsa);
  EXPECT_EQ(key_type_for(JwsAlg::es256), KeyType::ec_p256);
  EXPECT_EQ(key_type_for(JwsAlg::eddsa), KeyType::ed25519);
}

}  // namespace
}  // namespace wgate::auth
