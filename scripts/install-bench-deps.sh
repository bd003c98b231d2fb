#!/usr/bin/env bash
# Installs what only the benchmarks need (bench/), from Debian's packages, on
# top of scripts/install-deps.sh. Not run by CI: no test needs these.
#   wrk     bench/run_api.sh drives the HTTP requests
#   nginx   bench/run_api.sh's anchor: a static file of the same size. The
#           script runs its own nginx with a temporary config in the bench's
#           namespace; the system service is never used (Debian's postinst
#           may start it where services can start: stop and disable it if you
#           do not want it).
#   iperf3  bench/run_filter_iperf.sh: throughput through the tunnel
# Idempotent: skips apt when everything is already there.
set -euo pipefail

packages=(wrk nginx iperf3)

# shellcheck source=apt-lib.sh
source "$(dirname "$0")/apt-lib.sh"  # apt_get: waits for a busy apt

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-bench-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-bench-deps: all packages present"
fi
