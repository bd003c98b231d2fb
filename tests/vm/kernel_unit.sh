#!/usr/bin/env bash
# Runs the kernel backend's own unit tests (wgate_dataplane_tests
# --gtest_filter=KernelBackend.*) where the wireguard module exists: inside
# the VM (tests/vm/guest.sh, part "cmd"). A skip counts as a failure here,
# since this is the place they must really run.
# Usage: kernel_unit.sh path/to/wgate_dataplane_tests
set -uo pipefail
out=$("${1:?usage: kernel_unit.sh path/to/wgate_dataplane_tests}" --gtest_filter='KernelBackend.*' 2>&1)
rc=$?
echo "$out"
if grep -q "SKIPPED" <<<"$out"; then echo "kernel_unit: a kernel backend test was skipped inside the VM"; exit 1; fi
grep -qE "\[  PASSED  \] [1-9]" <<<"$out" || { echo "kernel_unit: no kernel backend test passed"; exit 1; }
exit "$rc"
