// The claim rules of jwt.h without the signature check. Private to
// src/auth/ and its tests and fuzz targets: on an unverified token these
// say nothing about who sent it. Everything else calls validate_*.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "auth/jwt.h"

namespace wgate::auth::internal {

// The claim checks of validate_id_token (everything after verify_jws).
Result<IdTokenClaims> check_id_token_claims(const Jws& jws, const IdTokenExpectations& expect);

// The claim checks of validate_logout_token (everything after verify_jws).
Result<LogoutClaims> check_logout_claims(const Jws& jws, const LogoutExpectations& expect);

// The typed claim readers the ID token rules use, shared with userinfo:
// nullopt when absent, an Error naming the claim when of another type.
// A string claim must not contain NUL.
Result<std::optional<std::string>> string_claim(const nlohmann::json& claims, const std::string& name);
// true/false, also the strings "true"/"false".
Result<std::optional<bool>> bool_claim(const nlohmann::json& claims, const std::string& name);
// An array of strings, or one string (one group).
Result<std::optional<std::vector<std::string>>> groups_claim(const nlohmann::json& claims, const std::string& name);

}  // namespace wgate::auth::internal
