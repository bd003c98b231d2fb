// Firewall: wgate's own nftables table ("inet wgate"), which closes the back
// door through the gateway (see FirewallPlan). Driven through libnftables;
// observed and reconciled like the rest of the data plane. It never touches
// any other table.
#pragma once

#include <memory>

#include "core/plan.h"
#include "util/result.h"

namespace wgate {

// Not thread-safe: one owner (the reconciler) calls it. Every call acts on
// the caller's current network namespace.
class Firewall {
 public:
  virtual ~Firewall() = default;
  // True when the table is exactly what this object's last apply() of an
  // equal plan produced: table flags and comment, every chain (type, hook,
  // priority, policy), every set (definition and elements) and every
  // expression of every rule; only handles and counter values may differ.
  // A Firewall that has not applied this plan (e.g. the first pass after a
  // restart) says false without listing the table, so the caller re-applies
  // once; that replacement is atomic and leaves no gap. An error means the
  // kernel could not be observed (never a guessed "false").
  virtual Result<bool> in_sync(const FirewallPlan& plan) = 0;
  // Replaces the table atomically (one nft transaction) with `plan`'s rules
  // and records what the kernel then holds, for in_sync().
  virtual Status apply(const FirewallPlan& plan) = 0;
  // Deletes the table if present.
  virtual Status remove() = 0;
};

std::unique_ptr<Firewall> make_nftables_firewall();

// Reads and sets net.ipv4.ip_forward of this network namespace (/proc/sys).
Result<bool> ipv4_forwarding_enabled();
Status set_ipv4_forwarding(bool enabled);

// The forwarding switch as an injectable object, so that the reconciler's
// unit tests never write the test runner's sysctls.
class Forwarding {
 public:
  virtual ~Forwarding() = default;
  virtual Result<bool> ipv4_enabled() = 0;
  virtual Status enable_ipv4() = 0;
};

// The real one: /proc/sys/net/ipv4/ip_forward of the caller's namespace.
std::unique_ptr<Forwarding> make_proc_forwarding();

}  // namespace wgate
