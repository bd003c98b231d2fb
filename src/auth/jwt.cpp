#include "auth/jwt.h"

#include <openssl/crypto.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "auth/base64url.h"
#include "auth/jwt_internal.h"
#include "auth/openssl_util.h"
#include "auth/strict_json.h"
#include "core/time_text.h"

namespace wgate::auth {

using internal::BignumPtr;
using internal::EcdsaSigPtr;
using internal::EvpMdCtxPtr;
using internal::openssl_error;
using internal::quote_text;
using json = nlohmann::json;

namespace {

// NumericDate bounds: 1970 to the end of year 9999, so that adding a leeway
// or max_age never overflows and every accepted time can be printed.
constexpr UnixTime kMaxNumericDate = 253'402'300'799;
constexpr int64_t kMaxLeewaySeconds = 86'400;
constexpr int64_t kMaxMaxAgeSeconds = 10LL * 366 * 86'400;
constexpr size_t kMaxSubBytes = 255;  // OpenID Connect Core section 2

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<json> decode_json_part(std::string_view part, const char* what) {
  auto bytes = base64url_decode(part);
  if (!bytes.ok()) return bytes.error().with_context(what);
  WGATE_ASSIGN_OR_RETURN(json value, internal::parse_json_strict(*bytes, what));
  if (!value.is_object()) return make_error(std::string(what) + ": not a JSON object");
  return value;
}

Result<std::string> header_string(const json& header, const char* name) {
  auto it = header.find(name);
  if (it == header.end()) return std::string();
  if (!it->is_string()) return make_error(std::string("header \"") + name + "\" is not a string");
  return it->get<std::string>();
}

Result<JwsAlg> check_alg(const json& header) {
  auto it = header.find("alg");
  if (it == header.end()) return make_error("header has no \"alg\"");
  if (!it->is_string()) return make_error("header \"alg\" is not a string");
  const std::string& alg = it->get_ref<const std::string&>();
  if (lower(alg) == "none") return make_error("alg none is not allowed");
  if (alg.size() >= 2 && lower(alg.substr(0, 2)) == "hs") {
    bool plain = alg.size() <= 16 && std::all_of(alg.begin(), alg.end(), [](char c) {
                   return std::isalnum(static_cast<unsigned char>(c)) != 0;
                 });
    return make_error((plain ? alg : quote_text(alg)) +
                      " is not accepted: HMAC algorithms are never used with a provider's keys");
  }
  auto parsed = alg_from_name(alg);
  if (!parsed) return make_error("alg " + quote_text(alg) + " is not supported");
  return *parsed;
}

}  // namespace

Result<Jws> parse_jws(std::string_view token) {
  if (token.size() > kMaxTokenBytes) {
    return make_error("token is " + std::to_string(token.size()) + " bytes, at most " +
                      std::to_string(kMaxTokenBytes) + " accepted");
  }
  size_t dots = static_cast<size_t>(std::count(token.begin(), token.end(), '.'));
  if (dots == 4) return make_error("encrypted tokens (JWE) are not supported");
  if (dots != 2) return make_error("not a compact JWS (" + std::to_string(dots + 1) + " parts, 3 expected)");
  size_t first = token.find('.');
  size_t second = token.find('.', first + 1);
  std::string_view header_part = token.substr(0, first);
  std::string_view payload_part = token.substr(first + 1, second - first - 1);
  std::string_view signature_part = token.substr(second + 1);

  Jws jws;
  WGATE_ASSIGN_OR_RETURN(jws.header, decode_json_part(header_part, "header"));
  WGATE_ASSIGN_OR_RETURN(jws.alg, check_alg(jws.header));
  WGATE_ASSIGN_OR_RETURN(jws.kid, header_string(jws.header, "kid"));
  WGATE_ASSIGN_OR_RETURN(jws.typ, header_string(jws.header, "typ"));
  if (jws.header.contains("crit")) return make_error("header \"crit\" names extensions wgate does not understand");
  if (auto b64 = jws.header.find("b64"); b64 != jws.header.end() && *b64 != true) {
    return make_error("unencoded payloads (\"b64\": false) are not supported");
  }
  WGATE_ASSIGN_OR_RETURN(jws.claims, decode_json_part(payload_part, "payload"));
  auto signature = base64url_decode(signature_part);
  if (!signature.ok()) return signature.error().with_context("signature");
  if (signature->empty()) return make_error("signature is empty");
  jws.signature = std::move(signature).value();
  jws.signing_input = std::string(token.substr(0, second));
  return jws;
}

Result<const Jwk*> select_key(const Jws& jws, const Jwks& jwks) {
  const KeyType want = key_type_for(jws.alg);
  const std::string_view alg = alg_name(jws.alg);
  auto fits = [&](const Jwk& k) { return k.type == want && (k.alg.empty() || k.alg == alg); };

  std::vector<const Jwk*> found;
  if (!jws.kid.empty()) {
    bool kid_known = false;
    const Jwk* misfit = nullptr;
    for (const Jwk& k : jwks.keys) {
      if (k.kid != jws.kid) continue;
      kid_known = true;
      if (fits(k)) found.push_back(&k);
      else misfit = &k;
    }
    if (!kid_known) return make_error("unknown kid " + quote_text(jws.kid));
    if (found.empty()) {
      return make_error("key " + quote_text(jws.kid) + " is an " + std::string(key_type_name(misfit->type)) + " key" +
                        (misfit->alg.empty() ? "" : " for " + misfit->alg) + ", not usable with " +
                        std::string(alg));
    }
    if (found.size() > 1) {
      return make_error("kid " + quote_text(jws.kid) + " names " + std::to_string(found.size()) + " keys usable with " +
                        std::string(alg));
    }
    return found.front();
  }
  for (const Jwk& k : jwks.keys) {
    if (fits(k)) found.push_back(&k);
  }
  if (found.size() == 1) return found.front();
  if (found.empty()) return make_error("token has no kid and no key in the JWKS fits " + std::string(alg));
  return make_error("token has no kid and " + std::to_string(found.size()) + " keys fit " + std::string(alg) +
                    ": ambiguous");
}

namespace {

const EVP_MD* digest_for(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::rs256:
    case JwsAlg::ps256:
    case JwsAlg::es256:
      return EVP_sha256();
    case JwsAlg::rs384:
    case JwsAlg::ps384:
      return EVP_sha384();
    case JwsAlg::rs512:
    case JwsAlg::ps512:
      return EVP_sha512();
    case JwsAlg::eddsa:
      return nullptr;  // Ed25519 hashes internally
  }
  return nullptr;
}

bool is_pss(JwsAlg alg) { return alg == JwsAlg::ps256 || alg == JwsAlg::ps384 || alg == JwsAlg::ps512; }

// JOSE ECDSA signatures are r || s, each the full 32 bytes for P-256
// (RFC 7518 section 3.4); OpenSSL verifies the DER form.
Result<std::string> es256_to_der(const std::string& jose) {
  if (jose.size() != 64) {
    return make_error("ES256 signature must be 64 bytes, not " + std::to_string(jose.size()));
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(jose.data());
  BignumPtr r(BN_bin2bn(bytes, 32, nullptr));
  BignumPtr s(BN_bin2bn(bytes + 32, 32, nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig) return openssl_error("ES256 signature");
  if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return openssl_error("ECDSA_SIG_set0");
  r.release();  // owned by sig now
  s.release();
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return openssl_error("i2d_ECDSA_SIG");
  std::string der(static_cast<size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) return openssl_error("i2d_ECDSA_SIG");
  return der;
}

}  // namespace

Status verify_signature(const Jws& jws, const Jwk& key) {
  if (!key.key) return make_error("key has no public key");
  if (key.type != key_type_for(jws.alg)) {
    return make_error(std::string(alg_name(jws.alg)) + " cannot be verified with an " +
                      std::string(key_type_name(key.type)) + " key");
  }
  std::string der;
  const std::string* signature = &jws.signature;
  if (jws.alg == JwsAlg::es256) {
    WGATE_ASSIGN_OR_RETURN(der, es256_to_der(jws.signature));
    signature = &der;
  }

  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return openssl_error("EVP_MD_CTX_new");
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  const EVP_MD* md = digest_for(jws.alg);
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key.key.get()) != 1) {
    return openssl_error("EVP_DigestVerifyInit");
  }
  if (key.type == KeyType::rsa) {
    if (is_pss(jws.alg)) {
      // RFC 7518 section 3.5: MGF1 with the same hash, salt as long as the hash.
      if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
          EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1 ||
          EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
        return openssl_error("RSA-PSS parameters");
      }
    } else if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
      return openssl_error("RSA padding");
    }
  }
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()), signature->size(),
                            reinterpret_cast<const unsigned char*>(jws.signing_input.data()),
                            jws.signing_input.size());
  if (rc != 1) {
    ERR_clear_error();  // a malformed signature lands here too: one answer for all
    return make_error("signature does not verify");
  }
  return ok_status();
}

