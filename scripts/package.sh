#!/usr/bin/env bash
# Builds the Debian package from the release build: scripts/build.sh release
# (build/), then CPack's DEB generator. Prints the path of the .deb.
# Usage: scripts/package.sh [build-dir]   (default build/, built first)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build}"
if [ "$dir" = build ]; then scripts/build.sh release >&2; fi
[ -f "$dir/CPackConfig.cmake" ] || { echo "package.sh: $dir is not a configured build directory" >&2; exit 1; }
out="$dir/packages"
mkdir -p "$out"
# Release packages are stripped (symbols stay in the build dir).
(cd "$dir" && cpack -G DEB -B "$PWD/packages" -D CPACK_STRIP_FILES=ON >&2)
ls -1t "$out"/wgate_*.deb | head -1
