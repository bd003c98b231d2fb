#!/usr/bin/env bash
# Runs bench_peer_apply inside a network namespace of its own.
# Usage (root): bench/run_peer_apply.sh <path/to/bench_peer_apply> [bench args...]
# Builds nothing: run scripts/build.sh release first. With --backend kernel
# it needs a kernel with WireGuard (this is how tests/vm/guest.sh's "bench"
# part runs it inside the VM; see bench/run_peer_apply_kernel.sh).
#
# Creates namespace wgb-peer-apply; at start removes a stale one (and the
# processes in it) and stale sockets of this bench's interfaces
# (/var/run/wireguard/wgb-[ab]<size>-<rep>[-<part>].sock); tears all of it down at
# exit, also on failure or Ctrl-C. Touches nothing in the root namespace.
set -euo pipefail

ns=wgb-peer-apply
sock_glob='/var/run/wireguard/wgb-[ab][0-9]*-[0-9]*.sock'

die() { echo "run_peer_apply.sh: $*" >&2; exit 2; }

[[ $# -ge 1 ]] || die "usage: $0 <path/to/bench_peer_apply> [args...]"
[[ $EUID -eq 0 ]] || die "needs root"
bin=$(realpath -- "$1") || die "no such file: $1"
shift
[[ -x $bin ]] || die "not executable: $bin"
command -v wg >/dev/null || die "wg (wireguard-tools) not found"
# wireguard-go only for the userspace backend (the default).
backend=userspace
prev=""
for a in "$@"; do
  [[ $prev == --backend ]] && backend=$a
  prev=$a
done
if [[ $backend != kernel ]]; then
  command -v wireguard-go >/dev/null || die "wireguard-go not found"
fi

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

cleanup() {
  teardown_ns "$ns"
  # wireguard-go removes its socket on SIGTERM, not on SIGKILL.
  rm -f $sock_glob
  # The benchmark's wg(8) config files, if it was killed before removing them.
  rm -rf /tmp/wgb-peer-apply-??????
}

cleanup  # stale leftovers of an earlier run
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
# In the background so that a signal runs the traps at once; the benchmark
# itself lives in the namespace, so teardown_ns stops it too.
ip netns exec "$ns" "$bin" "$@" &
wait $!
