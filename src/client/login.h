// `wgate login`: the client side of a CLI login.
//
// Against a wgate server: the OAuth 2.0 device authorization grant (RFC
// 8628) run by the server on the client's behalf (so the provider's tokens
// stay on the server), the key pair made here (the private key never leaves
// this machine), only the public half registered, the wg-quick config
// written 0600. Run again before expiry it renews: the new key is in the
// gateway's data plane (the server says so) before this machine switches to
// it, and the device keeps its address, so the tunnel stays up.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "auth/http_client.h"
#include "util/result.h"

namespace wgate::client {

struct LoginOptions {
  std::string server;              // wgate's public URL, e.g. https://vpn.example.com
  std::string device;              // this machine's name at wgate (default: its host name)
  std::optional<std::string> group;
  std::optional<std::string> ttl;
  std::string interface = "wgate";          // the wg-quick interface name
  std::string config_dir = "/etc/wireguard";
  bool up = false;                          // bring the tunnel up (wg-quick) when it is not
};

struct LoginPrompt {
  std::string user_code;
  std::string verification_uri;
  std::string verification_uri_complete;
  int64_t expires_in = 0;
};

struct LoginResult {
  int64_t key_id = 0;
  std::string device;
  std::string address;
  std::string group;
  int64_t expires_at = 0;
  std::string config_path;
  bool switched_live = false;  // a running tunnel moved to the new key
  bool brought_up = false;     // wg-quick up ran
};

// What the login shows and how it waits; injectable for tests.
struct LoginUi {
  std::function<void(const LoginPrompt&)> prompt;
  std::function<void(const std::string&)> status;
  std::function<void(std::chrono::milliseconds)> sleep;
};

Result<LoginResult> login(auth::HttpClient& http, const LoginOptions& options, const LoginUi& ui);

// The private key line filled into a config wgate rendered without it.
std::string with_private_key(const std::string& config, const std::string& private_key_base64);

// The `Address = ` of a wg-quick config, or "" when there is none.
std::string config_address(const std::string& config);

}  // namespace wgate::client
