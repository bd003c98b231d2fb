#!/usr/bin/env bash
# Runs every test of wgate on a fresh Debian 12 machine (as root):
#   1. installs the dependencies (scripts/install-deps.sh)
#   2. builds with AddressSanitizer + UBSan (build-asan/)
#   3. builds the libFuzzer targets with clang and runs each briefly
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

echo "== fuzz smoke (${WGATE_FUZZ_SECONDS:-10}s per target)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 \
  -DCMAKE_C_FLAGS_DEBUG=-g1 -DWGATE_FUZZ=ON -DWGATE_TESTS=OFF -DWGATE_BENCH=OFF >/dev/null
ninja -C build-fuzz -j"$(nproc)" fuzz_targets   # not the daemon: only what the fuzzers link
# One fuzz target per core at a time: each is single-threaded, and CI's
# 30-minute budget is tight.
run_fuzzer() {
  local fuzzer=$1 name corpus seeds
  name=$(basename "$fuzzer")
  corpus="build-fuzz/corpus-$name"
  mkdir -p "$corpus"
  seeds="tests/fuzz/corpus/${name%_fuzz}"
  [ -d "$seeds" ] || seeds=""
  # The build aborts on every sanitizer report (-fno-sanitize-recover=all);
  # the log is checked too, so that a report the run survived (a recoverable
  # check, a build with other flags) still fails it.
  if ! "$fuzzer" -max_total_time="${WGATE_FUZZ_SECONDS:-10}" -print_final_stats=1 -artifact_prefix="build-fuzz/$name-" \
       "$corpus" $seeds >"build-fuzz/$name.log" 2>&1 ||
     grep -qE "runtime error:|ERROR: (Address|Leak|Undefined)Sanitizer" "build-fuzz/$name.log"; then
    echo "fuzz target $name failed; the input is in build-fuzz/$name-crash-* (once fixed, keep it as a seed in"
    echo "tests/fuzz/corpus/${name%_fuzz}/ with a unit test):"
    grep -m1 -A30 -E "runtime error:|ERROR: |==ERROR|deadly signal" "build-fuzz/$name.log" || tail -40 "build-fuzz/$name.log"
    return 1
  fi
  echo "fuzz $name: ok ($(awk '/stat::number_of_executed_units/ {print $2}' "build-fuzz/$name.log") runs)"
}
export -f run_fuzzer
fuzzers=()
for fuzzer in build-fuzz/tests/fuzz/*_fuzz; do [ -x "$fuzzer" ] && fuzzers+=("$fuzzer"); done
[ "${#fuzzers[@]}" -gt 0 ] || { echo "no fuzz targets were built"; exit 1; }
# xargs exits non-zero when any run failed; every target still runs, so
# all failures are reported at once.
printf '%s\n' "${fuzzers[@]}" | xargs -P "$(nproc)" -I{} bash -c 'run_fuzzer "$1"' _ {} ||
  { echo "fuzz smoke failed"; exit 1; }

echo "== ctest (unit + e2e lab)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
ctest --test-dir build-asan --output-on-failure -j"$(nproc)"
