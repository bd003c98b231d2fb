// libFuzzer target: arbitrary bytes as a UDP datagram to a gateway's
// WireGuard port, read as a handshake initiation with the gateway's private
// key. read_initiation must answer every input with a result (an error only
// for a failure of the crypto library, which never happens here); an
// accepted message is exactly 148 bytes of type 1 whose mac1 is right.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "noise/initiation.h"

namespace {
// The responder the seeds were made for (tests/fuzz/corpus/noise_initiation).
wgate::WgKey responder() {
  std::array<uint8_t, 32> b{};
  b.fill(0x42);
  return wgate::WgKey(b);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wgate::noise;
  static const wgate::WgKey key = responder();
  static const wgate::WgKey key_public = *key.public_key();
  std::span<const uint8_t> message(data, size);
  auto r = read_initiation(message, key);
  if (!r.ok()) std::abort();
  if (!r->ok) return 0;
  if (size != kInitiationSize || data[0] != 1) std::abort();
  auto mac1 = compute_mac1(key_public, message);
  if (!mac1.ok() || std::memcmp(mac1->data(), data + 116, 16) != 0) std::abort();
  if (r->initiation.initiator_static.is_zero()) std::abort();
  return 0;
}
