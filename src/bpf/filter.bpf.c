// wgate's per-person L4 filter: a tc classifier on INGRESS of every wgate
// WireGuard interface, i.e. on packets a client sends into the gateway.
//
//   source address -> device (hash: its ruleset id); no device -> drop.
//   (ruleset, destination) -> longest-prefix match in an LPM trie whose value
//   lists the protocols and port ranges allowed to that prefix; nothing
//   allowed -> drop (default deny), unless the destination is the gateway
//   itself (the input guard decides those).
//
// Replies from servers to clients leave through the interface (egress) and
// are never seen here: this program filters what clients start.
//
// Headers are read with bpf_skb_load_bytes_relative(BPF_HDR_START_NET), so
// the program is the same on L3 devices (WireGuard, wireguard-go's TUN: the
// data starts at the IP header) and under BPF_PROG_TEST_RUN (which needs an
// Ethernet header in front and sets the network header after it).
//
// Policy updates are double-buffered: two device maps and two rule tries,
// and `active` says which pair is in use. A packet reads `active` once, so
// it sees one consistent policy; user space fills the other pair, flips
// `active`, waits for an RCU grace period (every program that read the old
// index has finished) and only then changes the old pair.
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "filter_abi.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define ETH_P_IP 0x0800
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define NSEC_PER_SEC 1000000000ULL

// Set by the loader before load (read-only afterwards).
const volatile __u32 deny_events_per_sec = 10;           // per source
const volatile __u32 flow_events_per_sec = 100;          // new-flow events per source
const volatile __u64 flow_idle_ns = 120 * NSEC_PER_SEC;  // a flow quiet this long is new again
const volatile __u64 frag_timeout_ns = 30 * NSEC_PER_SEC;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} active SEC(".maps");

// No prealloc: the maximum is a limit, not memory taken up front (the
// loader sizes it, BpfFilterOptions::max_devices).
#define DEVICE_MAP                        \
  {                                       \
    __uint(type, BPF_MAP_TYPE_HASH);      \
    __uint(max_entries, 1 << 20);         \
    __uint(map_flags, BPF_F_NO_PREALLOC); \
    __type(key, __u32);                   \
    __type(value, struct wgate_device);   \
  }
struct DEVICE_MAP devices0 SEC(".maps");
struct DEVICE_MAP devices1 SEC(".maps");

#define RULE_MAP                             \
  {                                          \
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);     \
    __uint(max_entries, 1 << 19);            \
    __uint(map_flags, BPF_F_NO_PREALLOC);    \
    __type(key, struct wgate_rule_key);      \
    __type(value, struct wgate_rule_value);  \
  }
struct RULE_MAP rules0 SEC(".maps");
struct RULE_MAP rules1 SEC(".maps");

// Allowed flows already reported, with the time they were last refreshed.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct wgate_flow_key);
  __type(value, __u64);
} flows SEC(".maps");

// Allowed first fragments (src, dst, id, proto), so that the later
// fragments of the same datagram pass.
struct frag_key {
  __u32 src;
  __u32 dst;
  __u16 id;
  __u8 proto;
  __u8 pad;
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct frag_key);
  __type(value, __u64);
} frags SEC(".maps");

// Events per source in the current one-second window: denials in
// deny_rate, new allowed flows in flow_rate (a client allowed one UDP port
// could otherwise make every packet a new flow from a new source port, fill
// the ring for everyone and flood the store with flow rows).
struct rate_window {
  __u64 start_ns;
  __u32 count;
  __u32 pad;
};
#define RATE_MAP                           \
  {                                        \
    __uint(type, BPF_MAP_TYPE_LRU_HASH);   \
    __uint(max_entries, 16384);            \
    __type(key, __u32);                    \
    __type(value, struct rate_window);     \
  }
struct RATE_MAP deny_rate SEC(".maps");
struct RATE_MAP flow_rate SEC(".maps");

