// wgate key add|list|revoke, wgate device list|remove, wgate config <key-id>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "core/time_text.h"
#include "service/json.h"
#include "service/stale_devices.h"

namespace wgate::cli {
namespace {

struct KeyAddOptions {
  service::AddKeyRequest request;
  std::string group, ttl, label;
};
struct ConfigOptions {
  int64_t key_id = 0;
  std::string private_key_file;
};
struct DeviceRemoveOptions {
  std::string user, device;
};
struct StaleOptions {
  bool only_stale = false;
  std::string older_than;
};

// `device list --stale`: devices silent for a long time (service/stale_devices.h).
void print_stale_devices(Context& ctx, const std::string& user, const std::string& older_than_text) {
  std::optional<int64_t> older_than;
  if (!older_than_text.empty()) {
    auto d = parse_duration(older_than_text);
    if (!d) throw CommandError{"--older-than: " + d.error().message};
    older_than = *d;
  }
  const UnixTime now = ctx.now();
  auto devices = get_or_fail(service::stale_devices(ctx.store(), ctx.config(), now, older_than));
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& s : devices) {
    if (!user.empty() && s.user != user) continue;
    arr.push_back({{"user", s.user},
                   {"device", s.device.name},
                   {"created_at", s.device.created_at},
                   {"last_handshake", s.last_handshake ? nlohmann::json(*s.last_handshake) : nlohmann::json(nullptr)},
                   {"silent_since", s.silent_since},
                   {"silent_seconds", now - s.silent_since},
                   {"live_keys", s.live_keys}});
  }
  ctx.emit(arr, [&] {
    std::printf("%-20s %-20s %-22s %-10s %s\n", "USER", "DEVICE", "LAST HANDSHAKE", "SILENT", "LIVE KEYS");
    for (const auto& d : arr) {
      const std::string hs = d["last_handshake"].is_null() ? "never" : format_utc(d["last_handshake"].get<UnixTime>());
      std::printf("%-20s %-20s %-22s %-10s %zu\n", d["user"].get<std::string>().c_str(),
                  d["device"].get<std::string>().c_str(), hs.c_str(),
                  format_duration(d["silent_seconds"].get<int64_t>()).c_str(), d["live_keys"].size());
    }
  });
}

}  // namespace

