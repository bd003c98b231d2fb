// NftMonitor: hears nftables changes in the caller's network namespace as
// they are committed, so that whoever owns the Firewall can re-check wgate's
// table at once instead of on its next periodic pass.
//
// Meant for the daemon's poll loop (not wired in yet):
//
//   auto monitor = NftMonitor::open();          // once, at start
//   // poll() monitor->fd() for POLLIN together with the other fds/timers
//   if (fd readable) {
//     auto maybe_ours = monitor->drain();
//     if (!maybe_ours.ok() || *maybe_ours) { /* firewall.in_sync(plan), apply if false */ }
//     if (!maybe_ours.ok()) { /* reopen the monitor; keep the periodic pass meanwhile */ }
//   }
//
// Events say that something may have changed, never what: the caller still
// asks Firewall::in_sync(). They are a shortcut, not a replacement for the
// periodic pass (a monitor opened after a change, or closed, hears nothing).
// wgate's own apply() produces events too; the in_sync() that follows is a
// single netlink request, because nothing was committed after the apply.
#pragma once

#include <libmnl/libmnl.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "util/result.h"

namespace wgate {

class NftMonitor {
 public:
  // Receive buffer asked for by default: a transaction that touches a few
  // thousand set elements announces each one; more than fits is reported as
  // "maybe ours" (ENOBUFS), which costs one in_sync(), never a missed change.
  static constexpr int kDefaultReceiveBuffer = 1 << 20;

  // Opens a non-blocking netlink socket (NETLINK_NETFILTER) subscribed to
  // the nftables event group (NFNLGRP_NFTABLES) in the caller's current
  // network namespace. Needs CAP_NET_ADMIN. `receive_buffer_bytes` is a
  // request; the kernel may round it.
  static Result<NftMonitor> open(int receive_buffer_bytes = kDefaultReceiveBuffer);

  NftMonitor(NftMonitor&&) noexcept = default;
  NftMonitor& operator=(NftMonitor&&) noexcept = default;
  NftMonitor(const NftMonitor&) = delete;
  NftMonitor& operator=(const NftMonitor&) = delete;

  // Readable (POLLIN) while events are pending. Owned by the monitor: valid
  // until it is destroyed or moved from; never read it directly.
  int fd() const;

  // Reads every pending event without blocking and says whether any of them
  // could concern table `inet wgate`:
  //   true  for table, chain, rule, set, set-element, object and flowtable
  //         events of family inet naming table "wgate" (a `flush ruleset`
  //         is announced as the deletion of each table, so it is seen as the
  //         deletion of ours), for any event that cannot be read with
  //         certainty (unknown type, family unspecified, no table name,
  //         truncated), and when events were lost (ENOBUFS: the socket
  //         overflowed);
  //   false when every event named another table or family, or was a
  //         generation announcement, or nothing was pending.
  // An error means the socket can no longer be trusted: treat it as "maybe
  // ours" and reopen. Not thread-safe.
  Result<bool> drain();

 private:
  struct Deleter {
    void operator()(mnl_socket* s) const { mnl_socket_close(s); }
  };
  explicit NftMonitor(mnl_socket* s);

  std::unique_ptr<mnl_socket, Deleter> sock_;
  std::vector<char> buffer_;
};

}  // namespace wgate
