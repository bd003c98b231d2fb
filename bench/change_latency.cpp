// bench_change_latency: how long a change of intent takes to reach the data
// plane through a real `wgate server`, at N people, against `wg set` making
// the same kind of change on a wireguard-go device of the same size.
//
// Run by run_change_latency.sh, which makes the network namespace, a config
// (userspace backend, one group per 50,000 people: wireguard-go holds at
// most 65,536 peers per device) and the store (`wgate init`). This program,
// inside that namespace:
//  1. fills the store with N people, each with one device and one key, in one
//     SQLite transaction written straight into the store's schema (the Store
//     API leases each person's block inside its own transaction after reading
//     the whole lease history, which makes N adds quadratic; the fill checks
//     the schema version it was written for). The people for the `key add`
//     changes are then added through the service layer (service::add_user),
//     which also proves the filled leases are what IPAM expects, and each
//     add is timed: that is the product's own cost of `user add` at N;
//  2. creates the anchor device (wireguard-go, same peer count as each of
//     the daemon's interfaces) through wgate's userspace backend;
//  3. starts `wgate server` and waits (bounded) until every interface holds
//     its peers and the main table holds every device route; prints the
//     daemon's RSS and the CPU the idle daemon and its wireguard-go use;
//  4. makes the changes, alternating `wgate key add` (a new person's first
//     device) and `wgate key revoke` (a filled person's key), each followed by
//     the anchor's `wg set ... allowed-ips` / `wg set ... remove`. The
//     change counts as visible when the route to the device's address
//     appears in (add) or leaves (revoke) the main table: the daemon writes
//     that route in the same pass, after the peer (reconciler.h, step 5), so
//     the time includes the whole pass. Route changes are watched with an
//     rtnetlink multicast subscription, timestamped as they arrive (no
//     polling, nothing that loads wireguard-go). The store commit is seen
//     with inotify on the store's -wal file, as the daemon sees it. After
//     each change, untimed, the device is read back (UAPI get=1) to check
//     the peer really is there or gone and the count is right;
//  5. replays, with the daemon paused (SIGSTOP), one full and one incremental
//     pass of the daemon in this process (snapshot, compile, Reconciler over
//     the real backend, NetlinkRouter and nftables firewall), timed step by
//     step; then stops the daemon and removes the devices.
// Asserts nothing about speed.
//
// Usage: bench_change_latency --wgate BIN --config FILE --people N
//                             [--changes 200] [--idle-seconds 10]
//                             [--converge-timeout 900]
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/reconciler.h"
#include "core/compile.h"
#include "core/config.h"
#include "core/ipam.h"
#include "core/wg_key.h"
#include "dataplane/firewall.h"
#include "dataplane/netlink_router.h"
#include "dataplane/router.h"
#include "dataplane/userspace_backend.h"
#include "service/service.h"
#include "store/interface_keys.h"
#include "store/store.h"
#include "util/fd.h"

#include "bench_util.h"

extern char** environ;

namespace wgate {
namespace {

using bench::Clock;
using bench::median;
using bench::ms_between;
using bench::percentile;

// The store schema the fill was written for (src/store/sqlite_schema.cpp).
// Later migrations only add tables, indexes and columns with defaults, so
// a newer store takes the same rows.
constexpr int kFillSchemaVersion = 2;
constexpr uint32_t kMainTable = 254;
const char* const kAnchor = "wgb-cla";
const char* const kDevice = "laptop";

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "bench_change_latency: %s\n", what.c_str());
  std::exit(1);
}

template <class T>
T must(Result<T> r, const std::string& what) {
  if (!r.ok()) fail(what + ": " + r.error().message);
  return std::move(r).value();
}

void must(const Status& s, const std::string& what) {
  if (!s.ok()) fail(what + ": " + s.error().message);
}

void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::fflush(stdout);  // progress shows as it happens, also through a pipe
}

// --- processes ---------------------------------------------------------------

struct Ran {
  bool ok = false;
  std::string out;  // stdout
  Clock::time_point exited;
};

// Runs argv (PATH lookup), stdout captured, stderr kept; waits for it.
Ran run_capture(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail("pipe2: " + std::string(std::strerror(errno)));
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) fail("spawn " + args[0] + ": " + std::strerror(rc));
  write_end.reset();
  Ran ran;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n > 0) {
      ran.out.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) break;
  }
  ran.exited = Clock::now();
  ran.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return ran;
}

