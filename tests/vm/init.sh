#!/bin/busybox sh
# /init of the VM's initramfs (built by tests/vm/run.sh; busybox only).
#
# Loads the virtio/9p modules, mounts the host's filesystem read-only (9p tag
# "hostroot"), builds the guest's root as a tmpfs that mirrors it with the
# directories programs write to made VM-local, then runs tests/vm/guest.sh
# chrooted into that root, so the freshly built wgate and the host's tools
# run unchanged. Results go to the writable 9p share "results"; then
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
# The host's tree, read-only. The guest's root is NOT this mount: a 9p
# mount is read-only here, so the guest could not create a single mount
# point in it, and a bare host lacks some that we need (no /lib/modules
# without an installed kernel, as in a container; maybe no /var/tmp or
# /root). Instead $R is a tmpfs that mirrors the host's top level (and
# /var's) by bind mounts, and makes the directories programs write to
# itself, so the guest depends on no host path beyond the programs it runs.
mkdir -p /hostview
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /hostview ||
  fatal "mounting the host's root over 9p"
mount -t tmpfs -o mode=0755 tmpfs $R || fatal "tmpfs for the guest's root"

# mirror DIR NAME...: every entry of the host's DIR appears in $R/DIR (a
# directory or file bound read-only from the host, a symlink copied), except
# the NAMEs, which the caller makes itself. Other file types are left out.
mirror() {
  dir=$1
  shift
  mkdir -p "$R$dir" || fatal "mkdir $dir"
  for e in "/hostview$dir"/* "/hostview$dir"/.[!.]* "/hostview$dir"/..?*; do
    name=${e##*/}
    if [ ! -e "$e" ] && [ ! -L "$e" ]; then continue; fi  # an unmatched glob
    skip=0
    for own in "$@"; do [ "$name" = "$own" ] && skip=1; done
    [ "$skip" = 1 ] && continue
    if [ -L "$e" ]; then
      ln -s "$(readlink "$e")" "$R$dir/$name" || fatal "symlink $dir/$name"
    elif [ -d "$e" ]; then
      mkdir "$R$dir/$name" && mount --bind "$e" "$R$dir/$name" || fatal "binding $dir/$name"
    elif [ -f "$e" ]; then
      : >"$R$dir/$name" && mount --bind "$e" "$R$dir/$name" || fatal "binding $dir/$name"
    fi
  done
}
# Writable, VM-local state (all in $R's tmpfs): nothing the guest does
# reaches the host's disk except the results share below, and nothing the
# host left in these directories (sockets in /run/wireguard, netns files in
# /run/netns) confuses the guest.
mirror "" proc sys dev tmp run root var
mirror /var tmp lib log run lock
mkdir -p $R/proc $R/sys $R/dev $R/tmp $R/run/lock $R/root $R/var/tmp $R/var/lib $R/var/log || fatal "mkdir in the guest's root"
ln -s /run $R/var/run && ln -s /run/lock $R/var/lock || fatal "symlinks to /run"
chmod 1777 $R/tmp $R/var/tmp
chmod 0700 $R/root
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
# Paths the guest needs from the host that the VM-local directories hid (CI
# may clone the repository under /tmp): bind them back, read-only as the rest.
for p in "$WGATE_VM_REPO" "$WGATE_VM_CACHE" "$(dirname "$WGATE_BIN")" "$(dirname "$WGATE_VM_SCALE_BIN")" \
         ${WGATE_VM_BENCH_BIN:+"$(dirname "$WGATE_VM_BENCH_BIN")"}; do
  case "$p" in
    /tmp/*|/run/*|/root/*|/var/lib/*|/var/tmp/*|/var/log/*)
      mkdir -p "$R$p" && mount --bind "/hostview$p" "$R$p" || fatal "binding $p back into the guest" ;;
  esac
done
kver=$(uname -r)
# Modules come from the unpacked kernel in $WGATE_VM_CACHE, never from
# /lib/modules: the kernel runs /sbin/modprobe of this initramfs for
# on-demand loads (veth, bridge, nf_tables...), which chroots into $R and
# runs the host's kmod with -d (run.sh writes it); guest.sh does the same.
[ -s "$R$WGATE_VM_CACHE/kernel/lib/modules/$kver/modules.dep" ] ||
  fatal "no modules for $kver in $WGATE_VM_CACHE/kernel"

echo "VM-INIT: kernel $kver up after $(cut -d' ' -f1 /proc/uptime)s, running guest.sh"
chroot $R /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
  WGATE_VM_REPO="$WGATE_VM_REPO" WGATE_VM_CACHE="$WGATE_VM_CACHE" WGATE_BIN="$WGATE_BIN" WGATE_VM_SCALE_BIN="$WGATE_VM_SCALE_BIN" \
  WGATE_VM_PEERS="$WGATE_VM_PEERS" WGATE_VM_PARTS="$WGATE_VM_PARTS" WGATE_VM_CMD="$WGATE_VM_CMD" \
  /bin/bash "$WGATE_VM_REPO/tests/vm/guest.sh" /tmp/wgate-vm-results
echo "VM-INIT: guest.sh exited $? at $(cut -d' ' -f1 /proc/uptime)s"
umount $R/tmp/wgate-vm-results
halt_vm
