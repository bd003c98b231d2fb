#include "client/login.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "client/run_command.h"
#include "core/wg_key.h"
#include "store/private_dir.h"

namespace wgate::client {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;

// A JSON answer of the wgate server, or its error message.
Result<Json> answer(const Result<auth::HttpResponse>& response, const std::string& what) {
  if (!response) return response.error().with_context(what);
  Json body = Json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (response->status / 100 != 2) {
    std::string why = body.is_object() && body.contains("error") && body["error"].is_string()
                          ? body["error"].get<std::string>()
                          : "HTTP " + std::to_string(response->status);
    return make_error(what + ": " + why);
  }
  if (!body.is_object()) return make_error(what + ": the server's answer is not JSON");
  return body;
}

std::string str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
int64_t num(const Json& j, const char* key, int64_t fallback = 0) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

// Writes `text` to `path` so that it exists only whole and only 0600: a
// temporary file in the same directory, synced, renamed over, the directory
// synced.
Status write_private_file(const std::string& path, const std::string& text) {
  const std::string dir = path.substr(0, path.rfind('/'));
  WGATE_TRY(make_private_dirs(dir));
  std::string tmp = path + ".XXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return errno_error(errno, "creating a file in " + dir);
  bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    return errno_error(err, "writing " + path);
  }
  return sync_dir(dir);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// The value of the first "Name = value" line of a wg-quick config.
std::string config_value(const std::string& config, const std::string& name) {
  std::istringstream in(config);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string v = line.substr(eq + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    while (!v.empty() && (v.back() == ' ' || v.back() == '\r')) v.pop_back();
    return v;
  }
  return "";
}

// The device a config wgate wrote is for, from its first line
// ("# wgate: key N of PERSON, device NAME, group G..."); "" when absent.
std::string config_device(const std::string& config) {
  const std::string marker = ", device ";
  const std::string first_line = config.substr(0, config.find('\n'));
  if (first_line.rfind("# wgate: key ", 0) != 0) return "";
  auto at = first_line.find(marker);
  if (at == std::string::npos) return "";
  at += marker.size();
  return first_line.substr(at, first_line.find(',', at) - at);
}

}  // namespace

std::string with_private_key(const std::string& config, const std::string& private_key_base64) {
  std::istringstream in(config);
  std::string out, line;
  bool placed = false;
  while (std::getline(in, line)) {
    if (!placed && line.rfind("# PrivateKey", 0) == 0) {
      out += "PrivateKey = " + private_key_base64 + "\n";
      placed = true;
      continue;
    }
    out += line + "\n";
  }
  return out;
}

std::string config_address(const std::string& config) { return config_value(config, "Address"); }