std::string joined(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

// --- /proc -------------------------------------------------------------------

struct Memory {
  long rss_kb = -1, hwm_kb = -1;
};

Memory memory_of(pid_t pid) {
  Memory m;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) m.rss_kb = std::atol(line.c_str() + 6);
    if (line.rfind("VmHWM:", 0) == 0) m.hwm_kb = std::atol(line.c_str() + 6);
  }
  return m;
}

// utime + stime of a process, in seconds; nullopt when it is gone.
std::optional<double> cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = text.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(paren + 2));
  std::vector<std::string> f;
  std::string x;
  while (fields >> x) f.push_back(x);
  if (f.size() < 13) return std::nullopt;
  // After the command: field 3 (state) is f[0]; utime (14) f[11], stime (15) f[12].
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return (std::stod(f[11]) + std::stod(f[12])) / ticks;
}

// The wireguard-go process serving `ifname` (started by the daemon).
std::optional<pid_t> wireguard_go_pid(const std::string& ifname) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> argv;
    std::string arg;
    for (char c : cmdline) {
      if (c == '\0') {
        argv.push_back(arg);
        arg.clear();
      } else {
        arg += c;
      }
    }
    if (argv.size() >= 2 && std::filesystem::path(argv[0]).filename() == "wireguard-go" && argv.back() == ifname) {
      return static_cast<pid_t>(std::stol(name));
    }
  }
  return std::nullopt;
}

// --- the store ---------------------------------------------------------------

struct Person {
  std::string name;
  std::string group;
  std::string interface;
  WgKey key;
  int64_t key_id = 0;  // filled people only
  IpAddress address;   // the device's address (slot 0 of the block)
};

class Sqlite {
 public:
  explicit Sqlite(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      fail("open " + path + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory"));
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~Sqlite() { sqlite3_close(db_); }
  Sqlite(const Sqlite&) = delete;
  Sqlite& operator=(const Sqlite&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string e = err ? err : "?";
      sqlite3_free(err);
      fail(sql + ": " + e);
    }
  }
  int64_t query_int(const std::string& sql) {
    sqlite3_stmt* s = prepare(sql);
    if (sqlite3_step(s) != SQLITE_ROW) fail(sql + ": no row");
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
  }
  sqlite3_stmt* prepare(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) fail(sql + ": " + sqlite3_errmsg(db_));
    return s;
  }
  // Binds (int64 or text) and runs one insert; returns the new rowid.
  template <class... Args>
  int64_t insert(sqlite3_stmt* s, const Args&... args) {
    int i = 0;
    (bind(s, ++i, args), ...);
    if (sqlite3_step(s) != SQLITE_DONE) fail(std::string("insert: ") + sqlite3_errmsg(db_));
    sqlite3_reset(s);
    return sqlite3_last_insert_rowid(db_);
  }