Status verify_jws(const Jws& jws, const Jwks& jwks) {
  WGATE_ASSIGN_OR_RETURN(const Jwk* key, select_key(jws, jwks));
  return verify_signature(jws, *key);
}

namespace internal {

// A claim that must be a string when present (and hold no NUL, which
// would cut it short in C interfaces further on); nullopt when absent.
Result<std::optional<std::string>> string_claim(const json& claims, const std::string& name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<std::string>();
  if (!it->is_string()) return make_error("claim \"" + name + "\" is not a string");
  const std::string& s = it->get_ref<const std::string&>();
  if (s.find('\0') != std::string::npos) return make_error("claim \"" + name + "\" contains NUL");
  return std::optional<std::string>(s);
}

Result<std::optional<std::vector<std::string>>> groups_claim(const json& claims, const std::string& name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<std::vector<std::string>>();
  std::vector<std::string> groups;
  auto add = [&](const json& g) -> Status {
    if (!g.is_string()) return make_error("claim \"" + name + "\" is not an array of strings");
    const std::string& s = g.get_ref<const std::string&>();
    if (s.find('\0') != std::string::npos) return make_error("claim \"" + name + "\" contains NUL");
    groups.push_back(s);
    return ok_status();
  };
  if (it->is_array()) {
    for (const json& g : *it) WGATE_TRY(add(g));
  } else {
    WGATE_TRY(add(*it));
  }
  return std::optional<std::vector<std::string>>(std::move(groups));
}

Result<std::optional<bool>> bool_claim(const json& claims, const std::string& name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<bool>();
  if (it->is_boolean()) return std::optional<bool>(it->get<bool>());
  // Some providers send "true"/"false" as strings.
  if (*it == "true") return std::optional<bool>(true);
  if (*it == "false") return std::optional<bool>(false);
  return make_error("claim \"" + name + "\" is not a boolean");
}

}  // namespace internal

