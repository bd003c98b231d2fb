// wgate key add|list|revoke, wgate config <key-id>
#include <cctype>
#include <fstream>
#include <iostream>
#include <map>

#include "agent/interface_keys.h"
#include "cli/commands.h"
#include "core/client_config.h"

namespace wgate::cli {
namespace {

struct KeyAddOptions {
  std::string user, public_key, group, ttl, label;
};
struct ConfigOptions {
  int64_t key_id = 0;
  std::string private_key_file;
};

nlohmann::json key_json(const Key& k, const std::string& user, UnixTime now) {
  auto opt = [](const std::optional<UnixTime>& t) { return t ? nlohmann::json(*t) : nlohmann::json(nullptr); };
  return {{"id", k.id},
          {"user", user},
          {"group", k.group},
          {"public_key", k.public_key.to_base64()},
          {"label", k.label},
          {"created_at", k.created_at},
          {"expires_at", k.expires_at ? nlohmann::json(k.expires_at) : nlohmann::json(nullptr)},
          {"revoked_at", opt(k.revoked_at)},
          {"last_handshake_at", opt(k.last_handshake_at)},
          {"active", k.active_at(now)}};
}

std::string key_state(const Key& k, UnixTime now) {
  if (k.revoked_at) return "revoked";
  if (!k.active_at(now)) return "expired";
  return k.last_handshake_at ? "active" : "never-used";
}

}  // namespace

void register_key_commands(CLI::App& app, Context& ctx) {
  auto* key = app.add_subcommand("key", "Manage WireGuard keys")->require_subcommand(1);

  auto& add_opts = ctx.options<KeyAddOptions>();
  auto* add = key->add_subcommand("add", "Register a user's public key (the private key stays on their device)");
  add->add_option("user", add_opts.user, "User name")->required();
  add->add_option("public_key", add_opts.public_key, "The key's public half, base64 (wg pubkey)")->required();
  add->add_option("--group", add_opts.group, "Group the key connects to (default: the user's only group)");
  add->add_option("--ttl", add_opts.ttl, "Lifetime, e.g. 12h, 7d (default: the group's key_ttl)");
  add->add_option("--label", add_opts.label, "A note, e.g. the device name");
  add->callback([&ctx, &add_opts] {
    auto parsed = WgKey::from_base64(add_opts.public_key);
    if (!parsed) throw CommandError{"public_key: " + parsed.error().message};
    WgKey pub = *parsed;
    auto user = get_or_fail(ctx.store().find_user(add_opts.user));
    if (!user) throw CommandError{"no user '" + add_opts.user + "'"};
    std::vector<std::string> groups;
    for (const auto& m : get_or_fail(ctx.store().list_memberships())) {
      if (m.user_id == user->id) groups.push_back(m.group);
    }
    std::string group = add_opts.group;
    if (group.empty()) {
      if (groups.size() != 1) {
        throw CommandError{"user '" + user->name + "' is in " + std::to_string(groups.size()) +
                           " groups; say which with --group"};
      }
      group = groups.front();
    }
    const GroupConfig* g = ctx.config().find_group(group);
    if (!g) throw CommandError{"no group '" + group + "' in the config"};
    // Membership and the one-group-at-a-time rule are checked by the store,
    // inside the transaction that adds the key.
    UnixTime now = ctx.now();
    int64_t ttl = g->key_ttl_seconds;
    if (!add_opts.ttl.empty()) ttl = get_or_fail(parse_duration(add_opts.ttl));
    UnixTime expires = ttl ? now + ttl : 0;
    Key k = get_or_fail(ctx.store().add_key(user->name, group, pub, add_opts.label, now, expires, ctx.actor()));
    ctx.emit(key_json(k, user->name, now), [&] {
      std::cout << "added key " << k.id << " for " << user->name << " on group " << group;
      if (expires) std::cout << ", expires " << format_utc(expires);
      std::cout << "\n";
    });
  });

  auto& list_user = ctx.options<std::string>();
  auto* list = key->add_subcommand("list", "List keys");
  list->add_option("--user", list_user, "Only this user's keys");
  list->callback([&ctx, &list_user] {
    std::map<int64_t, std::string> names;
    for (const auto& u : get_or_fail(ctx.store().list_users())) names[u.id] = u.name;
    UnixTime now = ctx.now();
    nlohmann::json arr = nlohmann::json::array();
    std::vector<Key> shown;
    for (const auto& k : get_or_fail(ctx.store().list_keys())) {
      if (!list_user.empty() && names[k.user_id] != list_user) continue;
      arr.push_back(key_json(k, names[k.user_id], now));
      shown.push_back(k);
    }
    ctx.emit(arr, [&] {
      std::printf("%-5s %-14s %-8s %-44s %-10s %-20s %s\n", "ID", "USER", "GROUP", "PUBLIC KEY", "STATE", "EXPIRES",
                  "LAST HANDSHAKE");
      for (const auto& k : shown) {
        std::printf("%-5lld %-14s %-8s %-44s %-10s %-20s %s\n", static_cast<long long>(k.id),
                    names[k.user_id].c_str(), k.group.c_str(), k.public_key.to_base64().c_str(),
                    key_state(k, now).c_str(), k.expires_at ? format_utc(k.expires_at).c_str() : "never",
                    k.last_handshake_at ? format_utc(*k.last_handshake_at).c_str() : "-");
      }
    });
  });

  auto& revoke_id = ctx.options<int64_t>();
  auto* revoke = key->add_subcommand("revoke", "Revoke a key: its peer is removed within a second");
  revoke->add_option("id", revoke_id, "Key id")->required();
  revoke->callback([&ctx, &revoke_id] {
    check(ctx.store().revoke_key(revoke_id, ctx.now(), ctx.actor()));
    ctx.emit({{"id", revoke_id}, {"revoked", true}}, [&] { std::cout << "revoked key " << revoke_id << "\n"; });
  });

  auto& config_opts = ctx.options<ConfigOptions>();
  auto* config = app.add_subcommand("config", "Print the wg-quick client config for a key");
  config->add_option("key_id", config_opts.key_id, "Key id")->required();
  config->add_option("--private-key-file", config_opts.private_key_file,
                     "Fill in PrivateKey from this file (the client's own key; checked against the key)");
  config->callback([&ctx, &config_opts] {
    auto key = get_or_fail(ctx.store().find_key(config_opts.key_id));
    if (!key) throw CommandError{"no key " + std::to_string(config_opts.key_id)};
    UnixTime now = ctx.now();
    if (!key->active_at(now)) {
      throw CommandError{"key " + std::to_string(key->id) + " is " + (key->revoked_at ? "revoked" : "expired")};
    }
    const GroupConfig* group = ctx.config().find_group(key->group);
    if (!group) throw CommandError{"key's group '" + key->group + "' is no longer in the config"};
    ClientConfigInput in;
    in.config = &ctx.config();
    in.group = group;
    in.key = *key;
    for (const auto& u : get_or_fail(ctx.store().list_users())) {
      if (u.id == key->user_id) in.user_name = u.name;
    }
    bool leased = false;
    for (const auto& l : get_or_fail(ctx.store().current_leases())) {
      if (l.user_id == key->user_id) {
        in.address = l.address;
        leased = true;
      }
    }
    if (!leased) throw CommandError{"user '" + in.user_name + "' holds no address (disabled?)"};
    InterfaceKeys iface_keys(ctx.config().server.state_dir);
    WgKey gw_private = get_or_fail(iface_keys.load_or_create(group->interface));
    in.gateway_public_key = get_or_fail(gw_private.public_key());
    if (!config_opts.private_key_file.empty()) {
      std::ifstream f(config_opts.private_key_file);
      std::string line;
      if (!f || !std::getline(f, line)) throw CommandError{"cannot read " + config_opts.private_key_file};
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
      auto parsed = WgKey::from_base64(line);
      if (!parsed) throw CommandError{config_opts.private_key_file + ": " + parsed.error().message};
      WgKey priv = *parsed;
      if (get_or_fail(priv.public_key()) != key->public_key) {
        throw CommandError{config_opts.private_key_file + " is not the private half of key " + std::to_string(key->id)};
      }
      in.private_key = priv;
    }
    std::string text = get_or_fail(render_client_config(in));
    ctx.emit({{"key_id", key->id}, {"user", in.user_name}, {"group", group->name}, {"address", in.address.to_string()},
              {"config", text}},
             [&] { std::cout << text; });
  });
}

}  // namespace wgate::cli
