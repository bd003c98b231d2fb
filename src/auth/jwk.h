// JSON Web Keys (RFC 7517) of an OpenID provider, as public keys OpenSSL
// verifies with: RSA (RFC 7518 section 6.3), EC P-256 (section 6.2) and OKP
// Ed25519 (RFC 8037).
//
// Thread-safety: Jwks and Jwk are values; a const Jwks may be read (and its
// keys verified with) from several threads at once.
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace wgate::auth {

enum class KeyType {
  rsa,      // kty "RSA", modulus of kMinRsaBits..kMaxRsaBits bits
  ec_p256,  // kty "EC", crv "P-256"
  ed25519,  // kty "OKP", crv "Ed25519"
};

// "RSA", "EC P-256", "OKP Ed25519": for messages.
std::string_view key_type_name(KeyType type);

// The signature algorithms wgate verifies (RFC 7518 section 3, RFC 8037).
// "none" and the HMAC algorithms (HS256, ...) are not among them, on
// purpose: an ID token is verified with the provider's public key, and a
// public key must never serve as an HMAC secret.
enum class JwsAlg { rs256, rs384, rs512, ps256, ps384, ps512, es256, eddsa };

// The JOSE name: "RS256", ..., "EdDSA".
std::string_view alg_name(JwsAlg alg);
// The algorithm of a JOSE name (case-sensitive, RFC 7515 section 4.1.1), or
// nullopt for any other name.
std::optional<JwsAlg> alg_from_name(std::string_view name);
// The one key type each algorithm verifies with.
KeyType key_type_for(JwsAlg alg);

inline constexpr int kMinRsaBits = 2048;
// Larger moduli cost a verifier more than they protect: refused.
inline constexpr int kMaxRsaBits = 8192;
// Keys past this many in one JWKS are skipped (providers publish a few).
inline constexpr size_t kMaxJwksKeys = 64;

// One usable signature-verification key.
struct Jwk {
  std::string kid;  // "" when the key has none
  KeyType type = KeyType::rsa;
  std::string alg;  // the key's "alg" ("RS256", ...) or "" when absent
  std::string use;  // "sig" or "" when absent (keys for other uses are skipped)
  std::shared_ptr<EVP_PKEY> key;  // never null in a parsed Jwk; read-only
};

struct Jwks {
  std::vector<Jwk> keys;
  // One line per key that was left out and why, e.g. "key 2 (kid 'a'):
  // RSA modulus has 1024 bits, at least 2048 required". For logs: a
  // provider publishing keys wgate cannot use is worth a warning.
  std::vector<std::string> skipped;

  // Whether some key carries this kid.
  bool has_kid(std::string_view kid) const;
};

// Parses a JWK Set document ({"keys": [...]}). An Error only when the text
// is no JSON object with a "keys" array (strict JSON: see strict_json.h);
// each key that is malformed, of an unknown kty or curve, weak (RSA below
// kMinRsaBits), not on its curve, not for signatures ("use" other than
// "sig", "key_ops" without "verify"), holding private key material ("d"),
// or carrying an "alg" that is no signature algorithm wgate verifies for
// its type is skipped with a reason instead. A JWKS with no usable key
// parses to an empty `keys` (validation then fails naming the kid).
Result<Jwks> parse_jwks(std::string_view json_text);

}  // namespace wgate::auth
