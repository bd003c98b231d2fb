#!/usr/bin/env bash
# run_filter_compare.sh: packets/s forwarded by a gateway namespace under the
# same random policy (N people x 32 rules) enforced by nftables linear rules
# three ways: (a) wgate's tc eBPF filter (bench_filter_attach: BpfFilter
# load/apply/attach on tc ingress of the gateway's sender-side veth),
# (b) nftables linear rules, one per person rule, (c) nftables with a
# concatenated interval set (saddr . daddr . dport). Ratios against (a).
#
# Needs root, nft, gcc, python3 and build-asan/bench/bench_filter_attach (or
# the path given as the third argument). Namespaces wgbfc-{snd,gw,rcv} (removed at start if
# stale, and at exit). Traffic only between them. Nothing in the root
# namespace is touched; sysctls are set inside wgbfc-gw only.
# Usage: sudo bench/run_filter_compare.sh [people=1000] [seconds=5] [bench_filter_attach]
set -euo pipefail
people=${1:-1000}
secs=${2:-5}
attach=$(realpath "${3:-build-asan/bench/bench_filter_attach}")
[[ -x $attach ]] || { echo "no $attach (ninja -C build-asan bench_filter_attach)" >&2; exit 1; }
pfx=wgbfc
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/wgbfc.XXXXXX)
holder=
cleanup() {
  exec 9>&- 2>/dev/null || true
  if [[ -n $holder ]]; then kill "$holder" 2>/dev/null || true; wait "$holder" 2>/dev/null || true; fi
  for ns in snd gw rcv; do ip netns del "$pfx-$ns" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
cleanup; mkdir -p "$tmp"

gcc -O2 -Wall -Wextra -Werror -o "$tmp/blast" "$here/filter_blast.c"

for ns in snd gw rcv; do ip netns add "$pfx-$ns"; done
ip link add "$pfx-s" netns "$pfx-snd" type veth peer name "$pfx-gs" netns "$pfx-gw"
ip link add "$pfx-r" netns "$pfx-rcv" type veth peer name "$pfx-gr" netns "$pfx-gw"
S="ip netns exec $pfx-snd"; G="ip netns exec $pfx-gw"; R="ip netns exec $pfx-rcv"
$S ip addr add 192.168.77.2/24 dev "$pfx-s"; $S ip link set "$pfx-s" up; $S ip link set lo up
$G ip addr add 192.168.77.1/24 dev "$pfx-gs"; $G ip link set "$pfx-gs" up
$G ip addr add 192.168.78.1/24 dev "$pfx-gr"; $G ip link set "$pfx-gr" up
$R ip addr add 192.168.78.2/24 dev "$pfx-r"; $R ip link set "$pfx-r" up
$S ip route add 10.0.0.0/8 via 192.168.77.1
$G ip route add 10.0.0.0/8 via 192.168.78.2
$G ip route add 100.64.0.0/10 via 192.168.77.2
$G sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf."$pfx-gs".rp_filter=0
# The receiver does not forward: packets to 10/8 are counted on its veth and
# dropped without replies.

# The policy: person i's device 100.64.x.y; 32 rules, each a /24 in 10/8 and
# a TCP port range. Tuples (one allowed packet per rule) feed the sender.
python3 - "$people" "$tmp" <<'PY'
import random, sys
n, d = int(sys.argv[1]), sys.argv[2]
rng = random.Random(8)
lin = open(f"{d}/linear.nft", "w"); st = open(f"{d}/set.nft", "w"); tu = open(f"{d}/tuples", "w"); po = open(f"{d}/policy", "w")
hdr = "table ip wgbfc {\n chain filter_fwd { type filter hook forward priority 0; policy drop;\n  ct state established,related accept\n"
lin.write(hdr)
elems = []
for i in range(n):
    src = f"100.{64 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"
    for k in range(32):
        net = f"10.{rng.randrange(256)}.{rng.randrange(256)}"
        lo = rng.randrange(1000, 60000); hi = lo + rng.randrange(0, 10)
        ports = f"{lo}-{hi}" if hi > lo else f"{lo}"
        lin.write(f"  ip saddr {src} ip daddr {net}.0/24 tcp dport {ports} accept\n")
        po.write(f"{src} {net}.0/24 {lo} {hi}\n")
        elems.append(f"{src} . {net}.0/24 . {ports}")
        tu.write(f"{src} {net}.{rng.randrange(1, 255)} {rng.randint(lo, hi)}\n")
lin.write(" }\n}\n")
st.write("table ip wgbfc {\n set allow { type ipv4_addr . ipv4_addr . inet_service; flags interval;\n  elements = {\n   ")
st.write(",\n   ".join(elems))
st.write(" }\n }\n" + hdr.split("\n", 1)[1] + "  ip saddr . ip daddr . tcp dport @allow accept\n }\n}\n")
PY
# The tuples in random order, so consecutive packets hit different people.
shuf --random-source=<(yes) "$tmp/tuples" > "$tmp/tuples.shuf"

rx() { $R cat "/sys/class/net/$pfx-r/statistics/rx_packets"; }
run() {  # $1 label; prints forwarded packets/s
  local before after sent
  before=$(rx)
  sent=$(timeout $((secs + 10)) $S "$tmp/blast" "$tmp/tuples.shuf" "$secs")
  sleep 0.2
  after=$(rx)
  python3 -c "import sys; f=($after-$before)/$secs; print(f'{sys.argv[1]:<28} sent {int($sent)/$secs:>10.0f}/s  forwarded {f:>10.0f}/s'); open('$tmp/last','w').write(str(f))" "$1"
}

echo "== $people people x 32 rules = $((people * 32)) rules, ${secs}s per run, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
run "no filter (forwarding only)"; base=$(cat "$tmp/last")
mkfifo "$tmp/hold"
$G "$attach" "$tmp/policy" "$pfx-gs" < "$tmp/hold" > "$tmp/attach.out" 2>&1 &
holder=$!
exec 9>"$tmp/hold"
for _ in $(seq 1 300); do grep -q attached "$tmp/attach.out" 2>/dev/null && break; kill -0 "$holder" 2>/dev/null || break; sleep 0.1; done
grep attached "$tmp/attach.out" || { cat "$tmp/attach.out" >&2; exit 1; }
run "(a) wgate tc eBPF filter"; bpf=$(cat "$tmp/last")
exec 9>&-; wait "$holder"; holder=
$G nft -f "$tmp/linear.nft"
run "(b) nft linear rules"; lin=$(cat "$tmp/last")
$G nft delete table ip wgbfc
$G nft -f "$tmp/set.nft"
run "(c) nft concat interval set"; set=$(cat "$tmp/last")
$G nft delete table ip wgbfc
python3 -c "print(f'ratios against (a): (b) linear {$lin/max($bpf,1):.3f}  (c) set {$set/max($bpf,1):.3f}  no filter {$base/max($bpf,1):.3f}')"
