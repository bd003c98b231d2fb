#!/usr/bin/env bash
# The whole expired-key notice path ("knock", docs/NOTIFY.md) on kernel
# WireGuard, inside the VM (tests/vm/guest.sh, part "knock_daemon"), as
# tests/e2e/knock.sh does it with wireguard-go: `wgate server` with
# backend = "kernel" in a gateway namespace, a person whose key expired in
# its SQLite store, and a client (kernel WireGuard, set up with `ip` and
# `wg`) that keeps knocking with that key. The daemon's eBPF capture must
# read the client's initiations, count them as expired_key and raise one
# stale_key_knock notice (audited as alert.raise), however many arrive.
# Kept short for TCG: no webhook receiver (the notice is checked in the
# daemon's log and the audit log), few programs started.
# Usage: knock_daemon.sh path/to/wgate     (root, with the wireguard module)
# Environment: WGATE_VM_KNOCK_LAB  namespace prefix (default wgvd)
set -uo pipefail
START=$(date +%s.%N)
WGATE_BIN=$(readlink -f "${1:?usage: knock_daemon.sh path/to/wgate}")
P=${WGATE_VM_KNOCK_LAB:-wgvd}
GW=$P-gw
CLI=$P-cli
IF=$P-g1
PORT=51830
MPORT=9588
WORK=$(mktemp -d /tmp/wgate-vm-knockd.XXXXXX)
CFG=$WORK/wgate.toml
SERVER_PID=""
passed=0
failed=0

