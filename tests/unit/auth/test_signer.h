// A test-only token issuer: keys generated with OpenSSL in the test, their
// JWK form, and compact JWS signing (also of forged tokens: alg none, HMAC
// with a public key as secret). Never used outside tests.
#pragma once

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "auth/base64url.h"
#include "auth/jwk.h"
#include "auth/openssl_util.h"

namespace wgate::auth::testing {

using nlohmann::json;

inline std::string bn_bytes(const EVP_PKEY* key, const char* param, size_t pad_to = 0) {
  BIGNUM* raw = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, param, &raw), 1) << param;
  internal::BignumPtr bn(raw);
  size_t len = std::max(static_cast<size_t>(BN_num_bytes(bn.get())), pad_to);
  std::string out(len, '\0');
  EXPECT_EQ(BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(len)),
            static_cast<int>(len));
  return out;
}

class TestKey {
 public:
  // kind: "RSA" (bits), "EC" (P-256), "ED25519".
  static TestKey generate(const std::string& kind, const std::string& kid, size_t rsa_bits = 2048) {
    EVP_PKEY* raw = nullptr;
    if (kind == "RSA") raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", rsa_bits);
    else if (kind == "EC") raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    else raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    EXPECT_NE(raw, nullptr) << kind;
    TestKey k;
    k.kind_ = kind;
    k.kid_ = kid;
    k.key_.reset(raw);
    return k;
  }

  const std::string& kid() const { return kid_; }
  EVP_PKEY* pkey() const { return key_.get(); }

  std::string default_alg() const { return kind_ == "RSA" ? "RS256" : kind_ == "EC" ? "ES256" : "EdDSA"; }

  // The public JWK; `alg` "" leaves "alg" out, `with_kid` false leaves "kid" out.
  json jwk(const std::string& alg = "", bool with_kid = true) const {
    json j;
    if (kind_ == "RSA") {
      j = {{"kty", "RSA"},
           {"n", base64url_encode(bn_bytes(pkey(), OSSL_PKEY_PARAM_RSA_N))},
           {"e", base64url_encode(bn_bytes(pkey(), OSSL_PKEY_PARAM_RSA_E))}};
    } else if (kind_ == "EC") {
      j = {{"kty", "EC"},
           {"crv", "P-256"},
           {"x", base64url_encode(bn_bytes(pkey(), OSSL_PKEY_PARAM_EC_PUB_X, 32))},
           {"y", base64url_encode(bn_bytes(pkey(), OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
    } else {
      unsigned char pub[32];
      size_t len = sizeof pub;
      EXPECT_EQ(EVP_PKEY_get_raw_public_key(pkey(), pub, &len), 1);
      j = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", base64url_encode(std::string(reinterpret_cast<char*>(pub), len))}};
    }
    if (with_kid) j["kid"] = kid_;
    if (!alg.empty()) j["alg"] = alg;
    j["use"] = "sig";
    return j;
  }

  // The SubjectPublicKeyInfo PEM: what an attacker who wants the key
  // confusion attack uses as an HMAC secret.
  std::string public_pem() const {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    EXPECT_EQ(PEM_write_bio_PUBKEY(bio.get(), pkey()), 1);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(len));
  }

  // Signs `input` as `alg` would (RS*, PS*, ES256 as r||s, EdDSA).
  std::string sign(const std::string& alg, const std::string& input) const {
    const EVP_MD* md = nullptr;
    if (alg.substr(2) == "256") md = EVP_sha256();
    if (alg.substr(2) == "384") md = EVP_sha384();
    if (alg.substr(2) == "512") md = EVP_sha512();
    internal::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    EXPECT_EQ(EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, pkey()), 1);
    if (alg.rfind("PS", 0) == 0) {
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    size_t len = 0;
    EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()),
              1);
    std::string sig(len, '\0');
    EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                             reinterpret_cast<const unsigned char*>(input.data()), input.size()),
              1);
    sig.resize(len);
    if (alg == "ES256") {  // DER -> r || s
      const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
      internal::EcdsaSigPtr es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
      EXPECT_TRUE(es);
      std::string rs(64, '\0');
      BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), reinterpret_cast<unsigned char*>(rs.data()), 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), reinterpret_cast<unsigned char*>(rs.data()) + 32, 32);
      return rs;
    }
    return sig;
  }

 private:
  std::string kind_;
  std::string kid_;
  internal::EvpPkeyPtr key_;
};

inline std::string b64json(const json& j) { return base64url_encode(j.dump()); }

// header.payload, from JSON values (or from raw text, for malformed ones).
inline std::string signing_input(const json& header, const json& claims) {
  return b64json(header) + "." + b64json(claims);
}

// A token signed by `key` with `alg`; the header gets alg and the key's kid
// unless `header` already says otherwise.
inline std::string make_token(const TestKey& key, json claims, json header = json::object(),
                              const std::string& alg = "") {
  std::string a = alg.empty() ? key.default_alg() : alg;
  if (!header.contains("alg")) header["alg"] = a;
  if (!header.contains("kid") && !key.kid().empty()) header["kid"] = key.kid();
  std::string input = signing_input(header, claims);
  return input + "." + base64url_encode(key.sign(a, input));
}

// HMAC-SHA256 of `input` keyed with `secret`: the forger's tool.
inline std::string hmac_sha256(const std::string& secret, const std::string& input) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  EXPECT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
                      reinterpret_cast<const unsigned char*>(input.data()), input.size(), out, sizeof out, &len),
            nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

inline json jwks_of(const std::vector<json>& keys) { return json{{"keys", keys}}; }

}  // namespace wgate::auth::testing
