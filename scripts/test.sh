#!/usr/bin/env bash
# Runs every test of wgate on a fresh Debian 12 machine (as root):
#   1. installs the dependencies (scripts/install-deps.sh)
#   2. builds with AddressSanitizer + UBSan (build-asan/)
#   3. builds the libFuzzer targets with clang and runs each briefly
#      (scripts/fuzz_smoke.sh, beside step 4 at the lowest priority)
#   4. runs ctest: unit tests (label unit), the network-namespace lab with
#      real wireguard-go peers (label e2e), and the same lab on kernel
#      WireGuard inside a QEMU VM running Debian's kernel (label vm)
# Environment: WGATE_FUZZ_SECONDS (default 10) per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/install-vm-deps.sh   # qemu + Debian's kernel (unpacked, not installed) for the VM lab
# The benchmarks are not built here: CI runs none (scripts/build.sh release
# builds them), and their ASan build cost about a minute of the 30.
WGATE_BENCH=0 scripts/build.sh asan

# The fuzz smoke (scripts/fuzz_smoke.sh: a clang build of the fuzz targets,
# then ~10 s each) runs beside ctest at nice 19: the e2e and VM tests wait on
# timers and the network most of the time, and the lowest priority gives the
# tests the CPU whenever they want it (CI's budget is 30 minutes; serially
# this was ~4 of them). Its output is printed after ctest.
mkdir -p build-fuzz
nice -n 19 scripts/fuzz_smoke.sh >build-fuzz/smoke.log 2>&1 &
fuzz_pid=$!

echo "== ctest (unit + e2e lab)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
ctest_rc=0
ctest --test-dir build-asan --output-on-failure -j"$(nproc)" || ctest_rc=$?
echo "== fuzz smoke (${WGATE_FUZZ_SECONDS:-10}s per target, run beside ctest)"
fuzz_rc=0
wait "$fuzz_pid" || fuzz_rc=$?
cat build-fuzz/smoke.log
if [ "$ctest_rc" != 0 ] || [ "$fuzz_rc" != 0 ]; then
  echo "FAILED: ctest exit $ctest_rc, fuzz smoke exit $fuzz_rc"
  exit 1
fi
