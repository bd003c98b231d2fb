#!/usr/bin/env bash
# Proves the kernel data plane on a real kernel: boots Debian's packaged
# kernel (which ships wireguard.ko; this host's kernel may not) under
# qemu-system-x86_64, with the host's filesystem shared read-only over 9p,
# and runs tests/vm/guest.sh inside it: the e2e lab with the kernel backend,
# a 10,000-peer netlink test (tests/vm/kernel_scale.cpp) and the handshake
# capture on kernel WireGuard's initiations (tests/vm/knock_capture.cpp).
#
# Usage: tests/vm/run.sh path/to/wgate path/to/wgate_vm_kernel_scale   (root)
# Needs: scripts/install-vm-deps.sh (QEMU + the unpacked kernel in
#        $WGATE_VM_CACHE, default /var/cache/wgate-vm).
# Environment:
#   WGATE_VM_ACCEL   tcg (default) or kvm: KVM only when it is known to work
#   WGATE_VM_TIMEOUT wall-time limit of the VM in seconds (default 900)
#   WGATE_VM_PEERS   peers for the scale part (default 10000)
#   WGATE_VM_PARTS   which guest parts run (default "scale lab knock"; "cmd"
#                    runs $WGATE_VM_CMD with bash in the guest, for debugging;
#                    "knock_daemon" and "bench" only when named)
#   WGATE_VM_KNOCK_BIN   wgate_vm_knock_capture, for the part "knock" (built
#                        only with the eBPF part; without it that part fails)
#   WGATE_VM_KEEP=1  keep the work dir (serial log, initramfs, results)
#   WGATE_VM_HOSTROOT  the tree the guest sees as the host's (default /; the
#                    regression test tests/vm/bare_host_test.sh passes a
#                    stripped-down copy to play a bare machine)
#   WGATE_VM_BENCH_BIN   bench_peer_apply, for the part "bench" (not a
#                        default part; bench/run_peer_apply_kernel.sh runs it)
#   WGATE_VM_BENCH_ARGS  its arguments (default "--reps 3 --sizes 1000,10000")
# Prints the guest's summary and wall time; exits 0 when every guest check
# passed, 1 on a failure, 77 when it cannot run here (no QEMU, no kernel).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WGATE_BIN=$(readlink -f "${1:?usage: run.sh path/to/wgate path/to/wgate_vm_kernel_scale}")
SCALE_BIN=$(readlink -f "${2:?usage: run.sh path/to/wgate path/to/wgate_vm_kernel_scale}")
CACHE=$(readlink -f "${WGATE_VM_CACHE:-/var/cache/wgate-vm}")
HOSTROOT=${WGATE_VM_HOSTROOT:-/}
ACCEL=${WGATE_VM_ACCEL:-tcg}
WALL=${WGATE_VM_TIMEOUT:-900}
BENCH_BIN=""
[ -n "${WGATE_VM_BENCH_BIN:-}" ] && BENCH_BIN=$(readlink -f "$WGATE_VM_BENCH_BIN")
KNOCK_BIN=""
[ -n "${WGATE_VM_KNOCK_BIN:-}" ] && KNOCK_BIN=$(readlink -f "$WGATE_VM_KNOCK_BIN")
started=$(date +%s)

cannot_run() { echo "vm_lab: CANNOT RUN: $*"; echo "vm_lab: install with scripts/install-vm-deps.sh"; exit 77; }
[ "$(id -u)" -eq 0 ] || cannot_run "needs root (QEMU's 9p server must read the whole tree)"
command -v qemu-system-x86_64 >/dev/null || cannot_run "qemu-system-x86_64 not found"
[ -s "$CACHE/kver" ] || cannot_run "no unpacked Debian kernel in $CACHE"
KVER=$(cat "$CACHE/kver")
KERNEL=$CACHE/kernel/boot/vmlinuz-$KVER
MODDIR=$CACHE/kernel/lib/modules/$KVER
if [ ! -f "$KERNEL" ] || [ ! -s "$MODDIR/modules.dep" ]; then cannot_run "kernel $KVER in $CACHE is incomplete"; fi
BUSYBOX=$CACHE/busybox/bin/busybox
[ -x "$BUSYBOX" ] || cannot_run "no static busybox in $CACHE/busybox"
if [ ! -x "$WGATE_BIN" ] || [ ! -x "$SCALE_BIN" ]; then echo "vm_lab: binaries not found: $WGATE_BIN $SCALE_BIN"; exit 1; fi
# These paths are written single-quoted into shell code for the guest.
for p in "$REPO" "$CACHE" "$WGATE_BIN" "$SCALE_BIN" "$BENCH_BIN" "$KNOCK_BIN"; do
  case "$p" in *"'"*) echo "vm_lab: cannot pass a path with a single quote to the guest: $p"; exit 1 ;; esac
done
case "$ACCEL" in
  tcg) accel=(-accel "tcg,thread=multi" -cpu max) ;;
  kvm) [ -w /dev/kvm ] || cannot_run "WGATE_VM_ACCEL=kvm but /dev/kvm is not usable"; accel=(-accel kvm -cpu host) ;;
  *) echo "vm_lab: WGATE_VM_ACCEL must be tcg or kvm"; exit 1 ;;
esac

