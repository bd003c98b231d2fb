#include "dataplane/userspace_backend.h"

#include <net/if.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "core/names.h"
#include "dataplane/deadline.h"
#include "dataplane/uapi_protocol.h"
#include "dataplane/uapi_socket.h"
#include "dataplane/wireguard_go_process.h"
#include "util/fd.h"

namespace wgate {

namespace {

using Clock = std::chrono::steady_clock;
using Probe = UapiSocketProbe;

constexpr auto kPollStep = std::chrono::milliseconds(20);

// Interface names end up in a file path and a TUN name (core/names.h).
Status validate_ifname(const std::string& name) { return check_interface_name(name); }

// Is there a link of this name in our network namespace (of any kind)?
Result<bool> link_exists(const std::string& name) {
  if (::if_nametoindex(name.c_str()) != 0) return true;
  if (errno == ENODEV || errno == ENXIO) return false;
  return errno_error(errno, "looking up link " + name);
}

class UserspaceWgBackend final : public WgBackend {
 public:
  explicit UserspaceWgBackend(UserspaceOptions options) : options_(std::move(options)) {}

  const char* kind() const override { return "userspace"; }

  Result<bool> device_exists(const std::string& name) override {
    WGATE_TRY(validate_ifname(name));
    supervise_children();
    const auto deadline = get_deadline();
    WGATE_ASSIGN_OR_RETURN(Probe probe, probe_socket(name, deadline));
    if (probe.kind != Probe::Kind::ours) return false;
    auto state = read_device(probe.fd.get(), deadline);
    if (!state.ok()) return state.error().with_context("device " + name);
    return true;
  }

  Result<bool> ensure_device(const std::string& name) override {
    // The same path as prepare_device, only willing to wait for a new
    // process until start_timeout decides.
    WGATE_ASSIGN_OR_RETURN(Readiness readiness, prepare(name, Clock::time_point::max()));
    switch (readiness) {
      case Readiness::ready: return false;
      case Readiness::created: return true;
      case Readiness::foreign: return foreign_link_error(name);
      case Readiness::starting: break;
    }
    return make_error("device " + name + ": wireguard-go still starting after start_timeout");  // not reached
  }

  Result<Readiness> prepare_device(const std::string& name) override {
    return prepare(name, Clock::now() + options_.prepare_budget);
  }

  Status remove_device(const std::string& name) override {
    WGATE_TRY(validate_ifname(name));
    supervise_children();
    failed_starts_.erase(name);
    const std::string path = socket_path(name);
    if (Child* child = starting_child(name)) {
      // Never ready, so nobody depends on it: no need for a clean stop.
      auto killed = child->process.kill_and_reap();
      if (!killed.ok()) return killed.error().with_context("stopping the starting wireguard-go for " + name);
      forget(*child);
    }
    WGATE_ASSIGN_OR_RETURN(Probe probe, probe_socket(name, get_deadline()));
    switch (probe.kind) {
      case Probe::Kind::absent:
      case Probe::Kind::foreign:   // another namespace's device is not ours to remove
      case Probe::Kind::unproven:  // nor one we cannot place
        return ok_status();
      case Probe::Kind::stale:
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error(errno, "remove " + path);
        return ok_status();
      case Probe::Kind::ours:
        break;
    }
    // Our own child is held since its spawn. Any other process (one started
    // before a restart) is taken by a pidfd while the open connection and
    // SO_PEERCRED name it; either way the signals cannot reach a process
    // that reused its pid.
    std::optional<ProcessHandle> adopted;
    ProcessHandle* process = child_with_pid(probe.pid);
    if (process == nullptr) {
      WGATE_ASSIGN_OR_RETURN(adopted, ProcessHandle::open(probe.pid));
      process = &*adopted;
    }
    probe.fd.reset();
    if (auto st = process->signal(SIGTERM); !st.ok()) return st.error().with_context("stopping wireguard-go");
    if (!process->wait_exit(options_.stop_timeout)) {
      if (auto st = process->signal(SIGKILL); !st.ok()) return st.error().with_context("stopping wireguard-go");
      if (!process->wait_exit(std::chrono::milliseconds(2000))) {
        return make_error("wireguard-go " + std::to_string(probe.pid) + " for " + name + " does not exit");
      }
    }
    supervise_children();
    // wireguard-go removes its socket on a clean exit, not after SIGKILL.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error(errno, "remove " + path);
    return ok_status();
  }

  Result<WgDeviceState> get_device(const std::string& name) override {
    WGATE_TRY(validate_ifname(name));
    supervise_children();
    const auto deadline = get_deadline();
    WGATE_ASSIGN_OR_RETURN(UniqueFd fd, connect_ours(name, deadline));
    auto state = read_device(fd.get(), deadline);
    if (!state.ok()) return state.error().with_context("get device " + name);
    state->name = name;
    return state;
  }

