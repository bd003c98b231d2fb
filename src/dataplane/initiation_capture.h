// InitiationCapture: the eBPF capture of WireGuard handshake initiations
// (bpf/knock.bpf.c) and the AF_PACKET sockets it filters.
//
// Two AF_PACKET sockets (ETH_P_IP, ETH_P_IPV6) bound to every interface of
// the caller's network namespace carry the program as their socket filter.
// The program copies each initiation to a watched port into a ring buffer
// and returns 0, so the sockets never queue a byte: the packet goes on to
// the stack (kernel WireGuard or wireguard-go) as if nothing were there.
// Protocol-specific packet sockets are not called on transmit at all, and an
// interface created later is covered without any attach.
//
// Needs root (CAP_BPF, CAP_NET_RAW). Not thread-safe: one owner calls it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "dataplane/initiation_source.h"
#include "util/result.h"

namespace wgate {

struct InitiationCaptureOptions {
  uint32_t events_per_sec = 4;      // per source address; a client retries every 5 s
  // All sources together: bounds what user space checks (mac1) under a
  // flood from spoofed sources. 2,000/s is ~400 per 200 ms read of the
  // ring (which holds ~1,400), and far above what real clients send: every
  // valid client initiates once per 2 minutes, a stale one every 5 s.
  uint32_t events_total_per_sec = 2000;
  uint32_t ring_bytes = 1u << 18;   // 256 KiB: ~1,400 initiations queued
  bool open_sockets = true;         // false: the program only (BPF_PROG_TEST_RUN)
};

class InitiationCapture final : public InitiationSource {
 public:
  // Loads the program and, with open_sockets, starts capturing (no port is
  // watched until set_ports()).
  static Result<InitiationCapture> open(const InitiationCaptureOptions& options = {});

  InitiationCapture(InitiationCapture&&) noexcept;
  InitiationCapture& operator=(InitiationCapture&&) noexcept;
  ~InitiationCapture() override;  // closes the sockets, then unloads

  // Makes the program's port map exactly `ports` (deletes first, then adds).
  Status set_ports(const std::set<uint16_t>& ports) override;
  Result<std::vector<CapturedInitiation>> wait(std::chrono::milliseconds timeout) override;
  // The program's counters summed over the CPUs.
  Result<CaptureCounters> counters() override;

  // The program's fd, for BPF_PROG_TEST_RUN.
  int program_fd() const;

 private:
  struct Impl;
  explicit InitiationCapture(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wgate
