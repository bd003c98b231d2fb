// libFuzzer target: arbitrary bytes as a compact JWS (an ID token or a
// back-channel logout token arriving from outside). parse_jws must answer
// every input with a token or an Error naming the reason; what it accepts
// then goes through key selection and signature verification against a
// fixed JWKS (P-256 and Ed25519 keys; the seeds carry tokens signed with
// them) and through both claim rule sets, without a valid signature being
// needed to reach them. Accepted claims must keep their invariants and
// serialise back to JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "auth/jwk.h"
#include "auth/jwt.h"
#include "auth/jwt_internal.h"

namespace {

const char* kJwks = R"({"keys":[
  {"kty":"EC","kid":"ec-1","crv":"P-256","x":"h_umm87liHTO0kcCczWvPMtOEUDtA9qYQSXUMo3w7EQ","y":"NivlTtc2vI29rLwSlN3QDkd2ddFDcl-iBOXe6lAwc5k"},
  {"kty":"OKP","kid":"ed-1","crv":"Ed25519","x":"hGujQQhPmC_UHgan7JpfXC8ZjcZLqfeoLQ5GCh9rT3M"}]})";

const wgate::auth::Jwks& fixed_jwks() {
  static const wgate::auth::Jwks jwks = [] {
    auto parsed = wgate::auth::parse_jwks(kJwks);
    if (!parsed.ok() || parsed->keys.size() != 2) std::abort();
    return std::move(parsed).value();
  }();
  return jwks;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wgate::auth;
  std::string_view token(reinterpret_cast<const char*>(data), size);
  auto jws = parse_jws(token);
  if (!jws.ok()) {
    if (jws.error().message.empty()) std::abort();
    return 0;
  }
  if (!jws->header.is_object() || !jws->claims.is_object() || jws->signature.empty()) std::abort();
  if (token.substr(0, jws->signing_input.size()) != jws->signing_input) std::abort();

  auto verified = verify_jws(*jws, fixed_jwks());
  if (!verified.ok() && verified.error().message.empty()) std::abort();

  IdTokenExpectations id;
  id.issuer = "https://idp.example.com";
  id.client_id = "wgate";
  id.nonce = "n-1";
  id.now = 1'800'000'000;
  id.max_age = std::chrono::hours(1);
  auto claims = internal::check_id_token_claims(*jws, id);
  if (claims.ok()) {
    if (claims->sub.empty() || claims->sub.size() > 255) std::abort();
    if (claims->exp + 60 <= id.now) std::abort();
    (void)claims->raw.dump();
  } else if (claims.error().message.empty()) {
    std::abort();
  }

  LogoutExpectations logout;
  logout.issuer = id.issuer;
  logout.client_id = id.client_id;
  logout.now = id.now;
  auto lc = internal::check_logout_claims(*jws, logout);
  if (lc.ok()) {
    if (lc->jti.empty() || (lc->sub.empty() && lc->sid.empty())) std::abort();
    if (!lc->valid_until || *lc->valid_until < logout.now) std::abort();
    if (jws->claims.contains("nonce")) std::abort();
  } else if (lc.error().message.empty()) {
    std::abort();
  }
  return 0;
}
