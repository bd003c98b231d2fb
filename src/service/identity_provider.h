// What the service layer needs of an OpenID Connect provider, as an
// interface: src/auth implements it over the network (discovery, JWKS,
// token endpoint), tests fake it. Every answer that carries identity was
// validated by the implementation (signature, iss, aud/azp, exp/iat/nbf,
// nonce) before it reaches the service.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/model.h"
#include "util/result.h"

namespace wgate::service {

// A person as a validated ID token (and, for the periodic check, userinfo)
// describes them.
struct VerifiedIdentity {
  std::string issuer;
  std::string subject;
  std::string username;               // preferred_username, may be empty
  std::string email;                  // may be empty
  std::vector<std::string> groups;    // the IdP's group names as the groups claim carries them
  std::string sid;                    // the provider's session id, for back-channel logout
  std::string refresh_token;          // empty when the provider issued none
};

struct DeviceAuthorization {
  std::string device_code;
  std::string user_code;
  std::string verification_uri;
  std::string verification_uri_complete;
  int64_t expires_in = 0;
  int64_t interval = 5;
};

struct DevicePollAnswer {
  enum class State { pending, slow_down, denied, expired, done };
  State state = State::pending;
  std::optional<VerifiedIdentity> identity;  // with done
};

// What a refresh told about a person: still there (with their groups now
// and perhaps a new refresh token), or gone (the provider refused the
// refresh token: disabled, deleted, signed out everywhere).
struct CheckAnswer {
  bool active = false;
  std::vector<std::string> groups;
  std::string refresh_token;  // a rotated one, or empty
  std::string reason;         // why not active
};

struct LogoutNotice {
  std::string subject;  // may be empty when only sid is given
  std::string sid;      // may be empty when only sub is given
  std::string jti;
  UnixTime expires_at = 0;  // how long to remember the jti
};

class IdentityProvider {
 public:
  virtual ~IdentityProvider() = default;
  virtual std::string issuer() const = 0;
  // The URL to send the browser to (code flow, PKCE S256).
  virtual Result<std::string> authorization_url(const std::string& state, const std::string& nonce,
                                                const std::string& code_challenge) = 0;
  // Exchanges the code and validates the ID token against `nonce`.
  virtual Result<VerifiedIdentity> complete_code_login(const std::string& code, const std::string& code_verifier,
                                                       const std::string& nonce) = 0;
  virtual Result<DeviceAuthorization> start_device_login() = 0;
  virtual Result<DevicePollAnswer> poll_device_login(const std::string& device_code) = 0;
  // Asks the provider about the person behind `subject` with their refresh
  // token. An Error means no answer (provider unreachable): nobody may lose
  // access for that.
  virtual Result<CheckAnswer> check(const std::string& refresh_token, const std::string& subject) = 0;
  // Validates a back-channel logout token (signature, iss, aud, iat, events,
  // no nonce). Replay protection (jti) is the caller's.
  virtual Result<LogoutNotice> validate_logout_token(const std::string& token) = 0;
};

}  // namespace wgate::service