 private:
  static void bind(sqlite3_stmt* s, int i, int64_t v) { sqlite3_bind_int64(s, i, v); }
  static void bind(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  sqlite3* db_ = nullptr;
};

// Person i's block: the pool's (i+1)-th block (block 0 holds the pool's
// network address, which IPAM never hands out), the block IPAM's "lowest
// never-used block" would give the i-th person added to an empty store.
Prefix block_of(const Config& config, size_t i) {
  const Prefix& pool = config.user_pool();
  Prefix block(pool.nth(static_cast<uint64_t>(i + 1) * config.per_user), block_length(pool, config.per_user));
  if (!block_fits(block, pool, config.per_user)) fail("block " + block.to_string() + " does not fit the pool");
  return block;
}

void fill_store(const Config& config, std::vector<Person>& people, UnixTime now) {
  Sqlite db(config.server.store_path);
  const int64_t version = db.query_int("PRAGMA user_version");
  if (version < kFillSchemaVersion) {
    fail("the store's schema is version " + std::to_string(version) + "; the fill in bench/change_latency.cpp "
         "needs version " + std::to_string(kFillSchemaVersion) + " or later");
  }
  if (db.query_int("SELECT count(*) FROM users") != 0) fail("the store is not empty");
  db.exec("BEGIN IMMEDIATE");
  sqlite3_stmt* user = db.prepare("INSERT INTO users (name, email, disabled, created_at) VALUES (?, '', 0, ?)");
  sqlite3_stmt* member = db.prepare("INSERT INTO memberships (user_id, group_name) VALUES (?, ?)");
  sqlite3_stmt* lease = db.prepare(
      "INSERT INTO leases (user_id, address, prefix_len, family, from_ts, until_ts) VALUES (?, ?, ?, 4, ?, NULL)");
  sqlite3_stmt* device = db.prepare("INSERT INTO devices (user_id, name, slot, created_at) VALUES (?, ?, 0, ?)");
  sqlite3_stmt* key = db.prepare(
      "INSERT INTO keys (user_id, device_id, group_name, public_key, label, created_at, expires_at) "
      "VALUES (?, ?, ?, ?, ?, ?, 0)");
  const std::string device_name = kDevice;
  for (size_t i = 0; i < people.size(); ++i) {
    Person& p = people[i];
    const Prefix block = block_of(config, i);
    const auto address = device_address(block, 0);
    if (!address) fail("no slot 0 in " + block.to_string());
    p.address = *address;
    const int64_t uid = db.insert(user, p.name, int64_t{now});
    db.insert(member, uid, p.group);
    db.insert(lease, uid, block.address().to_string(), int64_t{block.length()}, int64_t{now});
    const int64_t did = db.insert(device, uid, device_name, int64_t{now});
    p.key_id = db.insert(key, uid, did, p.group, p.key.to_base64(), device_name, int64_t{now});
  }
  for (sqlite3_stmt* s : {user, member, lease, device, key}) sqlite3_finalize(s);
  db.exec("COMMIT");
}

// --- watching the data plane and the store ----------------------------------------

struct Event {
  enum class Kind { route_added, route_removed, commit };
  Kind kind;
  IpAddress address;  // routes: the /32's address
  Clock::time_point at;
};

// Collects, on its own thread, every route change of wgate's (protocol
// 0x77) to a host address in the main table, and every write to the store's
// -wal file, each stamped when it arrives.
class Watcher {
 public:
  explicit Watcher(const std::string& wal_path) {
    nl_ = UniqueFd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
    if (!nl_.valid()) fail("netlink socket: " + std::string(std::strerror(errno)));
    int size = 8 << 20;
    ::setsockopt(nl_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = RTMGRP_IPV4_ROUTE;
    if (::bind(nl_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      fail("bind netlink: " + std::string(std::strerror(errno)));
    }
    ino_ = UniqueFd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!ino_.valid() || ::inotify_add_watch(ino_.get(), wal_path.c_str(), IN_MODIFY) < 0) {
      fail("inotify on " + wal_path + ": " + std::strerror(errno));
    }
    thread_ = std::thread([this] { loop(); });
  }
  ~Watcher() {
    stop_ = true;
    thread_.join();
  }
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_.size();
  }
  // The first event from index `from` on that `match` accepts.
  template <class Match>
  std::optional<Event> find(size_t from, Match match) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = from; i < events_.size(); ++i) {
      if (match(events_[i])) return events_[i];
    }
    return std::nullopt;
  }
  bool overflowed() const { return overflowed_; }

 private:
  void loop() {
    pollfd fds[2] = {{nl_.get(), POLLIN, 0}, {ino_.get(), POLLIN, 0}};
    alignas(nlmsghdr) char buf[1 << 16];
    while (!stop_) {
      if (::poll(fds, 2, 50) <= 0) continue;
      const auto now = Clock::now();
      if (fds[1].revents & POLLIN) {
        while (::read(ino_.get(), buf, sizeof buf) > 0) push({Event::Kind::commit, IpAddress(), now});
      }
      if (fds[0].revents & POLLIN) {
        while (true) {
          ssize_t n = ::recv(nl_.get(), buf, sizeof buf, 0);
          if (n < 0) {
            if (errno == ENOBUFS) overflowed_ = true;
            if (errno == ENOBUFS || errno == EINTR) continue;
            break;  // EAGAIN: drained
          }
          int len = static_cast<int>(n);
          for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type != RTM_NEWROUTE && h->nlmsg_type != RTM_DELROUTE) continue;
            const auto* r = static_cast<const rtmsg*>(NLMSG_DATA(h));
            if (r->rtm_family != AF_INET || r->rtm_dst_len != 32 || r->rtm_protocol != 0x77) continue;
            uint32_t table = r->rtm_table;
            std::optional<IpAddress> dst;
            int alen = static_cast<int>(RTM_PAYLOAD(h));
            for (auto* a = RTM_RTA(r); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
              if (a->rta_type == RTA_DST && RTA_PAYLOAD(a) == 4) {
                dst = IpAddress::from_bytes(IpFamily::v4, static_cast<const uint8_t*>(RTA_DATA(a)));
              } else if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) == 4) {
                std::memcpy(&table, RTA_DATA(a), 4);
              }
            }
            if (!dst || table != kMainTable) continue;
            push({h->nlmsg_type == RTM_NEWROUTE ? Event::Kind::route_added : Event::Kind::route_removed, *dst, now});
          }
        }
      }
    }
  }
  void push(Event e) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(e);
  }

  UniqueFd nl_, ino_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> overflowed_{false};
  std::mutex mu_;
  std::vector<Event> events_;
  std::thread thread_;
};

