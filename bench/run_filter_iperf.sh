#!/usr/bin/env bash
# bench/filter_iperf: iperf3 throughput through a wireguard-go tunnel into the
# gateway, with wgate's tc eBPF filter on the gateway's interface and without
# it: the same tunnel, daemon and policy, in short runs that take turns; and,
# interleaved with them for context, the same path through two plain
# wireguard-go devices that wgate does not manage. Prints the ratio filter
# on / off (issue 8's target: >= 0.97). Asserts nothing about speed.
#
# Usage (root): bench/run_filter_iperf.sh path/to/wgate [--rounds 3] [--seconds 5]
#   --rounds   rounds of three runs (filter on, filter off, plain
#              wireguard-go; the order rotates from round to round so no
#              state always gets the same place)
#   --seconds  length of one iperf3 run
#
# The lab of scripts/lab-lib.sh with the prefix wgbfi (namespaces wgbfi-*,
# removed at start if stale and at exit, also on failure or Ctrl-C): `wgate
# server` (userspace backend: wireguard-go) in wgbfi-gw with a policy for the
# group, one client wgbfi-c1 (wg-quick with wireguard-go), the iperf3 server
# in wgbfi-vpca behind the gateway. Traffic flows client -> server, i.e.
# through the filter (it sits on tc ingress of the gateway's WireGuard
# interface: what clients send).
#
# "Off" is the same tunnel with the filter taken off the interface (`tc
# filter del ... ingress` in the gateway's namespace); "on" puts it back the
# daemon's way: SIGHUP, whose full pass finds it missing and attaches it
# again. The daemon's periodic full pass (which would also put it back) is
# set to 1 h so that it does not run during an "off" run; every run checks
# with `tc filter show` that the filter was in the state it claims, before
# and after, and that a port outside the policy is refused (on) or answered
# (off).
#
# Needs wireguard-go, wg, wg-quick, iperf3 (scripts/install-bench-deps.sh),
# socat, jq, tc, gcc (for bench/bpf_run_time.c), bpftool. Builds nothing else:
# run scripts/build.sh release first.
# Touches nothing in the root namespace.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
die() { echo "run_filter_iperf.sh: $*" >&2; exit 2; }

[[ $# -ge 1 ]] || die "usage: $0 path/to/wgate [--rounds N] [--seconds N]"
[[ $EUID -eq 0 ]] || die "needs root (network namespaces, BPF)"
WGATE_BIN=$(realpath -- "$1") || die "no such file: $1"
[[ -x $WGATE_BIN ]] || die "not executable: $WGATE_BIN"
shift
ROUNDS=3 SECONDS_PER=5
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) ROUNDS=${2:-} ;;
    --seconds) SECONDS_PER=${2:-} ;;
    *) die "unknown argument $1" ;;
  esac
  [[ ${2:-} =~ ^[1-9][0-9]?$ ]] || die "$1 takes a whole number from 1 to 99, not '${2:-}'"
  shift 2
done
for tool in wireguard-go wg wg-quick iperf3 socat jq tc ip awk gcc bpftool; do
  command -v "$tool" >/dev/null || die "missing $tool: run scripts/install-deps.sh and scripts/install-bench-deps.sh"
done

