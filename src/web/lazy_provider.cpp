#include "web/lazy_provider.h"

namespace wgate::web {

LazyIdentityProvider::LazyIdentityProvider(std::string issuer, Factory factory, std::chrono::milliseconds retry_after)
    : issuer_(std::move(issuer)), factory_(std::move(factory)), retry_after_(retry_after) {}

Result<service::IdentityProvider*> LazyIdentityProvider::get() {
  std::lock_guard lock(mu_);
  if (provider_) return provider_.get();
  const auto now = std::chrono::steady_clock::now();
  if (failed_at_ != std::chrono::steady_clock::time_point{} && now - failed_at_ < retry_after_) {
    return last_error_;
  }
  // Discovery happens under the lock: concurrent first calls wait for one
  // fetch (bounded by the HTTP client's timeout) instead of each fetching.
  auto made = factory_();
  if (!made) {
    failed_at_ = now;
    last_error_ = made.error().with_context("the identity provider " + issuer_ + " is unavailable");
    return last_error_;
  }
  provider_ = std::move(*made);
  return provider_.get();
}

Result<std::string> LazyIdentityProvider::authorization_url(const std::string& state, const std::string& nonce,
                                                            const std::string& code_challenge) {
  WGATE_ASSIGN_OR_RETURN(auto* p, get());
  return p->authorization_url(state, nonce, code_challenge);
}

Result<service::VerifiedIdentity> LazyIdentityProvider::complete_code_login(const std::string& code,
                                                                           const std::string& code_verifier,
                                                                           const std::string& nonce) {
  WGATE_ASSIGN_OR_RETURN(auto* p, get());
  return p->complete_code_login(code, code_verifier, nonce);
}

Result<service::DeviceAuthorization> LazyIdentityProvider::start_device_login() {
  WGATE_ASSIGN_OR_RETURN(auto* p, get());
  return p->start_device_login();
}

Result<service::DevicePollAnswer> LazyIdentityProvider::poll_device_login(const std::string& device_code) {
  WGATE_ASSIGN_OR_RETURN(auto* p, get());
  return p->poll_device_login(device_code);
}

Result<service::CheckAnswer> LazyIdentityProvider::check(const std::string& refresh_token, const std::string& subject) {
  WGATE_ASSIGN_OR_RETURN(auto* p, get());
  return p->check(refresh_token, subject);
}

Result<service::LogoutNotice> LazyIdentityProvider::validate_logout_token(const std::string& token) {
  WGATE_ASSIGN_OR_RETURN(auto* p, get());
  return p->validate_logout_token(token);
}

}  // namespace wgate::web
