#include "core/diff.h"

#include <algorithm>
#include <iterator>
#include <map>

namespace wgate {
namespace {

template <class T>
SetDiff<T> diff_sets(std::vector<T> want, std::vector<T> have) {
  std::sort(want.begin(), want.end());
  want.erase(std::unique(want.begin(), want.end()), want.end());
  std::sort(have.begin(), have.end());
  SetDiff<T> d;
  std::set_difference(have.begin(), have.end(), want.begin(), want.end(), std::back_inserter(d.to_remove));
  std::set_difference(want.begin(), want.end(), have.begin(), have.end(), std::back_inserter(d.to_add));
  return d;
}

}  // namespace

WgDeviceUpdate diff_device(const PlannedInterface& want, const WgDeviceState& have,
                           const std::optional<WgKey>& private_key) {
  WgDeviceUpdate u;
  u.name = want.name;
  if (private_key && (!have.private_key || *have.private_key != *private_key)) u.private_key = private_key;
  if (have.listen_port != want.listen_port) u.listen_port = want.listen_port;

  std::map<WgKey, const PlannedPeer*> wanted;
  for (const auto& p : want.peers) wanted[p.public_key] = &p;

  std::vector<WgPeerUpdate> additions;
  std::map<WgKey, const WgPeerState*> present;
  for (const auto& peer : have.peers) {
    present[peer.public_key] = &peer;
    if (!wanted.count(peer.public_key)) {
      WgPeerUpdate rm;
      rm.public_key = peer.public_key;
      rm.remove = true;
      u.peers.push_back(std::move(rm));
    }
  }
  for (const auto& [key, planned] : wanted) {
    auto it = present.find(key);
    if (it != present.end() && it->second->allowed_ips.size() == 1 &&
        it->second->allowed_ips.front() == planned->allowed_ip) {
      continue;  // already exactly right
    }
    WgPeerUpdate add;
    add.public_key = key;
    add.replace_allowed_ips = true;
    add.allowed_ips = {planned->allowed_ip};
    additions.push_back(std::move(add));
  }
  u.peers.insert(u.peers.end(), std::make_move_iterator(additions.begin()), std::make_move_iterator(additions.end()));
  return u;
}

void apply_update(WgDeviceState& state, const WgDeviceUpdate& update) {
  if (update.private_key) {
    state.private_key = update.private_key;
    auto pub = update.private_key->public_key();
    if (pub.ok()) state.public_key = *pub;
  }
  if (update.listen_port) state.listen_port = *update.listen_port;
  if (update.fwmark) state.fwmark = *update.fwmark;
  if (update.replace_peers) state.peers.clear();
  if (update.peers.empty()) return;

  // Indexes keep this O((n + m) log n) for n peers and m changes: a full
  // apply of 10,000 peers must not scan every peer per allowed IP.
  std::map<WgKey, WgPeerState> peers;
  std::map<Prefix, WgKey> owner;
  std::vector<WgKey> order;  // first-seen order, so the device keeps its order
  for (auto& p : state.peers) {
    for (const auto& ip : p.allowed_ips) owner[ip] = p.public_key;
    order.push_back(p.public_key);
    peers.emplace(p.public_key, std::move(p));
  }
  for (const auto& u : update.peers) {
    auto it = peers.find(u.public_key);
    if (u.remove) {
      if (it != peers.end()) {
        for (const auto& ip : it->second.allowed_ips) owner.erase(ip);
        peers.erase(it);
      }
      continue;
    }
    if (it == peers.end()) {
      WgPeerState fresh;
      fresh.public_key = u.public_key;
      it = peers.emplace(u.public_key, std::move(fresh)).first;
      order.push_back(u.public_key);
    }
    WgPeerState& peer = it->second;
    if (u.replace_allowed_ips) {
      for (const auto& ip : peer.allowed_ips) owner.erase(ip);
      peer.allowed_ips.clear();
    }
    for (const auto& ip : u.allowed_ips) {
      auto prev = owner.find(ip);
      if (prev != owner.end() && prev->second != u.public_key) {
        auto& theirs = peers[prev->second].allowed_ips;
        theirs.erase(std::remove(theirs.begin(), theirs.end(), ip), theirs.end());
      }
      if (prev == owner.end() || prev->second != u.public_key) peer.allowed_ips.push_back(ip);
      owner[ip] = u.public_key;
    }
    if (u.endpoint) peer.endpoint = *u.endpoint;
    if (u.persistent_keepalive) peer.persistent_keepalive = *u.persistent_keepalive;
  }
  state.peers.clear();
  for (const auto& key : order) {
    auto it = peers.find(key);
    if (it == peers.end()) continue;
    state.peers.push_back(std::move(it->second));
    peers.erase(it);  // a key re-added after removal appears once
  }
}

std::vector<WgDeviceUpdate> split_for_apply(const WgDeviceUpdate& update) {
  WgDeviceUpdate removals, settings, additions;
  removals.name = settings.name = additions.name = update.name;
  settings.private_key = update.private_key;
  settings.listen_port = update.listen_port;
  settings.fwmark = update.fwmark;
  settings.replace_peers = update.replace_peers;
  for (const auto& p : update.peers) (p.remove ? removals : additions).peers.push_back(p);
  std::vector<WgDeviceUpdate> steps;
  for (auto* step : {&removals, &settings, &additions}) {
    if (!step->empty()) steps.push_back(std::move(*step));
  }
  return steps;
}

SetDiff<Route> diff_routes(std::vector<Route> want, std::vector<Route> have) {
  return diff_sets(std::move(want), std::move(have));
}

SetDiff<Rule> diff_rules(std::vector<Rule> want, std::vector<Rule> have) {
  return diff_sets(std::move(want), std::move(have));
}

}  // namespace wgate