Result<LoginResult> login(auth::HttpClient& http, const LoginOptions& o, const LoginUi& ui) {
  if (o.server.empty()) return make_error("--server is required (wgate's URL, e.g. https://vpn.example.com)");
  std::string server = o.server;
  while (!server.empty() && server.back() == '/') server.pop_back();
  const auth::HttpHeaders json_accept = {{"Accept", "application/json"}};

  // 1. The device grant, run by the server with the provider.
  WGATE_ASSIGN_OR_RETURN(Json start, answer(http.post_json(server + "/api/v1/device/start",
                                                           Json{{"device", o.device}}.dump(), json_accept),
                                            "starting the login"));
  const std::string handle = str(start, "handle");
  if (handle.empty()) return make_error("starting the login: the server sent no handle");
  ui.prompt(LoginPrompt{str(start, "user_code"), str(start, "verification_uri"),
                        str(start, "verification_uri_complete"), num(start, "expires_in")});
  int64_t interval = std::max<int64_t>(num(start, "interval", 5), 1);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(std::max<int64_t>(num(start, "expires_in", 600), 30));
  std::string token;
  while (token.empty()) {
    if (std::chrono::steady_clock::now() > deadline) return make_error("the login code expired; run wgate login again");
    ui.sleep(std::chrono::seconds(interval));
    WGATE_ASSIGN_OR_RETURN(Json poll, answer(http.post_json(server + "/api/v1/device/poll",
                                                            Json{{"handle", handle}}.dump(), json_accept),
                                             "waiting for the login"));
    const std::string state = str(poll, "state");
    if (state == "done") {
      token = str(poll, "token");
      if (token.empty()) return make_error("the server finished the login without a session");
    } else if (state == "slow_down") {
      interval = std::max<int64_t>(num(poll, "interval", interval + 5), interval + 1);
    } else if (state == "denied") {
      return make_error("the login was denied");
    } else if (state == "expired") {
      return make_error("the login code expired; run wgate login again");
    } else if (state != "pending") {
      return make_error("waiting for the login: unexpected state '" + state + "'");
    }
  }
  ui.status("logged in");
  const auth::HttpHeaders bearer = {{"Accept", "application/json"}, {"Authorization", "Bearer " + token}};

  // 2. The key pair, made here; only the public half goes to the server.
  WGATE_ASSIGN_OR_RETURN(WgKey private_key, WgKey::generate_private());
  WGATE_ASSIGN_OR_RETURN(WgKey public_key, private_key.public_key());
  LoginResult result;
  result.config_path = o.config_dir + "/" + o.interface + ".conf";
  const std::string previous = read_file(result.config_path);
  const std::string old_private = config_value(previous, "PrivateKey");
  auto live = run_command({"wg", "show", o.interface, "public-key"});
  const bool interface_exists = live.ok() && live->exit_code == 0;
  // A live renewal only of this device's own running tunnel: the interface
  // runs the config's key, and the config is of the device logging in. A
  // tunnel of another device (or anything else) under this interface name is
  // left alone until --up replaces it.
  bool running = false;
  if (interface_exists && !old_private.empty() && config_device(previous) == o.device) {
    auto old_key = WgKey::from_base64(old_private);
    auto old_public = old_key ? old_key->public_key() : Result<WgKey>(old_key.error());
    std::string live_key = live->output;
    while (!live_key.empty() && (live_key.back() == '\n' || live_key.back() == ' ')) live_key.pop_back();
    running = old_public && old_public->to_base64() == live_key;
  }

  // A running tunnel of this device renews without losing a packet:
  //  a. it holds its traffic first: with the new private key set, WireGuard
  //     queues outgoing packets (its handshake goes unanswered, since the
  //     gateway does not know the key yet) instead of sending them under
  //     the old session, which the gateway drops once the new key takes
  //     the device's address;
  //  b. the public key is registered and the gateway applies it;
  //  c. a second key change (to a throwaway key and back) resets
  //     WireGuard's 5 s handshake back-off, so the next packet completes the
  //     handshake at once and the queued ones follow.
  // Any failure on the way puts the old key back.
  const std::string key_file = o.config_dir + "/." + o.interface + ".key";
  auto set_key = [&](const std::string& key_base64) -> Status {
    WGATE_TRY(write_private_file(key_file, key_base64 + "\n"));
    auto set = run_command({"wg", "set", o.interface, "private-key", key_file});
    ::unlink(key_file.c_str());
    if (!set) return set.error();
    if (set->exit_code != 0) return make_error("wg set " + o.interface + " private-key: " + set->output);
    return Status{};
  };
  auto restore = [&](const Error& why) -> Error {
    if (auto back = set_key(old_private); !back) {
      return why.with_context("(and putting the old key back failed: " + back.error().message + ")");
    }
    return why;
  };
  if (running) WGATE_TRY(set_key(private_key.to_base64()));

  Json request{{"public_key", public_key.to_base64()}, {"device", o.device}};
  if (o.group) request["group"] = *o.group;
  if (o.ttl) request["ttl"] = *o.ttl;
  auto issued_or = answer(http.post_json(server + "/api/v1/self/keys", request.dump(), bearer),
                          "registering the public key");
  if (!issued_or) return running ? restore(issued_or.error()) : issued_or.error();
  const Json& issued = *issued_or;
  result.key_id = num(issued, "key_id");
  result.device = str(issued, "device");
  result.address = str(issued, "address");
  result.group = str(issued, "group");
  result.expires_at = num(issued, "expires_at");
  const std::string config = with_private_key(str(issued, "config"), private_key.to_base64());

  // Whether the gateway reports the new key in its data plane (applied_at),
  // asked every 20 ms for at most 10 s.
  auto wait_until_applied = [&]() -> Result<bool> {
    ui.status("waiting for the gateway to take the new key");
    for (int i = 0; i < 500; ++i) {
      WGATE_ASSIGN_OR_RETURN(Json self, answer(http.get(server + "/api/v1/self", bearer), "checking the new key"));
      for (const auto& d : self.value("devices", Json::array())) {
        for (const auto& k : d.value("keys", Json::array())) {
          if (num(k, "id") == result.key_id && k.contains("applied_at") && !k["applied_at"].is_null()) return true;
        }
      }
      ui.sleep(milliseconds(20));
    }
    return false;
  };

  if (running && config_address(previous) == config_address(config)) {
    auto applied = wait_until_applied();
    if (!applied) return restore(applied.error());
    if (!*applied) return restore(make_error("the gateway did not take the new key within 10 s"));
    auto throwaway = WgKey::generate_private();
    if (!throwaway) return throwaway.error();
    WGATE_TRY(set_key(throwaway->to_base64()));
    WGATE_TRY(set_key(private_key.to_base64()));
    WGATE_TRY(write_private_file(result.config_path, config));
    result.switched_live = true;
    return result;
  }
  WGATE_TRY(write_private_file(result.config_path, config));
  if (o.up) {
    // A handshake sent before the gateway has the peer goes unanswered, and
    // WireGuard tries again only after 5 s: the tunnel comes up once the key
    // is in the gateway's data plane, so the first packet connects.
    auto applied = wait_until_applied();
    if (!applied) return applied.error();
    if (!*applied) ui.status("the gateway has not taken the key after 10 s; the tunnel connects once it does");
    if (interface_exists) {
      auto down = run_command({"wg-quick", "down", result.config_path});
      if (!down) return down.error();
    }
    auto up = run_command({"wg-quick", "up", result.config_path});
    if (!up) return up.error();
    if (up->exit_code != 0) return make_error("wg-quick up " + result.config_path + ": " + up->output);
    result.brought_up = true;
  }
  return result;
}

}  // namespace wgate::client