// Events not reported, per CPU, indexed by enum wgate_event_loss (read and
// summed by user space). Touched only when an event is lost.
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, WGATE_EVENT_LOSS_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
} event_losses SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32);
  __type(value, struct wgate_counters);
} counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

struct packet {
  __u32 src;
  __u32 dst;
  __u16 sport;
  __u16 dport;
  __u16 len;  // IP total length
  __u8 proto;
  __u8 reason;
};

static __always_inline bool proto_all(const struct wgate_rule_value* v, __u8 proto) {
  return (v->proto_all[proto >> 6] >> (proto & 63)) & 1;
}

// Whether `v` allows `proto` to `port`. Ranges are sorted: stop at the first
// one that starts above the port.
static __always_inline bool allows(const struct wgate_rule_value* v, __u8 proto, __u16 port) {
  if (!v) return false;
  if (proto_all(v, proto)) return true;
  const struct wgate_port_range* r;
  __u16 n;
  if (proto == IPPROTO_TCP) {
    r = v->tcp;
    n = v->n_tcp;
  } else if (proto == IPPROTO_UDP) {
    r = v->udp;
    n = v->n_udp;
  } else {
    return false;
  }
  for (int i = 0; i < WGATE_FILTER_MAX_RANGES; i++) {
    if (i >= n || port < r[i].lo) break;
    if (port <= r[i].hi) return true;
  }
  return false;
}

static __always_inline void lose(__u32 slot) {
  __u64* n = bpf_map_lookup_elem(&event_losses, &slot);
  if (n) *n += 1;  // per-CPU: no atomics
}

static __always_inline void emit(const struct packet* p, __u8 verdict, __u32 ifindex, __u64 now) {
  struct wgate_flow_event* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    // Ring full: user space is behind. The packet counters still count.
    lose(verdict == WGATE_VERDICT_PASS ? WGATE_LOSS_FLOW_RING_FULL : WGATE_LOSS_DENY_RING_FULL);
    return;
  }
  e->time_ns = now;
  e->src = p->src;
  e->dst = p->dst;
  e->sport = p->sport;
  e->dport = p->dport;
  e->proto = p->proto;
  e->verdict = verdict;
  e->reason = p->reason;
  e->pad = 0;
  e->ifindex = ifindex;
  e->pad2 = 0;
  bpf_ringbuf_submit(e, 0);
}

// At most `limit` events per source and second in the window map `rate`.
// Racing CPUs may reset a window twice; that reports a few more, never
// fewer.
static __always_inline bool report_due(void* rate, __u32 limit, __u32 src, __u64 now) {
  if (limit == 0) return false;
  struct rate_window* w = bpf_map_lookup_elem(rate, &src);
  if (!w) {
    struct rate_window fresh = {.start_ns = now, .count = 1};
    bpf_map_update_elem(rate, &src, &fresh, BPF_ANY);
    return true;
  }
  // Signed: another CPU may have stored a later time than our `now`; that
  // window is current, not 584 years old.
  if ((__s64)(now - w->start_ns) >= (__s64)NSEC_PER_SEC) {
    w->start_ns = now;
    w->count = 1;
    return true;
  }
  return __sync_fetch_and_add(&w->count, 1) < limit;
}

// A new allowed flow (or one back after flow_idle_ns): reported within the
// source's flow_events_per_sec, else counted as lost. Either way its flows
// entry is there already, so it is not reported later as new.
static __always_inline void report_flow(const struct packet* p, __u32 ifindex, __u64 now) {
  if (flow_events_per_sec == 0) return;  // no flow events wanted: nothing lost
  if (report_due(&flow_rate, flow_events_per_sec, p->src, now))
    emit(p, WGATE_VERDICT_PASS, ifindex, now);
  else
    lose(WGATE_LOSS_FLOW_RATE_LIMITED);
}