namespace {

using internal::bool_claim;
using internal::groups_claim;
using internal::string_claim;

std::string when(UnixTime t) { return format_utc(t); }

std::string seconds(std::chrono::seconds s) { return std::to_string(s.count()) + " s"; }

Result<std::string> required_string(const json& claims, const std::string& name) {
  WGATE_ASSIGN_OR_RETURN(std::optional<std::string> s, string_claim(claims, name));
  if (!s) return make_error("claim \"" + name + "\" is missing");
  if (s->empty()) return make_error("claim \"" + name + "\" is empty");
  return std::move(*s);
}

// A NumericDate (RFC 7519 section 2): seconds, fractions truncated.
Result<std::optional<UnixTime>> date_claim(const json& claims, const std::string& name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<UnixTime>();
  auto out_of_range = [&] { return make_error("claim \"" + name + "\" is not a time from 1970 to 9999"); };
  if (it->is_number_unsigned()) {
    auto v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(kMaxNumericDate)) return out_of_range();
    return std::optional<UnixTime>(static_cast<UnixTime>(v));
  }
  if (it->is_number_integer()) {
    auto v = it->get<int64_t>();
    if (v < 0 || v > kMaxNumericDate) return out_of_range();
    return std::optional<UnixTime>(v);
  }
  if (it->is_number_float()) {
    double v = it->get<double>();
    if (!std::isfinite(v) || v < 0 || v >= static_cast<double>(kMaxNumericDate) + 1) return out_of_range();
    return std::optional<UnixTime>(static_cast<UnixTime>(v));
  }
  return make_error("claim \"" + name + "\" is not a number");
}

