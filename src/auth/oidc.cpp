#include "auth/oidc.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <thread>

#include "auth/base64url.h"
#include "auth/jwt_internal.h"
#include "auth/strict_json.h"

namespace wgate::auth {

using internal::quote_text;
using json = nlohmann::json;

namespace {

constexpr std::string_view kDeviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code";
// RFC 8628 section 3.5: slow_down adds 5 s to the interval.
constexpr std::chrono::seconds kSlowDownStep{5};
constexpr std::chrono::seconds kMaxPollInterval{300};
constexpr size_t kMaxDescriptionShown = 200;

std::chrono::steady_clock::time_point real_now() { return std::chrono::steady_clock::now(); }

// --- discovery ---

Result<std::string> meta_string(const json& doc, const char* name, bool required) {
  auto it = doc.find(name);
  if (it == doc.end()) {
    if (required) return make_error(std::string("\"") + name + "\" is missing");
    return std::string();
  }
  if (!it->is_string()) return make_error(std::string("\"") + name + "\" is not a string");
  return it->get<std::string>();
}

Result<std::string> meta_endpoint(const json& doc, const char* name, bool required, bool https_only) {
  WGATE_ASSIGN_OR_RETURN(std::string url, meta_string(doc, name, required));
  if (url.empty()) {
    if (required) return make_error(std::string("\"") + name + "\" is empty");
    return url;
  }
  if (auto st = check_http_url(url); !st.ok()) return st.error().with_context(std::string("\"") + name + "\"");
  if (https_only && url.compare(0, 8, "https://") != 0) {
    return make_error(std::string("\"") + name + "\" is not https (the issuer is)");
  }
  return url;
}

Result<std::vector<std::string>> meta_list(const json& doc, const char* name) {
  std::vector<std::string> out;
  auto it = doc.find(name);
  if (it == doc.end()) return out;
  if (!it->is_array()) return make_error(std::string("\"") + name + "\" is not an array");
  for (const json& v : *it) {
    if (!v.is_string()) return make_error(std::string("\"") + name + "\" is not an array of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

// --- token endpoint answers ---

struct OAuthError {
  std::string error;
  std::string description;
};

std::string describe(const OAuthError& e) {
  std::string out = e.error;
  if (!e.description.empty()) out += ": " + quote_text(e.description, kMaxDescriptionShown);
  return out;
}

// A token endpoint answer: tokens (2xx), an OAuth error (400/401 with an
// "error" member, RFC 6749 section 5.2), or an Error (anything else).
struct TokenAnswer {
  std::optional<TokenResponse> tokens;
  std::optional<OAuthError> error;
};

Result<int64_t> expires_in_of(const json& value) {
  // Some providers send a numeric string.
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_unsigned()) return make_error("\"expires_in\" is out of range");
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (!s.empty() && s.size() <= 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::stoll(s);
    }
  }
  return make_error("\"expires_in\" is not a number");
}

Result<TokenAnswer> parse_token_answer(const HttpResponse& r, const std::string& what) {
  if (r.status == 400 || r.status == 401) {
    auto doc = internal::parse_json_strict(r.body, what);
    if (doc.ok() && doc->is_object()) {
      auto e = doc->find("error");
      if (e != doc->end() && e->is_string()) {
        OAuthError err{e->get<std::string>(), ""};
        if (auto d = doc->find("error_description"); d != doc->end() && d->is_string()) {
          err.description = d->get<std::string>();
        }
        return TokenAnswer{std::nullopt, std::move(err)};
      }
    }
    return make_error(what + " answered HTTP " + std::to_string(r.status) + " without an OAuth error");
  }
  if (r.status < 200 || r.status > 299) return make_error(what + " answered HTTP " + std::to_string(r.status));
  WGATE_ASSIGN_OR_RETURN(json doc, internal::parse_json_strict(r.body, what));
  if (!doc.is_object()) return make_error(what + ": not a JSON object");
  TokenResponse t;
  auto str = [&](const char* name, std::string& out, bool required) -> Status {
    auto it = doc.find(name);
    if (it == doc.end()) {
      if (required) return make_error(what + ": \"" + name + "\" is missing");
      return ok_status();
    }
    if (!it->is_string()) return make_error(what + ": \"" + name + "\" is not a string");
    out = it->get<std::string>();
    if (required && out.empty()) return make_error(what + ": \"" + name + "\" is empty");
    return ok_status();
  };
  WGATE_TRY(str("access_token", t.access_token, true));
  WGATE_TRY(str("token_type", t.token_type, true));
  WGATE_TRY(str("id_token", t.id_token, false));
  WGATE_TRY(str("refresh_token", t.refresh_token, false));
  WGATE_TRY(str("scope", t.scope, false));
  if (auto it = doc.find("expires_in"); it != doc.end() && !it->is_null()) {
    auto v = expires_in_of(*it);
    if (!v.ok()) return v.error().with_context(what);
    t.expires_in = *v;
  }
  return TokenAnswer{std::move(t), std::nullopt};
}

std::string join_scopes(std::vector<std::string> scopes) {
  if (std::find(scopes.begin(), scopes.end(), "openid") == scopes.end()) scopes.insert(scopes.begin(), "openid");
  std::string out;
  for (const std::string& s : scopes) {
    if (s.empty()) continue;
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

}  // namespace

Result<ProviderMetadata> parse_provider_metadata(std::string_view json_text, const std::string& expected_issuer) {
  auto parse = [&]() -> Result<ProviderMetadata> {
    WGATE_ASSIGN_OR_RETURN(json doc, internal::parse_json_strict(json_text, "document"));
    if (!doc.is_object()) return make_error("not a JSON object");
    ProviderMetadata m;
    WGATE_ASSIGN_OR_RETURN(m.issuer, meta_string(doc, "issuer", true));
    if (m.issuer != expected_issuer) {
      return make_error("issuer " + quote_text(m.issuer, 200) + " is not the configured " +
                        quote_text(expected_issuer, 200));
    }
    const bool https = expected_issuer.compare(0, 8, "https://") == 0;
    WGATE_ASSIGN_OR_RETURN(m.authorization_endpoint, meta_endpoint(doc, "authorization_endpoint", true, https));
    WGATE_ASSIGN_OR_RETURN(m.token_endpoint, meta_endpoint(doc, "token_endpoint", true, https));
    WGATE_ASSIGN_OR_RETURN(m.jwks_uri, meta_endpoint(doc, "jwks_uri", true, https));
    WGATE_ASSIGN_OR_RETURN(m.device_authorization_endpoint,
                           meta_endpoint(doc, "device_authorization_endpoint", false, https));
    WGATE_ASSIGN_OR_RETURN(m.userinfo_endpoint, meta_endpoint(doc, "userinfo_endpoint", false, https));
    WGATE_ASSIGN_OR_RETURN(m.end_session_endpoint, meta_endpoint(doc, "end_session_endpoint", false, https));
    WGATE_ASSIGN_OR_RETURN(m.token_endpoint_auth_methods_supported,
                           meta_list(doc, "token_endpoint_auth_methods_supported"));
    WGATE_ASSIGN_OR_RETURN(m.id_token_signing_alg_values_supported,
                           meta_list(doc, "id_token_signing_alg_values_supported"));
    WGATE_ASSIGN_OR_RETURN(m.code_challenge_methods_supported, meta_list(doc, "code_challenge_methods_supported"));
    return m;
  };
  auto m = parse();
  if (!m.ok()) return m.error().with_context("provider metadata");
  return m;
}

std::string pkce_challenge(std::string_view verifier) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(verifier.data(), verifier.size(), digest, &len, EVP_sha256(), nullptr) != 1) return "";
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

Result<std::string> random_token(size_t bytes) {
  if (bytes == 0 || bytes > 1024) return make_error("random_token: size must be 1 to 1024 bytes");
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    return make_error("OpenSSL's random generator failed");
  }
  return base64url_encode(raw);
}

Result<std::string> make_state() { return random_token(32); }
Result<std::string> make_nonce() { return random_token(32); }

Result<Pkce> make_pkce() {
  // 32 bytes give 43 base64url characters: the shortest verifier RFC 7636
  // allows, with 256 bits of entropy; the alphabet is within its unreserved set.
  WGATE_ASSIGN_OR_RETURN(std::string verifier, random_token(32));
  std::string challenge = pkce_challenge(verifier);
  if (challenge.empty()) return make_error("SHA-256 failed");
  return Pkce{std::move(verifier), std::move(challenge)};
}

OidcProvider::OidcProvider(std::shared_ptr<HttpClient> http, ProviderMetadata metadata, OidcProviderOptions options)
    : http_(std::move(http)), metadata_(std::move(metadata)), options_(std::move(options)) {}

Result<std::unique_ptr<OidcProvider>> OidcProvider::from_metadata(std::shared_ptr<HttpClient> http,
                                                                  ProviderMetadata metadata,
                                                                  OidcProviderOptions options) {
  if (!http) return make_error("OIDC provider: no HTTP client");
  if (metadata.issuer != options.issuer) {
    return make_error("OIDC provider: metadata issuer " + quote_text(metadata.issuer, 200) + " is not " +
                      quote_text(options.issuer, 200));
  }
  if (options.jwks_min_refetch_interval.count() < 0 || options.jwks_max_age.count() <= 0) {
    return make_error("OIDC provider: JWKS intervals out of range");
  }
  if (!options.clock) options.clock = real_now;
  return std::unique_ptr<OidcProvider>(new OidcProvider(std::move(http), std::move(metadata), std::move(options)));
}

Result<std::unique_ptr<OidcProvider>> OidcProvider::discover(std::shared_ptr<HttpClient> http,
                                                             OidcProviderOptions options) {
  if (!http) return make_error("OIDC discovery: no HTTP client");
  if (auto st = check_http_url(options.issuer); !st.ok()) {
    return st.error().with_context("OIDC discovery: issuer " + quote_text(options.issuer, 200));
  }
  std::string base = options.issuer;
  if (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url = base + "/.well-known/openid-configuration";
  const std::string what = "OIDC discovery (" + url_for_messages(url) + ")";
  auto response = http->get(url, {{"Accept", "application/json"}});
  if (!response.ok()) return response.error().with_context("OIDC discovery");
  const HttpResponse& r = *response;
  if (r.status != 200) return make_error(what + ": HTTP " + std::to_string(r.status));
  auto metadata = parse_provider_metadata(r.body, options.issuer);
  if (!metadata.ok()) return metadata.error().with_context(what);
  return from_metadata(std::move(http), std::move(metadata).value(), std::move(options));
}

Result<std::string> OidcProvider::authorization_url(const std::string& client_id, const std::string& redirect_uri,
                                                    const std::vector<std::string>& scopes, const std::string& state,
                                                    const std::string& nonce,
                                                    const std::string& code_challenge) const {
  if (client_id.empty() || redirect_uri.empty() || state.empty() || nonce.empty() || code_challenge.empty()) {
    return make_error("authorization request: client_id, redirect_uri, state, nonce and code_challenge are required");
  }
  return url_with_query(metadata_.authorization_endpoint, {{"response_type", "code"},
                                                           {"client_id", client_id},
                                                           {"redirect_uri", redirect_uri},
                                                           {"scope", join_scopes(scopes)},
                                                           {"state", state},
                                                           {"nonce", nonce},
                                                           {"code_challenge", code_challenge},
                                                           {"code_challenge_method", "S256"}});
}

Result<HttpResponse> OidcProvider::client_request(const std::string& endpoint, FormFields fields,
                                                  const std::string& client_id,
                                                  const std::optional<std::string>& client_secret) {
  if (client_id.empty()) return make_error(url_for_messages(endpoint) + ": client_id is empty");
  HttpHeaders headers{{"Accept", "application/json"}};
  const auto& methods = metadata_.token_endpoint_auth_methods_supported;
  auto offers = [&](const char* m) { return std::find(methods.begin(), methods.end(), m) != methods.end(); };
  if (client_secret && (methods.empty() || offers("client_secret_basic") || !offers("client_secret_post"))) {
    // RFC 6749 section 2.3.1: both parts form-encoded before Basic.
    std::string credentials = form_urlencode({{client_id, *client_secret}});
    credentials[credentials.find('=')] = ':';
    // base64 (not base64url) with padding, as HTTP Basic wants.
    std::string b64(4 * ((credentials.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                            reinterpret_cast<const unsigned char*>(credentials.data()),
                            static_cast<int>(credentials.size()));
    b64.resize(static_cast<size_t>(n));
    headers.emplace_back("Authorization", "Basic " + b64);
  } else {
    fields.emplace_back("client_id", client_id);
    if (client_secret) fields.emplace_back("client_secret", *client_secret);
  }
  return http_->post_form(endpoint, fields, headers);
}

Result<TokenResponse> OidcProvider::exchange_code(const std::string& code, const std::string& redirect_uri,
                                                  const std::string& code_verifier, const std::string& client_id,
                                                  const std::optional<std::string>& client_secret) {
  const std::string what = "token endpoint (" + url_for_messages(metadata_.token_endpoint) + ")";
  if (code.empty() || code_verifier.empty()) return make_error(what + ": empty code or code_verifier");
  WGATE_ASSIGN_OR_RETURN(HttpResponse r, client_request(metadata_.token_endpoint, {{"grant_type", "authorization_code"},
                                                        {"code", code},
                                                        {"redirect_uri", redirect_uri},
                                                        {"code_verifier", code_verifier}},
                                                       client_id, client_secret));
  WGATE_ASSIGN_OR_RETURN(TokenAnswer answer, parse_token_answer(r, what));
  if (answer.error) return make_error(what + ": " + describe(*answer.error));
  if (answer.tokens->id_token.empty()) return make_error(what + ": no id_token (was the openid scope requested?)");
  return std::move(*answer.tokens);
}

// --- JWKS cache ---

Result<Jwks> OidcProvider::fetch_jwks_document() {
  const std::string what = "JWKS (" + url_for_messages(metadata_.jwks_uri) + ")";
  auto response = http_->get(metadata_.jwks_uri, {{"Accept", "application/json"}});
  if (!response.ok()) return response.error().with_context("JWKS");
  const HttpResponse& r = *response;
  if (r.status != 200) return make_error(what + ": HTTP " + std::to_string(r.status));
  auto jwks = parse_jwks(r.body);
  if (!jwks.ok()) return jwks.error().with_context(what);
  return jwks;
}

Result<std::shared_ptr<const Jwks>> OidcProvider::refresh_jwks(FetchReason reason, std::string_view kid) {
  std::lock_guard fetch_lock(fetch_mu_);
  const auto now = options_.clock();
  {
    std::lock_guard lock(mu_);
    // Another thread may have fetched while this one waited for fetch_mu_.
    if (jwks_) {
      if (reason == FetchReason::unknown_kid && jwks_->has_kid(kid)) return jwks_;
      if (reason != FetchReason::unknown_kid && now - fetched_at_ < options_.jwks_max_age) return jwks_;
    }
    if (attempted_at_ && now - *attempted_at_ < options_.jwks_min_refetch_interval) {
      if (jwks_) return jwks_;  // rate-limited: the keys we have
      auto wait = std::chrono::ceil<std::chrono::seconds>(options_.jwks_min_refetch_interval - (now - *attempted_at_));
      return make_error("JWKS unavailable (" + last_fetch_error_ + "); next attempt in " +
                        std::to_string(wait.count()) + " s");
    }
    attempted_at_ = now;
  }
  auto fetched = fetch_jwks_document();  // no state lock held during I/O
  std::lock_guard lock(mu_);
  if (!fetched.ok()) {
    last_fetch_error_ = fetched.error().message;
    if (jwks_) return jwks_;  // stale-if-error
    return fetched.error();
  }
  jwks_ = std::make_shared<const Jwks>(std::move(fetched).value());
  fetched_at_ = now;
  last_fetch_error_.clear();
  return jwks_;
}

Result<std::shared_ptr<const Jwks>> OidcProvider::jwks() {
  FetchReason reason = FetchReason::missing;
  {
    std::lock_guard lock(mu_);
    if (jwks_ && options_.clock() - fetched_at_ < options_.jwks_max_age) return jwks_;
    if (jwks_) reason = FetchReason::stale;
  }
  return refresh_jwks(reason, "");
}

Result<std::shared_ptr<const Jwks>> OidcProvider::keys_for(const Jws& jws) {
  WGATE_ASSIGN_OR_RETURN(std::shared_ptr<const Jwks> keys, jwks());
  if (!jws.kid.empty() && !keys->has_kid(jws.kid)) {
    // Key rotation: the provider signs with a key published after our fetch.
    WGATE_ASSIGN_OR_RETURN(keys, refresh_jwks(FetchReason::unknown_kid, jws.kid));
  }
  return keys;
}

Result<IdTokenClaims> OidcProvider::validate_id_token(std::string_view id_token, IdTokenExpectations expect) {
  expect.issuer = metadata_.issuer;
  WGATE_ASSIGN_OR_RETURN(Jws jws, parse_jws(id_token));
  WGATE_ASSIGN_OR_RETURN(std::shared_ptr<const Jwks> keys, keys_for(jws));
  return auth::validate_id_token(jws, *keys, expect);
}

Result<LogoutClaims> OidcProvider::validate_logout_token(std::string_view logout_token, LogoutExpectations expect) {
  expect.issuer = metadata_.issuer;
  WGATE_ASSIGN_OR_RETURN(Jws jws, parse_jws(logout_token));
  WGATE_ASSIGN_OR_RETURN(std::shared_ptr<const Jwks> keys, keys_for(jws));
  return auth::validate_logout_token(jws, *keys, expect);
}

// --- device authorization grant ---

Result<DeviceAuthorization> OidcProvider::start_device_authorization(const std::string& client_id,
                                                                     const std::vector<std::string>& scopes,
                                                                     const std::optional<std::string>& client_secret) {
  if (metadata_.device_authorization_endpoint.empty()) {
    return make_error("the provider offers no device authorization endpoint");
  }
  const std::string what =
      "device authorization endpoint (" + url_for_messages(metadata_.device_authorization_endpoint) + ")";
  WGATE_ASSIGN_OR_RETURN(HttpResponse r, client_request(metadata_.device_authorization_endpoint,
                                                        {{"scope", join_scopes(scopes)}}, client_id, client_secret));
  if (r.status == 400 || r.status == 401) {
    WGATE_ASSIGN_OR_RETURN(TokenAnswer answer, parse_token_answer(r, what));
    return make_error(what + ": " + describe(*answer.error));
  }
  if (r.status != 200) return make_error(what + " answered HTTP " + std::to_string(r.status));

  WGATE_ASSIGN_OR_RETURN(json doc, internal::parse_json_strict(r.body, what));
  if (!doc.is_object()) return make_error(what + ": not a JSON object");
  DeviceAuthorization out;
  auto str = [&](const char* name, std::string& dest, bool required) -> Status {
    auto it = doc.find(name);
    if (it == doc.end()) {
      if (required) return make_error(what + ": \"" + name + "\" is missing");
      return ok_status();
    }
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
      return make_error(what + ": \"" + name + "\" is not a non-empty string");
    }
    dest = it->get<std::string>();
    return ok_status();
  };
  WGATE_TRY(str("device_code", out.device_code, true));
  WGATE_TRY(str("user_code", out.user_code, true));
  // Some providers (Google) spell it verification_url.
  WGATE_TRY(str("verification_uri", out.verification_uri, !doc.contains("verification_url")));
  if (out.verification_uri.empty()) WGATE_TRY(str("verification_url", out.verification_uri, true));
  WGATE_TRY(str("verification_uri_complete", out.verification_uri_complete, false));
  if (auto st = check_http_url(out.verification_uri); !st.ok()) return st.error().with_context(what + ": verification_uri");
  if (!out.verification_uri_complete.empty()) {
    if (auto st = check_http_url(out.verification_uri_complete); !st.ok()) {
      return st.error().with_context(what + ": verification_uri_complete");
    }
  }
  auto expires = doc.find("expires_in");
  if (expires == doc.end()) return make_error(what + ": \"expires_in\" is missing");
  auto expires_in = expires_in_of(*expires);
  if (!expires_in.ok()) return expires_in.error().with_context(what);
  if (*expires_in <= 0 || *expires_in > 86'400) return make_error(what + ": \"expires_in\" is not 1 to 86400 s");
  out.expires_in = std::chrono::seconds(*expires_in);
  if (auto interval = doc.find("interval"); interval != doc.end() && !interval->is_null()) {
    auto v = expires_in_of(*interval);
    if (!v.ok()) return make_error(what + ": \"interval\" is not a number");
    // An interval of 0 would poll in a tight loop: the RFC's default instead.
    if (*v > 0) out.interval = std::chrono::seconds(std::min<int64_t>(*v, kMaxPollInterval.count()));
  }
  return out;
}

Result<DevicePoll> OidcProvider::poll_once(const std::string& device_code, const std::string& client_id,
                                           const std::optional<std::string>& client_secret, bool* transport_failure) {
  *transport_failure = false;
  const std::string what = "token endpoint (" + url_for_messages(metadata_.token_endpoint) + ")";
  auto r = client_request(metadata_.token_endpoint, {{"grant_type", std::string(kDeviceCodeGrant)}, {"device_code", device_code}}, client_id,
                         client_secret);
  if (!r.ok()) {
    *transport_failure = true;
    return r.error();
  }
  if (r->status >= 500) {
    *transport_failure = true;
    return make_error(what + " answered HTTP " + std::to_string(r->status));
  }
  WGATE_ASSIGN_OR_RETURN(TokenAnswer answer, parse_token_answer(*r, what));
  DevicePoll poll;
  if (answer.tokens) {
    poll.status = DevicePollStatus::tokens;
    poll.tokens = std::move(*answer.tokens);
    return poll;
  }
  const OAuthError& e = *answer.error;
  poll.description = e.description;
  if (e.error == "authorization_pending") poll.status = DevicePollStatus::pending;
  else if (e.error == "slow_down") poll.status = DevicePollStatus::slow_down;
  else if (e.error == "access_denied") poll.status = DevicePollStatus::denied;
  else if (e.error == "expired_token") poll.status = DevicePollStatus::expired;
  else return make_error(what + ": " + describe(e));
  return poll;
}

Result<DevicePoll> OidcProvider::poll_device_token(const std::string& device_code, const std::string& client_id,
                                                   const std::optional<std::string>& client_secret) {
  bool transport_failure = false;
  return poll_once(device_code, client_id, client_secret, &transport_failure);
}

Result<TokenResponse> OidcProvider::wait_for_device_token(const DeviceAuthorization& authorization,
                                                          const std::string& client_id,
                                                          const std::optional<std::string>& client_secret,
                                                          const DeviceWait& wait) {
  auto now = wait.now ? wait.now : real_now;
  auto sleep = wait.sleep ? wait.sleep : [](std::chrono::seconds s) { std::this_thread::sleep_for(s); };
  auto deadline = now() + authorization.expires_in;
  const bool caller_deadline = wait.deadline && *wait.deadline < deadline;
  if (caller_deadline) deadline = *wait.deadline;

  std::chrono::seconds interval = std::max(authorization.interval, std::chrono::seconds(1));
  int failures = 0;
  for (;;) {
    if (now() + interval > deadline) {
      return make_error(caller_deadline ? "gave up waiting for the login at the provider"
                                        : "the device code expired before the login was finished");
    }
    sleep(interval);
    bool transport_failure = false;
    auto poll = poll_once(authorization.device_code, client_id, client_secret, &transport_failure);
    if (!poll.ok()) {
      if (!transport_failure || ++failures > wait.max_transport_failures) return poll.error();
      interval = std::min(interval * 2, kMaxPollInterval);
      continue;
    }
    failures = 0;
    switch (poll->status) {
      case DevicePollStatus::pending:
        break;
      case DevicePollStatus::slow_down:
        interval = std::min(interval + kSlowDownStep, kMaxPollInterval);
        break;
      case DevicePollStatus::denied:
        return make_error("the login was refused at the provider" +
                          (poll->description.empty() ? "" : ": " + quote_text(poll->description, kMaxDescriptionShown)));
      case DevicePollStatus::expired:
        return make_error("the device code expired before the login was finished");
      case DevicePollStatus::tokens:
        return std::move(poll->tokens);
    }
  }
}

// --- refresh and userinfo ---

Result<RefreshResult> OidcProvider::refresh(const std::string& refresh_token, const std::string& client_id,
                                            const std::optional<std::string>& client_secret) {
  const std::string what = "token endpoint (" + url_for_messages(metadata_.token_endpoint) + ")";
  if (refresh_token.empty()) return make_error(what + ": empty refresh token");
  WGATE_ASSIGN_OR_RETURN(HttpResponse r, client_request(metadata_.token_endpoint, {{"grant_type", "refresh_token"}, {"refresh_token", refresh_token}},
                                                       client_id, client_secret));
  WGATE_ASSIGN_OR_RETURN(TokenAnswer answer, parse_token_answer(r, what));
  RefreshResult out;
  if (answer.tokens) {
    out.status = RefreshResult::Status::tokens;
    out.tokens = std::move(*answer.tokens);
    return out;
  }
  if (answer.error->error == "invalid_grant") {
    out.status = RefreshResult::Status::access_lost;
    out.description = answer.error->description;
    return out;
  }
  return make_error(what + ": " + describe(*answer.error));
}

Result<UserInfo> OidcProvider::userinfo(const std::string& access_token, const std::string& expected_sub,
                                        const std::string& groups_claim) {
  if (metadata_.userinfo_endpoint.empty()) return make_error("the provider offers no userinfo endpoint");
  const std::string what = "userinfo endpoint (" + url_for_messages(metadata_.userinfo_endpoint) + ")";
  if (access_token.empty()) return make_error(what + ": empty access token");
  WGATE_ASSIGN_OR_RETURN(HttpResponse r, http_->get(metadata_.userinfo_endpoint,
                                                    {{"Accept", "application/json"},
                                                     {"Authorization", "Bearer " + access_token}}));
  if (r.status == 401 || r.status == 403) {
    return make_error(what + ": access token refused (HTTP " + std::to_string(r.status) + ")");
  }
  if (r.status != 200) return make_error(what + ": HTTP " + std::to_string(r.status));
  if (r.content_type.rfind("application/jwt", 0) == 0) {
    return make_error(what + ": signed userinfo answers (application/jwt) are not supported");
  }
  WGATE_ASSIGN_OR_RETURN(json doc, internal::parse_json_strict(r.body, what));
  if (!doc.is_object()) return make_error(what + ": not a JSON object");
  // The claim rules (types, NUL) are those of ID tokens.
  UserInfo info;
  auto in_context = [&](const Error& e) { return e.with_context(what); };
  auto sub = internal::string_claim(doc, "sub");
  if (!sub.ok()) return in_context(sub.error());
  if (!*sub || (*sub)->empty()) return make_error(what + ": claim \"sub\" is missing");
  if (**sub != expected_sub) {
    return make_error(what + ": sub " + quote_text(**sub) + " is not the expected " + quote_text(expected_sub));
  }
  info.sub = **sub;
  auto email = internal::string_claim(doc, "email");
  auto name = internal::string_claim(doc, "name");
  auto username = internal::string_claim(doc, "preferred_username");
  auto verified = internal::bool_claim(doc, "email_verified");
  auto groups = internal::groups_claim(doc, groups_claim);
  if (!email.ok()) return in_context(email.error());
  if (!name.ok()) return in_context(name.error());
  if (!username.ok()) return in_context(username.error());
  if (!verified.ok()) return in_context(verified.error());
  if (!groups.ok()) return in_context(groups.error());
  info.email = *email;
  info.name = *name;
  info.preferred_username = *username;
  info.email_verified = *verified;
  info.groups = *groups;
  info.raw = std::move(doc);
  return info;
}

}  // namespace wgate::auth
