#include "auth/jwk.h"

#include <openssl/core_names.h>

#include <algorithm>
#include <array>

#include "auth/base64url.h"
#include "auth/openssl_util.h"
#include "auth/strict_json.h"

namespace wgate::auth {

using internal::BignumPtr;
using internal::EvpPkeyCtxPtr;
using internal::EvpPkeyPtr;
using internal::openssl_error;
using internal::ParamBldPtr;
using internal::ParamsPtr;
using internal::quote_text;
using json = nlohmann::json;

namespace {

struct AlgInfo {
  JwsAlg alg;
  std::string_view name;
  KeyType type;
};

constexpr std::array<AlgInfo, 8> kAlgs{{
    {JwsAlg::rs256, "RS256", KeyType::rsa},
    {JwsAlg::rs384, "RS384", KeyType::rsa},
    {JwsAlg::rs512, "RS512", KeyType::rsa},
    {JwsAlg::ps256, "PS256", KeyType::rsa},
    {JwsAlg::ps384, "PS384", KeyType::rsa},
    {JwsAlg::ps512, "PS512", KeyType::rsa},
    {JwsAlg::es256, "ES256", KeyType::ec_p256},
    {JwsAlg::eddsa, "EdDSA", KeyType::ed25519},
}};

const AlgInfo& info(JwsAlg alg) {
  return *std::find_if(kAlgs.begin(), kAlgs.end(), [&](const AlgInfo& a) { return a.alg == alg; });
}

// A member that must be a string when present; nullopt when absent.
Result<std::optional<std::string>> optional_string(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end()) return std::optional<std::string>();
  if (!it->is_string()) return make_error(std::string("\"") + name + "\" is not a string");
  return std::optional<std::string>(it->get<std::string>());
}

// A required base64url member, decoded.
Result<std::string> b64_member(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end()) return make_error(std::string("\"") + name + "\" is missing");
  if (!it->is_string()) return make_error(std::string("\"") + name + "\" is not a string");
  auto decoded = base64url_decode(it->get_ref<const std::string&>());
  if (!decoded.ok()) return decoded.error().with_context(std::string("\"") + name + "\"");
  return std::move(decoded).value();
}

Result<BignumPtr> to_bignum(const std::string& bytes) {
  BignumPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), nullptr));
  if (!bn) return openssl_error("BN_bin2bn");
  return bn;
}

// Builds a public EVP_PKEY of `type_name` from parameters and checks it
// with OpenSSL's public-key check (for EC: the point lies on the curve).
Result<EvpPkeyPtr> pkey_from_params(const char* type_name, OSSL_PARAM_BLD* bld) {
  ParamsPtr params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return openssl_error("OSSL_PARAM_BLD_to_param");
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type_name, nullptr));
  if (!ctx) return openssl_error(std::string("EVP_PKEY_CTX_new_from_name(") + type_name + ")");
  if (EVP_PKEY_fromdata_init(ctx.get()) <= 0) return openssl_error("EVP_PKEY_fromdata_init");
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0 || raw == nullptr) {
    return openssl_error("invalid public key");
  }
  EvpPkeyPtr pkey(raw);
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check) return openssl_error("EVP_PKEY_CTX_new_from_pkey");
  if (EVP_PKEY_public_check(check.get()) != 1) return openssl_error("public key check failed");
  return pkey;
}

Result<EvpPkeyPtr> rsa_key(const json& k) {
  WGATE_ASSIGN_OR_RETURN(std::string n, b64_member(k, "n"));
  WGATE_ASSIGN_OR_RETURN(std::string e, b64_member(k, "e"));
  WGATE_ASSIGN_OR_RETURN(BignumPtr bn_n, to_bignum(n));
  WGATE_ASSIGN_OR_RETURN(BignumPtr bn_e, to_bignum(e));
  int bits = BN_num_bits(bn_n.get());
  if (bits < kMinRsaBits) {
    return make_error("RSA modulus has " + std::to_string(bits) + " bits, at least " + std::to_string(kMinRsaBits) +
                      " required");
  }
  if (bits > kMaxRsaBits) {
    return make_error("RSA modulus has " + std::to_string(bits) + " bits, at most " + std::to_string(kMaxRsaBits) +
                      " accepted");
  }
  // A public exponent of 3 to 2^64-1, odd: what every real key has (65537),
  // and within what OpenSSL verifies for large moduli.
  if (!BN_is_odd(bn_e.get()) || BN_num_bits(bn_e.get()) < 2 || BN_num_bits(bn_e.get()) > 64) {
    return make_error("RSA public exponent is not an odd number from 3 to 2^64-1");
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    return openssl_error("OSSL_PARAM_BLD (RSA)");
  }
  return pkey_from_params("RSA", bld.get());
}

Result<EvpPkeyPtr> ec_key(const json& k) {
  WGATE_ASSIGN_OR_RETURN(std::optional<std::string> crv, optional_string(k, "crv"));
  if (!crv) return make_error("\"crv\" is missing");
  if (*crv != "P-256") return make_error("curve " + quote_text(*crv) + " is not supported (only P-256)");
  WGATE_ASSIGN_OR_RETURN(std::string x, b64_member(k, "x"));
  WGATE_ASSIGN_OR_RETURN(std::string y, b64_member(k, "y"));
  // RFC 7518 section 6.2.1.2/3: each coordinate is the full 32 bytes.
  if (x.size() != 32 || y.size() != 32) {
    return make_error("P-256 coordinates must be 32 bytes each (x " + std::to_string(x.size()) + ", y " +
                      std::to_string(y.size()) + ")");
  }
  std::string point = "\x04" + x + y;  // SEC 1 uncompressed point
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size())) {
    return openssl_error("OSSL_PARAM_BLD (EC)");
  }
  auto pkey = pkey_from_params("EC", bld.get());
  if (!pkey.ok()) return pkey.error().with_context("P-256 point");
  return pkey;
}

