// The service layer's IdentityProvider over src/auth's OidcProvider: what
// wgate's web process uses to talk to the real provider.
#pragma once

#include <memory>
#include <string>

#include "auth/oidc.h"
#include "core/config.h"
#include "service/identity_provider.h"

namespace wgate::web {

// The contents of a secret file (a client secret, an SMTP password), trailing
// whitespace removed. Errors: unreadable, or readable by others than its
// owner (chmod 600 it).
Result<std::string> read_secret_file(const std::string& path);

// Discovers the provider of config.oidc (fetching its metadata once; the
// JWKS on first use). Reads the client secret file, when configured (it must
// not be readable by others). Errors name what failed: an unreachable
// provider, a mismatching issuer, a secret file with a wide mode.
Result<std::unique_ptr<service::IdentityProvider>> make_oidc_identity_provider(const Config& config);

// The same over a given HTTP client (tests).
Result<std::unique_ptr<service::IdentityProvider>> make_oidc_identity_provider(const Config& config,
                                                                               std::shared_ptr<auth::HttpClient> http);

}  // namespace wgate::web
