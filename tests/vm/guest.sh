#!/usr/bin/env bash
# Runs inside the VM (tests/vm/init.sh chroots into the host's tree, shared
# read-only, and runs this). Loads the wireguard module of the VM's Debian
# kernel, then tests the kernel backend for real:
#   1. scale: wgate_vm_kernel_scale (10,000 peers, messages counted on nlmon)
#   2. lab:   tests/e2e/lab.sh with WGATE_E2E_BACKEND=kernel
#   3. knock: wgate_vm_knock_capture ($WGATE_VM_KNOCK_BIN): wgate's eBPF
#             capture and Noise reader on initiations that kernel WireGuard
#             sends (two namespaces it makes with `ip` and `wg`)
# and, only when asked for (not default parts: slow under TCG):
#   bench:    bench/run_peer_apply.sh $WGATE_VM_BENCH_BIN --backend kernel
#             $WGATE_VM_BENCH_ARGS (default "--reps 3 --sizes 1000,10000"),
#             a measurement
#   knock_daemon: tests/vm/knock_daemon.sh, the whole expired-key notice
#             path with `wgate server` on the kernel backend
# Every part's output is copied to the results dir; the last line on the
# console and in results/summary is "N passed, N failed" over all parts, and
# results/rc holds the exit status.
# Usage: guest.sh RESULTS_DIR   (env: WGATE_VM_REPO, WGATE_VM_CACHE, WGATE_BIN,
#        WGATE_VM_SCALE_BIN, WGATE_VM_PEERS, WGATE_VM_PARTS="scale lab knock";
#        WGATE_VM_KNOCK_BIN, WGATE_VM_BENCH_BIN and WGATE_VM_BENCH_ARGS, when not in the
#        environment, are read from RESULTS_DIR/params, which run.sh writes)
set -uo pipefail
OUT=${1:?results dir}
PARTS=${WGATE_VM_PARTS:-scale lab knock}
started=$(date +%s)
total_passed=0
total_failed=0
summary=()

note() { echo "VM: $*"; }
# The value of variable $1 in run.sh's params file ("" when absent).
# shellcheck source=/dev/null
param() { (. "$OUT/params" 2>/dev/null && eval "printf '%s' \"\${$1:-}\""); }
# The VM's kernel modules are those of the unpacked kernel in the cache: the
# host may have no /lib/modules at all (no kernel installed, as in a
# container), and its own modules would not match the VM's kernel anyway.
WGATE_VM_CACHE=${WGATE_VM_CACHE:-$(param WGATE_VM_CACHE)}
modprobe() { command modprobe -d "$WGATE_VM_CACHE/kernel" "$@"; }
# Adds a part's "N passed, N failed" line to the totals; a part that printed
# none (crashed) counts as one failure.
tally() {
  local part=$1 log=$2 rc=$3 line p f
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  if [ -z "$line" ]; then
    summary+=("$part: no summary (exit $rc)")
    total_failed=$((total_failed + 1))
    return
  fi
  p=$(awk '{print $1}' <<<"$line")
  f=$(awk '{print $3}' <<<"$line")
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1  # a non-zero exit is a failure
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
  summary+=("$part: $line (exit $rc)")
}

note "kernel $(uname -r), $(nproc) CPU(s), $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"
t0=$(date +%s.%N)
if modprobe wireguard; then
  note "wireguard module $(cat /sys/module/wireguard/version 2>/dev/null) loaded in $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.1f", a - b}')s"
  total_passed=$((total_passed + 1))
  summary+=("modprobe wireguard: ok")
else
  summary+=("modprobe wireguard: FAILED")
  total_failed=$((total_failed + 1))
  PARTS=""
fi
# nlmon (the scale test's message counter), and what the lab creates; the
# kernel would load these on demand too, this just front-loads the time.
modprobe -a nlmon veth bridge nf_tables 2>&1 || true