WORK=$(mktemp -d /tmp/wgate-vm.XXXXXX)
QEMU_PID=""
cleanup() {
  [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
  if [ "${WGATE_VM_KEEP:-0}" = 1 ]; then echo "vm_lab: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# ---- initramfs: static busybox, /init, and the modules that reach 9p
# Prints the module and, first, every module it depends on (modules.dep
# lists a module's dependencies; each is loaded before its users).
mod_closure() {
  local path deps d
  path=$(grep -E "(^|/)$1\.ko(\.[a-z]+)?:" "$MODDIR/modules.dep" | head -1 | cut -d: -f1)
  [ -n "$path" ] || { echo "vm_lab: module $1 not in $KVER" >&2; return 1; }
  deps=$(grep -E "^$path:" "$MODDIR/modules.dep" | cut -d: -f2)
  for d in $deps; do mod_closure "$(basename "${d%%.ko*}")" || return 1; done
  echo "$path"
}
INITRD_DIR=$WORK/initramfs
mkdir -p "$INITRD_DIR"/{bin,sbin,proc,sys,dev,newroot,modules}
cp "$BUSYBOX" "$INITRD_DIR/bin/busybox"
cp "$HERE/init.sh" "$INITRD_DIR/init"
chmod 755 "$INITRD_DIR/init"
mknod -m 600 "$INITRD_DIR/dev/console" c 5 1
# On-demand module loads by the kernel land here: the host tree's kmod, run
# on the unpacked kernel's modules (-d), so no /lib/modules is needed.
cat >"$INITRD_DIR/sbin/modprobe" <<EOF
#!/bin/busybox sh
exec /bin/busybox chroot /newroot /sbin/modprobe -d '$CACHE/kernel' "\$@"
EOF
chmod 755 "$INITRD_DIR/sbin/modprobe"
: >"$INITRD_DIR/modules.order"
for path in $( (for m in virtio_pci 9pnet_virtio 9p; do mod_closure "$m" || exit 1; done) | awk '!seen[$0]++'); do
  name=$(basename "${path%%.ko*}")
  case "$path" in
    *.ko) cp "$MODDIR/$path" "$INITRD_DIR/modules/$name.ko" ;;
    *.ko.xz) xz -dc "$MODDIR/$path" >"$INITRD_DIR/modules/$name.ko" ;;
    *.ko.zst) zstd -qdc "$MODDIR/$path" >"$INITRD_DIR/modules/$name.ko" ;;
    *) echo "vm_lab: cannot unpack $path"; exit 1 ;;
  esac
  echo "$name" >>"$INITRD_DIR/modules.order"
done
[ -s "$INITRD_DIR/modules.order" ] || { echo "vm_lab: no 9p modules found for $KVER"; exit 1; }
(cd "$INITRD_DIR" && find . | cpio -o -H newc --quiet | gzip -1) >"$WORK/initrd.gz"

# ---- results share and parameters for init.sh / guest.sh
RESULTS=$WORK/results
mkdir -p "$RESULTS"
cat >"$RESULTS/params" <<EOF
WGATE_VM_REPO='$REPO'
WGATE_VM_CACHE='$CACHE'
WGATE_BIN='$WGATE_BIN'
WGATE_VM_SCALE_BIN='$SCALE_BIN'
WGATE_VM_PEERS='${WGATE_VM_PEERS:-10000}'
WGATE_VM_PARTS='${WGATE_VM_PARTS:-scale lab knock}'
WGATE_VM_CMD='${WGATE_VM_CMD:-}'
WGATE_VM_BENCH_BIN='$BENCH_BIN'
WGATE_VM_BENCH_ARGS='${WGATE_VM_BENCH_ARGS:-}'
WGATE_VM_KNOCK_BIN='$KNOCK_BIN'
EOF

# ---- boot. No network device: the guest's traffic stays in namespaces it
# makes itself. The host's / is shared read-only; only $RESULTS is writable.
SERIAL=$WORK/serial.log
echo "vm_lab: booting Debian kernel $KVER ($ACCEL, 2 CPUs, 2 GiB), limit ${WALL}s; serial log $SERIAL"
timeout --kill-after=10 "$WALL" qemu-system-x86_64 "${accel[@]}" -machine q35 -smp 2 -m 2048 \
  -nographic -no-reboot -monitor none -serial "file:$SERIAL" -nic none \
  -kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" \
  -virtfs "local,path=$HOSTROOT,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$RESULTS,mount_tag=results,security_model=none" \
  </dev/null >"$WORK/qemu.log" 2>&1 &
QEMU_PID=$!
wait "$QEMU_PID"
qemu_rc=$?
QEMU_PID=""
wall=$(($(date +%s) - started))

# Each part's own log (small: its PASS/FAIL lines and timings).
for log in "$RESULTS"/*.log; do
  [ -f "$log" ] || continue
  echo "---- guest part $(basename "$log" .log):"
  cat "$log"
done
if [ ! -f "$RESULTS/rc" ]; then
  [ "$qemu_rc" -eq 124 ] && why="timed out after ${WALL}s" || why="QEMU exited $qemu_rc"
  echo "vm_lab: the guest reported no result ($why). Serial log tail:"
  tail -60 "$SERIAL" 2>/dev/null
  echo "---- qemu:"; tail -20 "$WORK/qemu.log"
  echo "vm_lab wall time: ${wall}s"
  echo "0 passed, 1 failed"
  exit 1
fi
guest_rc=$(cat "$RESULTS/rc")
if [ "$guest_rc" != 0 ]; then
  echo "---- serial log tail:"; tail -20 "$SERIAL"
  echo "vm_lab: guest failures:"
  grep -hE '^(FAIL|FATAL)' "$RESULTS"/*.log 2>/dev/null
fi
grep '^VM-SUMMARY' "$RESULTS/summary"
echo "vm_lab wall time: ${wall}s"
tail -1 "$RESULTS/summary"
[ "$guest_rc" = 0 ]