// Reports the first packet of a flow, and again after flow_idle_ns of
// silence. The last-seen time is written at most once a second, so a busy
// flow does not write its entry on every packet.
static __always_inline void track_flow(const struct packet* p, __u32 ifindex, __u64 now) {
  struct wgate_flow_key k = {
      .src = p->src, .dst = p->dst, .sport = p->sport, .dport = p->dport, .proto = p->proto};
  __u64* last = bpf_map_lookup_elem(&flows, &k);
  if (last) {
    // Signed: a time another CPU stored after our `now` reads as recent.
    __s64 age = (__s64)(now - *last);
    if (age >= (__s64)NSEC_PER_SEC) *last = now;
    if (age < (__s64)flow_idle_ns) return;
    report_flow(p, ifindex, now);
    return;
  }
  // BPF_NOEXIST: of two CPUs seeing the same new flow, one reports it.
  if (bpf_map_update_elem(&flows, &k, &now, BPF_NOEXIST) == 0) report_flow(p, ifindex, now);
}

static __always_inline void count(__u32 src, bool pass, __u16 len) {
  struct wgate_counters* c = bpf_map_lookup_elem(&counters, &src);
  if (!c) {
    struct wgate_counters zero = {};
    bpf_map_update_elem(&counters, &src, &zero, BPF_NOEXIST);
    c = bpf_map_lookup_elem(&counters, &src);
    if (!c) return;
  }
  // Per-CPU values: plain adds, no atomics.
  if (pass) {
    c->pass_packets++;
    c->pass_bytes += len;
  } else {
    c->drop_packets++;
    c->drop_bytes += len;
  }
}

static __always_inline bool is_icmp_error(__u8 type) {
  return type == 3 /* dest unreachable */ || type == 11 /* time exceeded */ ||
         type == 12 /* parameter problem */;
}

// An ICMP error sent by the client: it quotes a packet the server sent to
// the client (server -> client). It passes only if the reverse of the quoted
// packet, client -> server, is a flow the rules allow. The quote must be
// about the client itself (inner destination = outer source) and go back to
// the quoted sender (inner source = outer destination), so one rule lookup
// (the outer destination's) decides. `off` is where the ICMP header starts.
static __always_inline bool icmp_error_allowed(struct __sk_buff* skb, const struct packet* p, __u32 off,
                                               __u32 tot, const struct wgate_rule_value* v) {
  struct iphdr in;
  __u32 in_off = off + 8;
  if (in_off + sizeof(in) > tot) return false;
  if (bpf_skb_load_bytes_relative(skb, in_off, &in, sizeof(in), BPF_HDR_START_NET)) return false;
  __u32 in_ihl = in.ihl * 4;
  if (in.version != 4 || in_ihl < sizeof(in)) return false;
  if (in.daddr != p->src || in.saddr != p->dst) return false;
  if (bpf_ntohs(in.frag_off) & IP_OFFSET) return v && proto_all(v, in.protocol);  // no ports quoted
  // RFC 792: the quote holds the first 8 bytes of the datagram's payload.
  __u32 in_l4 = in_off + in_ihl;
  if (in_l4 + 8 > tot) return false;
  __u16 ports[2];
  if (bpf_skb_load_bytes_relative(skb, in_l4, ports, sizeof(ports), BPF_HDR_START_NET)) return false;
  // The quoted packet's source port is the server's: the reverse flow's
  // destination port.
  return allows(v, in.protocol, bpf_ntohs(ports[0]));
}

// Whether the IP options (the `len` bytes after the fixed header, 1..40)
// hold a loose or strict source route (LSRR 0x83, SSRR 0x89), or are
// malformed (an option without a length byte, or one shorter than 2, which
// the kernel refuses too): a source route changes the destination after
// the filter decided. At most 40 steps (an option is at least one byte);
// every index is checked against the buffer for the verifier.
static __always_inline bool bad_ip_options(struct __sk_buff* skb, __u32 len) {
  __u8 o[40] = {};
  if (len == 0 || len > sizeof(o)) return true;
  if (bpf_skb_load_bytes_relative(skb, sizeof(struct iphdr), o, len, BPF_HDR_START_NET)) return true;
  __u32 i = 0;
  for (int n = 0; n < (int)sizeof(o); n++) {
    if (i >= len || i >= sizeof(o)) break;
    __u8 type = o[i];
    if (type == 0) break;  // end of options
    if (type == 1) {       // no-op
      i++;
      continue;
    }
    if (type == 0x83 || type == 0x89) return true;
    __u32 j = i + 1;
    if (j >= len || j >= sizeof(o)) return true;  // no length byte
    __u8 olen = o[j];
    if (olen < 2) return true;
    i += olen;
  }
  return false;
}

