#!/usr/bin/env bash
# deb_package: builds the .deb from the build directory this test runs in
# (cpack on the binary already built: no second build), installs it on this
# machine with dpkg, checks files, modes, conffiles and dependencies, runs
# the installed `wgate check-config` against the installed
# /etc/wgate/wgate.toml, has `systemd-analyze verify` check the units (when
# it exists), keeps a local config edit across a reinstall, then purges.
# Usage: deb_test.sh <build-dir>. Root only; exits 77 (skipped) without root
# or when a wgate is already installed here (never overwrite one).
set -euo pipefail
build="$(cd "$1" && pwd)"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (dpkg -i)"; exit 77; }
if dpkg-query -W -f='${Status}' wgate 2>/dev/null | grep -q "install ok"; then
  echo "SKIP: a wgate package is installed on this machine; not touching it"; exit 77
fi
for p in /usr/bin/wgate /etc/wgate /lib/systemd/system/wgate.service; do
  [ ! -e "$p" ] || { echo "SKIP: $p exists (not from a package); not touching it"; exit 77; }
done

work="$(mktemp -d /tmp/wgate-deb-test.XXXXXX)"
installed=0
cleanup() {
  if [ "$installed" = 1 ]; then dpkg --purge wgate >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
start=$(date +%s)

# Stripped (the ASan build's debug info is most of its 270 MB) and zstd:
# what costs time here is moving bytes, and the checks need none of them.
(cd "$build" && cpack -G DEB -B "$work" -D CPACK_STRIP_FILES=ON -D CPACK_DEBIAN_COMPRESSION_TYPE=zstd >"$work/cpack.log" 2>&1) \
  || { cat "$work/cpack.log"; fail "cpack"; }
deb="$(ls "$work"/wgate_*.deb)"
echo "built $(basename "$deb") ($(du -h "$deb" | cut -f1)) in $(( $(date +%s) - start )) s"

# Control data: computed Depends (shlibdeps), Recommends, conffiles.
info="$(dpkg-deb -I "$deb")"
depends="$(dpkg-deb -f "$deb" Depends)"
for lib in libc6 libsqlite3-0 libmnl0 libnftables1 libssl3; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
[ "$(dpkg-deb -f "$deb" Recommends)" = "wireguard-tools, wireguard-go" ] || fail "Recommends: $(dpkg-deb -f "$deb" Recommends)"
grep -q "conffiles" <<<"$info" || fail "no conffiles in the control archive"

dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; installed=1; fail "dpkg -i"; }
installed=1
dpkg-query -W -f='${Conffiles}\n' wgate | grep -q "/etc/wgate/wgate.toml" || fail "wgate.toml is not a conffile"

# Files and modes.
mode() { stat -c '%a %U:%G' "$1"; }
[ "$(mode /usr/bin/wgate)" = "755 root:root" ] || fail "/usr/bin/wgate: $(mode /usr/bin/wgate)"
[ "$(mode /etc/wgate)" = "750 root:root" ] || fail "/etc/wgate: $(mode /etc/wgate)"
[ "$(mode /etc/wgate/wgate.toml)" = "640 root:root" ] || fail "/etc/wgate/wgate.toml: $(mode /etc/wgate/wgate.toml)"
for u in wgate.service wgate-web.service; do
  [ "$(mode /lib/systemd/system/$u)" = "644 root:root" ] || fail "$u: $(mode /lib/systemd/system/$u)"
done
[ -f /usr/share/doc/wgate/OPERATIONS.md ] || fail "docs missing"

# The installed binary accepts the installed config (its default path, as
# the units run it).
out="$(env -u WGATE_CONFIG /usr/bin/wgate check-config)" || fail "check-config: $out"
grep -q "^/etc/wgate/wgate.toml: ok" <<<"$out" || fail "check-config said: $out"
echo "$out"

# The units, as systemd reads them (offline: no running systemd needed).
if command -v systemd-analyze >/dev/null; then
  verify="$(systemd-analyze verify /lib/systemd/system/wgate.service /lib/systemd/system/wgate-web.service 2>&1)" \
    || fail "systemd-analyze verify: $verify"
  [ -z "$verify" ] || fail "systemd-analyze verify complained: $verify"
  echo "systemd-analyze verify: units accepted"
else
  echo "systemd-analyze not installed: units not verified"
fi

# A local edit of the conffile survives a reinstall of the same package.
echo "# local edit" >>/etc/wgate/wgate.toml
dpkg -i --force-confold "$deb" >"$work/dpkg2.log" 2>&1 || { cat "$work/dpkg2.log"; fail "reinstall"; }
grep -q "^# local edit" /etc/wgate/wgate.toml || fail "the local config edit was lost on reinstall"

dpkg --purge wgate >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "purge"; }
installed=0
for p in /usr/bin/wgate /etc/wgate /lib/systemd/system/wgate.service /lib/systemd/system/wgate-web.service \
         /usr/share/doc/wgate; do
  [ ! -e "$p" ] || fail "$p left after purge"
done
echo "PASS: deb_package in $(( $(date +%s) - start )) s"
