// Service: devices, keys and client configs.
#include <algorithm>
#include <cctype>
#include <map>
#include <tuple>

#include "core/client_config.h"
#include "core/ipam.h"
#include "service/service.h"
#include "store/interface_keys.h"

namespace wgate::service {
namespace {

// The device addresses of every current device, from one snapshot.
struct AddressBook {
  std::map<int64_t, User> users;
  std::map<int64_t, Device> devices;  // every device ever, by id
  std::map<int64_t, Prefix> blocks;   // current block per user

  std::optional<IpAddress> address_of(const Device& d) const {
    auto b = blocks.find(d.user_id);
    if (b == blocks.end() || !d.current()) return std::nullopt;
    return device_address(b->second, d.slot);
  }

  KeyView view(const Key& k, UnixTime now) const {
    KeyView v;
    v.key = k;
    v.state = k.state_at(now);
    if (auto u = users.find(k.user_id); u != users.end()) v.user = u->second.name;
    if (auto d = devices.find(k.device_id); d != devices.end()) {
      v.device = d->second.name;
      v.address = address_of(d->second);
    }
    return v;
  }
};

// Marks each active key that a newer active key of the same device has
// replaced (the newer one holds the device's address: core/compile.h).
void mark_superseded(std::vector<KeyView>& views, const std::vector<Key>& keys, UnixTime now) {
  std::map<int64_t, const Key*> newest;  // device id -> newest active key
  for (const auto& k : keys) {
    if (!k.active_at(now)) continue;
    const Key*& n = newest[k.device_id];
    if (!n || std::tie(k.created_at, k.id) > std::tie(n->created_at, n->id)) n = &k;
  }
  for (auto& v : views) {
    if (!v.key.active_at(now)) continue;
    auto n = newest.find(v.key.device_id);
    if (n != newest.end() && n->second->id != v.key.id) v.state = KeyState::superseded;
  }
}

Result<AddressBook> load_address_book(Store& store) {
  AddressBook book;
  WGATE_ASSIGN_OR_RETURN(auto users, store.list_users());
  for (auto& u : users) book.users[u.id] = std::move(u);
  WGATE_ASSIGN_OR_RETURN(auto devices, store.list_devices(/*include_removed=*/true));
  for (auto& d : devices) book.devices[d.id] = std::move(d);
  WGATE_ASSIGN_OR_RETURN(auto leases, store.current_leases());
  for (auto& l : leases) book.blocks[l.user_id] = l.block;
  return book;
}

}  // namespace

Result<KeyView> add_key(Store& store, const Config& config, const AddKeyRequest& request, UnixTime now,
                        const Actor& actor) {
  auto public_key = WgKey::from_base64(request.public_key);
  if (!public_key) return public_key.error().with_context("public key");
  WGATE_ASSIGN_OR_RETURN(auto user, store.find_user(request.user));
  if (!user) return make_error("no user '" + request.user + "'");

  std::string group;
  if (request.group) {
    group = *request.group;
  } else {
    WGATE_ASSIGN_OR_RETURN(auto memberships, store.list_memberships());
    std::vector<std::string> groups;
    for (const auto& m : memberships) {
      if (m.user_id == user->id) groups.push_back(m.group);
    }
    if (groups.size() != 1) {
      return make_error("user '" + user->name + "' is in " + std::to_string(groups.size()) +
                        " groups; say which the key connects to (--group)");
    }
    group = groups.front();
  }
  const GroupConfig* g = config.find_group(group);
  if (!g) return make_error("no group '" + group + "' in the config");

  int64_t ttl = g->key_ttl_seconds;
  if (request.ttl) {
    auto parsed = parse_duration(*request.ttl);
    if (!parsed) return parsed.error().with_context("ttl");
    ttl = *parsed;
  }
  // Membership, the device's slot and key uniqueness are checked by the
  // store, inside the transaction that adds the key.
  NewKey key{user->name, request.device, group, *public_key, ttl ? now + ttl : 0};
  WGATE_ASSIGN_OR_RETURN(Key added, store.add_key(key, config.per_user, now, actor));
  WGATE_ASSIGN_OR_RETURN(AddressBook book, load_address_book(store));
  return book.view(added, now);
}

Status revoke_key(Store& store, int64_t key_id, UnixTime now, const Actor& actor) {
  return store.revoke_key(key_id, now, actor);
}

Status remove_device(Store& store, const std::string& user, const std::string& device, UnixTime now,
                     const Actor& actor) {
  return store.remove_device(user, device, now, actor);
}

Result<std::vector<KeyView>> list_keys(Store& store, const Config& config, const KeyFilter& filter, UnixTime now) {
  (void)config;
  WGATE_ASSIGN_OR_RETURN(AddressBook book, load_address_book(store));
  if (filter.user && std::none_of(book.users.begin(), book.users.end(),
                                  [&](const auto& u) { return u.second.name == *filter.user; })) {
    return make_error("no user '" + *filter.user + "'");
  }
  WGATE_ASSIGN_OR_RETURN(auto keys, store.list_keys());
  std::vector<KeyView> all;
  for (const auto& k : keys) all.push_back(book.view(k, now));
  mark_superseded(all, keys, now);
  std::vector<KeyView> out;
  for (auto& v : all) {
    if (!filter.user || v.user == *filter.user) out.push_back(std::move(v));
  }
  return out;
}

std::map<KeyState, std::size_t> count_key_states(const std::vector<Key>& keys, UnixTime now) {
  std::vector<KeyView> views;
  views.reserve(keys.size());
  for (const auto& k : keys) {
    KeyView v;
    v.key = k;
    v.state = k.state_at(now);
    views.push_back(std::move(v));
  }
  mark_superseded(views, keys, now);
  std::map<KeyState, std::size_t> out;
  for (const auto& v : views) ++out[v.state];
  return out;
}

Result<ClientConfigView> client_config(Store& store, const Config& config, int64_t key_id,
                                       const std::optional<std::string>& private_key_base64, UnixTime now) {
  WGATE_ASSIGN_OR_RETURN(auto key, store.find_key(key_id));
  if (!key) return make_error("no key " + std::to_string(key_id));
  if (!key->active_at(now)) {
    return make_error("key " + std::to_string(key->id) + " is " + to_string(key->state_at(now)));
  }
  const GroupConfig* group = config.find_group(key->group);
  if (!group) return make_error("key's group '" + key->group + "' is no longer in the config");
  WGATE_ASSIGN_OR_RETURN(AddressBook book, load_address_book(store));
  KeyView view = book.view(*key, now);
  WGATE_ASSIGN_OR_RETURN(auto keys, store.list_keys());
  {
    std::vector<KeyView> one{view};
    mark_superseded(one, keys, now);
    if (one[0].state == KeyState::superseded) {
      return make_error("key " + std::to_string(key->id) + " is superseded: a newer key of device '" + view.device +
                        "' holds its address");
    }
  }
  WGATE_ASSIGN_OR_RETURN(auto memberships, store.list_memberships());
  if (std::none_of(memberships.begin(), memberships.end(), [&](const Membership& m) {
        return m.user_id == key->user_id && m.group == key->group;
      })) {
    return make_error("user '" + view.user + "' is no longer a member of group '" + key->group + "'");
  }
  if (!view.address) {
    return make_error("device '" + view.device + "' of user '" + view.user +
                      "' holds no address (user disabled, or the device's slot is outside the block)");
  }

  ClientConfigInput in;
  in.config = &config;
  in.group = group;
  in.key = *key;
  in.user_name = view.user;
  in.device_name = view.device;
  in.address = *view.address;
  // Only the daemon creates interface keys: a read-only command must never
  // write one, or the daemon would push it and cut every client off.
  WGATE_ASSIGN_OR_RETURN(in.gateway_public_key, InterfaceKeys(config.server.state_dir).public_key(group->interface));
  if (private_key_base64) {
    std::string text = *private_key_base64;
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    auto parsed = WgKey::from_base64(text);
    if (!parsed) return make_error("private key: not a base64 WireGuard key");
    WGATE_ASSIGN_OR_RETURN(WgKey pub, parsed->public_key());
    if (pub != key->public_key) {
      return make_error("the private key given is not the private half of key " + std::to_string(key->id));
    }
    in.private_key = *parsed;
  }
  WGATE_ASSIGN_OR_RETURN(std::string text, render_client_config(in));
  return ClientConfigView{view, group->name, text};
}

}  // namespace wgate::service
