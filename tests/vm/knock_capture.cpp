// The handshake capture and the Noise reader against kernel WireGuard.
//
// wgate tells a person whose key expired to log in again by reading the
// handshake initiations their client keeps sending (bpf/knock.bpf.c copies
// them, noise/initiation.h reads them). Elsewhere these are tested with
// wireguard-go and crafted packets; this runs them on what the kernel's
// wireguard module sends, inside the VM of tests/vm/run.sh. In two network
// namespaces of its own (a veth between them), configured with `ip` and the
// real `wg` (wireguard-tools; nothing of wgate configures the interfaces),
// it checks that:
//  - wgate's InitiationCapture, open in the server's namespace, copies the
//    one initiation of a client the server knows, and a datagram through
//    the tunnel still arrives (the capture never takes the packet);
//  - its mac1 is the one wgate computes from the server's public key, and
//    read_initiation() with the server's private key recovers exactly the
//    client's public key (as the kernel reports it: `wg show`) and a
//    current TAI64N timestamp;
//  - another responder's key fails at mac1;
//  - a client whose key the server does not know, over IPv6: the kernel
//    drops its handshake (nothing arrives), the capture still sees it, and
//    it decrypts to that client's key.
// Every program started costs a second or more under QEMU's TCG, so the
// setup runs few: `ip -batch` per namespace (entered with setns, which
// children inherit) and one `wg set` per interface; the traffic is sent
// from sockets of this process.
//
// Usage (root, inside the VM, where the wireguard module is loaded):
//   wgate_vm_knock_capture [--prefix NAME]   (default wgvk; namespaces
//   NAME-srv and NAME-cli, removed at start if stale and at exit)
// Prints PASS/FAIL lines and "N passed, N failed"; exits 1 on any failure,
// 2 when it cannot set up.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/wg_key.h"
#include "dataplane/initiation_capture.h"
#include "noise/initiation.h"
#include "util/fd.h"

namespace {

using namespace wgate;
using Clock = std::chrono::steady_clock;

int g_passed = 0;
int g_failed = 0;
const Clock::time_point g_start = Clock::now();
std::string g_prefix = "wgvk";
std::string g_keydir;

double elapsed() { return std::chrono::duration<double>(Clock::now() - g_start).count(); }

void check(bool ok, const std::string& what) {
  std::printf("%s: %s [t=%.1fs]\n", ok ? "PASS" : "FAIL", what.c_str(), elapsed());
  std::fflush(stdout);
  (ok ? g_passed : g_failed)++;
}

std::string srv_ns() { return g_prefix + "-srv"; }
std::string cli_ns() { return g_prefix + "-cli"; }

// Runs argv (no shell), feeding `input` on stdin; returns its exit status
// (-1 when it could not run) and, with `out`, its stdout without the
// trailing newline. stderr goes to ours, so a failing command explains
// itself in the log.
int run(const std::vector<std::string>& argv, std::string* out = nullptr, const std::string& input = "") {
  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC)) return -1;
  if (pipe2(out_pipe, O_CLOEXEC)) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]}) close(fd);
    return -1;
  }
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  // Inputs are a short `ip -batch` or nothing: far below a pipe's 64 KiB.
  if (!input.empty() && write(in_pipe[1], input.data(), input.size()) != static_cast<ssize_t>(input.size())) {
    std::perror("writing to a child");
  }
  close(in_pipe[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(out_pipe[0], buf, sizeof(buf))) > 0;) text.append(buf, static_cast<size_t>(n));
  close(out_pipe[0]);
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (out) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

[[noreturn]] void die(const std::string& what);

