#!/usr/bin/env bash
# Installs everything wgate needs to build, test and run, from Debian's
# packages. Idempotent: skips apt when everything is already there.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # libraries
  libmnl-dev libnftables-dev libssl-dev libsqlite3-dev nlohmann-json3-dev libtomlplusplus-dev
  libspdlog-dev libcli11-dev libgtest-dev libgmock-dev libcurl4-openssl-dev
  # data plane and the test lab
  wireguard-tools wireguard-go nftables iproute2 iputils-ping socat procps kmod jq
)

# apt-get that waits for another apt or dpkg (unattended-upgrades, another
# install running in parallel) instead of failing: dpkg's lock through
# DPkg::Lock::Timeout; the package lists' lock, which `apt-get update` does
# not wait for, by retrying while the error names a lock (other errors fail
# at once).
apt_get() {
  local try err
  for try in $(seq 60); do
    { err=$(${SUDO:-} env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@" 2>&1 >&3 3>&-); } 3>&1 && return 0
    echo "$err" >&2
    grep -qiE "could not get lock|unable to (acquire|lock)|is locked by another process" <<<"$err" || return 1
    echo "$(basename "$0"): apt is busy (another process holds its lock); retry $try in 10s" >&2
    sleep 10
  done
  return 1
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
