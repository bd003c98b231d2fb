// WgBackend: one interface over the two ways wgate drives WireGuard.
//
//  - kernel:    generic netlink family "wireguard" (WG_CMD_GET/SET_DEVICE)
//  - userspace: the UAPI socket of a wireguard-go process that wgate starts
//               and supervises, one per interface
//
// Routes, rules and firewall are not the backend's job: they attach to the
// interface whatever implements it (see Router, Firewall).
// Implementations are not thread-safe; the agent calls them from one thread.
#pragma once

#include <memory>
#include <string>

#include "core/netstate.h"
#include "util/result.h"

namespace wgate {

class WgBackend {
 public:
  virtual ~WgBackend() = default;

  // "kernel" or "userspace".
  virtual const char* kind() const = 0;

  // Does a WireGuard device of this name exist in this network namespace
  // and answer (for userspace: its wireguard-go process is alive and its
  // socket belongs to this namespace)?
  virtual Result<bool> device_exists(const std::string& name) = 0;

  // Creates the device if it does not exist and waits until it answers.
  // Leaves an existing one (and its peers) untouched. Returns true when it
  // created it. Errors: the name is a link that is not a WireGuard device of
  // ours. For tools and tests; the reconciler uses prepare_device().
  virtual Result<bool> ensure_device(const std::string& name) = 0;

  // What prepare_device() found or did.
  enum class Readiness {
    ready,     // an existing WireGuard device of ours: configure it now
    created,   // just created and answering: configure it now
    starting,  // being created (a userspace process not answering yet): ask again soon
    foreign,   // a link of this name exists and is not a WireGuard device of
               // ours (e.g. eth0, another VPN's tun0): never touch it
  };
  // Like ensure_device(), but never blocks for long (a userspace process
  // that takes time to start is reported as `starting`, and a process that
  // failed to start is an error with its log, without retrying within the
  // same call), so that one failing interface cannot hold up the others.
  virtual Result<Readiness> prepare_device(const std::string& name) = 0;

  // Removes the device (and, for userspace, stops its process).
  virtual Status remove_device(const std::string& name) = 0;

  // Reads the whole device: keys, port, every peer with handshake and
  // counters. Large devices span several messages; they are merged here.
  virtual Result<WgDeviceState> get_device(const std::string& name) = 0;

  // Applies a change. Large updates are split into several messages as the
  // transport needs; REPLACE_PEERS only applies to the first.
  virtual Status set_device(const WgDeviceUpdate& update) = 0;
};

enum class BackendKind { kernel, userspace };

// True when this kernel can create links of kind "wireguard".
bool kernel_wireguard_available();

}  // namespace wgate