Result<EvpPkeyPtr> okp_key(const json& k) {
  WGATE_ASSIGN_OR_RETURN(std::optional<std::string> crv, optional_string(k, "crv"));
  if (!crv) return make_error("\"crv\" is missing");
  if (*crv != "Ed25519") return make_error("OKP curve " + quote_text(*crv) + " is not supported (only Ed25519)");
  WGATE_ASSIGN_OR_RETURN(std::string x, b64_member(k, "x"));
  if (x.size() != 32) return make_error("Ed25519 public key must be 32 bytes, not " + std::to_string(x.size()));
  EvpPkeyPtr pkey(EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr,
                                                 reinterpret_cast<const unsigned char*>(x.data()), x.size()));
  if (!pkey) return openssl_error("Ed25519 public key");
  return pkey;
}

Result<Jwk> parse_key(const json& k) {
  if (!k.is_object()) return make_error("not a JSON object");
  WGATE_ASSIGN_OR_RETURN(std::optional<std::string> kty, optional_string(k, "kty"));
  if (!kty) return make_error("\"kty\" is missing");
  WGATE_ASSIGN_OR_RETURN(std::optional<std::string> kid, optional_string(k, "kid"));
  WGATE_ASSIGN_OR_RETURN(std::optional<std::string> alg, optional_string(k, "alg"));
  WGATE_ASSIGN_OR_RETURN(std::optional<std::string> use, optional_string(k, "use"));

  if (use && *use != "sig") return make_error("use " + quote_text(*use) + " is not \"sig\"");
  if (auto ops = k.find("key_ops"); ops != k.end()) {
    if (!ops->is_array()) return make_error("\"key_ops\" is not an array");
    bool verify = std::any_of(ops->begin(), ops->end(), [](const json& op) { return op == "verify"; });
    if (!verify) return make_error("\"key_ops\" does not contain \"verify\"");
  }
  // A provider that publishes a private key has lost it: anybody can sign
  // with it, so it must not be trusted for anything.
  if (k.contains("d")) return make_error("contains private key material (\"d\")");

  Jwk jwk;
  jwk.kid = kid.value_or("");
  jwk.alg = alg.value_or("");
  jwk.use = use.value_or("");
  Result<EvpPkeyPtr> pkey = make_error("");
  if (*kty == "RSA") {
    jwk.type = KeyType::rsa;
    pkey = rsa_key(k);
  } else if (*kty == "EC") {
    jwk.type = KeyType::ec_p256;
    pkey = ec_key(k);
  } else if (*kty == "OKP") {
    jwk.type = KeyType::ed25519;
    pkey = okp_key(k);
  } else {
    return make_error("kty " + quote_text(*kty) + " is not supported");
  }
  if (!pkey.ok()) return pkey.error();

  if (alg) {
    auto parsed = alg_from_name(*alg);
    if (!parsed) return make_error("alg " + quote_text(*alg) + " is not a signature algorithm wgate verifies");
    if (key_type_for(*parsed) != jwk.type) {
      return make_error("alg " + quote_text(*alg) + " does not fit a key of type " + std::string(key_type_name(jwk.type)));
    }
  }
  jwk.key = std::shared_ptr<EVP_PKEY>(std::move(pkey).value().release(), EVP_PKEY_free);
  return jwk;
}

}  // namespace

std::string_view key_type_name(KeyType type) {
  switch (type) {
    case KeyType::rsa:
      return "RSA";
    case KeyType::ec_p256:
      return "EC P-256";
    case KeyType::ed25519:
      return "OKP Ed25519";
  }
  return "?";
}

std::string_view alg_name(JwsAlg alg) { return info(alg).name; }

std::optional<JwsAlg> alg_from_name(std::string_view name) {
  for (const AlgInfo& a : kAlgs) {
    if (a.name == name) return a.alg;
  }
  return std::nullopt;
}

KeyType key_type_for(JwsAlg alg) { return info(alg).type; }

bool Jwks::has_kid(std::string_view kid) const {
  return std::any_of(keys.begin(), keys.end(), [&](const Jwk& k) { return k.kid == kid; });
}

Result<Jwks> parse_jwks(std::string_view json_text) {
  WGATE_ASSIGN_OR_RETURN(json doc, internal::parse_json_strict(json_text, "JWKS"));
  if (!doc.is_object()) return make_error("JWKS: not a JSON object");
  auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_array()) return make_error("JWKS: no \"keys\" array");

  Jwks jwks;
  size_t index = 0;
  for (const json& k : *keys) {
    if (index == kMaxJwksKeys) {
      jwks.skipped.push_back("JWKS has " + std::to_string(keys->size()) + " keys; only the first " +
                             std::to_string(kMaxJwksKeys) + " are read");
      break;
    }
    auto jwk = parse_key(k);
    if (jwk.ok()) {
      jwks.keys.push_back(std::move(jwk).value());
    } else {
      std::string name = "key " + std::to_string(index);
      if (k.is_object()) {
        if (auto kid = k.find("kid"); kid != k.end() && kid->is_string()) {
          name += " (kid " + quote_text(kid->get_ref<const std::string&>()) + ")";
        }
      }
      jwks.skipped.push_back(name + ": " + jwk.error().message);
    }
    ++index;
  }
  return jwks;
}

}  // namespace wgate::auth
