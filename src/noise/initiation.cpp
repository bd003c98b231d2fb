#include "noise/initiation.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace wgate::noise {
namespace {

// The protocol's names (WireGuard paper, section 5.4; kernel noise.c).
constexpr std::string_view kConstruction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
constexpr std::string_view kIdentifier = "WireGuard v1 zx2c4 Jason@zx2c4.com";
constexpr std::string_view kLabelMac1 = "mac1----";

// Offsets in the 148-byte initiation.
constexpr size_t kSenderAt = 4, kEphemeralAt = 8, kStaticAt = 40, kTimestampAt = 88, kMac1At = 116, kMac2At = 132;
constexpr size_t kStaticSealed = 32 + 16, kTimestampSealed = 12 + 16;

using Bytes32 = std::array<uint8_t, 32>;

// Frees each OpenSSL handle type with its own function.
struct MacDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
template <class T>
using Owned = std::unique_ptr<T, MacDeleter>;

Error crypto_error(const char* what) { return make_error(std::string("noise: OpenSSL ") + what + " failed"); }

// HASH(a || b): BLAKE2s-256.
Result<Bytes32> hash(std::span<const uint8_t> a, std::span<const uint8_t> b = {}) {
  Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  Bytes32 out{};
  unsigned len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_blake2s256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 ||
      (!b.empty() && EVP_DigestUpdate(ctx.get(), b.data(), b.size()) != 1) ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size()) {
    return crypto_error("BLAKE2s");
  }
  return out;
}

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// HMAC-BLAKE2s(key, data).
Result<Bytes32> hmac(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Bytes32 out{};
  unsigned len = 0;
  if (HMAC(EVP_blake2s256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &len) ==
          nullptr ||
      len != out.size()) {
    return crypto_error("HMAC-BLAKE2s");
  }
  return out;
}

// KDF_n (HKDF with HMAC-BLAKE2s): the first two outputs.
Result<std::pair<Bytes32, Bytes32>> kdf2(const Bytes32& chaining_key, std::span<const uint8_t> input) {
  WGATE_ASSIGN_OR_RETURN(Bytes32 t0, hmac(chaining_key, input));
  const uint8_t one = 1;
  WGATE_ASSIGN_OR_RETURN(Bytes32 t1, hmac(t0, {&one, 1}));
  std::array<uint8_t, 33> t1_two{};
  std::memcpy(t1_two.data(), t1.data(), 32);
  t1_two[32] = 2;
  WGATE_ASSIGN_OR_RETURN(Bytes32 t2, hmac(t0, t1_two));
  return std::pair{t1, t2};
}

// A BLAKE2s MAC with a 16-byte output and a fixed key, fetched and keyed
// once; each compute() re-initializes the same context (EVP_MAC_init with no
// key keeps the key set before), so it allocates nothing.
class KeyedMac16 {
 public:
  static Result<KeyedMac16> create(const Bytes32& key) {
    KeyedMac16 m;
    m.mac_.reset(EVP_MAC_fetch(nullptr, "BLAKE2SMAC", nullptr));
    if (!m.mac_) return crypto_error("BLAKE2SMAC fetch");
    m.ctx_.reset(EVP_MAC_CTX_new(m.mac_.get()));
    size_t size = 16;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size), OSSL_PARAM_construct_end()};
    if (!m.ctx_ || EVP_MAC_init(m.ctx_.get(), key.data(), key.size(), params) != 1) return crypto_error("BLAKE2s MAC key");
    return m;
  }
  Result<std::array<uint8_t, 16>> compute(std::span<const uint8_t> data) {
    std::array<uint8_t, 16> out{};
    size_t len = 0;
    if (EVP_MAC_init(ctx_.get(), nullptr, 0, nullptr) != 1 || EVP_MAC_update(ctx_.get(), data.data(), data.size()) != 1 ||
        EVP_MAC_final(ctx_.get(), out.data(), &len, out.size()) != 1 || len != out.size()) {
      return crypto_error("BLAKE2s MAC");
    }
    return out;
  }

 private:
  Owned<EVP_MAC> mac_;
  Owned<EVP_MAC_CTX> ctx_;
};

