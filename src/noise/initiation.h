// Who is knocking: the initiator's static public key from a WireGuard
// handshake initiation, recovered with the responder's private key.
//
// A handshake initiation (message type 1, 148 bytes) carries the initiator's
// static public key encrypted to the responder (Noise IKpsk2). With the
// interface's private key the gateway can run the responder's first steps
// of the handshake, as the WireGuard paper (section 5.4.2) and the kernel's
// noise.c define them, and learn whose key is knocking: a person whose key
// expired can be told to log in again. Nothing here answers the handshake
// or touches a session: it only reads.
//
// Order of checks, cheapest first: length and type, then mac1 (keyed
// BLAKE2s over the message, with a key only the responder's public key
// gives: a message not meant for this interface fails here without any
// Diffie-Hellman), then the two AEAD decryptions (static key, timestamp).
// Pure: no I/O, no clock. OpenSSL 3 does the primitives (BLAKE2s, HMAC,
// X25519, ChaCha20-Poly1305).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "core/wg_key.h"
#include "util/result.h"

namespace wgate::noise {

inline constexpr size_t kInitiationSize = 148;

struct Initiation {
  uint32_t sender_index = 0;               // the initiator's session index (little endian on the wire)
  WgKey initiator_static;                  // the initiator's static public key
  std::array<uint8_t, 12> timestamp{};     // TAI64N, as the initiator sent it
};

// The initiation's timestamp, TAI64N as every WireGuard implementation
// writes it (kernel noise.c tai64n_now(), wireguard-go tai64n.go): an 8-byte
// big-endian TAI64 label, 2^62 + 10 + the sender's Unix wall-clock seconds
// (libtai's label of 1970-01-01 00:00:10 TAI is 2^62 + 10; WireGuard adds the
// Unix time to it and ignores leap seconds), then 4 bytes big-endian
// nanoseconds, rounded down by the sender to a multiple of 2^24 ns so the
// timestamp does not reveal its clock's fine resolution. A responder accepts
// an initiation only when its 12 bytes compare greater than the newest one
// seen from that peer (the protocol's replay protection; big-endian, so a
// byte compare is the numeric one).
struct Tai64n {
  int64_t unix_seconds = 0;
  uint32_t nanoseconds = 0;
  auto operator<=>(const Tai64n&) const = default;
};
inline constexpr uint64_t kTai64nUnixEpoch = 0x400000000000000aULL;  // 2^62 + 10

// nullopt for a label before 1970 (below kTai64nUnixEpoch), beyond int64
// seconds, or nanoseconds >= 10^9: no WireGuard client sends those.
std::optional<Tai64n> decode_tai64n(const std::array<uint8_t, 12>& stamp);
// The 12 bytes a client at `t` would send (without the 2^24 ns rounding).
std::array<uint8_t, 12> encode_tai64n(Tai64n t);

// Why a message is not a readable initiation for this responder. Kept apart
// from I/O errors so a caller can count them (unknown keys, noise) without
// logging a line per packet.
enum class Rejection {
  not_an_initiation,  // wrong length or type
  bad_mac1,           // not meant for this responder (or corrupted)
  undecryptable,      // mac1 right, AEAD failed (a forged or mangled message)
};
const char* to_string(Rejection r);

struct InitiationResult {
  bool ok = false;
  Initiation initiation;        // when ok
  Rejection rejection{};        // when !ok
};

// One responder (an interface's key) with what every message to it needs
// made once: its public key, the mac1 key (HASH("mac1----" || public)),
// the fetched BLAKE2s MAC and a context keyed with it, and the initial
// handshake hash. A mac1 check then costs one keyed BLAKE2s: no algorithm
// fetch, no allocation, whatever the rate of messages (a flood with or
// without the public key). Not thread-safe (one MAC context): one per
// thread.
class Responder {
 public:
  static Result<Responder> create(const WgKey& private_key);
  Responder(Responder&&) noexcept;
  Responder& operator=(Responder&&) noexcept;
  ~Responder();

  const WgKey& public_key() const;
  // Is `message` a 148-byte initiation whose mac1 is this responder's?
  // Errors only for the crypto library.
  Result<bool> mac1_matches(std::span<const uint8_t> message);
  // As read_initiation() with this responder's private key: mac1_matches()
  // and decrypt().
  Result<InitiationResult> read(std::span<const uint8_t> message);
  // The steps after the mac1 check, for a message mac1_matches() accepted
  // (a caller that rate-limits between the two does not pay for mac1
  // twice): rejects only what does not decrypt (or is not shaped as an
  // initiation), never for mac1.
  Result<InitiationResult> decrypt(std::span<const uint8_t> message);

 private:
  struct Impl;
  explicit Responder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads an initiation sent to the responder with `responder_private`.
// Errors (as values) only for failures of the crypto library itself. (A
// Responder made once reads many messages more cheaply.)
Result<InitiationResult> read_initiation(std::span<const uint8_t> message, const WgKey& responder_private);

// mac1 of a message to the responder with `responder_public` (over its
// first 116 bytes), as the initiator computes it.
Result<std::array<uint8_t, 16>> compute_mac1(const WgKey& responder_public, std::span<const uint8_t> message);

// What an initiator does, for tests and fuzz seeds: builds a valid
// initiation from `initiator_private` to `responder_public` with the given
// ephemeral private key, sender index and timestamp (no cookie: mac2 zero).
Result<std::array<uint8_t, kInitiationSize>> make_initiation(const WgKey& initiator_private,
                                                             const WgKey& responder_public,
                                                             const WgKey& ephemeral_private, uint32_t sender_index,
                                                             const std::array<uint8_t, 12>& timestamp);

}  // namespace wgate::noise
