// libFuzzer target: arbitrary bytes as a JWK Set (what a provider's jwks_uri
// answers). parse_jwks must answer every input with a key set or an Error;
// every key it keeps holds an OpenSSL public key of its type, and every key
// it leaves out comes with a reason.
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "auth/jwk.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wgate::auth;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto jwks = parse_jwks(text);
  if (!jwks.ok()) {
    if (jwks.error().message.empty()) std::abort();
    return 0;
  }
  if (jwks->keys.size() > kMaxJwksKeys) std::abort();
  for (const Jwk& k : jwks->keys) {
    if (!k.key) std::abort();
    const char* type = k.type == KeyType::rsa ? "RSA" : k.type == KeyType::ec_p256 ? "EC" : "ED25519";
    if (EVP_PKEY_is_a(k.key.get(), type) != 1) std::abort();
    if (k.type == KeyType::rsa && (EVP_PKEY_get_bits(k.key.get()) < kMinRsaBits ||
                                   EVP_PKEY_get_bits(k.key.get()) > kMaxRsaBits)) {
      std::abort();
    }
    if (!k.use.empty() && k.use != "sig") std::abort();
    if (!k.alg.empty() && (!alg_from_name(k.alg) || key_type_for(*alg_from_name(k.alg)) != k.type)) std::abort();
  }
  for (const auto& reason : jwks->skipped) {
    if (reason.empty()) std::abort();
  }
  return 0;
}