// MAC(key, data): keyed BLAKE2s with a 16-byte output, once.
Result<std::array<uint8_t, 16>> mac16(const Bytes32& key, std::span<const uint8_t> data) {
  WGATE_ASSIGN_OR_RETURN(KeyedMac16 mac, KeyedMac16::create(key));
  return mac.compute(data);
}

// X25519(private, public). nullopt for a low-order public key (an all-zero
// result), which the protocol rejects; an error only for library failures.
Result<std::optional<Bytes32>> dh(const WgKey& private_key, std::span<const uint8_t> public_key) {
  Owned<EVP_PKEY> mine(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.bytes().data(), 32));
  Owned<EVP_PKEY> theirs(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, public_key.data(), public_key.size()));
  if (!mine || !theirs) return crypto_error("X25519 key");
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new(mine.get(), nullptr));
  Bytes32 out{};
  size_t len = out.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), theirs.get()) != 1) {
    return crypto_error("X25519 setup");
  }
  // OpenSSL refuses an all-zero shared secret: a low-order point.
  if (EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1 || len != out.size()) return std::optional<Bytes32>();
  return std::optional<Bytes32>(out);
}

// ChaCha20-Poly1305 with nonce 0 (every key here is used once), `aad` the
// handshake hash. Sealed = ciphertext || 16-byte tag.
Result<std::vector<uint8_t>> seal(const Bytes32& key, std::span<const uint8_t> plain, const Bytes32& aad) {
  Owned<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
  const std::array<uint8_t, 12> nonce{};
  std::vector<uint8_t> out(plain.size() + 16);
  int len = 0, tail = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_chacha20_poly1305(), nullptr, key.data(), nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data(), &len, plain.data(), static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + len, &tail) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, 16, out.data() + plain.size()) != 1) {
    return crypto_error("ChaCha20-Poly1305 seal");
  }
  return out;
}

// nullopt when the tag does not verify.
Result<std::optional<std::vector<uint8_t>>> open(const Bytes32& key, std::span<const uint8_t> sealed,
                                                 const Bytes32& aad) {
  if (sealed.size() < 16) return std::optional<std::vector<uint8_t>>();
  Owned<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
  const std::array<uint8_t, 12> nonce{};
  const size_t n = sealed.size() - 16;
  std::vector<uint8_t> out(n);
  std::array<uint8_t, 16> tag{};
  std::memcpy(tag.data(), sealed.data() + n, 16);
  int len = 0, tail = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_chacha20_poly1305(), nullptr, key.data(), nonce.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out.data(), &len, sealed.data(), static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, 16, tag.data()) != 1) {
    return crypto_error("ChaCha20-Poly1305 open");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + len, &tail) != 1) return std::optional<std::vector<uint8_t>>();
  return std::optional<std::vector<uint8_t>>(std::move(out));
}

// The handshake state both sides start from: C = HASH(CONSTRUCTION),
// H = HASH(HASH(C || IDENTIFIER) || responder's static public key).
Result<std::pair<Bytes32, Bytes32>> initial_state(const WgKey& responder_public) {
  WGATE_ASSIGN_OR_RETURN(Bytes32 c, hash(as_bytes(kConstruction)));
  WGATE_ASSIGN_OR_RETURN(Bytes32 h, hash(c, as_bytes(kIdentifier)));
  WGATE_ASSIGN_OR_RETURN(h, hash(h, responder_public.bytes()));
  return std::pair{c, h};
}

Result<std::array<uint8_t, 16>> mac1_of(const WgKey& responder_public, std::span<const uint8_t> message) {
  WGATE_ASSIGN_OR_RETURN(Bytes32 key, hash(as_bytes(kLabelMac1), responder_public.bytes()));
  return mac16(key, message.first(kMac1At));
}

InitiationResult rejected(Rejection why) {
  InitiationResult r;
  r.rejection = why;
  return r;
}

}  // namespace

Result<std::array<uint8_t, 16>> compute_mac1(const WgKey& responder_public, std::span<const uint8_t> message) {
  if (message.size() < kMac1At) return make_error("noise: a message shorter than 116 bytes has no mac1");
  return mac1_of(responder_public, message);
}