// The verdict for a packet from a known device with ruleset `ruleset`;
// fills p->sport/dport/reason.
static __always_inline bool decide(struct __sk_buff* skb, struct packet* p, const struct iphdr* ip, __u32 ihl,
                                   __u32 tot, void* rules, __u32 ruleset, __u64 now) {
  struct wgate_rule_key key = {.prefixlen = 64, .ruleset = ruleset, .addr = p->dst};
  const struct wgate_rule_value* v = bpf_map_lookup_elem(rules, &key);
  __u16 frag = bpf_ntohs(ip->frag_off);

  if (frag & IP_OFFSET) {
    // A later fragment: no L4 header. It passes if the protocol is allowed
    // to every port of the destination, or if the first fragment of the same
    // datagram passed recently.
    if (v && proto_all(v, p->proto)) {
      p->reason = WGATE_REASON_RULE;
      return true;
    }
    struct frag_key fk = {.src = p->src, .dst = p->dst, .id = ip->id, .proto = p->proto};
    __u64* seen = bpf_map_lookup_elem(&frags, &fk);
    if (seen && (__s64)(now - *seen) < (__s64)frag_timeout_ns) {  // signed: a later time is recent
      p->reason = WGATE_REASON_FRAGMENT_OK;
      return true;
    }
    p->reason = WGATE_REASON_FRAGMENT;
    return false;
  }

  bool ok;
  __u32 min_l4 = p->proto == IPPROTO_TCP ? 20 : (p->proto == IPPROTO_UDP || p->proto == IPPROTO_ICMP) ? 8 : 0;
  if (ihl + min_l4 > tot) {
    p->reason = WGATE_REASON_MALFORMED;
    return false;
  }
  if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) {
    __u16 ports[2];
    if (bpf_skb_load_bytes_relative(skb, ihl, ports, sizeof(ports), BPF_HDR_START_NET)) {
      p->reason = WGATE_REASON_MALFORMED;
      return false;
    }
    p->sport = bpf_ntohs(ports[0]);
    p->dport = bpf_ntohs(ports[1]);
    ok = allows(v, p->proto, p->dport);
  } else if (p->proto == IPPROTO_ICMP) {
    __u8 tc[2];
    if (bpf_skb_load_bytes_relative(skb, ihl, tc, sizeof(tc), BPF_HDR_START_NET)) {
      p->reason = WGATE_REASON_MALFORMED;
      return false;
    }
    p->dport = (__u16)tc[0] << 8 | tc[1];
    if (is_icmp_error(tc[0])) {
      ok = icmp_error_allowed(skb, p, ihl, tot, v);
      p->reason = ok ? WGATE_REASON_RULE : WGATE_REASON_ICMP_ERROR;
      return ok;
    }
    // Source quench and redirect are never a client's business.
    ok = tc[0] != 4 && tc[0] != 5 && v && proto_all(v, IPPROTO_ICMP);
  } else {
    ok = v && proto_all(v, p->proto);
  }
  p->reason = ok ? WGATE_REASON_RULE : (v ? WGATE_REASON_PROTO_PORT : WGATE_REASON_NO_RULE);
  if (ok && (frag & IP_MF)) {
    struct frag_key fk = {.src = p->src, .dst = p->dst, .id = ip->id, .proto = p->proto};
    bpf_map_update_elem(&frags, &fk, &now, BPF_ANY);
  }
  return ok;
}

