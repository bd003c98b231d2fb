// bench_peer_apply: how long wgate takes to put N peers on fresh WireGuard
// interfaces, and to add one peer at N, against `wg setconf` / `wg set`
// doing the same on other fresh interfaces of the same kind in the same run.
// The interfaces are userspace (wireguard-go, the default) or kernel
// WireGuard links (--backend kernel; wg(8) then talks generic netlink to the
// kernel, as wgate does).
//
// Bulk (N peers on fresh interfaces): observe (WgBackend::get_device), diff
// (diff_device against a PlannedInterface) and apply (WgBackend::set_device).
//
// Add one peer at N: wgate's store-triggered path, the Reconciler's
// incremental pass (it trusts its last observation and writes only the
// difference), over the real backend and a real NetlinkRouter in this
// namespace. The firewall, the forwarding switch and the interface registry
// are in-memory fakes: nftables and sysctls are not what is measured. One
// full pass with N peers (untimed: it also adds the N main-table routes),
// one more full pass with nothing to change (timed, for context: the
// periodic resync), then the incremental pass with N+1 peers (timed). For
// comparison, the old path (observe + diff + apply) adds one more peer.
//
// wireguard-go refuses a device's 65,537th peer (MaxPeers = 1 << 16), and so
// does `wg setconf`. With the userspace backend a size above
// kMaxUserspacePeers is spread evenly over several interfaces (100k: two of
// 50k), as wgate would spread people over groups; both sides get the same
// split. Kernel devices are not split.
//
// The anchors are the `wg` tool, run with fork/exec; a benchmark may shell
// out, product code may not.
//
// Must run as root inside a network namespace of its own (see
// run_peer_apply.sh): it creates interfaces named
// wgb-<a|b><size>-<rep>[-<part>], routes, rules and tables there. Prints a
// table; asserts nothing about speed, only that every step really produced
// the expected device (peer counts, a one-peer change, the route).
//
// Usage: bench_peer_apply [--backend userspace|kernel] [--reps N]
//                         [--sizes 1000,10000,100000]
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
#include <set>
#include <string>
#include <vector>

#include "agent/reconciler.h"
#include "core/cidr.h"
#include "core/diff.h"
#include "core/plan.h"
#include "core/wg_key.h"
#include "dataplane/kernel_backend.h"
#include "dataplane/netlink_router.h"
#include "dataplane/userspace_backend.h"
#include "store/interface_keys.h"

#include "bench_util.h"

extern char** environ;