Result<UnixTime> required_date(const json& claims, const std::string& name) {
  WGATE_ASSIGN_OR_RETURN(std::optional<UnixTime> t, date_claim(claims, name));
  if (!t) return make_error("claim \"" + name + "\" is missing");
  return *t;
}

Status check_leeway(std::chrono::seconds leeway) {
  if (leeway.count() < 0 || leeway.count() > kMaxLeewaySeconds) {
    return make_error("leeway " + seconds(leeway) + " is outside 0 to 86400 s");
  }
  return ok_status();
}

Status check_max_age(const std::optional<std::chrono::seconds>& max_age) {
  if (max_age && (max_age->count() < 0 || max_age->count() > kMaxMaxAgeSeconds)) {
    return make_error("max_age " + seconds(*max_age) + " is outside 0 s to 10 years");
  }
  return ok_status();
}

Status check_parties(const std::string& issuer, const std::string& client_id) {
  if (issuer.empty() || client_id.empty()) return make_error("the expected issuer and client_id must not be empty");
  return ok_status();
}

// The media type in "typ", without the optional "application/" (RFC 7515
// section 4.1.9), lower case.
std::string media_type(std::string_view typ) {
  std::string t = lower(typ);
  if (t.rfind("application/", 0) == 0) t.erase(0, 12);
  return t;
}

Status check_alg_allowed(const Jws& jws, const std::vector<JwsAlg>& allowed) {
  if (allowed.empty() || std::find(allowed.begin(), allowed.end(), jws.alg) != allowed.end()) return ok_status();
  return make_error("alg " + std::string(alg_name(jws.alg)) + " is not among the algorithms accepted for this provider");
}

Status check_issuer(const json& claims, const std::string& issuer) {
  WGATE_ASSIGN_OR_RETURN(std::string iss, required_string(claims, "iss"));
  if (iss != issuer) return make_error("issuer " + quote_text(iss) + " is not " + quote_text(issuer));
  return ok_status();
}

// "aud": one string or an array of strings (RFC 7519 section 4.1.3).
Result<std::vector<std::string>> check_audience(const json& claims, const std::string& client_id) {
  auto it = claims.find("aud");
  if (it == claims.end()) return make_error("claim \"aud\" is missing");
  std::vector<std::string> aud;
  if (it->is_string()) {
    aud.push_back(it->get<std::string>());
  } else if (it->is_array() && !it->empty() &&
             std::all_of(it->begin(), it->end(), [](const json& a) { return a.is_string(); })) {
    for (const json& a : *it) aud.push_back(a.get<std::string>());
  } else {
    return make_error("claim \"aud\" is not a string or an array of strings");
  }
  if (std::find(aud.begin(), aud.end(), client_id) == aud.end()) {
    std::string shown;
    for (size_t i = 0; i < aud.size() && i < 5; ++i) shown += (i ? ", " : "") + quote_text(aud[i]);
    if (aud.size() > 5) shown += ", ...";
    return make_error("audience [" + shown + "] does not contain client " + quote_text(client_id));
  }
  return aud;
}

bool has_logout_event(const json& claims) {
  auto events = claims.find("events");
  return events != claims.end() && events->is_object() && events->contains(kBackchannelLogoutEvent);
}

}  // namespace

