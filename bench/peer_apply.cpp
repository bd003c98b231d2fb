// bench_peer_apply: how long wgate takes to put N peers on a fresh
// WireGuard interface, and to add one peer to 10,000, against `wg setconf` /
// `wg set` doing the same on another fresh interface of the same kind in the
// same run. The interfaces are userspace (wireguard-go, the default) or
// kernel WireGuard links (--backend kernel; wg(8) then talks generic netlink
// to the kernel, as wgate does).
//
// wgate's path is the real one: observe (WgBackend::get_device), diff
// (diff_device against a PlannedInterface) and apply (WgBackend::set_device).
// The anchors are the `wg` tool, run with fork/exec; a benchmark may shell
// out, product code may not.
//
// Must run as root inside a network namespace of its own (see
// run_peer_apply.sh): it creates interfaces named wgb-<a|b><size>-<rep>.
// Prints a table; asserts nothing about speed, only that every apply really
// produced the expected device (peer counts, a one-peer diff for the add).
//
// Usage: bench_peer_apply [--backend userspace|kernel] [--reps N]
//                         [--sizes 1000,10000]
#include <fcntl.h>
#include <spawn.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/cidr.h"
#include "core/diff.h"
#include "core/plan.h"
#include "core/wg_key.h"
#include "dataplane/kernel_backend.h"
#include "dataplane/netlink_router.h"
#include "dataplane/userspace_backend.h"

extern char** environ;

