#!/usr/bin/env bash
# Runs bench_change_latency: a real `wgate server` (userspace backend) in a
# network namespace of its own, N people in its store, then timed changes
# through the CLI (see bench/change_latency.cpp and bench/README.md).
#
# Usage (root): bench/run_change_latency.sh <path/to/bench_change_latency> [--people N] [bench args...]
#   --people defaults to 10000; the other arguments go to the benchmark
#   (--changes 200, --idle-seconds 10, --converge-timeout 900).
# Builds nothing: run scripts/build.sh release first (or
# `ninja -C build wgate bench_change_latency`). Uses the `wgate` next to the
# benchmark's directory (build/wgate), or $WGATE_BIN.
#
# Makes a temp dir /tmp/wgb-change-latency-XXXXXX with the config (one group
# per 50,000 people: wireguard-go holds at most 65,536 peers per device,
# interfaces wgb-cl0, wgb-cl1, ...), the store (`wgate init`) and the state
# directory; creates namespace wgb-change-latency. At start it removes a
# stale namespace of that name (and its processes), stale sockets of this
# benchmark's interfaces (/var/run/wireguard/wgb-cl*.sock) and stale temp
# dirs; at exit, also on failure or Ctrl-C, it kills what runs in the
# namespace (by pid), deletes it and the temp dir (WGB_KEEP=1 keeps the temp
# dir and prints where). Touches nothing in the root namespace: the daemon's
# routes, rules, nftables table and ip_forward are the namespace's own.
set -euo pipefail

ns=wgb-change-latency
sock_glob='/var/run/wireguard/wgb-cl*.sock'
tmp_glob='/tmp/wgb-change-latency-??????'

die() { echo "run_change_latency.sh: $*" >&2; exit 2; }

[[ $# -ge 1 ]] || die "usage: $0 <path/to/bench_change_latency> [--people N] [args...]"
[[ $EUID -eq 0 ]] || die "needs root"
bin=$(realpath -- "$1") || die "no such file: $1"
shift
[[ -x $bin ]] || die "not executable: $bin"
wgate_bin=${WGATE_BIN:-$(dirname "$(dirname "$bin")")/wgate}
[[ -x $wgate_bin ]] || die "no wgate at $wgate_bin (build it, or set WGATE_BIN)"
wgate_bin=$(realpath -- "$wgate_bin")
for tool in wg wireguard-go nft; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

people=10000
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --people) [[ $# -ge 2 ]] || die "--people needs a value"; people=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ $people =~ ^[0-9]+$ && $people -ge 1 && $people -le 500000 ]] || die "--people: 1..500000"
groups=$(( (people + 49999) / 50000 ))

# Kills the processes of namespace $1 by pid (TERM, then KILL after 5 s)
# and deletes the namespace. Bounded: at most ~7 s.
teardown_ns() {
  local name=$1 pids i
  ip netns list | awk '{print $1}' | grep -qx -- "$name" || return 0
  pids=$(ip netns pids "$name" 2>/dev/null || true)
  if [[ -n $pids ]]; then
    kill -TERM $pids 2>/dev/null || true
    for i in $(seq 50); do
      pids=$(ip netns pids "$name" 2>/dev/null || true)
      [[ -z $pids ]] && break
      sleep 0.1
    done
    if [[ -n $pids ]]; then
      kill -KILL $pids 2>/dev/null || true
      sleep 0.5
    fi
  fi
  ip netns del "$name" 2>/dev/null || true
}

dir=""
cleanup() {
  teardown_ns "$ns"
  # wireguard-go removes its socket on SIGTERM, not on SIGKILL.
  rm -f $sock_glob
  if [[ -n $dir && ${WGB_KEEP:-0} == 1 ]]; then
    echo "run_change_latency.sh: kept $dir (config, store, daemon.log)"
  elif [[ -n $dir ]]; then
    rm -rf "$dir"
  fi
}

teardown_ns "$ns"  # stale leftovers of an earlier run
rm -f $sock_glob
[[ ${WGB_KEEP:-0} == 1 ]] || rm -rf $tmp_glob
trap cleanup EXIT
trap 'exit 130' INT TERM

dir=$(mktemp -d /tmp/wgb-change-latency-XXXXXX)
conf=$dir/wgate.toml
{
  cat <<EOF
# Written by bench/run_change_latency.sh for $people people.
[server]
endpoint  = "wgb.invalid"
store     = "$dir/wgate.db"
state_dir = "$dir/state"
backend   = "userspace"
resync    = "2s"

[pool]
ipv4     = "10.64.0.0/12"   # 262,142 blocks of 4
per_user = 4

[networks]
bench-net = ["10.1.0.0/16"]
EOF
  for ((g = 0; g < groups; g++)); do
    cat <<EOF

[groups.g$g]
networks  = ["bench-net"]
interface = "wgb-cl$g"
port      = $((51900 + g))
table     = $((1900 + g))
EOF
  done
} >"$conf"

ip netns add "$ns"
ip -n "$ns" link set lo up
"$wgate_bin" -c "$conf" check-config
"$wgate_bin" -c "$conf" init

echo "wgate $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?'), $(wireguard-go --version 2>&1 | head -1), $(wg --version), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# In the background so that a signal runs the traps at once; the benchmark
# and the daemon live in the namespace, so teardown_ns stops them too.
ip netns exec "$ns" "$bin" --wgate "$wgate_bin" --config "$conf" --people "$people" "${args[@]}" &
if ! wait $!; then
  echo "run_change_latency.sh: the benchmark failed; the daemon's log ends with:" >&2
  tail -n 20 "$dir/daemon.log" >&2 2>/dev/null || true
  exit 1
fi
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