pass() { echo "PASS [$(date +%T.%1N)]: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL [$(date +%T.%1N)]: $*"; failed=$((failed + 1)); }
expect() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
abort() { fail "$*"; echo "$passed passed, $failed failed"; exit 1; }
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  ip -force -batch - <<<"netns del $GW
netns del $CLI" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
# Polls "$@" every 0.2 s for up to $1 seconds.
eventually() {
  local limit=$1; shift
  local until=$(($(date +%s) + limit))
  while [ "$(date +%s)" -lt "$until" ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  "$@"
}
wgate() { "$WGATE_BIN" -c "$CFG" "$@"; }
knocks() {
  ip netns exec "$GW" curl -sS -m 5 "http://127.0.0.1:$MPORT/metrics" |
    awk -v s="wgate_handshake_initiations_total{result=\"$1\"}" '$1 == s { print $2; f = 1 } END { exit !f }'
}
knocks_at_least() { local v; v=$(knocks "$1") && [ "${v%.*}" -ge "$2" ]; }
notice_lines() { grep -c "retries with stale key" "$WORK/server.log"; }

[ "$(id -u)" -eq 0 ] || abort "needs root"
ip -force -batch - <<<"netns del $GW
netns del $CLI" >/dev/null 2>&1
ip -batch - <<EOF || abort "the namespaces"
netns add $GW
netns add $CLI
EOF
ip -n "$GW" -batch - <<EOF || abort "the veth and the gateway's address"
link add $P-gw type veth peer name $P-cli netns $CLI
addr add 10.241.0.1/24 dev $P-gw
link set $P-gw up
link set lo up
EOF

cat >"$CFG" <<EOF
[server]
endpoint = "10.241.0.1"
store = "$WORK/wgate.db"
state_dir = "$WORK/state"
backend = "kernel"

[pool]
ipv4 = "10.242.0.0/24"
per_user = 2

[networks]
vpc = ["10.243.0.0/16"]

[groups.staff]
networks = ["vpc"]
interface = "$IF"
port = $PORT
table = 1101
key_ttl = "12h"

[metrics]
listen = "127.0.0.1:$MPORT"

# The key-age notices off: only the knock notice is expected.
[alerts]
never_activated_after = "0s"
expiry_reminder = "0s"
in_use_window = "0s"
EOF
wgate init >/dev/null || abort "wgate init"
wgate user add alice --group staff >/dev/null || abort "wgate user add alice"
umask 077
wg genkey >"$WORK/alice.key"
ALICE_PUB=$(wg pubkey <"$WORK/alice.key")
# Expired before her client starts. (`wgate config` serves active keys
# only, so the client is set up by hand below.)
added=$(wgate --json key add alice "$ALICE_PUB" --device laptop --ttl 1s)
expired_at=$(($(date +%s) + 2))
KEY_ID=$(jq -r .id <<<"$added")
ADDR=$(jq -r .address <<<"$added")
if [ -z "$KEY_ID" ] || [ "$KEY_ID" = null ] || [ "$ADDR" = null ]; then
  abort "a key for alice with a 1 s lifetime: $added"
fi
umask 022

ip netns exec "$GW" "$WGATE_BIN" -c "$CFG" server --resync-ms 500 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
watching() { grep -q "knock: watching handshake initiations" "$WORK/server.log"; }
expect "the daemon (kernel backend) watches handshake initiations" eventually 20 watching
is_kernel_wg() { ip -n "$GW" -d link show "$IF" | grep -q "wireguard"; }
expect "its interface $IF is a kernel WireGuard link" eventually 10 is_kernel_wg
# The daemon makes the interface's key at its first pass, then sets it.
gw_pub=""
keyed() {
  gw_pub=$(ip netns exec "$GW" wg show "$IF" public-key) && [ -s "$WORK/state/$IF.key" ] &&
    [ "$gw_pub" = "$(wg pubkey <"$WORK/state/$IF.key")" ]
}
expect "the kernel interface has the daemon's key (state dir)" eventually 15 keyed
while [ "$(date +%s)" -lt "$expired_at" ]; do sleep 0.2; done
no_peers() { [ -z "$(ip netns exec "$GW" wg show "$IF" peers)" ]; }
expect "her expired key is not a peer of the kernel interface" eventually 5 no_peers

# Two client interfaces with alice's key: two initiations at once, where one
# client would wait WireGuard's 5 s before trying again.
{
  echo "link set lo up"
  echo "addr add 10.241.0.2/24 dev $P-cli"
  echo "link set $P-cli up"
  for i in 1 2; do
    echo "link add $P-c$i type wireguard"
    echo "addr add ${ADDR%/*}/32 dev $P-c$i"
    echo "link set $P-c$i up"
  done
} | ip -n "$CLI" -batch - || abort "alice's client interfaces"
for i in 1 2; do
  ip netns exec "$CLI" wg set "$P-c$i" private-key "$WORK/alice.key" peer "$gw_pub" \
    endpoint "10.241.0.1:$PORT" allowed-ips "10.243.0.$i/32" || abort "wg set $P-c$i"
  ip -n "$CLI" route add "10.243.0.$i/32" dev "$P-c$i" || abort "a route through $P-c$i"
done
# The handshakes go out at the first packet; no answer comes.
ip netns exec "$CLI" ping -c 1 -W 1 -q 10.243.0.1 >/dev/null 2>&1 &
ping_pid=$!
ip netns exec "$CLI" ping -c 1 -W 1 -q 10.243.0.2 >/dev/null 2>&1
wait "$ping_pid"
expect "her initiations are counted as expired_key (>= 2)" eventually 15 knocks_at_least expired_key 2
expect "one notice in the daemon's log after $(knocks expired_key) expired-key initiations" \
  test "$(notice_lines)" = 1
expect "the notice names her device and key" grep -q "alice's device laptop retries with stale key $KEY_ID" "$WORK/server.log"
audit=$(wgate audit --limit 100)
expect "one alert.raise of stale_key_knock:$KEY_ID@ in the audit log" \
  test "$(grep 'alert.raise' <<<"$audit" | grep -c "stale_key_knock:$KEY_ID@")" = 1
expect "no other initiation result than expired_key" sh -c "! ip netns exec '$GW' curl -sS -m 5 \
  http://127.0.0.1:$MPORT/metrics | grep '^wgate_handshake_initiations_total' | grep -v expired_key | grep -qv ' 0$'"
if grep -qE "runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$WORK/server.log"; then
  fail "sanitizer report in the daemon's log"
fi
if [ "$failed" -ne 0 ]; then echo "--- daemon log (tail)"; tail -30 "$WORK/server.log"; fi
echo "knock daemon: $(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f s", e - s }')"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