namespace wgate {
namespace {

using bench::Clock;
using bench::median;
using bench::ms_between;
using bench::PassTiming;
using bench::timed_pass;

// Per-device peer limit of wireguard-go (device.MaxPeers = 1 << 16) with room
// for the two peers the add step puts on a device.
constexpr size_t kMaxUserspacePeers = 65000;
constexpr size_t kMaxSize = 200000;
constexpr uint32_t kMainTable = 254;
constexpr uint32_t kRulePriority = 1000;

[[noreturn]] void die(const std::string& what, const Error& e) {
  std::fprintf(stderr, "bench_peer_apply: %s: %s\n", what.c_str(), e.message.c_str());
  std::exit(1);
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "bench_peer_apply: %s\n", what.c_str());
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

Prefix must_prefix(const char* text) { return must(Prefix::parse(text), "prefix"); }

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

double timed_run(const std::vector<std::string>& args) {
  auto t0 = Clock::now();
  if (!run(args)) {
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    fail("failed: " + cmd);
  }
  return ms_between(t0, Clock::now());
}

struct Peer {
  WgKey public_key;
  Prefix allowed_ip;
};

// The user pool the peers' addresses come from (and the main-table
// blackhole the reconciler puts in place for it), and the group's network.
const Prefix& pool() {
  static const Prefix p = must_prefix("10.200.0.0/14");
  return p;
}
const Prefix& group_network() {
  static const Prefix p = must_prefix("10.1.0.0/16");
  return p;
}

// Random keys, one /32 each from the pool (10.200.0.1 upwards).
std::vector<Peer> make_peers(size_t count) {
  std::vector<Peer> peers;
  peers.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    WgKey priv = must(WgKey::generate_private(), "generate key");
    peers.push_back(Peer{must(priv.public_key(), "derive public key"), Prefix(pool().nth(i + 1), 32)});
  }
  return peers;
}

// One interface pair of a size: `a` is wgate's, `b` the anchor's; both get
// peers[first, first + count).
struct Part {
  std::string a, b;
  uint16_t port_a = 0, port_b = 0;
  WgKey key_a, key_b;
  size_t first = 0, count = 0;
  uint32_t table = 0;
};

std::vector<Peer> peers_of(const Part& part, const std::vector<Peer>& peers, const std::vector<const Peer*>& extra) {
  std::vector<Peer> out(peers.begin() + static_cast<std::ptrdiff_t>(part.first),
                        peers.begin() + static_cast<std::ptrdiff_t>(part.first + part.count));
  for (const Peer* p : extra) out.push_back(*p);
  return out;
}

PlannedInterface make_interface(const Part& part, const std::vector<Peer>& peers) {
  PlannedInterface plan;
  plan.name = part.a;
  plan.group = "bench-" + part.a;
  plan.listen_port = part.port_a;
  plan.table = part.table;
  plan.reachable = {group_network()};
  int64_t id = 1;
  for (const auto& p : peers) plan.peers.push_back(PlannedPeer{p.public_key, p.allowed_ip, id++, "u", "d"});
  std::sort(plan.peers.begin(), plan.peers.end(),
            [](const PlannedPeer& a, const PlannedPeer& b) { return a.public_key < b.public_key; });
  return plan;
}

// The Plan compile() makes for these interfaces (core/compile.h): per
// interface its peers, a table with `throw` for the group's network and
// `blackhole default`, `ip rule iif <if> lookup <table>`, a main-table
// route per peer address, the pool's blackhole, and the firewall's view.
// `extra` peers go on the first part.
Plan make_full_plan(const std::vector<Part>& parts, const std::vector<Peer>& peers,
                    const std::vector<const Peer*>& extra) {
  Plan plan;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Part& part = parts[i];
    const std::vector<Peer> mine = peers_of(part, peers, i == 0 ? extra : std::vector<const Peer*>{});
    plan.interfaces.push_back(make_interface(part, mine));
    plan.routes.push_back(Route{part.table, RouteType::throw_route, group_network(), ""});
    plan.routes.push_back(Route{part.table, RouteType::blackhole, must_prefix("0.0.0.0/0"), ""});
    for (const auto& p : mine) plan.routes.push_back(Route{kMainTable, RouteType::unicast, p.allowed_ip, part.a});
    plan.rules.push_back(Rule{kRulePriority, part.a, part.table, IpFamily::v4});
    plan.firewall.interfaces.push_back(FirewallInterface{part.a, {group_network()}});
  }
  plan.routes.push_back(Route{kMainTable, RouteType::blackhole, pool(), ""});
  plan.firewall.protected_networks = {group_network()};
  plan.firewall.user_pools = {pool()};
  std::sort(plan.interfaces.begin(), plan.interfaces.end(),
            [](const PlannedInterface& x, const PlannedInterface& y) { return x.name < y.name; });
  std::sort(plan.routes.begin(), plan.routes.end());
  std::sort(plan.rules.begin(), plan.rules.end());
  std::sort(plan.firewall.interfaces.begin(), plan.firewall.interfaces.end());
  return plan;
}

// The same device as a wg(8) config file, for `wg setconf`.
void write_conf(const std::string& path, const WgKey& private_key, uint16_t port, const std::vector<Peer>& peers) {
  std::string text = "[Interface]\nPrivateKey = " + private_key.to_base64() + "\nListenPort = " +
                     std::to_string(port) + "\n";
  for (const auto& p : peers) {
    text += "\n[Peer]\nPublicKey = " + p.public_key.to_base64() +
            "\nAllowedIPs = " + p.allowed_ip.address().to_string() + "/32\n";
  }
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) fail("cannot write " + path);
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

