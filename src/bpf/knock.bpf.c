// Copies WireGuard handshake initiations to user space, so wgate can tell
// whose key is knocking (agent/knock_watcher.h). A socket filter on
// AF_PACKET sockets (dataplane/initiation_capture.cpp): such a socket gets a
// copy of what arrives on every interface of the namespace, including
// interfaces created later, and whichever WireGuard implementation
// (kernel module or wireguard-go) owns the UDP port. The filter's return
// value only decides what this socket would queue: it returns 0, so the
// socket never queues anything (the ring buffer carries the copies), and
// the packet itself goes on to the stack untouched. wgate is never in the
// packet path.
//
// Copied: UDP over IPv4 (not a fragment) or IPv6 (UDP as the first next
// header) to one of the ports in `ports`, with a payload of exactly 148
// bytes starting 01 00 00 00. At most `events_per_sec` per source address
// and second (an LRU map of sources) and `events_total_per_sec` in all (one
// shared one-second window: spoofed sources each get the per-source budget,
// so only a cap over all of them bounds what user space must check), in a
// ring of bounded size: a flood costs the ring, never memory or the packet.
// What was copied and what was left out, and why, is counted (`stats`).
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "knock_abi.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define PACKET_OUTGOING 4
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define NSEC_PER_SEC 1000000000ULL
#define UDP_PROTO 17

// Set by the loader before load (read-only afterwards).
const volatile __u32 events_per_sec = 4;
const volatile __u32 events_total_per_sec = 2000;

// WireGuard listen ports (host byte order) -> 1. Kept by user space from the plan.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u16);
  __type(value, __u8);
} ports SEC(".maps");

struct src_window {
  __u64 start_ns;
  __u32 count;
  __u32 pad;
};
// Events per source in the current one-second window (IPv4: the first 4 bytes).
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u8[16]);
  __type(value, struct src_window);
} rate SEC(".maps");

// Events of the whole program in the current one-second window.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct src_window);
} global_rate SEC(".maps");

// Counters by enum wgate_knock_stat, per CPU (user space sums them).
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, WGATE_KNOCK_STATS);
  __type(key, __u32);
  __type(value, __u64);
} stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 18);  // the loader may resize it
} initiations SEC(".maps");

// Whether window `w` is a second old. Signed, as in filter.bpf.c: another
// CPU may have stored a start later than this CPU's `now`; that window is
// current, not 584 years old (unsigned, it would be restarted, and the
// budget with it).
static __always_inline bool window_over(const struct src_window* w, __u64 now) {
  return (__s64)(now - w->start_ns) >= (__s64)NSEC_PER_SEC;
}

// Per-source budget; approximate across CPUs (no lock), which only ever
// lets a few more through.
static __always_inline bool within_rate(const __u8* src, __u64 now) {
  struct src_window* w = bpf_map_lookup_elem(&rate, src);
  if (!w || window_over(w, now)) {
    struct src_window fresh = {.start_ns = now, .count = 1};
    bpf_map_update_elem(&rate, src, &fresh, BPF_ANY);
    return events_per_sec > 0;
  }
  if (w->count >= events_per_sec) return false;
  __sync_fetch_and_add(&w->count, 1);
  return true;
}

// The cap over all sources. The window is restarted without a lock: two
// CPUs restarting it at once let a few more through, never fewer.
static __always_inline bool within_global_rate(__u64 now) {
  __u32 zero = 0;
  struct src_window* w = bpf_map_lookup_elem(&global_rate, &zero);
  if (!w) return false;
  if (window_over(w, now)) {
    w->start_ns = now;
    w->count = 0;
  }
  return __sync_fetch_and_add(&w->count, 1) < events_total_per_sec;
}

static __always_inline void count(__u32 stat) {
  __u64* n = bpf_map_lookup_elem(&stats, &stat);
  if (n) *n += 1;  // per CPU: no other writer
}

SEC("socket")
int wgate_knock(struct __sk_buff* skb) {
  // Our own packets leaving (we never send initiations; loopback shows
  // each packet twice).
  if (skb->pkt_type == PACKET_OUTGOING) return 0;

  struct wgate_knock_event e = {};
  __u32 udp_at;
  if (skb->protocol == bpf_htons(ETH_P_IP)) {
    __u8 h[20];
    if (bpf_skb_load_bytes_relative(skb, 0, h, sizeof(h), BPF_HDR_START_NET)) return 0;
    if ((h[0] >> 4) != 4 || h[9] != UDP_PROTO) return 0;
    const __u32 ihl = (h[0] & 0xf) * 4;
    if (ihl < 20) return 0;
    const __u16 frag = (__u16)h[6] << 8 | h[7];
    if (frag & (IP_MF | IP_OFFSET)) return 0;
    __builtin_memcpy(e.src, h + 12, 4);
    __builtin_memcpy(e.dst, h + 16, 4);
    e.family = WGATE_KNOCK_FAMILY_V4;
    udp_at = ihl;
  } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
    __u8 h[40];
    if (bpf_skb_load_bytes_relative(skb, 0, h, sizeof(h), BPF_HDR_START_NET)) return 0;
    if ((h[0] >> 4) != 6 || h[6] != UDP_PROTO) return 0;
    __builtin_memcpy(e.src, h + 8, 16);
    __builtin_memcpy(e.dst, h + 24, 16);
    e.family = WGATE_KNOCK_FAMILY_V6;
    udp_at = 40;
  } else {
    return 0;
  }

  __u8 udp[12];  // the UDP header and the message's first 4 bytes
  if (bpf_skb_load_bytes_relative(skb, udp_at, udp, sizeof(udp), BPF_HDR_START_NET)) return 0;
  const __u16 dport = (__u16)udp[2] << 8 | udp[3];
  const __u16 ulen = (__u16)udp[4] << 8 | udp[5];
  if (ulen != 8 + WGATE_KNOCK_MESSAGE_SIZE) return 0;
  if (udp[8] != 1 || udp[9] != 0 || udp[10] != 0 || udp[11] != 0) return 0;
  if (!bpf_map_lookup_elem(&ports, &dport)) return 0;

  const __u64 now = bpf_ktime_get_ns();
  if (!within_rate(e.src, now)) {
    count(WGATE_KNOCK_STAT_SOURCE_LIMITED);
    return 0;
  }
  if (!within_global_rate(now)) {
    count(WGATE_KNOCK_STAT_GLOBAL_LIMITED);
    return 0;
  }

  struct wgate_knock_event* out = bpf_ringbuf_reserve(&initiations, sizeof(*out), 0);
  if (!out) {  // ring full: lost, the packet is not affected
    count(WGATE_KNOCK_STAT_RING_FULL);
    return 0;
  }
  // The payload must be all there (the UDP length could claim more than
  // the packet holds).
  if (bpf_skb_load_bytes_relative(skb, udp_at + 8, out->message, WGATE_KNOCK_MESSAGE_SIZE, BPF_HDR_START_NET)) {
    bpf_ringbuf_discard(out, 0);
    return 0;
  }
  __builtin_memcpy(out->src, e.src, 16);
  __builtin_memcpy(out->dst, e.dst, 16);
  out->time_ns = now;
  out->sport = (__u16)udp[0] << 8 | udp[1];
  out->dport = dport;
  out->ifindex = skb->ifindex;
  out->family = e.family;
  __builtin_memset(out->pad, 0, sizeof(out->pad));
  __builtin_memset(out->pad2, 0, sizeof(out->pad2));
  bpf_ringbuf_submit(out, 0);
  count(WGATE_KNOCK_STAT_COPIED);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
