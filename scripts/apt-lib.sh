# Sourced by the install scripts (not run on its own).

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