// Runs argv (no shell) and dies when it fails.
void must(const std::vector<std::string>& argv, const std::string& input = "", std::string* out = nullptr) {
  if (run(argv, out, input) != 0) {
    std::string line;
    for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
    die("setup command failed: " + line + (input.empty() ? "" : " <<< " + input));
  }
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// The namespaces, removed in one `ip` run (only those that exist).
void teardown() {
  std::string batch;
  for (const auto& ns : {srv_ns(), cli_ns()}) {
    if (exists("/run/netns/" + ns)) batch += "netns del " + ns + "\n";
  }
  if (!batch.empty()) run({"ip", "-force", "-batch", "-"}, nullptr, batch);
  if (!g_keydir.empty()) run({"rm", "-rf", g_keydir});
}

[[noreturn]] void die(const std::string& what) {
  std::printf("FATAL: %s\n", what.c_str());
  std::printf("%d passed, %d failed\n", g_passed, g_failed + 1);
  teardown();
  std::exit(2);
}

// A fresh private key in a 0600 file, for `wg set ... private-key FILE`.
struct Key {
  WgKey priv;
  std::string file;
};

Key private_key(const std::string& name) {
  auto priv = WgKey::generate_private();
  if (!priv.ok()) die("generating a key: " + priv.error().message);
  Key k{*priv, g_keydir + "/" + name + ".key"};
  UniqueFd fd(::open(k.file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  const std::string line = k.priv.to_base64() + "\n";
  if (!fd.valid() || write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    die("writing " + k.file + ": " + std::strerror(errno));
  }
  return k;
}

// Public keys of the interfaces of the current namespace as the kernel
// reports them (`wg show all dump`: an interface's line has 5 fields, the
// third its public key), and the peers each has.
struct Shown {
  std::map<std::string, std::string> public_key;           // interface -> base64
  std::map<std::string, std::vector<std::string>> peers;   // interface -> peer keys
};

Shown wg_show() {
  std::string dump;
  must({"wg", "show", "all", "dump"}, "", &dump);
  Shown s;
  std::istringstream lines(dump);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string x; std::getline(fields, x, '\t');) f.push_back(x);
    if (f.size() == 5) s.public_key[f[0]] = f[2];
    if (f.size() == 9) s.peers[f[0]].push_back(f[1]);
  }
  return s;
}

// Moves this thread into the namespace of `fd`: sockets made afterwards,
// and programs started afterwards, belong to it.
void enter_ns(int fd, const std::string& what) {
  if (setns(fd, CLONE_NEWNET)) die("setns to " + what + ": " + std::strerror(errno));
}

UniqueFd open_ns(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) die("opening " + path + ": " + std::strerror(errno));
  return fd;
}

UniqueFd udp_socket() {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) die(std::string("UDP socket: ") + std::strerror(errno));
  return fd;
}

sockaddr_in v4(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

void send_to(int fd, const std::string& ip, uint16_t port, const std::string& text) {
  sockaddr_in a = v4(ip, port);
  if (sendto(fd, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) {
    die("sending to " + ip + ": " + std::strerror(errno));
  }
}

// The next datagram on `fd` within `limit` ("" when none), with its source.
std::string receive(int fd, std::chrono::milliseconds limit, std::string* from) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(limit.count())) <= 0) return "";
  char buf[512];
  sockaddr_in src{};
  socklen_t len = sizeof(src);
  ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&src), &len);
  if (n <= 0) return "";
  char ip[INET_ADDRSTRLEN] = "";
  inet_ntop(AF_INET, &src.sin_addr, ip, sizeof(ip));
  *from = ip;
  return std::string(buf, static_cast<size_t>(n));
}

// Initiations captured until at least `want` arrived or `limit` passed,
// then whatever else is already queued.
std::vector<CapturedInitiation> collect(InitiationCapture& capture, size_t want, std::chrono::milliseconds limit) {
  std::vector<CapturedInitiation> got;
  const auto until = Clock::now() + limit;
  while (got.size() < want && Clock::now() < until) {
    auto r = capture.wait(std::chrono::milliseconds(100));
    if (!r.ok()) die("reading the capture: " + r.error().message);
    got.insert(got.end(), r->begin(), r->end());
  }
  auto rest = capture.wait(std::chrono::milliseconds(0));
  if (rest.ok()) got.insert(got.end(), rest->begin(), rest->end());
  return got;
}

// The TAI64N label's seconds as Unix time (the kernel writes
// 2^62 + 10 + tv_sec: noise.c, tai64n_now()).
int64_t tai64n_unix_seconds(const std::array<uint8_t, 12>& ts) {
  uint64_t s = 0;
  for (int i = 0; i < 8; ++i) s = s << 8 | ts[i];
  return static_cast<int64_t>(s - (1ULL << 62) - 10);
}

std::string hex(std::span<const uint8_t> b) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

