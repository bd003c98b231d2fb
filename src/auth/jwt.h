// Signed JSON Web Tokens as an OpenID relying party meets them: compact JWS
// parsing (RFC 7515), signature verification with a provider's JWKS
// (RFC 7518, RFC 8037), ID token validation (OpenID Connect Core 1.0
// section 3.1.3.7) and logout token validation (OpenID Connect Back-Channel
// Logout 1.0 section 2.6).
//
// Every function here is pure (no I/O, no clock: `now` is a parameter) and
// thread-safe. Errors name the first reason a token was refused; they may
// quote parts of the token (shortened, escaped) but never a signature.
//
// Policy, where the specifications leave a choice:
// - Algorithms: RS256/384/512, PS256/384/512, ES256, EdDSA (Ed25519).
//   "none" (any spelling) and every HMAC algorithm are refused at parsing:
//   wgate holds no shared secret with a provider, and a public key must
//   never serve as an HMAC secret (the classic key-confusion attack).
// - A member name twice in the header or the claims refuses the token
//   (see strict_json.h). A "crit" header refuses it (wgate understands no
//   extension), as does "b64": false (RFC 7797). Embedded keys ("jwk",
//   "jku", "x5u", "x5c") are ignored: keys only ever come from the JWKS.
// - Encrypted tokens (JWE, five parts) are not supported.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/jwk.h"
#include "core/model.h"
#include "util/result.h"