// Whether the kernel would deliver the packet to the gateway itself rather
// than forward it: the FIB (with the policy rules, from this interface)
// answers "not forwarded" for a local destination (and for broadcast,
// multicast, or no route at all: none of them is forwarded either). The
// filter decides what clients forward; what is addressed to the gateway is
// the nftables input guard's business (server.allow_to_gateway). Called
// only for a packet about to be dropped, so allowed traffic pays nothing.
static __always_inline bool to_gateway(struct __sk_buff* skb, const struct packet* p, const struct iphdr* ip,
                                       __u32 ifindex) {
  struct bpf_fib_lookup fib = {};
  fib.family = 2;  // AF_INET
  fib.tos = ip->tos;
  fib.l4_protocol = p->proto;
  if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) {  // for rules that match ports
    fib.sport = bpf_htons(p->sport);
    fib.dport = bpf_htons(p->dport);
  }
  fib.tot_len = p->len;
  fib.ipv4_src = p->src;
  fib.ipv4_dst = p->dst;
  fib.ifindex = ifindex;
  return bpf_fib_lookup(skb, &fib, sizeof(fib), 0) == BPF_FIB_LKUP_RET_NOT_FWDED;
}

SEC("tc")
int wgate_filter(struct __sk_buff* skb) {
  struct packet p = {};
  __u64 now = bpf_ktime_get_ns();
  __u32 ifindex = skb->ingress_ifindex;

  if (skb->protocol != bpf_htons(ETH_P_IP)) {
    // IPv6 (or anything else): wgate gives devices IPv4 addresses only, so
    // no such source is a device. Not reported (there is no IPv4 source to
    // rate-limit by).
    return TC_ACT_SHOT;
  }
  struct iphdr ip;
  if (bpf_skb_load_bytes_relative(skb, 0, &ip, sizeof(ip), BPF_HDR_START_NET)) return TC_ACT_SHOT;
  p.src = ip.saddr;
  p.dst = ip.daddr;
  p.proto = ip.protocol;
  __u32 ihl = ip.ihl * 4;
  __u32 tot = bpf_ntohs(ip.tot_len);
  p.len = tot;

  __u32 zero = 0;
  __u32* idx = bpf_map_lookup_elem(&active, &zero);
  bool second = idx && (*idx & 1);
  void* devices = second ? (void*)&devices1 : (void*)&devices0;
  void* rules = second ? (void*)&rules1 : (void*)&rules0;

  bool pass = false;
  struct wgate_device* dev = bpf_map_lookup_elem(devices, &p.src);
  __u8 probe;
  if (!dev) {
    p.reason = WGATE_REASON_NO_DEVICE;
  } else if (ip.version != 4 || ihl < sizeof(ip) || tot < ihl ||
             // the whole datagram is there (IP options and L4 headers are
             // then within reach of the checks below)
             bpf_skb_load_bytes_relative(skb, tot - 1, &probe, 1, BPF_HDR_START_NET)) {
    p.reason = WGATE_REASON_MALFORMED;
  } else if (ihl > sizeof(ip) && bad_ip_options(skb, ihl - sizeof(ip))) {
    p.reason = WGATE_REASON_MALFORMED;  // a source route, or options the kernel would refuse too
  } else {
    pass = decide(skb, &p, &ip, ihl, tot, rules, dev->ruleset, now);
    if (!pass && p.reason != WGATE_REASON_MALFORMED && to_gateway(skb, &p, &ip, ifindex)) {
      pass = true;
      p.reason = WGATE_REASON_TO_GATEWAY;  // never reported as a flow (track_flow wants REASON_RULE)
    }
  }

  if (pass) {
    if (p.reason == WGATE_REASON_RULE && !(bpf_ntohs(ip.frag_off) & IP_OFFSET)) track_flow(&p, ifindex, now);
  } else if (report_due(&deny_rate, deny_events_per_sec, p.src, now)) {
    emit(&p, WGATE_VERDICT_DROP, ifindex, now);
  } else if (deny_events_per_sec) {
    lose(WGATE_LOSS_DENY_RATE_LIMITED);
  }
  if (dev) count(p.src, pass, p.len);
  return pass ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
