#include "web/oidc_adapter.h"

#include <sys/stat.h>

#include <ctime>
#include <fstream>
#include <sstream>

namespace wgate::web {
namespace {

UnixTime wall_now() { return static_cast<UnixTime>(std::time(nullptr)); }


class OidcIdentityProvider final : public service::IdentityProvider {
 public:
  OidcIdentityProvider(const Config& config, std::unique_ptr<auth::OidcProvider> provider,
                       std::optional<std::string> secret)
      : config_(config), provider_(std::move(provider)), secret_(std::move(secret)) {}

  std::string issuer() const override { return config_.oidc.issuer; }

  Result<std::string> authorization_url(const std::string& state, const std::string& nonce,
                                        const std::string& code_challenge) override {
    return provider_->authorization_url(config_.oidc.client_id, redirect_uri(), config_.oidc.scopes, state, nonce,
                                        code_challenge);
  }

  Result<service::VerifiedIdentity> complete_code_login(const std::string& code, const std::string& code_verifier,
                                                        const std::string& nonce) override {
    WGATE_ASSIGN_OR_RETURN(auth::TokenResponse tokens,
                           provider_->exchange_code(code, redirect_uri(), code_verifier, config_.oidc.client_id, secret_));
    return identity_from(tokens, nonce);
  }

  Result<service::DeviceAuthorization> start_device_login() override {
    WGATE_ASSIGN_OR_RETURN(auth::DeviceAuthorization grant,
                           provider_->start_device_authorization(config_.oidc.client_id, config_.oidc.scopes, secret_));
    return service::DeviceAuthorization{grant.device_code,
                                        grant.user_code,
                                        grant.verification_uri,
                                        grant.verification_uri_complete,
                                        static_cast<int64_t>(grant.expires_in.count()),
                                        static_cast<int64_t>(grant.interval.count())};
  }

  Result<service::DevicePollAnswer> poll_device_login(const std::string& device_code) override {
    WGATE_ASSIGN_OR_RETURN(auth::DevicePoll poll,
                           provider_->poll_device_token(device_code, config_.oidc.client_id, secret_));
    using State = service::DevicePollAnswer::State;
    switch (poll.status) {
      case auth::DevicePollStatus::pending: return service::DevicePollAnswer{State::pending, std::nullopt};
      case auth::DevicePollStatus::slow_down: return service::DevicePollAnswer{State::slow_down, std::nullopt};
      case auth::DevicePollStatus::denied: return service::DevicePollAnswer{State::denied, std::nullopt};
      case auth::DevicePollStatus::expired: return service::DevicePollAnswer{State::expired, std::nullopt};
      case auth::DevicePollStatus::tokens: break;
    }
    // The device grant sends no nonce: the ID token is checked without one.
    WGATE_ASSIGN_OR_RETURN(service::VerifiedIdentity identity, identity_from(poll.tokens, std::nullopt));
    return service::DevicePollAnswer{State::done, identity};
  }

  Result<service::CheckAnswer> check(const std::string& refresh_token, const std::string& subject) override {
    WGATE_ASSIGN_OR_RETURN(auth::RefreshResult refreshed,
                           provider_->refresh(refresh_token, config_.oidc.client_id, secret_));
    if (refreshed.status == auth::RefreshResult::Status::access_lost) {
      return service::CheckAnswer{false, {}, "", refreshed.description.empty() ? "invalid_grant" : refreshed.description};
    }
    service::CheckAnswer answer;
    answer.active = true;
    answer.refresh_token = refreshed.tokens.refresh_token;
    if (!refreshed.tokens.id_token.empty()) {
      WGATE_ASSIGN_OR_RETURN(service::VerifiedIdentity identity, identity_from(refreshed.tokens, std::nullopt));
      if (!subject.empty() && identity.subject != subject) {
        return make_error("the refreshed ID token is for another subject");
      }
      answer.groups = identity.groups;
      return answer;
    }
    // No new ID token: the groups come from userinfo.
    WGATE_ASSIGN_OR_RETURN(auth::UserInfo info,
                           provider_->userinfo(refreshed.tokens.access_token, subject, config_.oidc.groups_claim));
    answer.groups = info.groups.value_or(std::vector<std::string>{});
    return answer;
  }