void check_no_errors(const ReconcileReport& report, const std::string& what) {
  if (report.errors.empty()) return;
  std::string all;
  for (const auto& e : report.errors) all += "\n  " + e;
  fail(what + " reported errors:" + all);
}

// --- the old path ---------------------------------------------------------------

struct WgateTiming {
  double observe = 0, diff = 0, apply = 0;
  size_t peer_updates = 0;
  bool device_fields = false;  // the update also set private key / port
  double total() const { return observe + diff + apply; }
  WgateTiming& operator+=(const WgateTiming& o) {
    observe += o.observe;
    diff += o.diff;
    apply += o.apply;
    peer_updates += o.peer_updates;
    device_fields = device_fields || o.device_fields;
    return *this;
  }
};

// observe, diff against the plan, apply.
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

// Checks (untimed) that the device holds exactly `count` peers and `key`.
void verify(WgBackend& backend, const std::string& name, size_t count, const WgKey& private_key) {
  WgDeviceState s = must(backend.get_device(name), "verify " + name);
  if (s.peers.size() != count || !s.private_key || *s.private_key != private_key) {
    fail(name + " has " + std::to_string(s.peers.size()) + " peers (want " + std::to_string(count) +
         ") or the wrong key");
  }
}

std::string size_tag(size_t n) { return n % 1000 == 0 ? std::to_string(n / 1000) + "k" : std::to_string(n); }

struct SizeResults {
  std::vector<double> observe, diff, apply, total, wg;
};

struct AddResults {
  // The reconciler's incremental pass and its split.
  std::vector<double> total, wg_write, netlink, own, wg;
  int wg_write_calls = 0, netlink_calls = 0, wg_read_calls = 0;
  // The old path: observe + diff + apply.
  std::vector<double> old_total, old_observe, old_diff, old_apply;
  // A full pass with nothing to change (the periodic resync), and its split.
  std::vector<double> full, full_reads, full_netlink, full_own;
  std::vector<double> wg_dump;  // `wg show <if> dump`: wg(8)'s own observe, for context
  size_t dump_peers = 0;        // peers on the dumped device
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
    if (v <= 0 || static_cast<size_t>(v) > kMaxSize) {
      std::fprintf(stderr, "bad size \"%s\" (1..%zu)\n", part.c_str(), kMaxSize);
      std::exit(2);
    }
    out.push_back(static_cast<size_t>(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

// How many interfaces a size is spread over.
size_t parts_for(size_t n, BackendKind kind) {
  if (kind == BackendKind::kernel) return 1;
  return (n + kMaxUserspacePeers - 1) / kMaxUserspacePeers;
}

std::string split_note(const std::vector<Part>& parts) {
  if (parts.size() == 1) return "";
  return " (" + std::to_string(parts.size()) + " interfaces of " + std::to_string(parts.front().count) + ")";
}

int bench_main(int argc, char** argv) {
  int reps = 3;
  std::optional<std::vector<size_t>> sizes_arg;
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
      sizes_arg = parse_sizes(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--backend userspace|kernel] [--reps N] [--sizes 1000,10000,100000]\n",
                   argv[0]);
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "bench_peer_apply: needs root (run it through bench/run_peer_apply.sh)\n");
    return 2;
  }
  // 100,000 kernel peers under the VM's TCG emulation take many minutes;
  // ask for them explicitly there.
  const std::vector<size_t> sizes =
      sizes_arg ? *sizes_arg
                : (kind == BackendKind::kernel ? std::vector<size_t>{1000, 10000}
                                               : std::vector<size_t>{1000, 10000, 100000});

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
  std::printf("generating %zu peer keys...\n", largest + 2);
  std::fflush(stdout);
  // Two extra peers: the reconciler's and the old path's additions.
  const std::vector<Peer> peers = make_peers(largest + 2);
  char dir_template[] = "/tmp/wgb-peer-apply-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = dir_template;