LAB=wgbfi
# shellcheck source=../scripts/lab-lib.sh
source "$ROOT/scripts/lab-lib.sh"
WORK=$(mktemp -d /tmp/wgb-filter-iperf.XXXXXX)
CFG=$WORK/wgate.toml
IF=$LAB-$LAB_G1        # the gateway's interface of group dev (vpc-a)
A=$LAB_VPCA_HOST
IPERF_PORT=5201
DENIED_PORT=$LAB_TCP_PORT  # lab-lib's listener in vpc-a; not in the policy
RAW_GW=$LAB-rg RAW_C=$LAB-rc RAW_PORT=51899 RAW_NET=10.199.0  # the plain wireguard-go pair
RAW_DST=10.3.0.10  # the vpc-a host's second address, outside wgate's protected networks
SERVER_PID=""
cleanup() {
  if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  lab_down
  if [[ -n ${WGB_KEEP:-} ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for stale in /tmp/wgb-filter-iperf.??????; do [[ -d $stale && $stale != "$WORK" ]] && rm -rf "$stale"; done
lab_down
lab_up c1

wgate() { "$WGATE_BIN" -c "$CFG" "$@"; }
in_gw() { ip netns exec "$LAB-gw" "$@"; }

# The group's policy: the iperf3 port among other rules, to the whole of
# vpc-a and to parts of it, so the program's lookups are the real ones (a
# device, then the longest prefix of the group's ruleset, then the port
# ranges of the matching entry); the person has rules of their own too.
{
  lab_gateway_config "$WORK" userspace 'resync = "1h"'
  cat <<EOF

[[policy]]
group = "$LAB_G1"
to    = "vpc-a"
allow = ["tcp/22", "tcp/443", "tcp/$IPERF_PORT", "tcp/8000-8100", "udp/53", "udp/5000-5010", "icmp"]

[[policy]]
group = "$LAB_G1"
to    = "$LAB_NET_A.5.0/24"
allow = ["tcp/5432", "tcp/6379"]

[[policy]]
group = "$LAB_G1"
to    = "$LAB_NET_A.0.0/24"
allow = ["tcp/3000-3010", "tcp/$IPERF_PORT", "udp/8125"]

[[policy]]
person = "alice"
to     = "$LAB_NET_A.0.0/25"
allow  = ["tcp/9000-9100", "tcp/2222"]
EOF
} >"$CFG"
wgate check-config >/dev/null || { wgate check-config; die "the benchmark's config is invalid"; }
wgate init >/dev/null
wgate user add alice --group "$LAB_G1" >/dev/null

# `ip netns exec` execs: $! is the daemon itself (through a shell function
# it would be a subshell, and signals would miss the daemon).
ip netns exec "$LAB-gw" "$WGATE_BIN" -c "$CFG" server >>"$WORK/server.log" 2>&1 &
SERVER_PID=$!
lab_wait_for_interface_keys "$WORK/state" "$IF" "$LAB-$LAB_G2" || die "the daemon did not start (see $WORK/server.log)"
for _ in $(seq 1 50); do grep -q "eBPF filter" "$WORK/server.log" && break; sleep 0.1; done
grep -q "eBPF filter loaded" "$WORK/server.log" ||
  die "the daemon did not load the eBPF filter: $(grep -m1 'eBPF filter' "$WORK/server.log" || echo 'no log line')"

(umask 077; wg genkey >"$WORK/c1.key")
json=$(wgate --json key add alice "$(wg pubkey <"$WORK/c1.key")" --device laptop)
wgate config "$(jq -r .id <<<"$json")" --private-key-file "$WORK/c1.key" >"$WORK/$LAB-c1.conf"
lab_client_up c1 "$WORK/$LAB-c1.conf" || die "wg-quick up failed on the client"
lab_ping c1 "$A" || die "no ping through the tunnel"

lab_exec vpca iperf3 -s -B "$A" -p "$IPERF_PORT" >"$WORK/iperf3-server.log" 2>&1 &

# Context, interleaved with the rest: the same path (client -> gateway
# namespace -> the host in vpc-a) through two plain wireguard-go devices set
# up with wg(8), which wgate does not manage. The host gets a second address
# outside the protected networks ($RAW_DST, routed on the gateway's vpc-a
# link), because wgate's nftables guard drops what enters its protected
# networks from interfaces that are not its own; no rule of wgate's is
# touched.
(umask 077; wg genkey >"$WORK/rc.key"; wg genkey >"$WORK/rg.key")
in_gw wireguard-go "$RAW_GW" >/dev/null 2>&1
lab_exec c1 wireguard-go "$RAW_C" >/dev/null 2>&1
in_gw wg set "$RAW_GW" listen-port "$RAW_PORT" private-key "$WORK/rg.key" \
  peer "$(wg pubkey <"$WORK/rc.key")" allowed-ips "$RAW_NET.2/32"
lab_exec c1 wg set "$RAW_C" private-key "$WORK/rc.key" \
  peer "$(wg pubkey <"$WORK/rg.key")" allowed-ips "$RAW_DST/32" endpoint "$LAB_UNDERLAY_GW:$RAW_PORT"
in_gw ip addr add "$RAW_NET.1/24" dev "$RAW_GW"; in_gw ip link set "$RAW_GW" up
lab_exec c1 ip addr add "$RAW_NET.2/24" dev "$RAW_C"; lab_exec c1 ip link set "$RAW_C" up
lab_exec c1 ip route add "$RAW_DST/32" dev "$RAW_C" src "$RAW_NET.2"
lab_exec vpca ip addr add "$RAW_DST/32" dev eth0
in_gw ip route add "$RAW_DST/32" dev vpca
lab_exec vpca iperf3 -s -B "$RAW_DST" -p "$IPERF_PORT" >"$WORK/iperf3-raw-server.log" 2>&1 &
lab_ping c1 "$RAW_DST" || die "no ping through the plain wireguard-go pair"

# The kernel's run-time statistics of BPF programs (bench/bpf_run_time.c):
# on while the helper holds its fd, i.e. for this script's life; they give
# the filter's own time inside the real tunnel path, which the throughput
# runs cannot resolve to a few percent on this machine.
gcc -O2 -Wall -Wextra -Werror -o "$WORK/bpf_run_time" "$HERE/bpf_run_time.c"
exec {STATS_FD}> >(exec "$WORK/bpf_run_time" hold >"$WORK/stats-hold" 2>&1)
for _ in $(seq 1 50); do grep -q '^on$' "$WORK/stats-hold" 2>/dev/null && break; sleep 0.1; done
grep -q '^on$' "$WORK/stats-hold" || die "could not switch on BPF run-time statistics: $(cat "$WORK/stats-hold")"
# The ids of the daemon's programs: the filter on $IF (tc) and the
# handshake capture (a socket filter that sees every IPv4 packet of the
# gateway's namespace, in all three states), found through the daemon's
# open file descriptors.
prog_id_on_if() { in_gw tc filter show dev "$IF" ingress | sed -n 's/.*handle 0x77.* id \([0-9]*\).*/\1/p' | head -1; }
# The socket-filter programs (prog_type 1) the daemon holds open.
knock_ids() {
  local f
  for f in /proc/"$SERVER_PID"/fdinfo/*; do
    grep -qP '^prog_type:\t1$' "$f" 2>/dev/null && sed -n 's/^prog_id:\t//p' "$f"
    true
  done | sort -u | tr '\n' ' '
}
# Sums run_cnt and run_time_ns over the programs $@: "count ns".
run_stats() { [[ $# -gt 0 ]] || { echo "0 0"; return; }; "$WORK/bpf_run_time" read "$@" | awk '{ c += $2; t += $3 } END { print c + 0, t + 0 }'; }

filter_on() { in_gw tc filter show dev "$IF" ingress 2>/dev/null | grep -q 'handle 0x77'; }
reloads() { grep -c "config reloaded" "$WORK/server.log" || true; }
put_on() {  # SIGHUP: the reload's full pass finds the filter missing and attaches it
  local before; before=$(reloads)
  kill -HUP "$SERVER_PID"
  for _ in $(seq 1 100); do [[ $(reloads) -gt $before ]] && filter_on && return 0; sleep 0.05; done
  die "the filter did not come back on $IF after SIGHUP"
}
take_off() { in_gw tc filter del dev "$IF" ingress; filter_on && die "the filter is still on $IF"; return 0; }
# One iperf3 run from the client to $1 (through the gateway); prints the
# receiver's bits/s.
iperf() {
  local out
  out=$(lab_exec c1 timeout $((SECONDS_PER + 15)) iperf3 -c "$1" -p "$IPERF_PORT" -t "$SECONDS_PER" -J) ||
    die "iperf3 to $1 failed: $(jq -r '.error // empty' <<<"$out" 2>/dev/null)"
  jq -r '.end.sum_received.bits_per_second' <<<"$out"
}
round() {  # round on|off|raw -> appends the run's bits/s to $WORK/$1
  local state=$1 bps
  if [[ $state == raw ]]; then
    bps=$(iperf "$RAW_DST") || exit 1
  else
    if [[ $state == on ]]; then filter_on || put_on; else ! filter_on || take_off; fi
    # The filter really decides: a port outside the policy is refused with
    # it, answered without it.
    if [[ $state == on ]]; then
      lab_tcp_open c1 "$A" "$DENIED_PORT" && die "round $state: tcp/$DENIED_PORT (not in the policy) got through"
    else
      lab_tcp_open c1 "$A" "$DENIED_PORT" || die "round $state: tcp/$DENIED_PORT not answered without the filter"
    fi
    local fid="" before_f before_k after_f after_k t0 t1
    if [[ $state == on ]]; then fid=$(prog_id_on_if); [[ -n $fid ]] || die "no wgate_filter program on $IF"; fi
    # shellcheck disable=SC2086  # knock_ids: a list of ids
    before_f=$(run_stats $fid) before_k=$(run_stats $KNOCK_IDS) t0=$(date +%s.%N)
    bps=$(iperf "$A") || exit 1
    # shellcheck disable=SC2086
    after_f=$(run_stats $fid) after_k=$(run_stats $KNOCK_IDS) t1=$(date +%s.%N)
    # "count ns seconds" of this run: the filter's (on runs), the capture's (both)
    [[ $state == on ]] && echo "$before_f $after_f $t0 $t1" | awk '{ print $3 - $1, $4 - $2, $6 - $5 }' >>"$WORK/filter-stats"
    echo "$before_k $after_k $t0 $t1" | awk '{ print $3 - $1, $4 - $2, $6 - $5 }' >>"$WORK/knock-stats-$state"
    if [[ $state == on ]]; then filter_on || die "the filter left $IF during an 'on' round"
    else ! filter_on || die "the filter came back on $IF during an 'off' round (a daemon pass)"; fi
  fi
  echo "$bps" >>"$WORK/$state"
  printf '  round %-3s %8.1f Mbit/s\n' "$state" "$(awk -v b="$bps" 'BEGIN { print b / 1e6 }')"
}

KNOCK_IDS=$(knock_ids)
[[ -n $KNOCK_IDS ]] || echo "note: no handshake-capture program of the daemon found (its cost is not shown)"
echo "== bench/filter_iperf on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); wgate $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'), $(wireguard-go --version 2>&1 | head -1)"
echo "   $ROUNDS x 3 runs of ${SECONDS_PER} s, iperf3 client (wgbfi-c1, wireguard-go) -> $A:$IPERF_PORT behind the gateway (wgate server, wireguard-go); raw: -> $RAW_DST"
# The order rotates (on off raw, off raw on, raw on off, ...) so that no
# state always gets the same place in a round.
states=(on off raw)
for r in $(seq 0 $((ROUNDS - 1))); do
  for i in 0 1 2; do round "${states[$(((r + i) % 3))]}"; done
done

# The median of the numbers in file $1; median: of the bits/s, in Mbit/s.
median_of() { sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR == 0) { print 0; exit } print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
median() { median_of "$1" | awk '{ print $1 / 1e6 }'; }
mean() { awk '{ s += $1 } END { print (NR ? s / NR : 0) / 1e6 }' "$1"; }
on=$(median "$WORK/on") off=$(median "$WORK/off")
echo
echo "iperf3 through the tunnel, $ROUNDS runs of ${SECONDS_PER} s per state (median; mean in brackets); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  wgate, filter on    %8.1f Mbit/s  (%.1f)\n' "$on" "$(mean "$WORK/on")"
printf '  wgate, filter off   %8.1f Mbit/s  (%.1f)\n' "$off" "$(mean "$WORK/off")"
printf '  plain wireguard-go  %8.1f Mbit/s  (%.1f)\n' "$(median "$WORK/raw")" "$(mean "$WORK/raw")"
awk -v a="$on" -v b="$off" 'BEGIN { r = a / b; printf "ratio filter on / off = %.3f (medians; target >= 0.97: %s)\n", r, (r >= 0.97 ? "met" : "not met") }'
# The on and off runs of one round (close in time) share the machine's
# moment more than two medians do: their ratios, and the median of them.
paste "$WORK/on" "$WORK/off" | awk '{ printf "%.4f\n", $1 / $2 }' >"$WORK/pairs"
echo "per round, on / off: $(tr '\n' ' ' <"$WORK/pairs"); median $(median_of "$WORK/pairs" | awk '{ printf "%.3f", $1 }')"
awk -v a="$on" -v b="$off" -v c="$(median "$WORK/raw")" \
  'BEGIN { printf "ratio against plain wireguard-go (medians): filter on %.3f, filter off %.3f\n", a / c, b / c }'

# The filter's own cost in the tunnel path, from the kernel's run-time
# statistics over the "on" runs: ns per packet, packets per second, and the
# share of one core it took. The throughput runs above cannot resolve a few
# percent here; this can. It bounds the throughput cost: were all of the
# filter's time spent on the slowest stage of the path (one core, busy all
# the time), that stage would do 1 / (1 + share) of its work, so on / off
# >= 1 / (1 + share); anywhere else it costs less. (The statistics' clock
# reads are counted in the time, so the share is, if anything, high.)
awk '{ c += $1; t += $2; s += $3 } END {
  if (c == 0 || s == 0) { print "filter run-time statistics: no packets counted"; exit }
  share = t / (s * 1e9)
  printf "filter in the tunnel path (kernel run-time statistics over the on runs): %.0f ns per packet, %.0f packets/s, %.3f%% of one core\n", t / c, c / s, 100 * share
  printf "  => filter on / off >= %.4f even if all of it were on the bottleneck (target >= 0.97: %s)\n", 1 / (1 + share), (1 / (1 + share) >= 0.97 ? "met" : "not met")
}' "$WORK/filter-stats"
for state in on off; do
  [[ -s $WORK/knock-stats-$state ]] || continue
  awk -v st="$state" '{ c += $1; t += $2; s += $3 } END {
    if (c == 0 || s == 0) exit
    printf "handshake capture (socket filter, every IPv4 packet of the gateway namespace), %s runs: %.0f ns per packet, %.0f packets/s, %.3f%% of one core\n", st, t / c, c / s, 100 * t / (s * 1e9)
  }' "$WORK/knock-stats-$state"
done
