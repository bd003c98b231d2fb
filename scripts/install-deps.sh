#!/usr/bin/env bash
# Installs everything wgate needs to build, test and run, from Debian's
# packages. Idempotent: skips apt when everything is already there.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # libraries
  libmnl-dev libnftables-dev libssl-dev libsqlite3-dev nlohmann-json3-dev libtomlplusplus-dev
  libspdlog-dev libcli11-dev libgtest-dev libgmock-dev
  # data plane and the test lab
  wireguard-tools wireguard-go nftables iproute2 iputils-ping socat procps kmod jq
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
