#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs each for
# WGATE_FUZZ_SECONDS (default 10), one per core at a time. Exits 1 when a
# target finds a crash or a sanitizer report; the input is kept in
# build-fuzz/. scripts/test.sh runs it beside ctest at the lowest priority.
set -euo pipefail
cd "$(dirname "$0")/.."
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
echo "fuzz smoke: ok"

