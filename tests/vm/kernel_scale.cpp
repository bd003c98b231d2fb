// The kernel WireGuard backend against a real kernel, at scale.
//
// Drives make_kernel_backend + make_netlink_router on a real wireguard
// module (tests/vm/run.sh boots one under QEMU) and counts every generic
// netlink message that really crosses the socket, by capturing the netns's
// netlink traffic on an nlmon link. Checks that:
//  - 10,000 peers (some with hundreds of allowed IPs, so that peers span
//    messages) go in as a batch of full-size messages, and read back
//    identical through a multi-part dump;
//  - adding one peer, removing one, and changing one user's key are each ONE
//    small WG_CMD_SET_DEVICE request and its ACK, never a resync;
//  - REPLACE_PEERS over several messages leaves exactly the listed peers.
//
// Usage (root, inside a network namespace made for it, with the nlmon link
// already up there):
//   wgate_vm_kernel_scale [--peers N] [--ifname NAME] [--nlmon NAME]
// Prints PASS/FAIL lines, timings and "N passed, N failed"; exits 1 on any
// failure, 2 when it cannot start.
#include <arpa/inet.h>
#include <linux/genetlink.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/netstate.h"
#include "dataplane/kernel_backend.h"
#include "dataplane/netlink_router.h"
#include "netlink/socket.h"
#include "netlink/wg_genl.h"

namespace {

using namespace wgate;
using Clock = std::chrono::steady_clock;

int g_passed = 0;
int g_failed = 0;
const Clock::time_point g_start = Clock::now();

void check(bool ok, const std::string& what) {
  double t = std::chrono::duration<double>(Clock::now() - g_start).count();
  std::printf("%s: %s [t=%.1fs]\n", ok ? "PASS" : "FAIL", what.c_str(), t);
  std::fflush(stdout);
  (ok ? g_passed : g_failed)++;
}

[[noreturn]] void die(const std::string& what) {
  std::printf("FATAL: %s\n", what.c_str());
  std::printf("%d passed, %d failed\n", g_passed, g_failed + 1);
  std::exit(2);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// What crossed the netns's generic netlink sockets in one phase, as the
// kernel's nlmon tap saw it.
struct Traffic {
  int requests = 0;        // WireGuard family messages with NLM_F_REQUEST
  size_t request_bytes = 0;
  size_t largest_request = 0;
  int replies = 0;         // WireGuard family messages from the kernel (dump parts)
  int acks = 0;            // NLMSG_ERROR with error 0
  int errors = 0;          // NLMSG_ERROR with an errno
  int dones = 0;           // NLMSG_DONE
  std::string summary() const {
    return std::to_string(requests) + " request(s) of " + std::to_string(request_bytes) + " bytes (largest " +
           std::to_string(largest_request) + "), " + std::to_string(replies) + " reply part(s), " +
           std::to_string(acks) + " ACK(s), " + std::to_string(errors) + " error(s), " + std::to_string(dones) +
           " DONE";
  }
};

// A packet socket on an nlmon link: every netlink message of this network
// namespace, both directions. Move-only owner of the fd.
class NetlinkTap {
 public:
  NetlinkTap(const std::string& ifname, uint16_t family_id) : family_id_(family_id) {
    unsigned index = if_nametoindex(ifname.c_str());
    if (index == 0) die("nlmon link \"" + ifname + "\" not found: " + std::strerror(errno));
    fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd_ < 0) die(std::string("packet socket: ") + std::strerror(errno));
    // A 10,000-peer dump is a few MB; keep all of it queued until drained.
    int size = 64 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(index);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) < 0) {
      die(std::string("binding packet socket to nlmon: ") + std::strerror(errno));
    }
    drain();
  }
  NetlinkTap(const NetlinkTap&) = delete;
  NetlinkTap& operator=(const NetlinkTap&) = delete;
  ~NetlinkTap() {
    if (fd_ >= 0) close(fd_);
  }

  // Everything captured since the last call. The tap is fed synchronously
  // while the kernel handles a request, so after a request returned its
  // traffic is already queued here.
  Traffic drain() {
    Traffic t;
    std::vector<uint8_t> buf(1 << 20);
    for (;;) {
      sockaddr_ll from{};
      socklen_t from_len = sizeof(from);
      ssize_t n = recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) break;
      if (ntohs(from.sll_protocol) != NETLINK_GENERIC) continue;
      size_t off = 0;
      while (off + sizeof(nlmsghdr) <= static_cast<size_t>(n)) {
        nlmsghdr h;
        std::memcpy(&h, buf.data() + off, sizeof(h));
        if (h.nlmsg_len < sizeof(nlmsghdr) || off + h.nlmsg_len > static_cast<size_t>(n)) break;
        if (h.nlmsg_type == family_id_) {
          if (h.nlmsg_flags & NLM_F_REQUEST) {
            ++t.requests;
            t.request_bytes += h.nlmsg_len;
            t.largest_request = std::max<size_t>(t.largest_request, h.nlmsg_len);
          } else {
            ++t.replies;
          }
        } else if (h.nlmsg_type == NLMSG_ERROR && h.nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr))) {
          nlmsgerr e;
          std::memcpy(&e, buf.data() + off + NLMSG_HDRLEN, sizeof(e));
          // Only answers to WireGuard requests (the genl controller's too
          // would otherwise count).
          if (e.msg.nlmsg_type == family_id_) ++(e.error == 0 ? t.acks : t.errors);
        } else if (h.nlmsg_type == NLMSG_DONE) {
          ++t.dones;
        }
        off += NLMSG_ALIGN(h.nlmsg_len);
      }
    }
    return t;
  }

 private:
  int fd_ = -1;
  uint16_t family_id_;
};

