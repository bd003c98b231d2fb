// The binary interface between the handshake-initiation capture program
// (knock.bpf.c) and its loader (dataplane/initiation_capture.cpp): the
// ring-buffer record. Plain C, included by both sides; fixed layout without
// implicit padding.
#pragma once

#ifndef __bpf__
#include <linux/types.h>
#endif

// A WireGuard handshake initiation: message type 1, three reserved zero
// bytes, 148 bytes in all (WireGuard paper, section 5.4.2).
#define WGATE_KNOCK_MESSAGE_SIZE 148

#define WGATE_KNOCK_FAMILY_V4 4
#define WGATE_KNOCK_FAMILY_V6 6

struct wgate_knock_event {
  __u64 time_ns;  // bpf_ktime_get_ns() (CLOCK_MONOTONIC)
  __u8 src[16];   // IPv4: the first 4 bytes; network byte order
  __u8 dst[16];
  __u16 sport;    // host byte order
  __u16 dport;
  __u32 ifindex;  // the interface it arrived on
  __u8 family;    // WGATE_KNOCK_FAMILY_V4 / _V6
  __u8 pad[3];
  __u8 message[WGATE_KNOCK_MESSAGE_SIZE];  // the UDP payload
  __u8 pad2[4];
};

// Indices of the program's per-CPU `stats` array (u64 each): what happened
// to initiations to a watched port.
enum wgate_knock_stat {
  WGATE_KNOCK_STAT_COPIED = 0,          // into the ring
  WGATE_KNOCK_STAT_SOURCE_LIMITED = 1,  // over events_per_sec of its source address
  WGATE_KNOCK_STAT_GLOBAL_LIMITED = 2,  // over events_total_per_sec of the whole program
  WGATE_KNOCK_STAT_RING_FULL = 3,       // the ring had no room
  WGATE_KNOCK_STATS = 4,
};
