// libFuzzer target for the UAPI reply parsers: the bytes come from another
// process's socket, so no input may crash them or make them accept a reply
// that breaks their contract.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dataplane/uapi_protocol.h"


extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view reply(reinterpret_cast<const char*>(data), size);
  auto state = wgate::parse_get_reply(reply);
  if (state.ok()) {
    // An accepted reply is complete and its derived key matches.
    if (!wgate::uapi_reply_complete(reply)) std::abort();
    if (state->private_key.has_value() != state->public_key.has_value()) std::abort();
    for (const auto& peer : state->peers) {
      if (peer.last_handshake_nsec < 0 || peer.last_handshake_nsec >= 1'000'000'000) std::abort();
    }
  }
  auto set = wgate::parse_set_reply(reply);
  if (set.ok() && !wgate::uapi_reply_complete(reply)) std::abort();
  return 0;
}
