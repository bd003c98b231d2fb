#include "core/diff.h"

#include <algorithm>
#include <iterator>

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

std::vector<PeerEntry> peer_entries(const WgDeviceState& observed) {
  std::vector<PeerEntry> out;
  out.reserve(observed.peers.size());
  for (const auto& p : observed.peers) {
    PeerEntry e{p.public_key, Prefix(), p.allowed_ips.size() == 1};
    if (e.single) e.allowed_ip = p.allowed_ips.front();
    out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const PeerEntry& a, const PeerEntry& b) { return a.public_key < b.public_key; });
  // A device lists a key once; should a reply repeat one, it counts once,
  // and not as exactly right.
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].public_key == out[i - 1].public_key) out[i - 1].single = out[i].single = false;
  }
  out.erase(std::unique(out.begin(), out.end(),
                        [](const PeerEntry& a, const PeerEntry& b) { return a.public_key == b.public_key; }),
            out.end());
  return out;
}

std::vector<PeerEntry> peer_entries(const PlannedInterface& planned) {
  std::vector<PeerEntry> out;
  out.reserve(planned.peers.size());
  for (const auto& p : planned.peers) out.push_back(PeerEntry{p.public_key, p.allowed_ip, true});
  auto by_key = [](const PeerEntry& a, const PeerEntry& b) { return a.public_key < b.public_key; };
  // compile() sorts peers by key: then this is a copy, no sort.
  if (!std::is_sorted(out.begin(), out.end(), by_key)) std::sort(out.begin(), out.end(), by_key);
  return out;
}

std::vector<WgPeerUpdate> diff_peers(const std::vector<PlannedPeer>& want_in, const std::vector<PeerEntry>& have) {
  // compile() sorts peers by key; sort a copy only if a caller did not.
  auto by_key = [](const PlannedPeer& a, const PlannedPeer& b) { return a.public_key < b.public_key; };
  std::vector<PlannedPeer> sorted_copy;
  const std::vector<PlannedPeer>* want = &want_in;
  if (!std::is_sorted(want_in.begin(), want_in.end(), by_key)) {
    sorted_copy = want_in;
    std::sort(sorted_copy.begin(), sorted_copy.end(), by_key);
    want = &sorted_copy;
  }
  std::vector<WgPeerUpdate> removals, additions;
  auto add = [&](const PlannedPeer& p) {
    WgPeerUpdate u;
    u.public_key = p.public_key;
    u.replace_allowed_ips = true;
    u.allowed_ips = {p.allowed_ip};
    additions.push_back(std::move(u));
  };
  auto remove = [&](const PeerEntry& e) {
    WgPeerUpdate u;
    u.public_key = e.public_key;
    u.remove = true;
    removals.push_back(std::move(u));
  };
  auto w = want->begin();
  auto h = have.begin();
  while (w != want->end() || h != have.end()) {
    if (h == have.end() || (w != want->end() && w->public_key < h->public_key)) {
      add(*w++);
    } else if (w == want->end() || h->public_key < w->public_key) {
      remove(*h++);
    } else {
      if (!h->single || h->allowed_ip != w->allowed_ip) add(*w);
      ++w;
      ++h;
    }
  }
  removals.insert(removals.end(), std::make_move_iterator(additions.begin()), std::make_move_iterator(additions.end()));
  return removals;
}

WgDeviceUpdate diff_device(const PlannedInterface& want, const WgDeviceState& have,
                           const std::optional<WgKey>& private_key) {
  WgDeviceUpdate u;
  u.name = want.name;
  if (private_key && (!have.private_key || *have.private_key != *private_key)) u.private_key = private_key;
  if (have.listen_port != want.listen_port) u.listen_port = want.listen_port;
  u.peers = diff_peers(want.peers, peer_entries(have));
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
