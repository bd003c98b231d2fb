// Firewall: wgate's own nftables table ("inet wgate"), which closes the back
// door through the gateway (see FirewallPlan). Driven through libnftables;
// observed and reconciled like the rest of the data plane. It never touches
// any other table.
#pragma once

#include <memory>

#include "core/plan.h"
#include "util/result.h"

namespace wgate {

class Firewall {
 public:
  virtual ~Firewall() = default;
  // True when the table exists and matches `plan` exactly.
  virtual Result<bool> in_sync(const FirewallPlan& plan) = 0;
  // Replaces the table atomically (one nft transaction) with `plan`'s rules.
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
