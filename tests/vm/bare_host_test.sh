#!/usr/bin/env bash
# Regression test: the VM lab must boot on a bare host. The guest sees the
# host's tree read-only over 9p and can create nothing in it, so every path
# it mounts onto must come from the guest itself; a fresh Debian 12 machine
# (a container, a minimal install) has no /lib/modules, and may lack /root or
# /var/tmp. This boots the real initramfs (tests/vm/run.sh) with, as the
# host's tree, a copy of this machine's tree made without /lib/modules (also
# /usr/lib/modules), /root and /var/tmp, and checks inside the guest that the
# kernel's on-demand module loads work, that the lab's writable directories
# exist, and that the simulation really hid those paths.
#
# Usage: tests/vm/bare_host_test.sh path/to/wgate path/to/wgate_vm_kernel_scale
#        (root; exits 77 when the VM lab cannot run here, like run.sh)
# The simulated tree lives in a private mount namespace of this test (bind
# mounts of this machine's directories on a tmpfs), so nothing outside it
# changes.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" != --inner ]; then
  [ $# -eq 2 ] || { echo "usage: bare_host_test.sh path/to/wgate path/to/wgate_vm_kernel_scale"; exit 2; }
  [ "$(id -u)" -eq 0 ] || { echo "bare_host_test: CANNOT RUN: needs root"; exit 77; }
  command -v unshare >/dev/null || { echo "bare_host_test: CANNOT RUN: no unshare"; exit 77; }
  # The mount point is made and removed out here: inside, it is busy until
  # the namespace (and with it every mount below) ends.
  SIM=$(mktemp -d /tmp/wgate-bare-host.XXXXXX)
  unshare --mount --propagation private -- "$0" --inner "$SIM" "$@"
  rc=$?
  rmdir "$SIM"
  exit "$rc"
fi
SIM=$2
WGATE_BIN=${3:?usage: bare_host_test.sh path/to/wgate path/to/wgate_vm_kernel_scale}
SCALE_BIN=${4:?usage: bare_host_test.sh path/to/wgate path/to/wgate_vm_kernel_scale}

mount -t tmpfs -o mode=0755 tmpfs "$SIM" || exit 1

# mirror DIR NAME...: $SIM/DIR gets every entry of DIR (directories and files
# bound, symlinks copied) except the NAMEs, which the caller handles.
mirror() {
  local dir=$1 e name own
  shift
  mkdir -p "$SIM$dir"
  for e in "$dir"/* "$dir"/.[!.]* "$dir"/..?*; do
    name=${e##*/}
    [ -e "$e" ] || [ -L "$e" ] || continue
    for own in "$@"; do [ "$name" = "$own" ] && continue 2; done
    if [ -L "$e" ]; then
      ln -s "$(readlink "$e")" "$SIM$dir/$name"
    elif [ -d "$e" ]; then
      mkdir "$SIM$dir/$name" && mount --rbind "$e" "$SIM$dir/$name"
    elif [ -f "$e" ]; then
      : >"$SIM$dir/$name" && mount --bind "$e" "$SIM$dir/$name"
    fi || { echo "bare_host_test: cannot mirror $dir/$name"; exit 1; }
  done
}
# A running host always has these mount points; the guest mounts its own.
mkdir -p "$SIM/proc" "$SIM/sys" "$SIM/dev"
mirror "" proc sys dev lib usr var root
mirror /usr lib
mirror /usr/lib modules
if [ -L /lib ]; then
  ln -s "$(readlink /lib)" "$SIM/lib"
else
  mirror /lib modules
fi
mirror /var tmp
# The recursive bind of /tmp copied this tree's own mount into itself.
if mountpoint -q "$SIM$SIM"; then umount -l "$SIM$SIM"; fi
for gone in /lib/modules /usr/lib/modules /root /var/tmp; do
  if [ -e "$SIM$gone" ]; then echo "bare_host_test: the simulated host still has $gone"; exit 1; fi
done

# Inside the guest: the simulation holds (no /lib/modules), the kernel's
# on-demand module load (dummy is not front-loaded by guest.sh) goes through
# the initramfs's /sbin/modprobe, and the directories the lab writes to are
# there and writable.
check='set -e
for p in /lib/modules /usr/lib/modules; do if [ -e "$p" ]; then echo "FAIL: guest sees $p"; exit 1; fi; done
ip link add wgbare0 type dummy
grep -q "^dummy " /proc/modules
for d in /tmp /run /root /var/tmp /var/lib /var/log /var/run; do touch "$d/wgate-bare-host"; done
ip netns add wgbare
ip netns del wgbare
echo "PASS: bare host: modules load on demand, writable directories exist"'
WGATE_VM_HOSTROOT=$SIM WGATE_VM_PARTS=cmd WGATE_VM_CMD=$check WGATE_VM_TIMEOUT=${WGATE_VM_TIMEOUT:-300} \
  "$HERE/run.sh" "$WGATE_BIN" "$SCALE_BIN"
