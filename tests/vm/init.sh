#!/bin/busybox sh
# /init of the VM's initramfs (built by tests/vm/run.sh; busybox only).
#
# Loads the virtio/9p modules, mounts the host's filesystem read-only (9p tag
# "hostroot") with writable tmpfs where programs write, binds the unpacked
# kernel's modules at /lib/modules/$(uname -r), then runs tests/vm/guest.sh
# chrooted into the host's tree, so the freshly built wgate and the host's
# tools run unchanged. Results go to the writable 9p share "results"; then
# the VM powers off (QEMU runs with -no-reboot).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1

halt_vm() {
  sync
  poweroff -f
  sleep 5
  echo o >/proc/sysrq-trigger
}
fatal() {
  echo "VM-INIT-FATAL: $*"
  halt_vm
}

for m in $(cat /modules.order); do
  insmod "/modules/$m.ko" || fatal "insmod $m"
done

R=/newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot $R || fatal "mounting the host's root over 9p"
# A second view of the host's tree that the tmpfs mounts below do not cover:
# a checkout (or its build) under /tmp, /root, ... is bound back from it.
mkdir -p /hostview
mount --bind $R /hostview || fatal "binding the host view"
# Writable, VM-local state: nothing the guest does reaches the host's disk
# except the results share below.
for d in tmp run var/lib var/tmp var/log root; do
  [ -d "$R/$d" ] && { mount -t tmpfs -o mode=0755 tmpfs "$R/$d" || fatal "tmpfs on /$d"; }
done
chmod 1777 $R/tmp $R/var/tmp
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
# What udev would make: bash's <(...) (wg-quick uses it) needs /dev/fd.
ln -s /proc/self/fd $R/dev/fd
ln -s /proc/self/fd/0 $R/dev/stdin
ln -s /proc/self/fd/1 $R/dev/stdout
ln -s /proc/self/fd/2 $R/dev/stderr
mount -t devpts devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
mkdir -p $R/tmp/wgate-vm-results
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results $R/tmp/wgate-vm-results ||
  fatal "mounting the results share"

# Parameters from run.sh: WGATE_VM_REPO, WGATE_VM_CACHE, WGATE_BIN, ...
. $R/tmp/wgate-vm-results/params || fatal "no params file"
# Paths the guest needs from the host that the tmpfs mounts hid (CI may
# clone the repository under /tmp): bind them back, read-only as the rest.
for p in "$WGATE_VM_REPO" "$WGATE_VM_CACHE" "$(dirname "$WGATE_BIN")" "$(dirname "$WGATE_VM_SCALE_BIN")" \
         ${WGATE_VM_BENCH_BIN:+"$(dirname "$WGATE_VM_BENCH_BIN")"}; do
  case "$p" in
    /tmp/*|/run/*|/var/lib/*|/var/tmp/*|/var/log/*|/root/*)
      mkdir -p "$R$p" && mount --bind "/hostview$p" "$R$p" || fatal "binding $p back into the guest" ;;
  esac
done
kver=$(uname -r)
mount -t tmpfs tmpfs $R/lib/modules || fatal "tmpfs on /lib/modules"
mkdir -p "$R/lib/modules/$kver"
mount --bind "$R$WGATE_VM_CACHE/kernel/lib/modules/$kver" "$R/lib/modules/$kver" || fatal "binding modules"
# The kernel runs /sbin/modprobe from this initramfs for on-demand modules
# (veth, bridge, nf_tables...): /sbin/modprobe here chroots into the host's
# tree, where kmod and the bound modules are.

echo "VM-INIT: kernel $kver up after $(cut -d' ' -f1 /proc/uptime)s, running guest.sh"
chroot $R /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
  WGATE_VM_REPO="$WGATE_VM_REPO" WGATE_BIN="$WGATE_BIN" WGATE_VM_SCALE_BIN="$WGATE_VM_SCALE_BIN" \
  WGATE_VM_PEERS="$WGATE_VM_PEERS" WGATE_VM_PARTS="$WGATE_VM_PARTS" WGATE_VM_CMD="$WGATE_VM_CMD" \
  /bin/bash "$WGATE_VM_REPO/tests/vm/guest.sh" /tmp/wgate-vm-results
echo "VM-INIT: guest.sh exited $? at $(cut -d' ' -f1 /proc/uptime)s"
umount $R/tmp/wgate-vm-results
halt_vm
