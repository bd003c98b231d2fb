#!/usr/bin/env bash
# Runs bench_peer_apply with --backend kernel inside the QEMU VM of
# tests/vm/run.sh (this machine's kernel may have no WireGuard; the VM boots
# Debian's, which has). Only the guest part "bench" runs: inside the guest,
# bench/run_peer_apply.sh puts the benchmark in a network namespace of its
# own. Prints the VM's output, then the benchmark's table again at the end.
#
# Usage (root): bench/run_peer_apply_kernel.sh <path/to/bench_peer_apply> [bench args...]
#   bench args default to "--reps 3 --sizes 1000,10000" (~3 min under TCG).
# Builds nothing: build bench_peer_apply first (scripts/build.sh release).
# Needs scripts/install-vm-deps.sh (QEMU and the unpacked Debian kernel).
# Environment: WGATE_VM_ACCEL, WGATE_VM_TIMEOUT, WGATE_VM_KEEP as for
# tests/vm/run.sh. Exits with run.sh's status (77: cannot run here).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

die() { echo "run_peer_apply_kernel.sh: $*" >&2; exit 2; }

[[ $# -ge 1 ]] || die "usage: $0 <path/to/bench_peer_apply> [bench args...]"
bin=$(realpath -- "$1") || die "no such file: $1"
shift
[[ -x $bin ]] || die "not executable: $bin"
for a in "$@"; do
  [[ $a == --backend ]] && die "the backend is always kernel here; leave out --backend"
  [[ $a == *"'"* || $a == *" "* ]] && die "bench arguments with quotes or spaces are not supported: $a"
done

# run.sh takes wgate and wgate_vm_kernel_scale as positional arguments and
# checks that they exist. The part "bench" runs neither, so when they are not
# built next to the benchmark, the benchmark itself stands in for them.
build_dir=$(dirname "$(dirname "$bin")")
wgate_bin=$build_dir/wgate
scale_bin=$build_dir/tests/wgate_vm_kernel_scale
[[ -x $wgate_bin ]] || wgate_bin=$bin
[[ -x $scale_bin ]] || scale_bin=$bin

out=$(mktemp /tmp/wgb-peer-apply-kernel.XXXXXX)
trap 'rm -f "$out"' EXIT
WGATE_VM_PARTS=bench WGATE_VM_BENCH_BIN=$bin WGATE_VM_BENCH_ARGS="$*" \
  "$REPO/tests/vm/run.sh" "$wgate_bin" "$scale_bin" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}

echo
echo "==== bench_peer_apply --backend kernel, inside the VM (TCG unless WGATE_VM_ACCEL=kvm):"
# The bench part's log as run.sh printed it: its header line and the table.
awk '/^---- guest part /{inb = ($0 ~ /guest part bench:/); next}
     inb && /^(backend:|median of|peers=|add 1 peer|  for context)/' "$out"
exit "$rc"