// Checks one captured initiation against the responder's keys and the
// initiator's public key as the kernel reports it; `who` names the
// initiator in the messages.
void check_read(const CapturedInitiation& c, const WgKey& server_priv, const WgKey& server_pub,
                const std::string& initiator_pub, const std::string& who) {
  const std::span<const uint8_t> msg(c.message);
  auto mac1 = noise::compute_mac1(server_pub, msg);
  check(mac1.ok() && std::equal(mac1->begin(), mac1->end(), msg.begin() + 116),
        who + ": the kernel's mac1 is the one wgate computes from the server's public key (" +
            hex(msg.subspan(116, 16)) + ")");
  auto r = noise::read_initiation(msg, server_priv);
  if (!r.ok()) {
    check(false, who + ": read_initiation: " + r.error().message);
    return;
  }
  check(r->ok, who + ": read_initiation with the server's private key accepts it" +
                   (r->ok ? "" : std::string(" (rejected: ") + noise::to_string(r->rejection) + ")"));
  if (!r->ok) return;
  const std::string got = r->initiation.initiator_static.to_base64();
  check(got == initiator_pub,
        who + ": the recovered static key is its own (" + got + ", the kernel says " + initiator_pub + ")");
  const int64_t skew = tai64n_unix_seconds(r->initiation.timestamp) - static_cast<int64_t>(std::time(nullptr));
  check(skew > -300 && skew < 300,
        who + ": the decrypted TAI64N timestamp is the current time (" + std::to_string(skew) + " s off)");
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--prefix" && i + 1 < argc) {
      g_prefix = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--prefix NAME]\n", argv[0]);
      return 2;
    }
  }
  if (geteuid() != 0) die("needs root (network namespaces, eBPF)");
  teardown();  // stale namespaces of an earlier run

  char dir_template[] = "/tmp/wgate-vm-knock.XXXXXX";
  if (!mkdtemp(dir_template)) die(std::string("mkdtemp: ") + std::strerror(errno));
  g_keydir = dir_template;

  // ---- the lab: server and client namespaces, a veth, kernel WireGuard
  const std::string srv = srv_ns(), cli = cli_ns();
  const std::string vs = g_prefix + "-s", vc = g_prefix + "-c";  // veth ends
  const std::string wgs = g_prefix + "0", wgc = g_prefix + "1", wgu = g_prefix + "2";
  const uint16_t port = 51900, data_port = 7777;
  const std::string port_s = std::to_string(port);
  const Key server = private_key("server"), client = private_key("client");
  const Key stranger = private_key("stranger");  // a key the server does not know
  const Key other = private_key("other");        // another responder's
  auto server_pub = server.priv.public_key();
  if (!server_pub.ok()) die("server public key: " + server_pub.error().message);

  must({"ip", "-batch", "-"}, "netns add " + srv + "\nnetns add " + cli + "\n");
  UniqueFd home = open_ns("/proc/self/ns/net");
  UniqueFd srv_fd = open_ns("/run/netns/" + srv);
  UniqueFd cli_fd = open_ns("/run/netns/" + cli);

  // The server knows the client only, listens on `port`; the tunnel
  // addresses of both clients are its own.
  enter_ns(srv_fd.get(), srv);
  must({"ip", "-batch", "-"}, "link add " + vs + " type veth peer name " + vc + " netns " + cli +
                                  "\n"
                                  "addr add 10.231.0.1/24 dev " + vs + "\n" +
                                  "addr add fd31::1/64 dev " + vs + " nodad\n" +
                                  "link set " + vs + " up\n" +
                                  "link set lo up\n" +
                                  "link add " + wgs + " type wireguard\n" +
                                  "addr add 10.232.0.1/24 dev " + wgs + "\n" +
                                  "addr add 10.233.0.1/24 dev " + wgs + "\n" +
                                  "link set " + wgs + " up\n");
  // The client's public key as `wg` would print it, for the server's peer.
  auto client_pub = client.priv.public_key();
  if (!client_pub.ok()) die("client public key: " + client_pub.error().message);
  must({"wg", "set", wgs, "private-key", server.file, "listen-port", port_s, "peer", client_pub->to_base64(),
        "allowed-ips", "10.232.0.2/32"});
  const Shown srv_shown = wg_show();

  // The client over IPv4, the stranger over IPv6, both toward the server.
  enter_ns(cli_fd.get(), cli);
  must({"ip", "-batch", "-"}, "addr add 10.231.0.2/24 dev " + vc + "\n" +
                                  "addr add fd31::2/64 dev " + vc + " nodad\n" +
                                  "link set " + vc + " up\n" +
                                  "link set lo up\n" +
                                  "link add " + wgc + " type wireguard\n" +
                                  "addr add 10.232.0.2/24 dev " + wgc + "\n" +
                                  "link set " + wgc + " up\n" +
                                  "link add " + wgu + " type wireguard\n" +
                                  "addr add 10.233.0.2/24 dev " + wgu + "\n" +
                                  "link set " + wgu + " up\n");
  const std::string server_pub_text = server_pub->to_base64();
  must({"wg", "set", wgc, "private-key", client.file, "peer", server_pub_text, "endpoint", "10.231.0.1:" + port_s,
        "allowed-ips", "10.232.0.1/32"});
  must({"wg", "set", wgu, "private-key", stranger.file, "peer", server_pub_text, "endpoint", "[fd31::1]:" + port_s,
        "allowed-ips", "10.233.0.1/32"});
  Shown cli_shown = wg_show();
  const std::string client_pub_kernel = cli_shown.public_key[wgc];
  const std::string stranger_pub_kernel = cli_shown.public_key[wgu];

  const std::string srv_pub_kernel = srv_shown.public_key.count(wgs) ? srv_shown.public_key.at(wgs) : "";
  const auto srv_peers = srv_shown.peers.count(wgs) ? srv_shown.peers.at(wgs) : std::vector<std::string>{};
  check(srv_pub_kernel == server_pub_text && srv_peers == std::vector<std::string>{client_pub_kernel} &&
            !client_pub_kernel.empty() && !stranger_pub_kernel.empty() && stranger_pub_kernel != client_pub_kernel,
        "kernel WireGuard: server " + wgs + " on port " + port_s + " (public key " + srv_pub_kernel +
            ", as wgate derives it) with the client's key as its one peer; client " + wgc + " and stranger " + wgu);

  // ---- the capture and a datagram receiver, in the server's namespace
  enter_ns(srv_fd.get(), srv);
  const unsigned vs_index = if_nametoindex(vs.c_str());
  auto opened = InitiationCapture::open();
  if (!opened.ok()) die("InitiationCapture::open: " + opened.error().message);
  std::optional<InitiationCapture> capture(std::move(*opened));
  Status st = capture->set_ports({port});
  if (!st.ok()) die("set_ports: " + st.error().message);
  UniqueFd receiver = udp_socket();
  sockaddr_in any = v4("0.0.0.0", data_port);
  if (bind(receiver.get(), reinterpret_cast<sockaddr*>(&any), sizeof(any))) {
    die(std::string("binding the receiver: ") + std::strerror(errno));
  }
  check(true, "InitiationCapture open in " + srv + ", watching port " + port_s);
  enter_ns(cli_fd.get(), cli);
  UniqueFd sender = udp_socket();

  // ---- a known client: the handshake completes, the datagram arrives
  const auto t_send = Clock::now();
  send_to(sender.get(), "10.232.0.1", data_port, "client");
  std::string from;
  std::string text = receive(receiver.get(), std::chrono::seconds(10), &from);
  check(text == "client" && from == "10.232.0.2",
        "a datagram from the client arrives through the tunnel with the capture on (the kernel got the "
        "initiation; " +
            std::to_string(std::chrono::duration<double>(Clock::now() - t_send).count()) + " s)");
  auto got = collect(*capture, 1, std::chrono::seconds(5));
  check(got.size() == 1, "exactly one initiation captured for the one handshake (" + std::to_string(got.size()) + ")");
  if (!got.empty()) {
    const auto& c = got[0];
    check(c.src.to_string() == "10.231.0.2" && c.dst.to_string() == "10.231.0.1" && c.dport == port &&
              c.sport != 0 && c.ifindex == vs_index,
          "it came from the client over IPv4 to port " + port_s + " on " + vs + " (" + c.src.to_string() + ":" +
              std::to_string(c.sport) + " -> " + c.dst.to_string() + ":" + std::to_string(c.dport) + ", ifindex " +
              std::to_string(c.ifindex) + ")");
    check_read(c, server.priv, *server_pub, client_pub_kernel, "client");
    // ---- another responder's key: not meant for it, stops at mac1
    auto wrong = noise::read_initiation(c.message, other.priv);
    check(wrong.ok() && !wrong->ok && wrong->rejection == noise::Rejection::bad_mac1,
          "another responder's private key fails at mac1 (" +
              std::string(wrong.ok() && !wrong->ok ? noise::to_string(wrong->rejection) : "accepted or error") + ")");
  }

  // ---- a key the server does not know, over IPv6: dropped, still read
  send_to(sender.get(), "10.233.0.1", data_port, "stranger");
  got = collect(*capture, 1, std::chrono::seconds(5));
  check(!got.empty(), "the capture saw the stranger's initiation (" + std::to_string(got.size()) + ")");
  if (!got.empty()) {
    const auto& c = got[0];
    check(c.src.to_string() == "fd31::2" && c.dst.to_string() == "fd31::1" && c.dport == port &&
              c.ifindex == vs_index,
          "it came over IPv6 (" + c.src.to_string() + " -> " + c.dst.to_string() + ":" + std::to_string(c.dport) +
              ")");
    check_read(c, server.priv, *server_pub, stranger_pub_kernel, "stranger");
  }
  text = receive(receiver.get(), std::chrono::seconds(1), &from);
  check(text.empty(), "nothing from the stranger arrives (the kernel dropped its handshake)" +
                          (text.empty() ? "" : ": got \"" + text + "\" from " + from));

  capture.reset();
  enter_ns(home.get(), "the initial namespace");
  srv_fd.reset();  // a namespace goes with its last reference
  cli_fd.reset();
  teardown();
  std::printf("knock capture: %.1f s\n", elapsed());
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