  std::vector<SizeResults> results(sizes.size());
  std::vector<AddResults> adds(sizes.size());
  std::vector<std::string> notes(sizes.size());
  uint16_t next_port = 41000;
  uint32_t next_table = 2001;

  for (int rep = 1; rep <= reps; ++rep) {
    for (size_t si = 0; si < sizes.size(); ++si) {
      const size_t n = sizes[si];
      const std::string tag = size_tag(n) + "-" + std::to_string(rep);
      const size_t nparts = parts_for(n, kind);
      std::vector<Part> parts(nparts);
      std::vector<std::string> names;
      for (size_t j = 0; j < nparts; ++j) {
        Part& p = parts[j];
        const std::string suffix = nparts > 1 ? "-" + std::to_string(j) : "";
        p.a = "wgb-a" + tag + suffix;  // wgate's
        p.b = "wgb-b" + tag + suffix;  // wg(8)'s
        p.port_a = next_port++;
        p.port_b = next_port++;
        p.key_a = must(WgKey::generate_private(), "generate key");
        p.key_b = must(WgKey::generate_private(), "generate key");
        p.first = n * j / nparts;
        p.count = n * (j + 1) / nparts - p.first;
        p.table = next_table++;
        names.push_back(p.a);
        names.push_back(p.b);
      }
      notes[si] = split_note(parts);
      std::vector<PlannedInterface> bulk_plans;
      std::vector<std::string> confs;
      for (const auto& p : parts) {
        const std::vector<Peer> mine = peers_of(p, peers, {});
        bulk_plans.push_back(make_interface(p, mine));
        confs.push_back(dir + "/" + p.b + ".conf");
        write_conf(confs.back(), p.key_b, p.port_b, mine);
      }

      // Fresh devices, up like wgate's are (an up wireguard-go starts each
      // peer's goroutines as it is added, which is part of the cost; an up
      // kernel device has its UDP socket open while peers go in).
      DeviceGuard guard(*backend, names);
      for (const auto& name : names) {
        if (!must(backend->ensure_device(name), "create " + name)) fail(name + " already existed, not fresh");
        must(router->set_link_up(name), "link up " + name);
      }

      // Alternate who goes first so neither always gets a quieter machine.
      WgateTiming w;
      double wg_ms = 0;
      auto do_wgate = [&] {
        for (size_t j = 0; j < nparts; ++j) w += wgate_apply(*backend, bulk_plans[j], parts[j].key_a);
      };
      auto do_wg = [&] {
        for (size_t j = 0; j < nparts; ++j) wg_ms += timed_run({"wg", "setconf", parts[j].b, confs[j]});
      };
      if (rep % 2) {
        do_wgate();
        do_wg();
      } else {
        do_wg();
        do_wgate();
      }
      if (w.peer_updates != n) {
        fail("the diff for fresh " + tag + " devices has " + std::to_string(w.peer_updates) +
             " peer updates, want " + std::to_string(n));
      }
      for (const auto& p : parts) {
        verify(*backend, p.a, p.count, p.key_a);
        verify(*backend, p.b, p.count, p.key_b);
      }
      std::printf("  rep %d peers=%-6zu%s wgate=%9.1f ms (observe %.1f diff %.1f apply %.1f)   wg setconf=%9.1f ms\n",
                  rep, n, notes[si].c_str(), w.total(), w.observe, w.diff, w.apply, wg_ms);
      std::fflush(stdout);  // progress shows as it happens, also through a pipe
      auto& r = results[si];
      r.observe.push_back(w.observe);
      r.diff.push_back(w.diff);
      r.apply.push_back(w.apply);
      r.total.push_back(w.total());
      r.wg.push_back(wg_ms);

      // --- add one peer: the reconciler's incremental pass --------------------
      bench::TimedWgBackend timed_wg(*backend);
      bench::TimedRouter timed_router(*router);
      bench::FakeFirewall firewall;
      bench::FakeForwarding forwarding;
      bench::FakeRegistry registry;
      const std::string key_dir = dir + "/keys-" + tag;
      // The device keys are adopted from the live devices (key_a) into files
      // here, as the daemon does with a state directory.
      InterfaceKeys keys(key_dir);
      Reconciler reconciler(timed_wg, timed_router, firewall, forwarding, keys, registry);

      const Part& first = parts.front();
      const Peer& extra = peers[n];
      const Peer& extra_old = peers[n + 1];
      const Plan plan_n = make_full_plan(parts, peers, {});
      const Plan plan_n1 = make_full_plan(parts, peers, {&extra});

      // Untimed: adopts the devices and adds the N main-table routes, the
      // tables and the rules.
      ReconcileReport report;
      timed_pass(reconciler, timed_wg, timed_router, nullptr, plan_n, PassKind::full, report);
      check_no_errors(report, "the first full pass at " + tag);
      if (report.peers_added != 0 || report.routes_added < static_cast<int>(n)) {
        fail("the first full pass at " + tag + " added " + std::to_string(report.peers_added) + " peers and " +
             std::to_string(report.routes_added) + " routes (want 0 peers, >= " + std::to_string(n) + " routes)");
      }
      // The periodic resync with nothing to change: reads every device back.
      PassTiming full = timed_pass(reconciler, timed_wg, timed_router, nullptr, plan_n, PassKind::full, report);
      check_no_errors(report, "the second full pass at " + tag);
      if (report.changed()) fail("a full pass over a converged data plane changed something: " + report.summary());

      PassTiming inc;
      double wg_add = 0;
      auto add_wgate = [&] {
        inc = timed_pass(reconciler, timed_wg, timed_router, nullptr, plan_n1, PassKind::incremental, report);
      };
      auto add_wg = [&] {
        wg_add = timed_run({"wg", "set", first.b, "peer", extra.public_key.to_base64(), "allowed-ips",
                            extra.allowed_ip.address().to_string() + "/32"});
      };
      if (rep % 2) {
        add_wgate();
        add_wg();
      } else {
        add_wg();
        add_wgate();
      }
      check_no_errors(report, "the incremental pass at " + tag);
      if (report.peers_added != 1 || report.peers_removed != 0 || report.routes_added != 1 ||
          report.routes_removed != 0 || report.device_settings != 0 || inc.wg_reads.calls != 0) {
        fail("the incremental pass adding one peer at " + tag + " did: " + report.summary() + ", " +
             std::to_string(inc.wg_reads.calls) + " device reads (want peers+1 routes+1, no reads)");
      }
      // The old path adds one more peer: observe + diff + apply.
      const std::vector<Peer> first_plus_two = peers_of(first, peers, {&extra, &extra_old});
      WgateTiming old = wgate_apply(*backend, make_interface(first, first_plus_two), first.key_a);
      if (old.peer_updates != 1 || old.device_fields) {
        fail("observe+diff+apply adding one peer gave " + std::to_string(old.peer_updates) + " peer updates" +
             (old.device_fields ? " plus device fields" : "") + ", want a 1-peer update");
      }
      verify(*backend, first.a, first.count + 2, first.key_a);
      verify(*backend, first.b, first.count + 1, first.key_b);
      const auto routes = must(router->list_routes(), "list routes");
      const Route want_route{kMainTable, RouteType::unicast, extra.allowed_ip, first.a};
      if (std::find(routes.begin(), routes.end(), want_route) == routes.end()) {
        fail("the incremental pass did not leave the route " + extra.allowed_ip.to_string() + " dev " + first.a);
      }
      // wgate's old path observes before it changes anything; `wg set` does
      // not. What reading the device costs wg(8) itself tells the parts apart.
      const double wg_dump = timed_run({"wg", "show", first.b, "dump"});
      std::printf("  rep %d add 1 peer to %zu: incremental pass=%7.2f ms (set_device %.2f, netlink %.2f in %d calls, "
                  "reconciler %.2f)   wg set=%7.2f ms | observe+diff+apply=%.2f ms (observe %.2f diff %.2f apply "
                  "%.2f) | full pass, no change=%.1f ms | wg show dump=%.2f ms\n",
                  rep, n, inc.total, inc.wg_writes.ms, inc.netlink.ms, inc.netlink.calls, inc.own(), wg_add,
                  old.total(), old.observe, old.diff, old.apply, full.total, wg_dump);
      std::fflush(stdout);
      auto& a = adds[si];
      a.total.push_back(inc.total);
      a.wg_write.push_back(inc.wg_writes.ms);
      a.netlink.push_back(inc.netlink.ms);
      a.own.push_back(inc.own());
      a.wg.push_back(wg_add);
      a.wg_write_calls = inc.wg_writes.calls;
      a.netlink_calls = inc.netlink.calls;
      a.old_total.push_back(old.total());
      a.old_observe.push_back(old.observe);
      a.old_diff.push_back(old.diff);
      a.old_apply.push_back(old.apply);
      a.full.push_back(full.total);
      a.full_reads.push_back(full.wg_reads.ms);
      a.full_netlink.push_back(full.netlink.ms);
      a.full_own.push_back(full.own());
      a.wg_dump.push_back(wg_dump);
      a.dump_peers = first.count + 1;
    }
  }

