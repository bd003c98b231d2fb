// OidcProvider: wgate as an OpenID Connect relying party of one provider.
// Discovery (OpenID Connect Discovery 1.0), the authorization code flow with
// PKCE (RFC 7636) for the web, the device authorization grant (RFC 8628)
// for the CLI, refresh and userinfo for the periodic "is this person still
// enabled, in which groups" check, and ID/logout token validation against
// the provider's JWKS, cached and refetched on key rotation.
//
// All network traffic goes through the HttpClient given at construction.
// Errors name the endpoint (without query) and, for OAuth error answers,
// the provider's `error` and `error_description`; never a token, code,
// verifier or secret.
//
// Thread-safety: an OidcProvider may be used from several threads at once.
// JWKS fetches are serialised; a validation never waits for one unless it
// needs the keys (first use, stale set, unknown kid).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/http_client.h"
#include "auth/jwk.h"
#include "auth/jwt.h"
#include "util/result.h"

namespace wgate::auth {

// What discovery says about a provider (only what wgate uses).
struct ProviderMetadata {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
  std::string device_authorization_endpoint;  // "" when not offered
  std::string userinfo_endpoint;              // "" when not offered
  std::string end_session_endpoint;           // "" when not offered
  std::vector<std::string> token_endpoint_auth_methods_supported;  // empty: not stated
  std::vector<std::string> id_token_signing_alg_values_supported;
  std::vector<std::string> code_challenge_methods_supported;
};

// Parses a discovery document. Errors: not a strict JSON object; "issuer"
// not exactly `expected_issuer` (no normalisation: a trailing slash counts,
// OpenID Connect Discovery section 4.3); authorization_endpoint,
// token_endpoint or jwks_uri missing; an endpoint that is no http(s) URL,
// or plain http while the issuer is https; a list member of the wrong type.
Result<ProviderMetadata> parse_provider_metadata(std::string_view json_text, const std::string& expected_issuer);

// PKCE (RFC 7636): `verifier` is 43 characters of base64url from 32 bytes
// of OpenSSL's CSPRNG; `challenge` = BASE64URL(SHA-256(verifier)), the S256
// method (the only one wgate sends).
struct Pkce {
  std::string verifier;
  std::string challenge;
};
Result<Pkce> make_pkce();
// The S256 challenge of a verifier (for checks and tests).
std::string pkce_challenge(std::string_view verifier);

// `bytes` random bytes from OpenSSL's CSPRNG, base64url: for `state` and
// `nonce` (make_state/make_nonce: 32 bytes, 43 characters). Error when the
// CSPRNG fails or `bytes` is 0 or above 1024.
Result<std::string> random_token(size_t bytes);
Result<std::string> make_state();
Result<std::string> make_nonce();

// A token endpoint's success answer (RFC 6749 section 5.1).
struct TokenResponse {
  std::string access_token;  // never empty
  std::string token_type;    // as sent ("Bearer")
  std::string id_token;      // "" when absent
  std::string refresh_token;  // "" when absent (keep the previous one)
  std::optional<int64_t> expires_in;  // seconds
  std::string scope;          // "" when absent
};

// The device authorization response (RFC 8628 section 3.2).
struct DeviceAuthorization {
  std::string device_code;  // secret: never shown
  std::string user_code;    // shown to the person
  std::string verification_uri;
  std::string verification_uri_complete;  // "" when absent
  std::chrono::seconds expires_in{0};     // > 0
  std::chrono::seconds interval{5};       // the provider's, or 5 s
};

enum class DevicePollStatus {
  pending,    // authorization_pending: ask again after the interval
  slow_down,  // slow_down: ask again, the interval 5 s longer from now on
  denied,     // access_denied: the person refused
  expired,    // expired_token: start over
  tokens,     // done: `tokens` holds them
};

struct DevicePoll {
  DevicePollStatus status = DevicePollStatus::pending;
  TokenResponse tokens;     // for DevicePollStatus::tokens
  std::string description;  // the provider's error_description, if any
};

// How wait_for_device_token waits; every member has a real default.
struct DeviceWait {
  std::function<void(std::chrono::seconds)> sleep;              // default: std::this_thread::sleep_for
  std::function<std::chrono::steady_clock::time_point()> now;  // default: steady_clock::now
  // Give up at this time even if the device code is still valid.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // Consecutive transport failures (timeouts, 5xx) tolerated, each doubling
  // the interval (RFC 8628 section 3.5), before giving up.
  int max_transport_failures = 3;
};

// The answer to a refresh request: new tokens, or the provider's
// invalid_grant, which means this person's grant is gone (disabled,
// removed, session revoked, refresh token expired): wgate must treat them
// as having lost access. Anything else that fails (network, 5xx, a client
// misconfiguration such as invalid_client) is an Error, which must NOT be
// read as a lost grant.
struct RefreshResult {
  enum class Status { tokens, access_lost };
  Status status = Status::tokens;
  TokenResponse tokens;     // for Status::tokens
  std::string description;  // for Status::access_lost: the provider's error_description
};

// The userinfo answer (OpenID Connect Core section 5.3.2), checked to be
// about `expected_sub`.
struct UserInfo {
  std::string sub;
  std::optional<std::string> email;
  std::optional<bool> email_verified;
  std::optional<std::string> name;
  std::optional<std::string> preferred_username;
  std::optional<std::vector<std::string>> groups;  // as IdTokenClaims::groups
  nlohmann::json raw;
};

struct OidcProviderOptions {
  std::string issuer;  // exactly as the provider spells it
  // The JWKS is refetched at most this often, whatever tokens arrive (a
  // token naming an unknown kid is unauthenticated input: without a limit
  // anybody could make wgate hammer the provider).
  std::chrono::seconds jwks_min_refetch_interval{30};
  // A JWKS older than this is refetched on next use (keys a provider
  // withdrew stop being trusted). If that fetch fails, the old keys keep
  // being used (the provider is more likely down than compromised).
  std::chrono::seconds jwks_max_age{std::chrono::hours(1)};
  std::function<std::chrono::steady_clock::time_point()> clock;  // default: steady_clock::now
};

class OidcProvider {
 public:
  // Fetches {issuer}/.well-known/openid-configuration (a trailing slash of
  // the issuer is dropped first) and checks it with
  // parse_provider_metadata. Does not fetch the JWKS yet.
  static Result<std::unique_ptr<OidcProvider>> discover(std::shared_ptr<HttpClient> http,
                                                        OidcProviderOptions options);
  // A provider from metadata the caller already has (static configuration,
  // tests). `metadata.issuer` must equal `options.issuer`.
  static Result<std::unique_ptr<OidcProvider>> from_metadata(std::shared_ptr<HttpClient> http,
                                                             ProviderMetadata metadata, OidcProviderOptions options);