// --- the benchmark -------------------------------------------------------------

struct Options {
  std::string wgate, config_path;
  size_t people = 0;
  int changes = 200;
  int idle_seconds = 10;
  int converge_timeout = 900;
};

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(a + " needs a value");
      return argv[++i];
    };
    if (a == "--wgate") {
      o.wgate = value();
    } else if (a == "--config") {
      o.config_path = value();
    } else if (a == "--people") {
      o.people = std::strtoul(value().c_str(), nullptr, 10);
    } else if (a == "--changes") {
      o.changes = std::atoi(value().c_str());
    } else if (a == "--idle-seconds") {
      o.idle_seconds = std::atoi(value().c_str());
    } else if (a == "--converge-timeout") {
      o.converge_timeout = std::atoi(value().c_str());
    } else {
      fail("usage: bench_change_latency --wgate BIN --config FILE --people N [--changes 200] [--idle-seconds 10] "
           "[--converge-timeout 900]");
    }
  }
  if (o.wgate.empty() || o.config_path.empty()) fail("--wgate and --config are required");
  if (o.people < 1 || o.people > 500000) fail("--people: 1..500000");
  if (o.changes < 2 || o.changes > 2000 || o.changes % 2) fail("--changes: an even number, 2..2000");
  if (o.idle_seconds < 1 || o.idle_seconds > 120) fail("--idle-seconds: 1..120");
  if (o.converge_timeout < 10 || o.converge_timeout > 3600) fail("--converge-timeout: 10..3600");
  return o;
}

std::vector<WgKey> make_keys(size_t count) {
  std::vector<WgKey> keys;
  keys.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    keys.push_back(must(must(WgKey::generate_private(), "generate key").public_key(), "derive public key"));
  }
  return keys;
}

struct Sample {
  bool add = false;
  double cli = 0;                 // spawn -> exit of the wgate CLI
  std::optional<double> commit;   // spawn -> first write to the -wal file
  double visible = 0;             // spawn -> the route change arrived
  double anchor = 0;              // `wg set`, fork -> exit
};

void print_stats(const char* label, const std::vector<double>& v) {
  say("  %-52s p50 %8.2f ms   p99 %8.2f ms   (min %.2f, max %.2f, n=%zu)\n", label, percentile(v, 50),
      percentile(v, 99), v.empty() ? 0 : *std::min_element(v.begin(), v.end()),
      v.empty() ? 0 : *std::max_element(v.begin(), v.end()), v.size());
}