  Status set_device(const WgDeviceUpdate& update) override {
    WGATE_TRY(validate_ifname(update.name));
    auto valid = validate_set_request(update);
    if (!valid.ok()) return valid.error().with_context("set device " + update.name);
    if (update.empty()) return ok_status();
    supervise_children();
    WGATE_ASSIGN_OR_RETURN(UniqueFd fd, connect_ours(update.name, Clock::now() + options_.io_timeout));
    // UAPI has no message size limit: the whole update is one request, so
    // wireguard-go applies it under one lock. It may legitimately stall for
    // seconds (see io_timeout), so only a lack of progress ends it.
    const std::string request = format_set_request(update);
    WGATE_ASSIGN_OR_RETURN(std::string reply, uapi_exchange(fd.get(), request, options_.io_timeout));
    auto err = parse_set_reply(reply);
    if (!err.ok()) return err.error().with_context("set device " + update.name);
    if (*err != 0) {
      int positive = *err < 0 ? -*err : *err;
      return Error{"set device " + update.name + ": wireguard-go replied errno=" + std::to_string(*err) + " (" +
                       std::strerror(positive) + ")",
                   positive};
    }
    return ok_status();
  }

 private:
  // A wireguard-go we started and have not reaped.
  struct Child {
    std::string name;
    ProcessHandle process;
    Clock::time_point start_deadline;  // when it must answer by, while starting
    bool ready = false;                // has answered a get once
  };

  // prepare_device and ensure_device: adopt, refuse, or create and follow
  // the new process until it answers, fails, or `until` passes.
  Result<Readiness> prepare(const std::string& name, Clock::time_point until) {
    WGATE_TRY(validate_ifname(name));
    supervise_children();
    // A start that failed since the last call is reported once; the call
    // after that tries again.
    if (auto failed = failed_starts_.find(name); failed != failed_starts_.end()) {
      Error error = std::move(failed->second);
      failed_starts_.erase(failed);
      return error;
    }
    if (starting_child(name) != nullptr) return follow_start(name, until);

    WGATE_ASSIGN_OR_RETURN(Probe probe, probe_socket(name, std::min(until, get_deadline())));
    if (probe.kind == Probe::Kind::ours) return Readiness::ready;
    // No device of ours answers under this name. A link that has it anyway
    // is somebody else's (eth0, another VPN's tun0, a kernel WireGuard
    // link): starting wireguard-go with its name would fail, or worse,
    // attach to a persistent TUN and take it over.
    WGATE_ASSIGN_OR_RETURN(bool link, link_exists(name));
    switch (probe.kind) {
      case Probe::Kind::ours:
        break;
      case Probe::Kind::foreign:
        if (link) return Readiness::foreign;
        return make_error("device " + name + ": " + socket_path(name) +
                          " belongs to a wireguard-go in another network namespace");
      case Probe::Kind::unproven:
        // Most likely our own wireguard-go exiting: its socket and TUN go
        // within moments, and the next call sees them gone.
        return make_error("device " + name + ": the process behind " + socket_path(name) +
                          " is gone or exiting; cannot tell whose it is");
      case Probe::Kind::stale:
      case Probe::Kind::absent:
        if (link) {
          if (const Child* child = child_named(name)) {
            return make_error("device " + name + ": its wireguard-go (pid " + std::to_string(child->process.pid()) +
                              ") runs but " + socket_path(name) + " is gone");
          }
          return Readiness::foreign;
        }
        break;
    }
    if (probe.kind == Probe::Kind::stale) {
      // Left by a process that died without cleaning up (e.g. SIGKILL).
      if (::unlink(socket_path(name).c_str()) != 0 && errno != ENOENT) {
        return errno_error(errno, "remove stale socket " + socket_path(name));
      }
    }
    auto process = spawn_wireguard_go({options_.wireguard_go, name, log_path(name)});
    if (!process.ok()) return process.error().with_context("starting wireguard-go for " + name);
    children_.push_back(Child{name, std::move(*process), Clock::now() + options_.start_timeout});
    return follow_start(name, until);
  }

  // Watches the starting child for `name` until it answers (`created`),
  // fails (an error; it is then reaped and forgotten, and not restarted
  // here), or `until` passes (`starting`).
  Result<Readiness> follow_start(const std::string& name, Clock::time_point until) {
    while (true) {
      Child* child = starting_child(name);
      if (child == nullptr) return make_error("device " + name + ": no starting wireguard-go");  // not reached
      auto exited = child->process.try_reap();
      if (!exited.ok()) {
        forget(*child);
        return exited.error().with_context("starting wireguard-go for " + name);
      }
      if (*exited) {
        forget(*child);
        return start_failure(name, "wireguard-go exited (" + **exited + ")");
      }
      // A fresh wireguard-go answers within a millisecond; the floor only
      // keeps a nearly spent budget from making the check impossible.
      const auto now = Clock::now();
      const auto check_by = std::min(get_deadline(), std::max(until, now + kPollStep));
      auto probe = probe_socket(name, check_by);
      if (probe.ok() && probe->kind == Probe::Kind::ours && probe->pid == child->process.pid() &&
          read_device(probe->fd.get(), check_by).ok()) {
        child->ready = true;
        return Readiness::created;
      }
      if (Clock::now() >= child->start_deadline) {
        const std::string what = "socket " + socket_path(name) + " did not answer within " +
                                 std::to_string(options_.start_timeout.count()) + " ms";
        if (auto killed = child->process.kill_and_reap(); !killed.ok()) {
          // Left listed: supervise_children() tries again.
          child->start_deadline = Clock::time_point::min();
          return start_failure(name, what + "; " + killed.error().message);
        }
        forget(*child);
        return start_failure(name, what);
      }
      if (Clock::now() >= until) return Readiness::starting;
      std::this_thread::sleep_for(std::min<Clock::duration>(kPollStep, until - Clock::now()));
    }
  }

