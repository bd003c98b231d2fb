#!/usr/bin/env bash
# Builds wgate. Usage: scripts/build.sh [release|asan] (default release).
#   release -> build/        (what the quickstart runs)
#   asan    -> build-asan/   (AddressSanitizer + UBSan; what the tests run)
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-release}"
case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DWGATE_SANITIZE=ON) ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
ninja -C "$dir" -j"$(nproc)"