int bench_main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);
  if (::geteuid() != 0) fail("needs root (run it through bench/run_change_latency.sh)");
  const Config config = must(load_config(opt.config_path), "config");
  if (config.server.backend != BackendChoice::userspace) fail("the config must say backend = \"userspace\"");
  if (config.groups.empty()) fail("the config has no group");
  const size_t n = opt.people;
  const size_t adds = static_cast<size_t>(opt.changes / 2);
  const size_t ngroups = config.groups.size();
  const UnixTime now = static_cast<UnixTime>(std::time(nullptr));
  const Actor actor{"bench"};

  // --- 1. the store -----------------------------------------------------------
  say("generating %zu keys...\n", n + adds);
  const std::vector<WgKey> keys = make_keys(n + adds);
  std::vector<Person> people(n);
  std::vector<size_t> per_interface(ngroups, 0);
  for (size_t i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "p%06zu", i);
    const GroupConfig& g = config.groups[i % ngroups];
    people[i] = Person{name, g.name, g.interface, keys[i], 0, IpAddress()};
    ++per_interface[i % ngroups];
  }
  auto t0 = Clock::now();
  fill_store(config, people, now);
  const double fill_s = ms_between(t0, Clock::now()) / 1000;
  say("store filled: %zu people, one device and one key each, in %.1f s (one SQLite transaction)\n", n, fill_s);

  auto store = must(open_sqlite_store(config.server.store_path), "open store");
  std::vector<Person> newcomers(adds);
  std::vector<double> user_add_ms;
  for (size_t j = 0; j < adds; ++j) {
    char name[32];
    std::snprintf(name, sizeof name, "n%04zu", j);
    const GroupConfig& g = config.groups[j % ngroups];
    service::AddUserRequest request{name, "", {g.name}};
    auto t = Clock::now();
    service::PersonView view = must(service::add_user(*store, config, request, now, actor), "add user " + std::string(name));
    user_add_ms.push_back(ms_between(t, Clock::now()));
    if (!view.block) fail(std::string(name) + " got no block");
    // IPAM over the filled history must hand out the next unused block.
    if (*view.block != block_of(config, n + j)) {
      fail(std::string(name) + " got " + view.block->to_string() + ", want " + block_of(config, n + j).to_string() +
           " (the fill does not match IPAM)");
    }
    newcomers[j] = Person{name, g.name, g.interface, keys[n + j], 0, *device_address(*view.block, 0)};
  }
  say("people for `key add`: %zu added through service::add_user, median %.1f ms each (max %.1f)\n", adds,
      median(user_add_ms), *std::max_element(user_add_ms.begin(), user_add_ms.end()));

  // --- 2. the anchor device ---------------------------------------------------------
  auto router = must(make_netlink_router(), "netlink router");
  UserspaceOptions uopts;
  uopts.log_dir = "";
  uopts.io_timeout = std::chrono::milliseconds(300000);
  auto wg = make_userspace_backend(uopts);
  const size_t anchor_size = per_interface[0];
  say("anchor: %s, wireguard-go with %zu peers...\n", kAnchor, anchor_size);
  const std::vector<WgKey> anchor_keys = make_keys(anchor_size + adds);
  const Prefix anchor_pool = must(Prefix::parse("10.32.0.0/12"), "prefix");
  auto anchor_ip = [&](size_t i) { return Prefix(anchor_pool.nth(i + 1), 32); };
  if (!must(wg->ensure_device(kAnchor), "create anchor")) fail(std::string(kAnchor) + " already existed");
  must(router->set_link_up(kAnchor), "anchor up");
  {
    WgDeviceUpdate u;
    u.name = kAnchor;
    u.private_key = must(WgKey::generate_private(), "generate key");
    u.listen_port = 51899;
    for (size_t i = 0; i < anchor_size; ++i) {
      WgPeerUpdate p;
      p.public_key = anchor_keys[i];
      p.replace_allowed_ips = true;
      p.allowed_ips = {anchor_ip(i)};
      u.peers.push_back(std::move(p));
    }
    must(wg->set_device(u), "fill anchor");
    const size_t got = must(wg->get_device(kAnchor), "read anchor").peers.size();
    if (got != anchor_size) fail("anchor holds " + std::to_string(got) + " peers");
  }

  // --- 3. the daemon ------------------------------------------------------------------
  const std::string dir = std::filesystem::path(opt.config_path).parent_path();
  const std::string log_path = dir + "/daemon.log";
  pid_t daemon = 0;
  {
    UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!log.valid()) fail("open " + log_path);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, log.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, log.get(), STDERR_FILENO);
    std::vector<std::string> args{opt.wgate, "-c", opt.config_path, "server"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = ::posix_spawn(&daemon, opt.wgate.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) fail("spawn " + opt.wgate + ": " + std::strerror(rc));
  }
  const auto daemon_started = Clock::now();
  say("wgate server started (pid %d, log %s); waiting for %zu peers and routes (at most %d s)...\n", daemon,
      log_path.c_str(), n, opt.converge_timeout);
  auto daemon_alive = [&] { return ::waitpid(daemon, nullptr, WNOHANG) == 0; };
  const auto deadline = daemon_started + std::chrono::seconds(opt.converge_timeout);
  double peers_at = -1, routes_at = -1;
  while (true) {
    if (!daemon_alive()) fail("wgate server exited; see " + log_path);
    if (Clock::now() > deadline) fail("the daemon did not converge within the timeout; see " + log_path);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    if (peers_at < 0) {
      bool all = true;
      for (size_t g = 0; g < ngroups && all; ++g) {
        auto dev = wg->get_device(config.groups[g].interface);
        all = dev.ok() && dev->peers.size() == per_interface[g];
      }
      if (all) peers_at = ms_between(daemon_started, Clock::now()) / 1000;
    }
    if (peers_at >= 0) {
      auto routes = router->list_routes();
      size_t host_routes = 0;
      if (routes.ok()) {
        for (const auto& r : *routes) host_routes += r.table == kMainTable && r.type == RouteType::unicast;
      }
      if (host_routes == n) {
        routes_at = ms_between(daemon_started, Clock::now()) / 1000;
        break;
      }
    }
  }
  say("daemon converged: all %zu peers in the device(s) after %.1f s, all %zu routes after %.1f s (1 s polling)\n", n,
      peers_at, n, routes_at);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // let the first passes settle

  std::vector<std::pair<std::string, pid_t>> wg_pids;
  for (const auto& g : config.groups) {
    auto pid = wireguard_go_pid(g.interface);
    if (!pid) fail("no wireguard-go process for " + g.interface);
    wg_pids.emplace_back(g.interface, *pid);
  }
  const Memory mem_converged = memory_of(daemon);
  std::vector<Memory> wg_mem_converged;
  for (const auto& [name, pid] : wg_pids) wg_mem_converged.push_back(memory_of(pid));

  // Idle: no change for idle_seconds; the daemon only runs its periodic full
  // passes (server.resync).
  say("measuring the idle daemon's CPU for %d s...\n", opt.idle_seconds);
  auto cpu_all = [&] {
    std::vector<double> v{cpu_seconds(daemon).value_or(0)};
    for (const auto& [name, pid] : wg_pids) v.push_back(cpu_seconds(pid).value_or(0));
    return v;
  };
  const auto idle_t0 = Clock::now();
  const auto cpu0 = cpu_all();
  std::this_thread::sleep_for(std::chrono::seconds(opt.idle_seconds));
  const auto cpu1 = cpu_all();
  const double idle_wall = ms_between(idle_t0, Clock::now()) / 1000;
  const double daemon_cpu = (cpu1[0] - cpu0[0]) / idle_wall;
  double wg_cpu = 0;
  for (size_t i = 1; i < cpu0.size(); ++i) wg_cpu += (cpu1[i] - cpu0[i]) / idle_wall;

  // --- 4. the changes ---------------------------------------------------------------
  say("making %d changes (alternating key add and key revoke), each followed by the anchor's `wg set`...\n",
      opt.changes);
  Watcher watcher(config.server.store_path + "-wal");
  std::map<std::string, size_t> expected = {};
  for (size_t g = 0; g < ngroups; ++g) expected[config.groups[g].interface] = per_interface[g];
  std::vector<Sample> samples;
  size_t visible_before_return = 0;
  const size_t revoke_stride = n / adds;
  const size_t anchor_stride = anchor_size / adds;
  if (revoke_stride < ngroups || anchor_stride < 1) fail("too few people for that many changes");
  for (int c = 0; c < opt.changes; ++c) {
    const bool add = c % 2 == 0;
    const size_t k = static_cast<size_t>(c / 2);
    // Revoked: people spread over the store and over the interfaces.
    const Person& who = add ? newcomers[k] : people[k * revoke_stride + k % ngroups];
    std::vector<std::string> args{opt.wgate, "-c", opt.config_path, "--json", "key"};
    if (add) {
      args.insert(args.end(), {"add", who.name, who.key.to_base64(), "--device", kDevice, "--group", who.group});
    } else {
      args.insert(args.end(), {"revoke", std::to_string(who.key_id)});
    }
    const size_t mark = watcher.size();
    const auto spawned = Clock::now();
    Ran ran = run_capture(args);
    if (!ran.ok) fail("failed: " + joined(args) + "\n" + ran.out);
    if (add) {
      auto j = nlohmann::json::parse(ran.out, nullptr, false);
      if (j.is_discarded() || !j.contains("address") || j["address"] != who.address.to_string()) {
        fail("`key add` for " + who.name + " printed " + ran.out + " (want address " + who.address.to_string() + ")");
      }
    }
    const auto kind = add ? Event::Kind::route_added : Event::Kind::route_removed;
    std::optional<Event> seen;
    const auto wait_until = Clock::now() + std::chrono::seconds(60);
    while (!(seen = watcher.find(mark, [&](const Event& e) { return e.kind == kind && e.address == who.address; }))) {
      if (Clock::now() > wait_until) fail("change " + std::to_string(c) + " (" + joined(args) + ") not visible in 60 s");
      if (!daemon_alive()) fail("wgate server exited; see " + log_path);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    auto commit = watcher.find(mark, [&](const Event& e) { return e.kind == Event::Kind::commit && e.at >= spawned; });
    Sample s;
    s.add = add;
    s.cli = ms_between(spawned, ran.exited);
    if (commit) s.commit = ms_between(spawned, commit->at);
    s.visible = ms_between(spawned, seen->at);
    if (s.visible < s.cli) ++visible_before_return;

    // Untimed: the device really holds (or no longer holds) the key.
    if (add) {
      ++expected[who.interface];
    } else {
      --expected[who.interface];
    }
    const WgDeviceState dev = must(wg->get_device(who.interface), "read " + who.interface);
    const bool present = std::any_of(dev.peers.begin(), dev.peers.end(),
                                     [&](const WgPeerState& p) { return p.public_key == who.key; });
    if (present != add || dev.peers.size() != expected[who.interface]) {
      fail("after change " + std::to_string(c) + " " + who.interface + " holds " + std::to_string(dev.peers.size()) +
           " peers (want " + std::to_string(expected[who.interface]) + "), the key is " +
           (present ? "present" : "absent"));
    }

    // The anchor: the same kind of change with `wg set`.
    std::vector<std::string> wg_args{"wg", "set", kAnchor, "peer"};
    if (add) {
      wg_args.insert(wg_args.end(),
                     {anchor_keys[anchor_size + k].to_base64(), "allowed-ips", anchor_ip(anchor_size + k).to_string()});
    } else {
      wg_args.insert(wg_args.end(), {anchor_keys[k * anchor_stride].to_base64(), "remove"});
    }
    const auto wg_t0 = Clock::now();
    Ran wg_ran = run_capture(wg_args);
    if (!wg_ran.ok) fail("failed: " + joined(wg_args));
    s.anchor = ms_between(wg_t0, wg_ran.exited);
    samples.push_back(s);
    if ((c + 1) % 20 == 0) say("  %d/%d changes\n", c + 1, opt.changes);
    // 100-300 ms apart, so the changes fall on every phase of the periodic
    // full pass rather than in step with it.
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + (c * 37) % 200));
  }
  {
    const size_t got = must(wg->get_device(kAnchor), "read anchor").peers.size();
    if (got != anchor_size) fail("the anchor holds " + std::to_string(got) + " peers, want " + std::to_string(anchor_size));
  }
  if (watcher.overflowed()) say("note: the route watcher lost events (ENOBUFS); the samples found are still exact\n");

  // --- 5. the daemon's passes, replayed here -------------------------------------------
  say("replaying one full and one incremental pass in this process (daemon paused)...\n");
  ::kill(daemon, SIGSTOP);
  auto firewall = make_nftables_firewall();
  bench::TimedWgBackend timed_wg(*wg);
  bench::TimedRouter timed_router(*router);
  bench::TimedFirewall timed_fw(*firewall);
  bench::FakeForwarding forwarding(/*on=*/true);
  std::vector<std::string> names;
  for (const auto& g : config.groups) names.push_back(g.interface);
  bench::FakeRegistry registry(names);
  InterfaceKeys interface_keys(config.server.state_dir);
  Reconciler reconciler(timed_wg, timed_router, timed_fw, forwarding, interface_keys, registry);
  struct Replay {
    double snapshot = 0, compile = 0;
    bench::PassTiming pass;
    std::string summary;
  };
  auto replay = [&](PassKind kind) {
    Replay r;
    auto a = Clock::now();
    State state = must(store->snapshot(), "snapshot");
    auto b = Clock::now();
    Plan plan = compile(config, state, static_cast<UnixTime>(std::time(nullptr)));
    auto c = Clock::now();
    ReconcileReport report;
    r.pass = bench::timed_pass(reconciler, timed_wg, timed_router, &timed_fw, plan, kind, report);
    r.snapshot = ms_between(a, b);
    r.compile = ms_between(b, c);
    if (!report.errors.empty()) fail("replayed pass: " + report.errors.front());
    r.summary = report.changed() ? report.summary() : "nothing to change";
    return r;
  };
  const Replay full = replay(PassKind::full);
  const Replay inc = replay(PassKind::incremental);
  ::kill(daemon, SIGCONT);

  const Memory mem_after = memory_of(daemon);

  // --- stop ---------------------------------------------------------------------------
  ::kill(daemon, SIGTERM);
  bool exited = false;
  for (int i = 0; i < 100 && !exited; ++i) {
    exited = ::waitpid(daemon, nullptr, WNOHANG) == daemon;
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!exited) {
    ::kill(daemon, SIGKILL);
    ::waitpid(daemon, nullptr, 0);
  }
  for (const auto& name : names) must(wg->remove_device(name), "remove " + name);
  must(wg->remove_device(kAnchor), "remove anchor");

  // --- report ---------------------------------------------------------------------------
  std::vector<double> cli, commit_to_visible, return_to_visible, start_to_visible, anchor, add_rv, revoke_rv, add_cli,
      revoke_cli;
  for (const auto& s : samples) {
    cli.push_back(s.cli);
    if (s.commit) commit_to_visible.push_back(s.visible - *s.commit);
    return_to_visible.push_back(std::max(0.0, s.visible - s.cli));
    start_to_visible.push_back(s.visible);
    anchor.push_back(s.anchor);
    (s.add ? add_rv : revoke_rv).push_back(std::max(0.0, s.visible - s.cli));
    (s.add ? add_cli : revoke_cli).push_back(s.cli);
  }
  const std::string split = ngroups == 1 ? "one interface"
                                         : std::to_string(ngroups) + " interfaces of ~" + std::to_string(per_interface[0]);
  say("\n== change latency: %zu people (%s), %d changes (%zu key add, %zu key revoke), resync %llds\n", n,
      split.c_str(), opt.changes, adds, adds, static_cast<long long>(config.server.resync_seconds));
  say("wgate (visible = the device's route appears/leaves, written after the peer in the same pass):\n");
  print_stats("CLI return -> visible (0 if visible before return)", return_to_visible);
  print_stats("  key add only", add_rv);
  print_stats("  key revoke only", revoke_rv);
  print_stats("store commit (-wal write) -> visible", commit_to_visible);
  print_stats("CLI start -> visible (end to end)", start_to_visible);
  print_stats("the CLI itself (wgate key add/revoke, start -> exit)", cli);
  print_stats("  key add only", add_cli);
  print_stats("  key revoke only", revoke_cli);
  say("  visible before the CLI returned: %zu of %zu\n", visible_before_return, samples.size());
  say("anchor (`wg set` add/remove one peer, wireguard-go device of %zu peers):\n", anchor_size);
  print_stats("wg set, fork -> exit", anchor);
  const double wg50 = percentile(anchor, 50);
  say("ratio p50: CLI return -> visible / wg set = %.2f   commit -> visible / wg set = %.2f   end to end / wg set = "
      "%.2f\n",
      percentile(return_to_visible, 50) / wg50, percentile(commit_to_visible, 50) / wg50,
      percentile(start_to_visible, 50) / wg50);
  say("daemon (pid %d): VmRSS %.1f MiB at %zu peers (converged), %.1f MiB after the changes, peak VmHWM %.1f MiB\n",
      daemon, static_cast<double>(mem_converged.rss_kb) / 1024, n, static_cast<double>(mem_after.rss_kb) / 1024,
      static_cast<double>(mem_after.hwm_kb) / 1024);
  for (size_t i = 0; i < wg_pids.size(); ++i) {
    say("  wireguard-go for %s: VmRSS %.1f MiB (%zu peers)\n", wg_pids[i].first.c_str(),
        static_cast<double>(wg_mem_converged[i].rss_kb) / 1024, per_interface[i]);
  }
  say("idle (no changes, %.1f s; full pass every %llds): daemon %.1f%% of one core, its wireguard-go %.1f%%; "
      "= %.0f ms daemon CPU per full pass\n",
      idle_wall, static_cast<long long>(config.server.resync_seconds), daemon_cpu * 100, wg_cpu * 100,
      daemon_cpu * 1000 * static_cast<double>(config.server.resync_seconds));
  for (const auto* r : {&full, &inc}) {
    say("%s pass, replayed (snapshot + compile + Reconciler with real backend, router, nftables): %.1f ms = snapshot "
        "%.1f + compile %.1f + reconcile %.1f (device reads %.1f in %d, device writes %.1f, netlink %.1f in %d, "
        "nftables %.1f in %d, reconciler %.1f); %s\n",
        r == &full ? "full" : "incremental, no change,", r->snapshot + r->compile + r->pass.total, r->snapshot,
        r->compile, r->pass.total, r->pass.wg_reads.ms, r->pass.wg_reads.calls, r->pass.wg_writes.ms,
        r->pass.netlink.ms, r->pass.netlink.calls, r->pass.firewall.ms, r->pass.firewall.calls, r->pass.own(),
        r->summary.c_str());
  }
  say("setup: store fill %.1f s; daemon start -> all peers %.1f s, -> all routes %.1f s; user add at %zu people "
      "(service::add_user) median %.1f ms\n",
      fill_s, peers_at, routes_at, n, median(user_add_ms));
  return 0;
}

}  // namespace
}  // namespace wgate

int main(int argc, char** argv) { return wgate::bench_main(argc, argv); }