  OidcProvider(const OidcProvider&) = delete;
  OidcProvider& operator=(const OidcProvider&) = delete;

  const ProviderMetadata& metadata() const { return metadata_; }

  // The authorization request URL (response_type=code, S256 PKCE). "openid"
  // is added to `scopes` when missing. Errors: empty client_id,
  // redirect_uri, state, nonce or code_challenge.
  Result<std::string> authorization_url(const std::string& client_id, const std::string& redirect_uri,
                                        const std::vector<std::string>& scopes, const std::string& state,
                                        const std::string& nonce, const std::string& code_challenge) const;

  // Redeems an authorization code. With a secret the client authenticates
  // with HTTP Basic (client_secret_basic), or in the form when the provider
  // only offers client_secret_post. The answer must hold an id_token, which
  // the caller then validates with validate_id_token (nonce!).
  Result<TokenResponse> exchange_code(const std::string& code, const std::string& redirect_uri,
                                      const std::string& code_verifier, const std::string& client_id,
                                      const std::optional<std::string>& client_secret = std::nullopt);

  // validate_id_token (jwt.h) with this provider's issuer (whatever
  // `expect.issuer` says) and its JWKS: fetched on first use, refetched when
  // stale, and when the token names a kid the set lacks (key rotation),
  // at most once per jwks_min_refetch_interval.
  Result<IdTokenClaims> validate_id_token(std::string_view id_token, IdTokenExpectations expect);
  // The same for back-channel logout tokens.
  Result<LogoutClaims> validate_logout_token(std::string_view logout_token, LogoutExpectations expect);

  // The current key set (fetching it as validate_* would, without a kid).
  Result<std::shared_ptr<const Jwks>> jwks();

  // RFC 8628 section 3.1. Error when the provider has no
  // device_authorization_endpoint, or its answer lacks a member.
  Result<DeviceAuthorization> start_device_authorization(
      const std::string& client_id, const std::vector<std::string>& scopes,
      const std::optional<std::string>& client_secret = std::nullopt);

  // One token request for a device code (section 3.4/3.5). OAuth errors
  // other than the four of DevicePollStatus, and transport failures, are
  // Errors.
  Result<DevicePoll> poll_device_token(const std::string& device_code, const std::string& client_id,
                                       const std::optional<std::string>& client_secret = std::nullopt);

  // Polls until the person approved (tokens), refused, the code expired, or
  // wait.deadline passed; sleeps `interval` before each request, 5 s longer
  // after each slow_down, twice as long after a transport failure.
  Result<TokenResponse> wait_for_device_token(const DeviceAuthorization& authorization, const std::string& client_id,
                                              const std::optional<std::string>& client_secret = std::nullopt,
                                              const DeviceWait& wait = {});

  // A refresh token grant. See RefreshResult for what invalid_grant means.
  Result<RefreshResult> refresh(const std::string& refresh_token, const std::string& client_id,
                                const std::optional<std::string>& client_secret = std::nullopt);

  // The userinfo endpoint with a bearer token. Errors: no endpoint; HTTP
  // 401/403 (token refused: not by itself proof of lost access); a signed
  // (application/jwt) answer; "sub" other than `expected_sub` (section
  // 5.3.2: the answer may be about someone else).
  Result<UserInfo> userinfo(const std::string& access_token, const std::string& expected_sub,
                            const std::string& groups_claim = "groups");

 private:
  enum class FetchReason { missing, stale, unknown_kid };

  OidcProvider(std::shared_ptr<HttpClient> http, ProviderMetadata metadata, OidcProviderOptions options);

  Result<std::shared_ptr<const Jwks>> keys_for(const Jws& jws);
  Result<std::shared_ptr<const Jwks>> refresh_jwks(FetchReason reason, std::string_view kid);
  Result<Jwks> fetch_jwks_document();
  // POSTs `fields` to `endpoint` with the client's authentication.
  Result<HttpResponse> client_request(const std::string& endpoint, FormFields fields, const std::string& client_id,
                                      const std::optional<std::string>& client_secret);
  Result<DevicePoll> poll_once(const std::string& device_code, const std::string& client_id,
                               const std::optional<std::string>& client_secret, bool* transport_failure);

  const std::shared_ptr<HttpClient> http_;
  const ProviderMetadata metadata_;
  const OidcProviderOptions options_;

  std::mutex fetch_mu_;  // held for a whole JWKS fetch: one at a time
  std::mutex mu_;        // guards the members below; never held during I/O
  std::shared_ptr<const Jwks> jwks_;
  std::chrono::steady_clock::time_point fetched_at_{};
  std::optional<std::chrono::steady_clock::time_point> attempted_at_;
  std::string last_fetch_error_;
};

}  // namespace wgate::auth
