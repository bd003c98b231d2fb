// InterfaceKeys: each wgate interface's private key, on disk in the state
// directory as <interface>.key (base64, mode 0600, directory 0700).
//
// Created on first use and never rotated implicitly: rotating it would cut
// every client's tunnel. The key never leaves the machine.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/wg_key.h"
#include "util/result.h"

namespace wgate {

class InterfaceKeys {
 public:
  explicit InterfaceKeys(std::string state_dir) : dir_(std::move(state_dir)) {}

  // Loads the key. When there is no key file yet, saves `adopt` (the key a
  // live device already has) or, without one, a freshly generated key.
  Result<WgKey> load_or_create(const std::string& interface, const std::optional<WgKey>& adopt = std::nullopt);
  // Loads an existing key; an error if there is none yet.
  Result<WgKey> load(const std::string& interface) const;
  // Every interface that has a key here: all interfaces wgate ever managed
  // from this state directory (how it finds those of removed groups).
  std::vector<std::string> known_interfaces() const;

 private:
  std::string path_of(const std::string& interface) const { return dir_ + "/" + interface + ".key"; }
  std::string dir_;
};

}  // namespace wgate
