// InterfaceKeys: each wgate interface's private key, on disk in the state
// directory as <interface>.key (base64, mode 0600, directory 0700).
//
// Only the daemon creates a key (create_or_adopt), and never rotates one:
// rotating it would cut every client's tunnel. Everything else (the CLI
// printing a client config) only loads. The key never leaves the machine.
#pragma once

#include <optional>
#include <string>

#include "core/wg_key.h"
#include "util/result.h"

namespace wgate {

class InterfaceKeys {
 public:
  explicit InterfaceKeys(std::string state_dir) : dir_(std::move(state_dir)) {}

  // Loads the key. When there is no key file yet, saves `adopt` (the key a
  // live device already has) or, without one, a freshly generated key, and
  // makes the file and its directory entry durable (fsync of both) before
  // returning: a key handed to the device must survive a power cut.
  // The daemon's call; nothing else may create a key.
  Result<WgKey> create_or_adopt(const std::string& interface, const std::optional<WgKey>& adopt);
  // Loads an existing key. Error when there is none yet (the message says
  // that the daemon creates it).
  Result<WgKey> load(const std::string& interface) const;
  // The public half of load().
  Result<WgKey> public_key(const std::string& interface) const;

 private:
  std::string path_of(const std::string& interface) const { return dir_ + "/" + interface + ".key"; }
  std::string dir_;
};

}  // namespace wgate