namespace wgate {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

[[noreturn]] void die(const std::string& what, const Error& e) {
  std::fprintf(stderr, "bench_peer_apply: %s: %s\n", what.c_str(), e.message.c_str());
  std::exit(1);
}

template <class T>
T must(Result<T> r, const std::string& what) {
  if (!r.ok()) die(what, r.error());
  return std::move(r).value();
}

void must(const Status& s, const std::string& what) {
  if (!s.ok()) die(what, s.error());
}

// Runs argv (looked up in PATH; stdout to /dev/null, stderr kept) and
// waits; true when it exited with 0.
bool run(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    std::fprintf(stderr, "spawn %s: %s\n", argv[0], std::strerror(rc));
    return false;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct Peer {
  WgKey public_key;
  Prefix allowed_ip;
};

// Random keys, one /32 each from 10.200.0.0/16 (10.200.0.1 upwards).
std::vector<Peer> make_peers(size_t count) {
  const IpAddress base = IpAddress::v4((10u << 24) | (200u << 16));
  std::vector<Peer> peers;
  peers.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    WgKey priv = must(WgKey::generate_private(), "generate key");
    peers.push_back(Peer{must(priv.public_key(), "derive public key"), Prefix(base.plus(i + 1), 32)});
  }
  return peers;
}

PlannedInterface make_plan(const std::string& name, uint16_t port, const std::vector<Peer>& peers, size_t count) {
  PlannedInterface plan;
  plan.name = name;
  plan.group = "bench";
  plan.listen_port = port;
  for (size_t i = 0; i < count; ++i) {
    plan.peers.push_back(PlannedPeer{peers[i].public_key, peers[i].allowed_ip, static_cast<int64_t>(i + 1), "u", "d"});
  }
  std::sort(plan.peers.begin(), plan.peers.end(),
            [](const PlannedPeer& a, const PlannedPeer& b) { return a.public_key < b.public_key; });
  return plan;
}

// The same device as a wg(8) config file, for `wg setconf`.
void write_conf(const std::string& path, const WgKey& private_key, uint16_t port, const std::vector<Peer>& peers,
                size_t count) {
  std::string text = "[Interface]\nPrivateKey = " + private_key.to_base64() + "\nListenPort = " +
                     std::to_string(port) + "\n";
  for (size_t i = 0; i < count; ++i) {
    text += "\n[Peer]\nPublicKey = " + peers[i].public_key.to_base64() +
            "\nAllowedIPs = " + peers[i].allowed_ip.address().to_string() + "/32\n";
  }
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "bench_peer_apply: cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

// Removes the interfaces it was given when the scope ends, also on the
// error paths (die() exits, but run_peer_apply.sh also tears down the
// namespace, so this is belt and braces for normal returns).
class DeviceGuard {
 public:
  DeviceGuard(WgBackend& backend, std::vector<std::string> names) : backend_(backend), names_(std::move(names)) {}
  ~DeviceGuard() {
    for (const auto& n : names_) {
      auto s = backend_.remove_device(n);
      if (!s.ok()) std::fprintf(stderr, "remove %s: %s\n", n.c_str(), s.error().message.c_str());
    }
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  WgBackend& backend_;
  std::vector<std::string> names_;
};

struct WgateTiming {
  double observe = 0, diff = 0, apply = 0;
  size_t peer_updates = 0;
  bool device_fields = false;  // the update also set private key / port
  double total() const { return observe + diff + apply; }
};

// wgate's real path: observe, diff against the plan, apply.
WgateTiming wgate_apply(WgBackend& backend, const PlannedInterface& plan, const WgKey& private_key) {
  WgateTiming t;
  auto t0 = Clock::now();
  WgDeviceState have = must(backend.get_device(plan.name), "observe " + plan.name);
  auto t1 = Clock::now();
  WgDeviceUpdate update = diff_device(plan, have, private_key);
  auto t2 = Clock::now();
  must(backend.set_device(update), "apply " + plan.name);
  auto t3 = Clock::now();
  t.observe = ms_between(t0, t1);
  t.diff = ms_between(t1, t2);
  t.apply = ms_between(t2, t3);
  t.peer_updates = update.peers.size();
  t.device_fields = update.private_key.has_value() || update.listen_port.has_value();
  return t;
}

double timed_run(const std::vector<std::string>& args) {
  auto t0 = Clock::now();
  if (!run(args)) {
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    std::fprintf(stderr, "bench_peer_apply: failed: %s\n", cmd.c_str());
    std::exit(1);
  }
  return ms_between(t0, Clock::now());
}

// Checks (untimed) that the device holds exactly `count` peers and `key`.
void verify(WgBackend& backend, const std::string& name, size_t count, const WgKey& private_key) {
  WgDeviceState s = must(backend.get_device(name), "verify " + name);
  if (s.peers.size() != count || !s.private_key || *s.private_key != private_key) {
    std::fprintf(stderr, "bench_peer_apply: %s has %zu peers (want %zu) or the wrong key\n", name.c_str(),
                 s.peers.size(), count);
    std::exit(1);
  }
}

std::string size_tag(size_t n) { return n % 1000 == 0 ? std::to_string(n / 1000) + "k" : std::to_string(n); }

struct SizeResults {
  std::vector<double> observe, diff, apply, total, wg;
};

struct AddResults {
  std::vector<double> observe, diff, apply, total, wg;
  std::vector<double> wg_dump;  // `wg show <if> dump`: wg(8)'s own observe, for context
  std::vector<size_t> peer_updates;
};

// "Linux <release>, wireguard module <version>", for the header line: the
// kernel's numbers only mean something next to the kernel they came from.
std::string kernel_description() {
  std::string out = "Linux ";
  struct utsname u {};
  out += ::uname(&u) == 0 ? u.release : "?";
  std::ifstream version("/sys/module/wireguard/version");
  std::string v;
  out += ", wireguard module " + (std::getline(version, v) && !v.empty() ? v : std::string("version unknown"));
  return out;
}

std::vector<size_t> parse_sizes(const char* text) {
  std::vector<size_t> out;
  std::string s(text);
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    std::string part = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    long v = std::strtol(part.c_str(), nullptr, 10);
    if (v <= 0 || v > 60000) {
      std::fprintf(stderr, "bad size \"%s\" (1..60000)\n", part.c_str());
      std::exit(2);
    }
    out.push_back(static_cast<size_t>(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

int bench_main(int argc, char** argv) {
  int reps = 3;
  std::vector<size_t> sizes{1000, 10000};
  BackendKind kind = BackendKind::userspace;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--backend" && i + 1 < argc) {
      std::string v = argv[++i];
      if (v == "kernel") {
        kind = BackendKind::kernel;
      } else if (v == "userspace") {
        kind = BackendKind::userspace;
      } else {
        std::fprintf(stderr, "--backend: kernel or userspace\n");
        return 2;
      }
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
      if (reps < 1 || reps > 9) {
        std::fprintf(stderr, "--reps: 1..9\n");
        return 2;
      }
    } else if (a == "--sizes" && i + 1 < argc) {
      sizes = parse_sizes(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--backend userspace|kernel] [--reps N] [--sizes 1000,10000]\n", argv[0]);
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "bench_peer_apply: needs root (run it through bench/run_peer_apply.sh)\n");
    return 2;
  }

  // The router first: the kernel backend creates and deletes its links
  // through it, so it must outlive the backend (locals die in reverse).
  auto router = must(make_netlink_router(), "netlink router");
  std::unique_ptr<WgBackend> backend;
  if (kind == BackendKind::kernel) {
    backend = must(make_kernel_backend(*router), "kernel WireGuard backend");
    std::printf("backend: kernel WireGuard (%s)\n", kernel_description().c_str());
  } else {
    UserspaceOptions opts;
    opts.log_dir = "";  // wireguard-go logs to /dev/null
    // wireguard-go stalls reading a 10,000-peer set for seconds.
    opts.io_timeout = std::chrono::milliseconds(120000);
    backend = make_userspace_backend(opts);
  }
  const char* backend_label = kind == BackendKind::kernel ? "kernel WireGuard" : "wireguard-go";

  const size_t largest = *std::max_element(sizes.begin(), sizes.end());
  std::printf("generating %zu peer keys...\n", largest + 1);
  std::fflush(stdout);
  // One extra peer: the one added to the largest device.
  const std::vector<Peer> peers = make_peers(largest + 1);
  char dir_template[] = "/tmp/wgb-peer-apply-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = dir_template;

  std::vector<SizeResults> results(sizes.size());
  AddResults add;
  uint16_t next_port = 41000;

  for (int rep = 1; rep <= reps; ++rep) {
    for (size_t si = 0; si < sizes.size(); ++si) {
      const size_t n = sizes[si];
      const std::string tag = size_tag(n) + "-" + std::to_string(rep);
      const std::string a = "wgb-a" + tag;  // wgate's
      const std::string b = "wgb-b" + tag;  // wg setconf's
      const uint16_t port_a = next_port++;
      const uint16_t port_b = next_port++;
      const WgKey key_a = must(WgKey::generate_private(), "generate key");
      const WgKey key_b = must(WgKey::generate_private(), "generate key");
      const PlannedInterface plan = make_plan(a, port_a, peers, n);
      const std::string conf = dir + "/" + b + ".conf";
      write_conf(conf, key_b, port_b, peers, n);

      // Fresh devices, up like wgate's are (an up wireguard-go starts each
      // peer's goroutines as it is added, which is part of the cost; an up
      // kernel device has its UDP socket open while peers go in).
      DeviceGuard guard(*backend, {a, b});
      for (const auto& name : {a, b}) {
        if (!must(backend->ensure_device(name), "create " + name)) {
          std::fprintf(stderr, "bench_peer_apply: %s already existed, not fresh\n", name.c_str());
          return 1;
        }
        must(router->set_link_up(name), "link up " + name);
      }

      // Alternate who goes first so neither always gets a quieter machine.
      WgateTiming w;
      double wg_ms = 0;
      auto do_wgate = [&] { w = wgate_apply(*backend, plan, key_a); };
      auto do_wg = [&] { wg_ms = timed_run({"wg", "setconf", b, conf}); };
      if (rep % 2) {
        do_wgate();
        do_wg();
      } else {
        do_wg();
        do_wgate();
      }
      if (w.peer_updates != n) {
        std::fprintf(stderr, "bench_peer_apply: diff for a fresh %s has %zu peer updates, want %zu\n", a.c_str(),
                     w.peer_updates, n);
        return 1;
      }
      verify(*backend, a, n, key_a);
      verify(*backend, b, n, key_b);
      std::printf("  rep %d peers=%-6zu wgate=%9.1f ms (observe %.1f diff %.1f apply %.1f)   wg setconf=%9.1f ms\n",
                  rep, n, w.total(), w.observe, w.diff, w.apply, wg_ms);
      std::fflush(stdout);  // progress shows as it happens, also through a pipe
      auto& r = results[si];
      r.observe.push_back(w.observe);
      r.diff.push_back(w.diff);
      r.apply.push_back(w.apply);
      r.total.push_back(w.total());
      r.wg.push_back(wg_ms);

      if (n != largest) continue;
      // Add one peer to the largest device: the plan gains one peer; wg(8)
      // gets the equivalent `wg set`.
      const Peer& extra = peers[n];
      PlannedInterface plan_plus = make_plan(a, port_a, peers, n + 1);
      WgateTiming wa;
      double wg_add = 0;
      auto add_wgate = [&] { wa = wgate_apply(*backend, plan_plus, key_a); };
      auto add_wg = [&] {
        wg_add = timed_run({"wg", "set", b, "peer", extra.public_key.to_base64(), "allowed-ips",
                            extra.allowed_ip.address().to_string() + "/32"});
      };
      if (rep % 2) {
        add_wgate();
        add_wg();
      } else {
        add_wg();
        add_wgate();
      }
      if (wa.peer_updates != 1 || wa.device_fields) {
        std::fprintf(stderr, "bench_peer_apply: adding one peer gave %zu peer updates%s, want a 1-peer update\n",
                     wa.peer_updates, wa.device_fields ? " plus device fields" : "");
        return 1;
      }
      verify(*backend, a, n + 1, key_a);
      verify(*backend, b, n + 1, key_b);
      // wgate observes before it changes anything; `wg set` does not. What
      // reading the device costs wg(8) itself tells the two parts apart.
      const double wg_dump = timed_run({"wg", "show", b, "dump"});
      std::printf("  rep %d add 1 peer to %zu: wgate=%7.2f ms (observe %.2f diff %.2f apply %.2f; %zu peer update)"
                  "   wg set=%7.2f ms   (wg show dump=%.2f ms)\n",
                  rep, n, wa.total(), wa.observe, wa.diff, wa.apply, wa.peer_updates, wg_add, wg_dump);
      std::fflush(stdout);
      add.observe.push_back(wa.observe);
      add.diff.push_back(wa.diff);
      add.apply.push_back(wa.apply);
      add.total.push_back(wa.total());
      add.wg.push_back(wg_add);
      add.wg_dump.push_back(wg_dump);
      add.peer_updates.push_back(wa.peer_updates);
    }
  }

  std::printf("\nmedian of %d runs (%s, fresh interfaces each run):\n", reps, backend_label);
  for (size_t si = 0; si < sizes.size(); ++si) {
    const auto& r = results[si];
    double wgate = median(r.total), wg = median(r.wg);
    std::printf("peers=%-6zu wgate=%9.1f ms (observe %.1f diff %.1f apply %.1f)   wg setconf=%9.1f ms   ratio=%.2f\n",
                sizes[si], wgate, median(r.observe), median(r.diff), median(r.apply), wg, wgate / wg);
  }
  if (!add.total.empty()) {
    double wgate = median(add.total), wg = median(add.wg);
    std::printf("add 1 peer to %zu: wgate=%7.2f ms (observe %.2f diff %.2f apply %.2f; %zu peer update)"
                "   wg set=%7.2f ms   ratio=%.2f\n",
                largest, wgate, median(add.observe), median(add.diff), median(add.apply), add.peer_updates.front(), wg,
                wgate / wg);
    std::printf("  for context: `wg show <if> dump` of %zu peers (wg's own observe) = %.2f ms\n", largest + 1,
                median(add.wg_dump));
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);  // the generated wg(8) config files
  return 0;
}

}  // namespace
}  // namespace wgate

int main(int argc, char** argv) { return wgate::bench_main(argc, argv); }