void register_key_commands(CLI::App& app, Context& ctx) {
  auto* key = app.add_subcommand("key", "Manage WireGuard keys")->require_subcommand(1);

  auto& add_opts = ctx.options<KeyAddOptions>();
  auto* add = key->add_subcommand("add", "Register a device's public key (the private key stays on the device)");
  add->add_option("user", add_opts.request.user, "User name")->required();
  add->add_option("public_key", add_opts.request.public_key, "The key's public half, base64 (wg pubkey)")->required();
  auto* device_opt = add->add_option("--device", add_opts.request.device,
                                     "The device it is for (default \"default\"); a device keeps its address across "
                                     "new keys");
  add->add_option("--label", add_opts.label, "Old name of --device")->excludes(device_opt);
  add->add_option("--group", add_opts.group, "Group the key connects to (default: the user's only group)");
  add->add_option("--ttl", add_opts.ttl, "Lifetime, e.g. 12h, 7d (default: the group's key_ttl)");
  add->callback([&ctx, &add_opts] {
    service::AddKeyRequest request = add_opts.request;
    if (!add_opts.label.empty()) request.device = add_opts.label;
    if (!add_opts.group.empty()) request.group = add_opts.group;
    if (!add_opts.ttl.empty()) request.ttl = add_opts.ttl;
    auto k = get_or_fail(service::add_key(ctx.store(), ctx.config(), request, ctx.now(), ctx.actor()));
    ctx.emit(service::to_json(k), [&] {
      std::cout << "added key " << k.key.id << " for " << k.user << "/" << k.device << " ("
                << (k.address ? k.address->to_string() : "no address") << ") on group " << k.key.group;
      if (k.key.expires_at) std::cout << ", expires " << format_utc(k.key.expires_at);
      std::cout << "\n";
    });
  });

  auto& list_user = ctx.options<std::string>();
  auto* list = key->add_subcommand("list", "List keys");
  list->add_option("--user", list_user, "Only this user's keys");
  list->callback([&ctx, &list_user] {
    service::KeyFilter filter;
    if (!list_user.empty()) filter.user = list_user;
    auto keys = get_or_fail(service::list_keys(ctx.store(), ctx.config(), filter, ctx.now()));
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& k : keys) arr.push_back(service::to_json(k));
    ctx.emit(arr, [&] {
      std::printf("%-5s %-14s %-10s %-15s %-8s %-44s %-10s %-20s %s\n", "ID", "USER", "DEVICE", "ADDRESS", "GROUP",
                  "PUBLIC KEY", "STATE", "EXPIRES", "LAST HANDSHAKE");
      for (const auto& k : keys) {
        std::printf("%-5lld %-14s %-10s %-15s %-8s %-44s %-10s %-20s %s\n", static_cast<long long>(k.key.id),
                    k.user.c_str(), k.device.c_str(), k.address ? k.address->to_string().c_str() : "-",
                    k.key.group.c_str(), k.key.public_key.to_base64().c_str(), to_string(k.state),
                    k.key.expires_at ? format_utc(k.key.expires_at).c_str() : "never",
                    k.key.last_handshake_at ? format_utc(*k.key.last_handshake_at).c_str() : "-");
      }
    });
  });

  auto& revoke_id = ctx.options<int64_t>();
  auto* revoke = key->add_subcommand("revoke", "Revoke a key: its peer is removed within a second");
  revoke->add_option("id", revoke_id, "Key id")->required();
  revoke->callback([&ctx, &revoke_id] {
    check(service::revoke_key(ctx.store(), revoke_id, ctx.now(), ctx.actor()));
    ctx.emit({{"id", revoke_id}, {"revoked", true}}, [&] { std::cout << "revoked key " << revoke_id << "\n"; });
  });

  auto* device = app.add_subcommand("device", "A person's devices (each one address of their block)")
                     ->require_subcommand(1);
  auto& device_user = ctx.options<std::string>();
  auto* dlist = device->add_subcommand("list", "List devices with their addresses");
  dlist->add_option("--user", device_user, "Only this user's devices");
  auto& stale = ctx.options<StaleOptions>();
  dlist->add_flag("--stale", stale.only_stale,
                  "Only devices with no handshake for [connections] stale_after (default 30d), oldest silence first");
  dlist->add_option("--older-than", stale.older_than, "With --stale: silent at least this long (e.g. 7d)");
  dlist->callback([&ctx, &device_user, &stale] {
    if (!stale.older_than.empty() && !stale.only_stale) throw CommandError{"--older-than needs --stale"};
    if (stale.only_stale) return print_stale_devices(ctx, device_user, stale.older_than);
    auto people = get_or_fail(service::list_people(ctx.store(), ctx.config()));
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& p : people) {
      if (!device_user.empty() && p.user.name != device_user) continue;
      for (const auto& d : p.devices) {
        arr.push_back({{"user", p.user.name},
                       {"device", d.device.name},
                       {"slot", d.device.slot},
                       {"address", d.address ? nlohmann::json(d.address->to_string()) : nlohmann::json(nullptr)},
                       {"created_at", d.device.created_at}});
      }
    }
    ctx.emit(arr, [&] {
      std::printf("%-20s %-20s %-5s %s\n", "USER", "DEVICE", "SLOT", "ADDRESS");
      for (const auto& d : arr) {
        std::printf("%-20s %-20s %-5s %s\n", d["user"].get<std::string>().c_str(),
                    d["device"].get<std::string>().c_str(), d["slot"].dump().c_str(),
                    d["address"].is_null() ? "-" : d["address"].get<std::string>().c_str());
      }
    });
  });
  auto& rm = ctx.options<DeviceRemoveOptions>();
  auto* dremove = device->add_subcommand("remove", "Remove a device: its keys are revoked and its address freed");
  dremove->add_option("user", rm.user, "User name")->required();
  dremove->add_option("device", rm.device, "Device name")->required();
  dremove->callback([&ctx, &rm] {
    check(service::remove_device(ctx.store(), rm.user, rm.device, ctx.now(), ctx.actor()));
    ctx.emit({{"user", rm.user}, {"device", rm.device}, {"removed", true}},
             [&] { std::cout << "removed device " << rm.user << "/" << rm.device << "\n"; });
  });

  auto& config_opts = ctx.options<ConfigOptions>();
  auto* config = app.add_subcommand("config", "Print the wg-quick client config for a key");
  config->add_option("key_id", config_opts.key_id, "Key id")->required();
  config->add_option("--private-key-file", config_opts.private_key_file,
                     "Fill in PrivateKey from this file (the client's own key; checked against the key)");
  config->callback([&ctx, &config_opts] {
    std::optional<std::string> private_key;
    if (!config_opts.private_key_file.empty()) {
      std::ifstream f(config_opts.private_key_file);
      std::string line;
      if (!f || !std::getline(f, line)) throw CommandError{"cannot read " + config_opts.private_key_file};
      private_key = line;
    }
    auto view = service::client_config(ctx.store(), ctx.config(), config_opts.key_id, private_key, ctx.now());
    // Name the file only when the error is about its content (the service's
    // "private key: ..." and "the private key given ..."), not for a revoked
    // key or a missing interface key.
    if (!view && private_key) {
      const std::string& message = view.error().message;
      if (message.rfind("private key", 0) == 0 || message.rfind("the private key given", 0) == 0) {
        throw CommandError{config_opts.private_key_file + ": " + message};
      }
    }
    auto c = get_or_fail(std::move(view));
    ctx.emit(service::to_json(c), [&] { std::cout << c.text; });
  });
}

}  // namespace wgate::cli
