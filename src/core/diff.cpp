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

WgDeviceUpdate diff_device(const PlannedInterface& want, const WgDeviceState& have, const WgKey& private_key) {
  WgDeviceUpdate u;
  u.name = want.name;
  if (!have.private_key || *have.private_key != private_key) u.private_key = private_key;
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