namespace wgate::auth {

// Longer tokens are refused before any decoding. ID tokens with large group
// lists stay well below (200 group ids of 40 bytes are ~11 KB encoded).
inline constexpr size_t kMaxTokenBytes = 64 * 1024;

// A compact JWS split and decoded. Its signature is NOT verified: nothing in
// it may be trusted before verify_jws (or a validate_* function) said so.
struct Jws {
  JwsAlg alg = JwsAlg::rs256;
  std::string kid;            // header "kid", "" when absent
  std::string typ;            // header "typ", "" when absent
  nlohmann::json header;      // the JOSE header, a JSON object
  nlohmann::json claims;      // the payload, a JSON object
  std::string signing_input;  // BASE64URL(header) "." BASE64URL(payload), as received
  std::string signature;      // the decoded signature bytes
};

// Splits and decodes a compact JWS whose payload is a JSON object (a JWT).
// Errors: longer than kMaxTokenBytes; not three dot-separated parts (five:
// JWE, not supported); a part that is not strict base64url; header or
// payload not a strict JSON object; "alg" missing, "none" ("alg none is not
// allowed"), HMAC ("HS256 is not accepted ...") or not one of JwsAlg; "kid"
// or "typ" not a string; "crit" present; "b64" other than true; an empty
// signature.
Result<Jws> parse_jws(std::string_view token);

// The JWKS key that must verify `jws`. With a kid: the one key with that
// kid whose type fits the alg (and whose own "alg", if any, is the token's):
// Error "unknown kid 'x'" when no key has that kid, an Error naming the
// mismatch when the keys with that kid do not fit, and an Error when
// several do. Without a kid: the key only if exactly one key of the whole
// set fits the alg.
Result<const Jwk*> select_key(const Jws& jws, const Jwks& jwks);

// Verifies the signature of `jws` with `key` (OpenSSL EVP; for ES256 the
// JOSE r||s form is converted to DER; for PS* the salt is the hash length).
// Error "signature does not verify" on a wrong signature, another Error
// when the key's type does not fit the alg.
Status verify_signature(const Jws& jws, const Jwk& key);

// select_key, then verify_signature.
Status verify_jws(const Jws& jws, const Jwks& jwks);

struct IdTokenExpectations {
  std::string issuer;     // "iss" must equal it exactly (no normalisation)
  std::string client_id;  // "aud" must contain it; "azp", if present, must equal it
  // The nonce sent in the authentication request; "nonce" must equal it.
  // nullopt when none was sent (device grant, refresh): "nonce" is not checked.
  std::optional<std::string> nonce;
  UnixTime now = 0;
  // Allowed clock difference for exp, iat, nbf and auth_time: 0 to 86400 s.
  std::chrono::seconds leeway{60};
  // When set (0 s to 10 years), "auth_time" is required and must be at most
  // this old (OpenID Connect Core section 3.1.2.1 max_age).
  std::optional<std::chrono::seconds> max_age;
  // The claim holding the person's groups ("groups", or e.g. "roles").
  std::string groups_claim = "groups";
  // When not empty, only these algorithms are accepted (e.g. the provider's
  // id_token_signing_alg_values_supported); empty: every JwsAlg.
  std::vector<JwsAlg> allowed_algs;
};

struct IdTokenClaims {
  std::string sub;  // never empty
  std::optional<std::string> email;
  std::optional<bool> email_verified;  // true/false, also "true"/"false" strings
  std::optional<std::string> name;
  std::optional<std::string> preferred_username;
  // From expectations.groups_claim: nullopt when the claim is absent, so a
  // provider that sends none is told from one that sends an empty list. A
  // single string counts as one group.
  std::optional<std::vector<std::string>> groups;
  std::optional<std::string> sid;
  UnixTime iat = 0;
  UnixTime exp = 0;
  std::optional<UnixTime> auth_time;
  nlohmann::json raw;  // every claim, as received
};

// Validates an ID token: parse_jws, the alg against expectations, verify_jws,
// then the claims: iss, aud (may hold further audiences; with several, azp
// is required), azp, exp and iat required (NumericDate, fractions
// truncated, 0 to year 9999), exp not passed, iat and nbf not in the
// future (each with leeway), nonce, auth_time against max_age, sub present
// (at most 255 bytes). A logout token (header typ "logout+jwt", or the
// back-channel logout event) is refused, so one can never stand in for an ID
// token where no nonce is checked. The claims wgate reads must have their
// JSON types, and text claims must not contain NUL.
Result<IdTokenClaims> validate_id_token(std::string_view token, const Jwks& jwks, const IdTokenExpectations& expect);
// The same for a token parse_jws already split (OidcProvider uses it to look
// at the kid first).
Result<IdTokenClaims> validate_id_token(const Jws& jws, const Jwks& jwks, const IdTokenExpectations& expect);

inline constexpr std::string_view kBackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout";

struct LogoutExpectations {
  std::string issuer;
  std::string client_id;
  UnixTime now = 0;
  std::chrono::seconds leeway{60};  // 0 to 86400 s
  // A logout token older than this (by iat) is refused, which bounds how
  // long the caller must remember jti values. nullopt: no bound (then only
  // "exp", if the provider sends one, ends a token's life).
  std::optional<std::chrono::seconds> max_age = std::chrono::minutes(5);
  std::vector<JwsAlg> allowed_algs;  // as in IdTokenExpectations
};

struct LogoutClaims {
  std::string sub;  // "" when absent; sub and sid are never both empty
  std::string sid;  // "" when absent
  std::string jti;  // never empty
  UnixTime iat = 0;
  // The last time this token would still validate (from exp and max_age,
  // leeway included); nullopt when nothing bounds it.
  std::optional<UnixTime> valid_until;
};

// Validates a back-channel logout token (section 2.6): signature as for ID
// tokens, iss, aud (as for ID tokens, without the azp rule), iat required
// and not in the future, exp if present, max_age, jti required, "events" a
// JSON object with the member kBackchannelLogoutEvent (whose value is an
// object), "sub" and/or "sid", and NO "nonce" (which tells it from an ID
// token).
//
// Replay protection is the caller's: remember each accepted jti (per
// issuer) until `valid_until` and refuse a token whose jti was seen. Also
// the caller's: matching sid/sub against its sessions.
Result<LogoutClaims> validate_logout_token(std::string_view token, const Jwks& jwks,
                                           const LogoutExpectations& expect);
Result<LogoutClaims> validate_logout_token(const Jws& jws, const Jwks& jwks, const LogoutExpectations& expect);

}  // namespace wgate::auth