  Result<service::LogoutNotice> validate_logout_token(const std::string& token) override {
    auth::LogoutExpectations expect;
    expect.issuer = config_.oidc.issuer;
    expect.client_id = config_.oidc.client_id;
    expect.now = wall_now();
    expect.leeway = std::chrono::seconds(config_.oidc.leeway_seconds);
    WGATE_ASSIGN_OR_RETURN(auth::LogoutClaims claims, provider_->validate_logout_token(token, expect));
    // Remember the jti until the token can no longer validate (at least a day
    // when nothing bounds it).
    UnixTime until = claims.valid_until.value_or(expect.now + 86400);
    return service::LogoutNotice{claims.sub, claims.sid, claims.jti, until};
  }

 private:
  std::string redirect_uri() const { return config_.web.public_url + "/auth/callback"; }

  Result<service::VerifiedIdentity> identity_from(const auth::TokenResponse& tokens,
                                                  const std::optional<std::string>& nonce) {
    if (tokens.id_token.empty()) return make_error("the provider sent no ID token");
    auth::IdTokenExpectations expect;
    expect.issuer = config_.oidc.issuer;
    expect.client_id = config_.oidc.client_id;
    expect.nonce = nonce;
    expect.now = wall_now();
    expect.leeway = std::chrono::seconds(config_.oidc.leeway_seconds);
    expect.groups_claim = config_.oidc.groups_claim;
    WGATE_ASSIGN_OR_RETURN(auth::IdTokenClaims claims, provider_->validate_id_token(tokens.id_token, expect));
    service::VerifiedIdentity identity;
    identity.issuer = config_.oidc.issuer;
    identity.subject = claims.sub;
    identity.username = claims.preferred_username.value_or("");
    identity.email = claims.email.value_or("");
    identity.groups = claims.groups.value_or(std::vector<std::string>{});
    identity.sid = claims.sid.value_or("");
    identity.refresh_token = tokens.refresh_token;
    return identity;
  }

  const Config& config_;
  std::unique_ptr<auth::OidcProvider> provider_;
  std::optional<std::string> secret_;
};

}  // namespace

Result<std::string> read_secret_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error(errno, "reading the client secret " + path);
  if (st.st_mode & 077) {
    return make_error("the client secret " + path + " is readable by others (mode " +
                      std::to_string(st.st_mode & 0777) + "); chmod 600 it");
  }
  std::ifstream in(path);
  std::string secret;
  std::getline(in, secret);
  while (!secret.empty() && (secret.back() == '\r' || secret.back() == ' ')) secret.pop_back();
  if (secret.empty()) return make_error("the client secret file " + path + " is empty");
  return secret;
}

Result<std::unique_ptr<service::IdentityProvider>> make_oidc_identity_provider(const Config& config,
                                                                               std::shared_ptr<auth::HttpClient> http) {
  if (!config.oidc.enabled) return make_error("no [oidc] section in the config");
  std::optional<std::string> secret;
  if (!config.oidc.client_secret_file.empty()) {
    WGATE_ASSIGN_OR_RETURN(secret, read_secret_file(config.oidc.client_secret_file));
  }
  auth::OidcProviderOptions options;
  options.issuer = config.oidc.issuer;
  auto provider = auth::OidcProvider::discover(std::move(http), options);
  if (!provider) return provider.error().with_context("OpenID provider " + config.oidc.issuer);
  return std::unique_ptr<service::IdentityProvider>(
      std::make_unique<OidcIdentityProvider>(config, std::move(*provider), std::move(secret)));
}

Result<std::unique_ptr<service::IdentityProvider>> make_oidc_identity_provider(const Config& config) {
  auth::HttpOptions http_options;
  http_options.total_timeout = std::chrono::seconds(config.oidc.http_timeout_seconds);
  http_options.connect_timeout = std::chrono::seconds(std::min<int64_t>(5, config.oidc.http_timeout_seconds));
  if (!config.oidc.ca_file.empty()) http_options.ca_file = config.oidc.ca_file;
  WGATE_ASSIGN_OR_RETURN(auto http, auth::make_curl_http_client(http_options));
  return make_oidc_identity_provider(config, std::shared_ptr<auth::HttpClient>(std::move(http)));
}

}  // namespace wgate::web