uint16_t resolve_wireguard_family() {
  auto sock = netlink::MnlSocket::open(NETLINK_GENERIC);
  if (!sock.ok()) die(sock.error().message);
  std::vector<uint8_t> req = netlink::encode_get_family(WG_GENL_NAME, sock->next_seq());
  std::optional<uint16_t> id;
  Status st = sock->request(reinterpret_cast<const nlmsghdr*>(req.data()), [&](const nlmsghdr* nlh) -> Status {
    auto r = netlink::parse_family_id(nlh);
    if (!r.ok()) return r.error();
    id = *r;
    return ok_status();
  });
  if (!st.ok() || !id) die("resolving genl family wireguard: " + (st.ok() ? "no reply" : st.error().message));
  return *id;
}

// Deterministic, distinct peer keys (any 32 bytes are a valid public key).
WgKey peer_key(uint32_t i, uint8_t generation = 0) {
  std::array<uint8_t, WgKey::kSize> b{};
  for (size_t j = 0; j < b.size(); ++j) b[j] = static_cast<uint8_t>((i * 2654435761u >> (j % 4 * 8)) + j * 7);
  std::memcpy(b.data(), &i, sizeof(i));
  b[4] = generation;
  b[31] = 0x5a;
  return WgKey(b);
}

// 10.200.0.0/16 hosts for ordinary peers: peer i gets 10.200.(i/250).(i%250+1).
Prefix peer_ip(uint32_t i) { return Prefix(IpAddress::v4((10u << 24) | (200u << 16) | ((i / 250) << 8) | (i % 250 + 1)), 32); }

// Every 1000th peer also routes `kWideIps` /32s of 10.(210+k).x.y: far more
// than one 4 KiB message holds, so it is split across messages both ways.
constexpr uint32_t kWideEvery = 1000;
constexpr uint32_t kWideIps = 400;
std::vector<Prefix> wide_ips(uint32_t i) {
  std::vector<Prefix> out;
  uint32_t base = (10u << 24) | ((210u + i / kWideEvery) << 16);
  for (uint32_t k = 0; k < kWideIps; ++k) out.emplace_back(IpAddress::v4(base | ((k / 200) << 8) | (k % 200 + 1)), 32);
  return out;
}

WgPeerUpdate make_peer(uint32_t i) {
  WgPeerUpdate p;
  p.public_key = peer_key(i);
  p.replace_allowed_ips = true;
  p.allowed_ips.push_back(peer_ip(i));
  if (i % kWideEvery == 7) {
    auto more = wide_ips(i);
    p.allowed_ips.insert(p.allowed_ips.end(), more.begin(), more.end());
  }
  // TEST-NET-1 endpoints: the device stays down in a namespace without any
  // other link, so nothing is ever sent to them.
  if (i % 3 == 0) p.endpoint = "192.0.2." + std::to_string(i % 250 + 1) + ":" + std::to_string(40000 + i % 20000);
  if (i % 5 == 0) p.persistent_keepalive = static_cast<uint16_t>(25);
  return p;
}

