// The binary interface between the tc filter (filter.bpf.c) and user space
// (dataplane/bpf_filter.cpp, bpf/filter_plan.cpp): map keys, map values and
// the ring-buffer event. Plain C, included by both sides; every struct has a
// fixed layout without implicit padding, so both compilers agree on it.
//
// Addresses are IPv4 in network byte order; ports are in host byte order.
#pragma once

#ifndef __bpf__
#include <linux/types.h>
#endif

// Port ranges per protocol (TCP, UDP) in one rule entry. Rules of one prefix
// are merged into one entry, so this bounds the distinct, non-adjacent port
// ranges one ruleset may allow to one prefix (after merging those inherited
// from shorter prefixes). More is a compile error in user space.
#define WGATE_FILTER_MAX_RANGES 16

// Verdicts in events and counters.
#define WGATE_VERDICT_PASS 0
#define WGATE_VERDICT_DROP 1

// Why a packet got its verdict (flow_event.reason).
enum wgate_filter_reason {
  WGATE_REASON_RULE = 0,          // a rule allowed it
  WGATE_REASON_NO_DEVICE = 1,     // the source address is no device
  WGATE_REASON_NO_RULE = 2,       // no rule covers the destination
  WGATE_REASON_PROTO_PORT = 3,    // a rule covers the destination, not this protocol/port
  WGATE_REASON_MALFORMED = 4,     // truncated or inconsistent headers, IHL < 5
  WGATE_REASON_FRAGMENT = 5,      // a non-first fragment whose datagram was not allowed
  WGATE_REASON_ICMP_ERROR = 6,    // an ICMP error quoting a flow the rules do not allow
  WGATE_REASON_NOT_IPV4 = 7,      // IPv6 or another protocol
  WGATE_REASON_FRAGMENT_OK = 8,   // pass: a later fragment of an allowed datagram
  WGATE_REASON_TO_GATEWAY = 9,    // pass: addressed to the gateway itself (the input guard decides); never reported
};

// Slots of the event_losses per-CPU array: events the program did not put
// in the ring, by verdict and why. Rate-limited: over the source's
// per-second budget (deny_events_per_sec, flow_events_per_sec); ring full:
// bpf_ringbuf_reserve failed (user space behind).
enum wgate_event_loss {
  WGATE_LOSS_FLOW_RATE_LIMITED = 0,
  WGATE_LOSS_FLOW_RING_FULL = 1,
  WGATE_LOSS_DENY_RATE_LIMITED = 2,
  WGATE_LOSS_DENY_RING_FULL = 3,
  WGATE_EVENT_LOSS_SLOTS = 4,
};

// devices map (hash): key = __u32 source address, value:
struct wgate_device {
  __u32 ruleset;
};

// rules map (LPM trie). prefixlen counts the ruleset's 32 bits plus the
// destination prefix length: a lookup uses 64.
struct wgate_rule_key {
  __u32 prefixlen;
  __u32 ruleset;  // host order: always matched in full (prefixlen >= 32)
  __u32 addr;     // network order
};

struct wgate_port_range {
  __u16 lo;
  __u16 hi;
};

// What one ruleset allows to one destination prefix (already merged with
// every shorter prefix of the same ruleset that contains it, so the longest
// match alone decides).
struct wgate_rule_value {
  // Bit p of proto_all[p / 64]: IP protocol p is allowed entirely (every
  // port, or a protocol without ports such as ICMP).
  __u64 proto_all[4];
  __u16 n_tcp;  // ranges used in tcp[]: sorted, disjoint, non-adjacent
  __u16 n_udp;
  struct wgate_port_range tcp[WGATE_FILTER_MAX_RANGES];
  struct wgate_port_range udp[WGATE_FILTER_MAX_RANGES];
  __u32 reserved;  // zero; makes the size a multiple of 8 without hidden padding
};

// flows map (LRU hash): the 5-tuple of an allowed flow already reported.
struct wgate_flow_key {
  __u32 src;
  __u32 dst;
  __u16 sport;
  __u16 dport;
  __u8 proto;
  __u8 pad[3];
};

// Per-source counters (per-CPU LRU hash keyed by __u32 source address).
struct wgate_counters {
  __u64 pass_packets;
  __u64 pass_bytes;
  __u64 drop_packets;
  __u64 drop_bytes;
};

// The ring-buffer event: the first packet of a new flow, or a denial
// (rate-limited per source). For ICMP, sport = 0 and dport = type << 8 | code.
struct wgate_flow_event {
  __u64 time_ns;  // CLOCK_MONOTONIC (bpf_ktime_get_ns)
  __u32 src;
  __u32 dst;
  __u16 sport;
  __u16 dport;
  __u8 proto;
  __u8 verdict;
  __u8 reason;
  __u8 pad;
  __u32 ifindex;
  __u32 pad2;
};
