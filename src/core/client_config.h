// The wg-quick client configuration for one key (`wgate config <key-id>`).
#pragma once

#include <optional>
#include <string>

#include "core/config.h"
#include "core/model.h"

namespace wgate {

struct ClientConfigInput {
  const Config* config = nullptr;
  const GroupConfig* group = nullptr;
  Key key;
  std::string user_name;
  std::string device_name;
  IpAddress address;                 // the device's address
  WgKey gateway_public_key;
  std::optional<WgKey> private_key;  // only when the user supplies theirs
};

// Renders the config. Without a private key, the PrivateKey line is a
// comment telling the user where theirs goes: wgate never holds client
// private keys. Errors: no server.endpoint configured.
Result<std::string> render_client_config(const ClientConfigInput& in);

}  // namespace wgate