for part in $PARTS; do
  t0=$(date +%s)
  log="$OUT/$part.log"
  case "$part" in
    scale)
      ns=wgvm-scale
      ip netns del "$ns" 2>/dev/null
      ip netns add "$ns"
      ip -n "$ns" link add nlmon0 type nlmon && ip -n "$ns" link set nlmon0 up
      note "part scale: ${WGATE_VM_PEERS:-10000} peers in netns $ns"
      ip netns exec "$ns" "$WGATE_VM_SCALE_BIN" --peers "${WGATE_VM_PEERS:-10000}" 2>&1 | tee "$log"
      rc=${PIPESTATUS[0]}
      ip netns del "$ns"
      ;;
    lab)
      note "part lab: tests/e2e/lab.sh with the kernel backend"
      WGATE_E2E_BACKEND=kernel "$WGATE_VM_REPO/tests/e2e/lab.sh" "$WGATE_BIN" 2>&1 | tee "$log"
      rc=${PIPESTATUS[0]}
      ;;
    knock)
      knock_bin=${WGATE_VM_KNOCK_BIN:-$(param WGATE_VM_KNOCK_BIN)}
      note "part knock: $knock_bin (namespaces wgvk-*)"
      if [ -n "$knock_bin" ] && [ -x "$knock_bin" ]; then
        "$knock_bin" --prefix wgvk 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
      else
        # Asked for but not built (no eBPF part): a failure, not a skip.
        echo "part knock: no capture test binary (WGATE_VM_KNOCK_BIN='$knock_bin')" | tee "$log"
        rc=2
      fi
      ;;
    knock_daemon)
      note "part knock_daemon: tests/vm/knock_daemon.sh (namespaces wgvd-*)"
      "$WGATE_VM_REPO/tests/vm/knock_daemon.sh" "$WGATE_BIN" 2>&1 | tee "$log"
      rc=${PIPESTATUS[0]}
      ;;
    bench)
      bench_bin=${WGATE_VM_BENCH_BIN:-$(param WGATE_VM_BENCH_BIN)}
      bench_args=${WGATE_VM_BENCH_ARGS:-$(param WGATE_VM_BENCH_ARGS)}
      bench_args=${bench_args:---reps 3 --sizes 1000,10000}
      note "part bench: bench_peer_apply --backend kernel $bench_args"
      if [ -n "$bench_bin" ] && [ -x "$bench_bin" ]; then
        # run_peer_apply.sh gives it a namespace of its own (wgb-peer-apply)
        # and tears that down at exit.
        # shellcheck disable=SC2086  # bench_args is a list of words
        "$WGATE_VM_REPO/bench/run_peer_apply.sh" "$bench_bin" --backend kernel $bench_args 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
      else
        echo "part bench: no bench binary (WGATE_VM_BENCH_BIN='$bench_bin')" | tee "$log"
        rc=2
      fi
      # A measurement, not a test: it counts as passed when it ran through
      # (the benchmark itself checks every device it applied).
      if [ "$rc" -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi >>"$log"
      ;;
    cmd)
      note "part cmd: $WGATE_VM_CMD"
      bash -c "$WGATE_VM_CMD" 2>&1 | tee "$log"
      rc=${PIPESTATUS[0]}
      if [ "$rc" -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi >>"$log"
      ;;
    *)
      echo "unknown part $part" | tee "$log"
      rc=2
      ;;
  esac
  note "part $part: exit $rc in $(($(date +%s) - t0))s"
  tally "$part" "$log" "$rc"
done

{
  for s in "${summary[@]}"; do echo "VM-SUMMARY: $s"; done
  echo "VM-SUMMARY: guest wall time $(($(date +%s) - started))s"
  echo "vm: $total_passed passed, $total_failed failed"
} | tee "$OUT/summary"
[ "$total_failed" -eq 0 ] && rc=0 || rc=1
echo "$rc" >"$OUT/rc"
sync
exit "$rc"
