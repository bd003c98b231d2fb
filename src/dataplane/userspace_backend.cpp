#include "dataplane/userspace_backend.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <cstring>
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

class UserspaceWgBackend final : public WgBackend {
 public:
  explicit UserspaceWgBackend(UserspaceOptions options) : options_(std::move(options)) {}

  const char* kind() const override { return "userspace"; }

  Result<bool> device_exists(const std::string& name) override {
    WGATE_TRY(validate_ifname(name));
    reap_children();
    const auto deadline = get_deadline();
    WGATE_ASSIGN_OR_RETURN(Probe probe, probe_socket(name, deadline));
    if (probe.kind != Probe::Kind::ours) return false;
    auto state = read_device(probe.fd.get(), deadline);
    if (!state.ok()) return state.error().with_context("device " + name);
    return true;
  }

  Result<bool> ensure_device(const std::string& name) override {
    WGATE_TRY(validate_ifname(name));
    reap_children();
    WGATE_ASSIGN_OR_RETURN(Probe probe, probe_socket(name, get_deadline()));
    switch (probe.kind) {
      case Probe::Kind::ours:
        return false;
      case Probe::Kind::foreign:
        return make_error("device " + name + ": " + socket_path(name) +
                          " belongs to a wireguard-go in another network namespace");
      case Probe::Kind::stale:
        // Left by a process that died without cleaning up (e.g. SIGKILL).
        if (::unlink(socket_path(name).c_str()) != 0 && errno != ENOENT) {
          return errno_error(errno, "remove stale socket " + socket_path(name));
        }
        break;
      case Probe::Kind::absent:
        break;
    }
    WGATE_ASSIGN_OR_RETURN(ProcessHandle process, spawn_wireguard_go({options_.wireguard_go, name, log_path(name)}));
    children_.push_back(Child{name, std::move(process)});
    Status ready = wait_until_ready(name, children_.back().process);
    if (!ready.ok()) {
      stop_failed_child(name);
      return ready.error().with_context("starting wireguard-go for " + name);
    }
    return true;
  }

  Status remove_device(const std::string& name) override {
    WGATE_TRY(validate_ifname(name));
    reap_children();
    const std::string path = socket_path(name);
    WGATE_ASSIGN_OR_RETURN(Probe probe, probe_socket(name, get_deadline()));
    switch (probe.kind) {
      case Probe::Kind::absent:
      case Probe::Kind::foreign:  // another namespace's device is not ours to remove
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
    reap_children();
    // wireguard-go removes its socket on a clean exit, not after SIGKILL.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error(errno, "remove " + path);
    return ok_status();
  }

  Result<WgDeviceState> get_device(const std::string& name) override {
    WGATE_TRY(validate_ifname(name));
    reap_children();
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
    reap_children();
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
    }
    return make_error("unreachable");
  }

  // Waits until the new process's socket answers get=1, or it exits (then
  // it is reaped here).
  Status wait_until_ready(const std::string& name, ProcessHandle& process) {
    const auto deadline = Clock::now() + options_.start_timeout;
    while (true) {
      WGATE_ASSIGN_OR_RETURN(std::optional<std::string> exited, process.try_reap());
      if (exited) return make_error("wireguard-go exited (" + *exited + ")" + log_tail(log_path(name)));
      const auto check_by = std::min(deadline, get_deadline());
      auto probe = probe_socket(name, check_by);
      if (probe.ok() && probe->kind == Probe::Kind::ours && read_device(probe->fd.get(), check_by).ok()) {
        return ok_status();
      }
      if (remaining_ms(deadline) == 0) {
        return make_error("socket " + socket_path(name) + " did not answer within " +
                          std::to_string(options_.start_timeout.count()) + " ms" + log_tail(log_path(name)));
      }
      std::this_thread::sleep_for(kPollStep);
    }
  }

  // Kills (unless it has exited and been reaped already) and forgets the
  // child for `name` that never became ready. Through its pidfd only: its
  // pid may already name another process.
  void stop_failed_child(const std::string& name) {
    // The newest child of that name: the one just started.
    auto it = std::find_if(children_.rbegin(), children_.rend(), [&](const Child& c) { return c.name == name; });
    if (it == children_.rend()) return;
    // A child that does not die even of SIGKILL stays listed, so that
    // reap_children() can reap it later.
    if (!it->process.reaped() && !it->process.kill_and_reap().ok()) return;
    children_.erase(std::next(it).base());
  }

  // The unreaped child with this pid: the pid of a child we have not reaped
  // cannot have been reused, so the match is exact.
  ProcessHandle* child_with_pid(pid_t pid) {
    for (auto& c : children_) {
      if (!c.process.reaped() && c.process.pid() == pid) return &c.process;
    }
    return nullptr;
  }

  // Reaps children that have exited so that no zombies pile up. Only our own
  // children are waited for, each through its pidfd: waitpid(-1) would steal
  // other modules' statuses.
  void reap_children() {
    std::erase_if(children_, [](Child& c) {
      if (c.process.reaped()) return true;
      auto exited = c.process.try_reap();
      // An error means it is not waitable any more (somebody else reaped it).
      return !exited.ok() || exited->has_value();
    });
  }

  struct Child {
    std::string name;
    ProcessHandle process;
  };

  UserspaceOptions options_;
  std::vector<Child> children_;  // started by us and not yet reaped
};

}  // namespace

std::unique_ptr<WgBackend> make_userspace_backend(UserspaceOptions options) {
  return std::make_unique<UserspaceWgBackend>(std::move(options));
}

}  // namespace wgate
