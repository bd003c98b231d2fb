// The claim rules of jwt.h without the signature check. Private to
// src/auth/ and its tests and fuzz targets: on an unverified token these
// say nothing about who sent it. Everything else calls validate_*.
#pragma once

#include <nlohmann/json.hpp>

#include "auth/jwt.h"

namespace wgate::auth::internal {

// The claim checks of validate_id_token (everything after verify_jws).
Result<IdTokenClaims> check_id_token_claims(const Jws& jws, const IdTokenExpectations& expect);

// The claim checks of validate_logout_token (everything after verify_jws).
Result<LogoutClaims> check_logout_claims(const Jws& jws, const LogoutExpectations& expect);

}  // namespace wgate::auth::internal