  Error start_failure(const std::string& name, const std::string& what) const {
    return make_error("starting wireguard-go for " + name + ": " + what + log_tail(log_path(name)));
  }

  Error foreign_link_error(const std::string& name) const {
    return make_error("interface " + name + ": a link of that name exists and is not a wireguard-go device of ours " +
                      "(another program's?); wgate does not touch it");
  }

  std::string socket_path(const std::string& name) const { return options_.socket_dir + "/" + name + ".sock"; }

  std::string log_path(const std::string& name) const {
    if (options_.log_dir.empty()) return "";
    return options_.log_dir + "/wireguard-go-" + name + ".log";
  }

  Result<Probe> probe_socket(const std::string& name, Clock::time_point deadline) {
    return probe_uapi_socket(socket_path(name), deadline);
  }

  // Where a get (connect included) must be done by.
  Clock::time_point get_deadline() const { return Clock::now() + options_.get_timeout; }

  // get=1 over a connected socket, parsed; done by `deadline`.
  Result<WgDeviceState> read_device(int fd, Clock::time_point deadline) {
    WGATE_ASSIGN_OR_RETURN(std::string reply, uapi_exchange(fd, kUapiGetRequest, options_.get_timeout, deadline));
    return parse_get_reply(reply);
  }

  Result<UniqueFd> connect_ours(const std::string& name, Clock::time_point deadline) {
    WGATE_ASSIGN_OR_RETURN(Probe probe, probe_socket(name, deadline));
    switch (probe.kind) {
      case Probe::Kind::ours:
        return std::move(probe.fd);
      case Probe::Kind::absent:
        return Error{"device " + name + ": no wireguard-go socket " + socket_path(name), ENODEV};
      case Probe::Kind::stale:
        return Error{"device " + name + ": stale socket " + socket_path(name) + " (wireguard-go not running)", ENODEV};
      case Probe::Kind::foreign:
        return Error{"device " + name + ": socket belongs to another network namespace", ENODEV};
      case Probe::Kind::unproven:
        return Error{"device " + name + ": the process behind " + socket_path(name) + " is gone", ENODEV};
    }
    return make_error("unreachable");
  }

  Child* starting_child(const std::string& name) {
    for (auto& c : children_) {
      if (c.name == name && !c.ready && !c.process.reaped()) return &c;
    }
    return nullptr;
  }

  const Child* child_named(const std::string& name) const {
    for (const auto& c : children_) {
      if (c.name == name && !c.process.reaped()) return &c;
    }
    return nullptr;
  }

  // The unreaped child with this pid: the pid of a child we have not reaped
  // cannot have been reused, so the match is exact.
  ProcessHandle* child_with_pid(pid_t pid) {
    for (auto& c : children_) {
      if (!c.process.reaped() && c.process.pid() == pid) return &c.process;
    }
    return nullptr;
  }

  void forget(const Child& child) {
    std::erase_if(children_, [&](const Child& c) { return &c == &child; });
  }

  // Runs at the start of every call. Reaps children that have exited, so
  // that no zombies pile up; kills starting children past start_timeout
  // (also those of names nobody asks about any more). A start that failed
  // here is kept for the next prepare/ensure of that name to report. Only
  // our own children are waited for, each through its pidfd: waitpid(-1)
  // would steal other modules' statuses.
  void supervise_children() {
    const auto now = Clock::now();
    std::erase_if(children_, [&](Child& c) {
      if (c.process.reaped()) return true;
      auto exited = c.process.try_reap();
      if (!exited.ok()) return true;  // not waitable any more: somebody else reaped it
      if (*exited) {
        if (!c.ready) failed_starts_[c.name] = start_failure(c.name, "wireguard-go exited (" + **exited + ")");
        return true;
      }
      if (c.ready || now < c.start_deadline) return false;
      auto killed = c.process.kill_and_reap();
      if (!killed.ok()) return false;  // tried again next time
      if (c.start_deadline != Clock::time_point::min()) {  // not reported yet
        failed_starts_[c.name] = start_failure(c.name, "socket " + socket_path(c.name) + " did not answer within " +
                                                           std::to_string(options_.start_timeout.count()) + " ms");
      }
      return true;
    });
  }

  UserspaceOptions options_;
  std::vector<Child> children_;
  std::map<std::string, Error> failed_starts_;  // by interface name, until reported
};

}  // namespace

std::unique_ptr<WgBackend> make_userspace_backend(UserspaceOptions options) {
  return std::make_unique<UserspaceWgBackend>(std::move(options));
}

}  // namespace wgate
