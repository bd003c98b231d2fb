#!/usr/bin/env bash
# Installs what tests/vm/run.sh needs to boot Debian's own kernel (which ships
# wireguard.ko) under QEMU, WITHOUT installing that kernel on this host:
#  - qemu-system-x86 (and kmod/cpio for the initramfs) from Debian packages;
#  - the current linux-image-6.1.*-amd64 package (the dependency of the
#    linux-image-amd64 meta package) and busybox-static, downloaded with
#    `apt-get download` and unpacked with `dpkg -x` into a cache directory,
#    with modules.dep generated there (`depmod -b`).
#
# Usage: scripts/install-vm-deps.sh [cache-dir]   (root; default
#        $WGATE_VM_CACHE or /var/cache/wgate-vm). Idempotent: a complete
#        cache is left as it is.
# Result: <cache>/kernel/boot/vmlinuz-$KVER, <cache>/kernel/lib/modules/$KVER,
#         <cache>/busybox/bin/busybox, and <cache>/kver holding $KVER.
set -euo pipefail

CACHE=${1:-${WGATE_VM_CACHE:-/var/cache/wgate-vm}}
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" -ne 0 ]; then echo "install-vm-deps: needs root (apt-get)" >&2; exit 1; fi

# shellcheck source=apt-lib.sh
source "$(dirname "$0")/apt-lib.sh"  # apt_get: waits for a busy apt

need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
command -v cpio >/dev/null || need_pkgs+=(cpio)
# run.sh unpacks the 9p modules for the initramfs; a kernel may ship them
# compressed (.ko.xz, .ko.zst), and neither tool is in a minimal Debian.
command -v xz >/dev/null || need_pkgs+=(xz-utils)
command -v zstd >/dev/null || need_pkgs+=(zstd)
command -v depmod >/dev/null || need_pkgs+=(kmod)
command -v dpkg-deb >/dev/null || need_pkgs+=(dpkg)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${need_pkgs[@]}"
fi

if [ -s "$CACHE/kver" ] && [ -f "$CACHE/kernel/boot/vmlinuz-$(cat "$CACHE/kver")" ] &&
   [ -s "$CACHE/kernel/lib/modules/$(cat "$CACHE/kver")/modules.dep" ] && [ -x "$CACHE/busybox/bin/busybox" ]; then
  echo "install-vm-deps: cache $CACHE complete (kernel $(cat "$CACHE/kver"))"
  exit 0
fi

mkdir -p "$CACHE"
dl=$(mktemp -d "$CACHE/download.XXXXXX")
trap 'rm -rf "$dl"' EXIT
# apt-get download fetches as user _apt (no warning, no unsandboxed fetch).
chmod 755 "$dl"; chown _apt "$dl" 2>/dev/null || true
# apt-get download needs a fresh package list for the current versions.
[ ${#need_pkgs[@]} -gt 0 ] || apt_get update -qq

# The meta package names the real image package (linux-image-6.1.0-N-amd64).
image_pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$image_pkg" ]; then echo "install-vm-deps: linux-image-amd64 names no image package" >&2; exit 1; fi
echo "install-vm-deps: downloading $image_pkg and busybox-static"
(cd "$dl" && apt_get download -qq "$image_pkg" busybox-static)

rm -rf "$CACHE/kernel" "$CACHE/busybox" "$CACHE/kver"
dpkg -x "$dl"/linux-image-*.deb "$CACHE/kernel"
dpkg -x "$dl"/busybox-static_*.deb "$CACHE/busybox"
# Debian's merged /usr: modules may sit under usr/lib; keep one path.
if [ ! -d "$CACHE/kernel/lib/modules" ] && [ -d "$CACHE/kernel/usr/lib/modules" ]; then
  ln -s usr/lib "$CACHE/kernel/lib"
fi
kver=$(find "$CACHE/kernel/lib/modules/" -mindepth 1 -maxdepth 1 -printf '%f\n' | head -1)
[ -f "$CACHE/kernel/boot/vmlinuz-$kver" ] || { echo "install-vm-deps: no vmlinuz-$kver in $image_pkg" >&2; exit 1; }
[ -n "$(find "$CACHE/kernel/lib/modules/$kver" -name 'wireguard.ko*' | head -1)" ] ||
  { echo "install-vm-deps: $image_pkg has no wireguard module" >&2; exit 1; }
# The package's postinst would run depmod; we never install it, so do it here.
depmod -b "$CACHE/kernel" "$kver"
echo "$kver" >"$CACHE/kver"
echo "install-vm-deps: kernel $kver unpacked in $CACHE/kernel"
