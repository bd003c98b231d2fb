#!/usr/bin/env bash
# Builds wgate. Usage: scripts/build.sh [release|asan] (default release).
#   release -> build/        (what the quickstart runs)
#   asan    -> build-asan/   (AddressSanitizer + UBSan; what the tests run)
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-release}"
case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  # -g1: line tables only, enough for the sanitizers' stack traces, and
  # ~10% less compile time and far smaller objects than full -g (CI's budget
  # is 30 minutes).
  asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DWGATE_SANITIZE=ON -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DCMAKE_C_FLAGS_DEBUG=-g1) ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac
# WGATE_BENCH=0 leaves the benchmarks out (scripts/test.sh: CI runs none).
flags+=(-DWGATE_BENCH="$([ "${WGATE_BENCH:-1}" = 0 ] && echo OFF || echo ON)")
# ccache, when installed, lets several checkouts share compiled objects.
if command -v ccache >/dev/null; then flags+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
ninja -C "$dir" -j"$(nproc)"