// Compares what the kernel reports with what was set; names the first
// difference.
std::string compare(const std::vector<WgPeerUpdate>& want, const WgDeviceState& got) {
  if (got.peers.size() != want.size()) {
    return "peer count " + std::to_string(got.peers.size()) + " != " + std::to_string(want.size());
  }
  std::map<WgKey, const WgPeerState*> by_key;
  for (const auto& p : got.peers) {
    if (!by_key.emplace(p.public_key, &p).second) return "peer " + p.public_key.to_base64() + " reported twice";
  }
  for (const auto& w : want) {
    auto it = by_key.find(w.public_key);
    if (it == by_key.end()) return "peer " + w.public_key.to_base64() + " missing";
    const WgPeerState& g = *it->second;
    // The kernel returns allowed IPs in its trie's order, not ours.
    std::set<Prefix> a(w.allowed_ips.begin(), w.allowed_ips.end());
    std::set<Prefix> b(g.allowed_ips.begin(), g.allowed_ips.end());
    if (a != b || g.allowed_ips.size() != w.allowed_ips.size()) {
      return "peer " + w.public_key.to_base64() + ": " + std::to_string(g.allowed_ips.size()) + " allowed IPs, want " +
             std::to_string(w.allowed_ips.size());
    }
    if (g.endpoint != w.endpoint.value_or("")) {
      return "peer " + w.public_key.to_base64() + ": endpoint \"" + g.endpoint + "\" != \"" + w.endpoint.value_or("") +
             "\"";
    }
    if (g.persistent_keepalive != w.persistent_keepalive.value_or(0)) {
      return "peer " + w.public_key.to_base64() + ": keepalive " + std::to_string(g.persistent_keepalive);
    }
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t n_peers = 10000;
  std::string ifname = "wgvmscale0";
  std::string nlmon = "nlmon0";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--peers") {
      n_peers = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    } else if (a == "--ifname") {
      ifname = argv[i + 1];
    } else if (a == "--nlmon") {
      nlmon = argv[i + 1];
    } else {
      die("unknown argument " + a);
    }
  }
  if (n_peers < 10 || n_peers > 60000) die("--peers must be 10..60000");  // peer_ip() spans a /16
  const auto t_all = Clock::now();

  auto router = make_netlink_router();
  if (!router.ok()) die(router.error().message);
  auto backend = make_kernel_backend(**router);
  if (!backend.ok()) die(backend.error().message);
  WgBackend& wg = **backend;
  const uint16_t family = resolve_wireguard_family();
  NetlinkTap tap(nlmon, family);

  // ---- device
  if (auto gone = wg.remove_device(ifname); !gone.ok()) die(gone.error().message);
  auto created = wg.ensure_device(ifname);
  check(created.ok() && *created, "ensure_device creates kernel link " + ifname);
  auto again = wg.ensure_device(ifname);
  check(again.ok() && !*again, "ensure_device leaves the existing device alone");
  auto exists = wg.device_exists(ifname);
  check(exists.ok() && *exists, "device_exists answers through the wireguard genl family");
  tap.drain();

  // ---- 10,000 peers in one batched update
  auto priv = WgKey::generate_private();
  if (!priv.ok()) die(priv.error().message);
  WgDeviceUpdate full;
  full.name = ifname;
  full.private_key = *priv;
  full.listen_port = 51999;
  full.replace_peers = true;
  for (uint32_t i = 0; i < n_peers; ++i) full.peers.push_back(make_peer(i));
  size_t total_ips = 0;
  for (const auto& p : full.peers) total_ips += p.allowed_ips.size();
  auto expected_msgs = netlink::encode_set_device(full, family, 1);
  if (!expected_msgs.ok()) die(expected_msgs.error().message);

  auto t0 = Clock::now();
  Status st = wg.set_device(full);
  double set_s = seconds_since(t0);
  Traffic t = tap.drain();
  check(st.ok(), "set_device with " + std::to_string(n_peers) + " peers / " + std::to_string(total_ips) +
                     " allowed IPs (" + std::to_string(set_s) + " s)" + (st.ok() ? "" : ": " + st.error().message));
  std::printf("  set traffic: %s\n", t.summary().c_str());
  check(t.requests == static_cast<int>(expected_msgs->size()) && t.requests > 1,
        "the update went out as " + std::to_string(t.requests) + " batched messages (encoder planned " +
            std::to_string(expected_msgs->size()) + ")");
  check(t.acks == t.requests && t.errors == 0, "every message was ACKed, none rejected");
  check(t.largest_request <= netlink::kWgDefaultMessageSize,
        "no message exceeds " + std::to_string(netlink::kWgDefaultMessageSize) + " bytes (largest " +
            std::to_string(t.largest_request) + ")");

  // ---- read it all back through a multi-part dump
  t0 = Clock::now();
  auto dev = wg.get_device(ifname);
  double get_s = seconds_since(t0);
  t = tap.drain();
  if (!dev.ok()) die("get_device: " + dev.error().message);
  std::printf("  dump traffic: %s\n", t.summary().c_str());
  check(t.requests == 1 && t.replies > 1 && t.dones == 1,
        "get_device is one dump of " + std::to_string(t.replies) + " parts (" + std::to_string(get_s) + " s)");
  std::string diff = compare(full.peers, *dev);
  check(diff.empty(), "all " + std::to_string(n_peers) + " peers read back identical" + (diff.empty() ? "" : ": " + diff));
  auto pub = priv->public_key();
  check(dev->private_key == *priv && pub.ok() && dev->public_key == *pub && dev->listen_port == 51999 &&
            dev->name == ifname && dev->ifindex > 0,
        "device keys, port, name and ifindex read back");

  // ---- incremental changes: each is one small exchange
  std::vector<WgPeerUpdate> want = full.peers;
  auto one_exchange = [&](const WgDeviceUpdate& u, const std::string& what) {
    auto t_start = Clock::now();
    Status s = wg.set_device(u);
    double took = seconds_since(t_start);
    Traffic tr = tap.drain();
    check(s.ok() && tr.requests == 1 && tr.acks == 1 && tr.errors == 0 && tr.request_bytes < 512,
          what + ": one request of " + std::to_string(tr.request_bytes) + " bytes + 1 ACK (" +
              std::to_string(took * 1000) + " ms)" + (s.ok() ? "" : ": " + s.error().message));
  };

  WgDeviceUpdate add;
  add.name = ifname;
  add.peers.push_back(make_peer(n_peers));
  one_exchange(add, "adding one peer to " + std::to_string(n_peers));
  want.push_back(add.peers[0]);

  WgDeviceUpdate rm;
  rm.name = ifname;
  rm.peers.push_back(WgPeerUpdate{});
  rm.peers[0].public_key = peer_key(1);
  rm.peers[0].remove = true;
  one_exchange(rm, "removing one peer");
  want.erase(std::remove_if(want.begin(), want.end(), [](const WgPeerUpdate& p) { return p.public_key == peer_key(1); }),
             want.end());

  // A user's key changes: the old peer goes, a new one takes its address.
  WgDeviceUpdate rekey;
  rekey.name = ifname;
  WgPeerUpdate old_peer;
  old_peer.public_key = peer_key(2);
  old_peer.remove = true;
  WgPeerUpdate new_peer = make_peer(2);
  new_peer.public_key = peer_key(2, 1);
  rekey.peers = {old_peer, new_peer};
  one_exchange(rekey, "changing one peer's key");
  for (auto& p : want) {
    if (p.public_key == peer_key(2)) p.public_key = peer_key(2, 1);
  }

  dev = wg.get_device(ifname);
  tap.drain();
  if (!dev.ok()) die("get_device: " + dev.error().message);
  diff = compare(want, *dev);
  check(diff.empty(), "after add/remove/rekey the kernel holds exactly the expected " + std::to_string(want.size()) +
                          " peers" + (diff.empty() ? "" : ": " + diff));

  // ---- REPLACE_PEERS spanning several messages applies once, to the first
  WgDeviceUpdate half;
  half.name = ifname;
  half.replace_peers = true;
  for (uint32_t i = n_peers / 2; i < n_peers; ++i) {
    half.peers.push_back(make_peer(i));
    half.peers.back().public_key = peer_key(i, 2);
  }
  t0 = Clock::now();
  st = wg.set_device(half);
  double replace_s = seconds_since(t0);
  t = tap.drain();
  dev = wg.get_device(ifname);
  tap.drain();
  if (!dev.ok()) die("get_device: " + dev.error().message);
  // Fresh keys, but the same addresses as the peers they replace.
  diff = st.ok() ? compare(half.peers, *dev) : st.error().message;
  check(diff.empty() && t.requests > 1, "REPLACE_PEERS with " + std::to_string(half.peers.size()) + " peers in " +
                                             std::to_string(t.requests) + " messages leaves exactly those (" +
                                             std::to_string(replace_s) + " s)" + (diff.empty() ? "" : ": " + diff));

  // ---- clearing: REPLACE_PEERS with no peer is one message.
  WgDeviceUpdate clear;
  clear.name = ifname;
  clear.replace_peers = true;
  t0 = Clock::now();
  st = wg.set_device(clear);
  double clear_s = seconds_since(t0);
  t = tap.drain();
  dev = wg.get_device(ifname);
  tap.drain();
  check(st.ok() && t.requests == 1 && t.acks == 1 && dev.ok() && dev->peers.empty() && dev->private_key == *priv,
        "REPLACE_PEERS without peers empties the device, keeps its key, in one message (" + std::to_string(clear_s) +
            " s)");

  // ---- teardown of a full device. The kernel's own link deletion frees
  // peers one synchronize_net() at a time (85 s for 5,000 peers here);
  // remove_device empties the device first, so it stays quick.
  st = wg.set_device(half);
  if (!st.ok()) die("refilling: " + st.error().message);
  t0 = Clock::now();
  Status removed = wg.remove_device(ifname);
  double remove_s = seconds_since(t0);
  auto still = wg.device_exists(ifname);
  check(removed.ok() && still.ok() && !*still && remove_s < 15,
        "remove_device deletes the link with " + std::to_string(half.peers.size()) + " peers in " +
            std::to_string(remove_s) + " s (< 15 s)");

  std::printf("kernel scale: %u peers, set %.2f s, dump %.2f s, total %.1f s\n", n_peers, set_s, get_s,
              seconds_since(t_all));
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
