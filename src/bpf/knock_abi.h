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
