// LazyIdentityProvider: the provider, discovered on first use and again
// after a failure, so that wgate's web server starts (and keeps serving its
// page and existing sessions) while the provider is down, and a login then
// fails at once with the reason instead of hanging.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "service/identity_provider.h"

namespace wgate::web {

class LazyIdentityProvider final : public service::IdentityProvider {
 public:
  using Factory = std::function<Result<std::unique_ptr<service::IdentityProvider>>()>;
  // `retry_after`: after a failed discovery, calls fail with the same error
  // for this long before discovery is tried again (a provider that is down
  // is not hammered by every poll).
  LazyIdentityProvider(std::string issuer, Factory factory, std::chrono::milliseconds retry_after);

  std::string issuer() const override { return issuer_; }
  Result<std::string> authorization_url(const std::string& state, const std::string& nonce,
                                        const std::string& code_challenge) override;
  Result<service::VerifiedIdentity> complete_code_login(const std::string& code, const std::string& code_verifier,
                                                        const std::string& nonce) override;
  Result<service::DeviceAuthorization> start_device_login() override;
  Result<service::DevicePollAnswer> poll_device_login(const std::string& device_code) override;
  Result<service::CheckAnswer> check(const std::string& refresh_token, const std::string& subject) override;
  Result<service::LogoutNotice> validate_logout_token(const std::string& token) override;

 private:
  Result<service::IdentityProvider*> get();

  const std::string issuer_;
  const Factory factory_;
  const std::chrono::milliseconds retry_after_;
  std::mutex mu_;
  std::unique_ptr<service::IdentityProvider> provider_;  // set once, never replaced
  std::chrono::steady_clock::time_point failed_at_{};
  Error last_error_{"not discovered yet", 0};
};

}  // namespace wgate::web