namespace internal {

Result<IdTokenClaims> check_id_token_claims(const Jws& jws, const IdTokenExpectations& expect) {
  const json& c = jws.claims;
  const int64_t now = expect.now;
  const int64_t leeway = expect.leeway.count();
  WGATE_TRY(check_leeway(expect.leeway));
  WGATE_TRY(check_max_age(expect.max_age));
  if (now < 0 || now > kMaxNumericDate) return make_error("the current time is outside 1970 to 9999");

  WGATE_TRY(check_parties(expect.issuer, expect.client_id));
  if (media_type(jws.typ) == "logout+jwt" || has_logout_event(c)) {
    return make_error("a logout token is not an ID token");
  }
  WGATE_TRY(check_issuer(c, expect.issuer));
  WGATE_ASSIGN_OR_RETURN(std::vector<std::string> aud, check_audience(c, expect.client_id));
  WGATE_ASSIGN_OR_RETURN(std::optional<std::string> azp, string_claim(c, "azp"));
  if (azp && *azp != expect.client_id) {
    return make_error("azp " + quote_text(*azp) + " is not client " + quote_text(expect.client_id));
  }
  if (aud.size() > 1 && !azp) return make_error("token has several audiences and no azp");

  IdTokenClaims out;
  WGATE_ASSIGN_OR_RETURN(out.exp, required_date(c, "exp"));
  WGATE_ASSIGN_OR_RETURN(out.iat, required_date(c, "iat"));
  if (now >= out.exp + leeway) {
    return make_error("token expired at " + when(out.exp) + " (now " + when(now) + ", leeway " +
                      seconds(expect.leeway) + ")");
  }
  if (out.iat > now + leeway) {
    return make_error("token issued in the future, at " + when(out.iat) + " (now " + when(now) + ", leeway " +
                      seconds(expect.leeway) + ")");
  }
  WGATE_ASSIGN_OR_RETURN(std::optional<UnixTime> nbf, date_claim(c, "nbf"));
  if (nbf && *nbf > now + leeway) {
    return make_error("token not valid before " + when(*nbf) + " (now " + when(now) + ", leeway " +
                      seconds(expect.leeway) + ")");
  }

  WGATE_ASSIGN_OR_RETURN(std::optional<std::string> nonce, string_claim(c, "nonce"));
  if (expect.nonce) {
    if (!nonce) return make_error("nonce missing (the request sent one)");
    if (nonce->size() != expect.nonce->size() ||
        CRYPTO_memcmp(nonce->data(), expect.nonce->data(), nonce->size()) != 0) {
      return make_error("nonce mismatch");
    }
  }

  WGATE_ASSIGN_OR_RETURN(out.sub, required_string(c, "sub"));
  if (out.sub.size() > kMaxSubBytes) return make_error("claim \"sub\" is longer than 255 bytes");

  WGATE_ASSIGN_OR_RETURN(out.auth_time, date_claim(c, "auth_time"));
  if (expect.max_age) {
    if (!out.auth_time) return make_error("claim \"auth_time\" is missing (max_age was requested)");
    if (now - *out.auth_time > expect.max_age->count() + leeway) {
      return make_error("authentication at " + when(*out.auth_time) + " is older than max_age " +
                        seconds(*expect.max_age) + " (now " + when(now) + ")");
    }
  }

  WGATE_ASSIGN_OR_RETURN(out.email, string_claim(c, "email"));
  WGATE_ASSIGN_OR_RETURN(out.email_verified, bool_claim(c, "email_verified"));
  WGATE_ASSIGN_OR_RETURN(out.name, string_claim(c, "name"));
  WGATE_ASSIGN_OR_RETURN(out.preferred_username, string_claim(c, "preferred_username"));
  WGATE_ASSIGN_OR_RETURN(out.sid, string_claim(c, "sid"));
  WGATE_ASSIGN_OR_RETURN(out.groups, groups_claim(c, expect.groups_claim));
  out.raw = c;
  return out;
}

Result<LogoutClaims> check_logout_claims(const Jws& jws, const LogoutExpectations& expect) {
  const json& c = jws.claims;
  const int64_t now = expect.now;
  const int64_t leeway = expect.leeway.count();
  WGATE_TRY(check_leeway(expect.leeway));
  WGATE_TRY(check_max_age(expect.max_age));
  if (now < 0 || now > kMaxNumericDate) return make_error("the current time is outside 1970 to 9999");

  WGATE_TRY(check_parties(expect.issuer, expect.client_id));
  WGATE_TRY(check_issuer(c, expect.issuer));
  WGATE_TRY(check_audience(c, expect.client_id));

  LogoutClaims out;
  WGATE_ASSIGN_OR_RETURN(out.iat, required_date(c, "iat"));
  if (out.iat > now + leeway) {
    return make_error("logout token issued in the future, at " + when(out.iat) + " (now " + when(now) +
                      ", leeway " + seconds(expect.leeway) + ")");
  }
  WGATE_ASSIGN_OR_RETURN(std::optional<UnixTime> exp, date_claim(c, "exp"));
  if (exp && now >= *exp + leeway) {
    return make_error("logout token expired at " + when(*exp) + " (now " + when(now) + ", leeway " +
                      seconds(expect.leeway) + ")");
  }
  if (expect.max_age && now - out.iat > expect.max_age->count() + leeway) {
    return make_error("logout token issued at " + when(out.iat) + " is older than " + seconds(*expect.max_age) +
                      " (now " + when(now) + ")");
  }
  if (exp) out.valid_until = *exp + leeway - 1;
  if (expect.max_age) {
    UnixTime by_age = out.iat + expect.max_age->count() + leeway;
    out.valid_until = out.valid_until ? std::min(*out.valid_until, by_age) : by_age;
  }

  WGATE_ASSIGN_OR_RETURN(out.jti, required_string(c, "jti"));
  auto events = c.find("events");
  if (events == c.end()) return make_error("logout token has no \"events\" claim");
  if (!events->is_object()) return make_error("claim \"events\" is not a JSON object");
  auto event = events->find(kBackchannelLogoutEvent);
  if (event == events->end()) return make_error("claim \"events\" does not hold the back-channel logout event");
  if (!event->is_object()) return make_error("the back-channel logout event is not a JSON object");
  if (c.contains("nonce")) return make_error("a logout token must not contain a nonce");

  WGATE_ASSIGN_OR_RETURN(std::optional<std::string> sub, string_claim(c, "sub"));
  WGATE_ASSIGN_OR_RETURN(std::optional<std::string> sid, string_claim(c, "sid"));
  out.sub = sub.value_or("");
  out.sid = sid.value_or("");
  if (out.sub.empty() && out.sid.empty()) return make_error("logout token names neither \"sub\" nor \"sid\"");
  return out;
}

}  // namespace internal

Result<IdTokenClaims> validate_id_token(const Jws& jws, const Jwks& jwks, const IdTokenExpectations& expect) {
  WGATE_TRY(check_alg_allowed(jws, expect.allowed_algs));
  WGATE_TRY(verify_jws(jws, jwks));
  return internal::check_id_token_claims(jws, expect);
}

Result<IdTokenClaims> validate_id_token(std::string_view token, const Jwks& jwks, const IdTokenExpectations& expect) {
  WGATE_ASSIGN_OR_RETURN(Jws jws, parse_jws(token));
  return validate_id_token(jws, jwks, expect);
}

Result<LogoutClaims> validate_logout_token(const Jws& jws, const Jwks& jwks, const LogoutExpectations& expect) {
  WGATE_TRY(check_alg_allowed(jws, expect.allowed_algs));
  WGATE_TRY(verify_jws(jws, jwks));
  return internal::check_logout_claims(jws, expect);
}

Result<LogoutClaims> validate_logout_token(std::string_view token, const Jwks& jwks,
                                           const LogoutExpectations& expect) {
  WGATE_ASSIGN_OR_RETURN(Jws jws, parse_jws(token));
  return validate_logout_token(jws, jwks, expect);
}

}  // namespace wgate::auth