std::optional<Tai64n> decode_tai64n(const std::array<uint8_t, 12>& stamp) {
  uint64_t label = 0;
  for (int i = 0; i < 8; ++i) label = label << 8 | stamp[i];
  uint32_t nanos = 0;
  for (int i = 8; i < 12; ++i) nanos = nanos << 8 | stamp[i];
  if (label < kTai64nUnixEpoch || nanos >= 1000000000u) return std::nullopt;
  const uint64_t seconds = label - kTai64nUnixEpoch;
  if (seconds > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return Tai64n{static_cast<int64_t>(seconds), nanos};
}

std::array<uint8_t, 12> encode_tai64n(Tai64n t) {
  std::array<uint8_t, 12> out{};
  const uint64_t label = kTai64nUnixEpoch + static_cast<uint64_t>(t.unix_seconds);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(label >> (8 * (7 - i)));
  for (int i = 0; i < 4; ++i) out[8 + i] = static_cast<uint8_t>(t.nanoseconds >> (8 * (3 - i)));
  return out;
}

const char* to_string(Rejection r) {
  switch (r) {
    case Rejection::not_an_initiation: return "not a handshake initiation";
    case Rejection::bad_mac1: return "mac1 does not match this interface";
    case Rejection::undecryptable: return "does not decrypt";
  }
  return "?";
}

struct Responder::Impl {
  WgKey private_key;
  WgKey public_key;
  KeyedMac16 mac1;
  Bytes32 c0, h0;  // initial_state(public_key)
};

Responder::Responder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Responder::Responder(Responder&&) noexcept = default;
Responder& Responder::operator=(Responder&&) noexcept = default;
Responder::~Responder() = default;

Result<Responder> Responder::create(const WgKey& private_key) {
  WGATE_ASSIGN_OR_RETURN(WgKey public_key, private_key.public_key());
  WGATE_ASSIGN_OR_RETURN(Bytes32 mac1_key, hash(as_bytes(kLabelMac1), public_key.bytes()));
  WGATE_ASSIGN_OR_RETURN(KeyedMac16 mac1, KeyedMac16::create(mac1_key));
  WGATE_ASSIGN_OR_RETURN(auto state, initial_state(public_key));
  return Responder(std::make_unique<Impl>(Impl{private_key, public_key, std::move(mac1), state.first, state.second}));
}

const WgKey& Responder::public_key() const { return impl_->public_key; }

namespace {
// 148 bytes starting with type 1 and three zero bytes.
bool shaped_as_initiation(std::span<const uint8_t> m) {
  return m.size() == kInitiationSize && m[0] == 1 && m[1] == 0 && m[2] == 0 && m[3] == 0;
}
}  // namespace

Result<bool> Responder::mac1_matches(std::span<const uint8_t> m) {
  if (!shaped_as_initiation(m)) return false;
  WGATE_ASSIGN_OR_RETURN(auto mac1, impl_->mac1.compute(m.first(kMac1At)));
  // Not secret: anyone with the public key computes it. A plain compare.
  return std::memcmp(mac1.data(), m.data() + kMac1At, mac1.size()) == 0;
}

Result<InitiationResult> read_initiation(std::span<const uint8_t> m, const WgKey& responder_private) {
  WGATE_ASSIGN_OR_RETURN(Responder responder, Responder::create(responder_private));
  return responder.read(m);
}

Result<InitiationResult> Responder::read(std::span<const uint8_t> m) {
  if (!shaped_as_initiation(m)) return rejected(Rejection::not_an_initiation);
  WGATE_ASSIGN_OR_RETURN(bool mac1_ok, mac1_matches(m));
  if (!mac1_ok) return rejected(Rejection::bad_mac1);
  return decrypt(m);
}

Result<InitiationResult> Responder::decrypt(std::span<const uint8_t> m) {
  if (!shaped_as_initiation(m)) return rejected(Rejection::not_an_initiation);
  const WgKey& responder_private = impl_->private_key;

  Bytes32 c = impl_->c0, h = impl_->h0;
  const auto ephemeral = m.subspan(kEphemeralAt, 32);
  WGATE_ASSIGN_OR_RETURN(auto k0, kdf2(c, ephemeral));
  c = k0.first;
  WGATE_ASSIGN_OR_RETURN(h, hash(h, ephemeral));

  WGATE_ASSIGN_OR_RETURN(auto es, dh(responder_private, ephemeral));
  if (!es) return rejected(Rejection::undecryptable);
  WGATE_ASSIGN_OR_RETURN(auto k1, kdf2(c, *es));
  c = k1.first;
  const auto sealed_static = m.subspan(kStaticAt, kStaticSealed);
  WGATE_ASSIGN_OR_RETURN(auto static_plain, open(k1.second, sealed_static, h));
  if (!static_plain) return rejected(Rejection::undecryptable);
  WGATE_ASSIGN_OR_RETURN(h, hash(h, sealed_static));

  std::array<uint8_t, 32> initiator{};
  std::memcpy(initiator.data(), static_plain->data(), 32);
  WGATE_ASSIGN_OR_RETURN(auto ss, dh(responder_private, initiator));
  if (!ss) return rejected(Rejection::undecryptable);
  WGATE_ASSIGN_OR_RETURN(auto k2, kdf2(c, *ss));
  WGATE_ASSIGN_OR_RETURN(auto timestamp, open(k2.second, m.subspan(kTimestampAt, kTimestampSealed), h));
  if (!timestamp) return rejected(Rejection::undecryptable);

  InitiationResult out;
  out.ok = true;
  out.initiation.sender_index = static_cast<uint32_t>(m[kSenderAt]) | static_cast<uint32_t>(m[kSenderAt + 1]) << 8 |
                                static_cast<uint32_t>(m[kSenderAt + 2]) << 16 |
                                static_cast<uint32_t>(m[kSenderAt + 3]) << 24;
  out.initiation.initiator_static = WgKey(initiator);
  std::memcpy(out.initiation.timestamp.data(), timestamp->data(), 12);
  return out;
}

Result<std::array<uint8_t, kInitiationSize>> make_initiation(const WgKey& initiator_private,
                                                             const WgKey& responder_public,
                                                             const WgKey& ephemeral_private, uint32_t sender_index,
                                                             const std::array<uint8_t, 12>& timestamp) {
  std::array<uint8_t, kInitiationSize> m{};
  m[0] = 1;
  for (int i = 0; i < 4; ++i) m[kSenderAt + i] = static_cast<uint8_t>(sender_index >> (8 * i));
  WGATE_ASSIGN_OR_RETURN(WgKey ephemeral_public, ephemeral_private.public_key());
  WGATE_ASSIGN_OR_RETURN(WgKey initiator_public, initiator_private.public_key());
  std::memcpy(m.data() + kEphemeralAt, ephemeral_public.bytes().data(), 32);

  WGATE_ASSIGN_OR_RETURN(auto state, initial_state(responder_public));
  auto [c, h] = state;
  WGATE_ASSIGN_OR_RETURN(auto k0, kdf2(c, ephemeral_public.bytes()));
  c = k0.first;
  WGATE_ASSIGN_OR_RETURN(h, hash(h, ephemeral_public.bytes()));
  WGATE_ASSIGN_OR_RETURN(auto es, dh(ephemeral_private, responder_public.bytes()));
  if (!es) return make_error("noise: the responder's public key is of low order");
  WGATE_ASSIGN_OR_RETURN(auto k1, kdf2(c, *es));
  c = k1.first;
  WGATE_ASSIGN_OR_RETURN(auto sealed_static, seal(k1.second, initiator_public.bytes(), h));
  std::memcpy(m.data() + kStaticAt, sealed_static.data(), kStaticSealed);
  WGATE_ASSIGN_OR_RETURN(h, hash(h, sealed_static));
  WGATE_ASSIGN_OR_RETURN(auto ss, dh(initiator_private, responder_public.bytes()));
  if (!ss) return make_error("noise: the responder's public key is of low order");
  WGATE_ASSIGN_OR_RETURN(auto k2, kdf2(c, *ss));
  WGATE_ASSIGN_OR_RETURN(auto sealed_time, seal(k2.second, timestamp, h));
  std::memcpy(m.data() + kTimestampAt, sealed_time.data(), kTimestampSealed);
  WGATE_ASSIGN_OR_RETURN(auto mac1, mac1_of(responder_public, m));
  std::memcpy(m.data() + kMac1At, mac1.data(), mac1.size());
  static_assert(kMac2At + 16 == kInitiationSize);
  return m;
}

}  // namespace wgate::noise