  std::printf("\nmedian of %d runs (%s, fresh interfaces each run):\n", reps, backend_label);
  for (size_t si = 0; si < sizes.size(); ++si) {
    const auto& r = results[si];
    double wgate = median(r.total), wg = median(r.wg);
    std::printf("peers=%-6zu%s wgate=%9.1f ms (observe %.1f diff %.1f apply %.1f)   wg setconf=%9.1f ms   ratio=%.2f\n",
                sizes[si], notes[si].c_str(), wgate, median(r.observe), median(r.diff), median(r.apply), wg,
                wgate / wg);
  }
  std::printf("add 1 peer: the Reconciler's incremental pass (store-triggered path, no read-back; in-memory "
              "firewall) against `wg set`:\n");
  for (size_t si = 0; si < sizes.size(); ++si) {
    const auto& a = adds[si];
    const double inc = median(a.total), wg = median(a.wg);
    std::printf("add 1 peer to %zu%s: wgate=%7.2f ms (set_device %.2f in %d call, netlink %.2f in %d calls, "
                "reconciler %.2f)   wg set=%7.2f ms   ratio=%.2f (within 2x of wg set: %s)\n",
                sizes[si], notes[si].c_str(), inc, median(a.wg_write), a.wg_write_calls, median(a.netlink),
                a.netlink_calls, median(a.own), wg, inc / wg, inc <= 2 * wg ? "yes" : "no");
  }
  for (size_t si = 0; si < sizes.size(); ++si) {
    const auto& a = adds[si];
    const double wg = median(a.wg);
    std::printf("  for context at %zu: observe+diff+apply=%.2f ms (observe %.2f diff %.2f apply %.2f; ratio %.2f)"
                "   full pass, nothing to change=%.1f ms (device reads %.1f, netlink %.1f, reconciler %.1f)"
                "   `wg show <if> dump` of %zu peers=%.2f ms\n",
                sizes[si], median(a.old_total), median(a.old_observe), median(a.old_diff), median(a.old_apply),
                median(a.old_total) / wg, median(a.full), median(a.full_reads), median(a.full_netlink),
                median(a.full_own), a.dump_peers, median(a.wg_dump));
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);  // the generated wg(8) config files and device keys
  return 0;
}

}  // namespace
}  // namespace wgate

int main(int argc, char** argv) { return wgate::bench_main(argc, argv); }
