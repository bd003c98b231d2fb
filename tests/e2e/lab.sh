#!/usr/bin/env bash
# End-to-end test of the gateway core in the network-namespace lab, with
# real wireguard-go peers configured only from `wgate config` output.
# Usage: tests/e2e/lab.sh path/to/wgate     (root; label e2e in ctest)
# WGATE_E2E_BACKEND=kernel runs the gateway on kernel WireGuard instead
# (needs the wireguard module: tests/vm/run.sh does that in a VM).
set -uo pipefail
WGATE_BIN=$(readlink -f "${1:?usage: lab.sh path/to/wgate}")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lab-lib.sh
source "$HERE/../../scripts/lab-lib.sh"

LAB=wge2e
WORK=$(mktemp -d /tmp/wgate-e2e.XXXXXX)
CFG=$WORK/wgate.toml
SERVER_PID=""
passed=0
failed=0
started=$(date +%s)
BACKEND=${WGATE_E2E_BACKEND:-userspace}
case "$BACKEND" in userspace|kernel) ;; *) echo "WGATE_E2E_BACKEND must be userspace or kernel"; exit 1 ;; esac

if [ "$(id -u)" -ne 0 ]; then echo "e2e lab needs root (network namespaces)"; exit 1; fi
for tool in wireguard-go wg wg-quick socat ping ip; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh"; exit 1; }
done

pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
expect() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
expect_not() { local what=$1; shift; if "$@"; then fail "$what"; else pass "$what"; fi; }

cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -9 "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  lab_down
  rm -rf "$WORK"
}
trap cleanup EXIT

wgate() { "$WGATE_BIN" -c "$CFG" "$@"; }
start_server() {
  # `ip netns exec` execs the command, so $! is wgate itself (kill -9 below
  # must hit the daemon, not a wrapper shell).
  ip netns exec "$LAB-gw" "$WGATE_BIN" -c "$CFG" server >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
}
# Waits (bounded) until `wg show <if> peers` in the gateway does / does not
# list a key. Prints the seconds it took.
wait_peer() {
  local iface=$1 key=$2 want=$3 limit=${4:-10} t0 now
  t0=$(date +%s.%N)
  for _ in $(seq 1 $((limit * 20))); do
    if lab_exec gw wg show "$iface" peers 2>/dev/null | grep -qF -- "$key"; then
      [ "$want" = present ] && break
    else
      [ "$want" = absent ] && break
    fi
    sleep 0.05
  done
  now=$(date +%s.%N)
  awk -v a="$now" -v b="$t0" 'BEGIN { printf "%.2f\n", a - b }'
}
has_peer() { lab_exec gw wg show "$1" peers 2>/dev/null | grep -qF -- "$2"; }

# Makes a key on the client's side, registers its public half, writes the
# client config with `wgate config` and brings the tunnel up.
# Usage: connect host user -> sets KEY_ID_<host>, PUB_<host>
connect() {
  local host=$1 user=$2 priv pub id
  priv=$WORK/$host.key
  (umask 077; wg genkey >"$priv")
  pub=$(wg pubkey <"$priv")
  id=$(wgate --json key add "$user" "$pub" --label "$host-laptop" | jq -r .id)
  wgate config "$id" --private-key-file "$priv" >"$WORK/$LAB-$host.conf"
  lab_client_up "$host" "$WORK/$LAB-$host.conf" || echo "wg-quick up failed for $host"
  printf -v "KEY_ID_$host" %s "$id"
  printf -v "PUB_$host" %s "$pub"
}

echo "== setting up lab $LAB in $WORK"
LAB=$LAB lab_down
lab_up alice bob carol dave eve
lab_gateway_config "$WORK" "$BACKEND" >"$CFG"
wgate check-config
wgate init >/dev/null
ALICE_IP=$(wgate --json user add alice --group dev | jq -r .address)
BOB_IP=$(wgate --json user add bob --group ops | jq -r .address)
wgate user add carol --group dev >/dev/null
wgate user add dave --group dev >/dev/null
echo "alice=$ALICE_IP bob=$BOB_IP"
expect "users got distinct pool addresses" test -n "$ALICE_IP" -a -n "$BOB_IP" -a "$ALICE_IP" != "$BOB_IP"

start_server
lab_wait_for_interface_keys "$WORK/state" "$LAB-dev" "$LAB-ops" || fail "the daemon made the interface keys"
for host in alice bob carol dave; do
  user=$host
  connect "$host" "$user"
done
# Wait for the daemon to install the peers (it reacts to store changes).
wait_peer "$LAB-dev" "$PUB_dave" present >/dev/null
wait_peer "$LAB-ops" "$PUB_bob" present >/dev/null

if [ "$BACKEND" = kernel ]; then
  echo "== kernel data plane"
  expect "$LAB-dev is a kernel WireGuard link" sh -c "ip netns exec $LAB-gw ip -d link show $LAB-dev | grep -qw wireguard"
  expect "no UAPI socket: wg reads $LAB-dev over kernel netlink" test ! -e "/var/run/wireguard/$LAB-dev.sock"
  expect_not "no wireguard-go process serves the gateway" pgrep -f "wireguard-go -f $LAB-"
  expect "wg show lists exactly dev's peers (alice, carol, dave)" test "$(lab_exec gw wg show "$LAB-dev" peers | sort)" = "$(printf '%s\n' "$PUB_alice" "$PUB_carol" "$PUB_dave" | sort)"
  expect "wg show gives alice's peer her address $ALICE_IP/32" sh -c "ip netns exec $LAB-gw wg show $LAB-dev allowed-ips | grep -qF -- '$PUB_alice	$ALICE_IP/32'"
fi

echo "== group segmentation"
expect "dev (alice) reaches vpc-a by ICMP" lab_ping alice 10.1.0.10
expect "dev (alice) reaches vpc-a by TCP" test -n "$(lab_tcp_whoami alice 10.1.0.10)"
expect "dev (alice) does not reach vpc-b by ICMP" lab_no_ping alice 10.2.0.10
expect "dev (alice) does not reach vpc-b by TCP" test -z "$(lab_tcp_whoami alice 10.2.0.10)"
expect "ops (bob) reaches vpc-a by ICMP" lab_ping bob 10.1.0.10
expect "ops (bob) reaches vpc-b by ICMP" lab_ping bob 10.2.0.10
expect "ops (bob) reaches vpc-a by TCP" test -n "$(lab_tcp_whoami bob 10.1.0.10)"
expect "ops (bob) reaches vpc-b by TCP" test -n "$(lab_tcp_whoami bob 10.2.0.10)"

echo "== un-NATed source addresses"
seen=$(lab_tcp_whoami alice 10.1.0.10)
expect "vpc-a server sees alice's own address ($seen == $ALICE_IP)" test "$seen" = "$ALICE_IP"
seen=$(lab_tcp_whoami bob 10.2.0.10)
expect "vpc-b server sees bob's own address ($seen == $BOB_IP)" test "$seen" = "$BOB_IP"
expect "vpc-a server log names alice's address" grep -qx "$ALICE_IP" "/tmp/$LAB-vpca.log"
expect "whois $ALICE_IP names alice" sh -c "'$WGATE_BIN' -c '$CFG' whois $ALICE_IP | grep -q alice"

echo "== forged source address"
lab_exec alice ip addr add "$BOB_IP/32" dev "$LAB-alice"
before=$(grep -c . "/tmp/$LAB-vpca.log")
expect "alice forging bob's address gets no TCP through" test -z "$(lab_tcp_whoami alice 10.1.0.10 ",bind=$BOB_IP")"
expect_not "alice forging bob's address gets no ICMP through" lab_exec alice ping -c 2 -W 1 -q -I "$BOB_IP" 10.1.0.10
after=$(grep -c . "/tmp/$LAB-vpca.log")
expect "vpc-a server saw no connection from the forged address" test "$before" = "$after"
lab_exec alice ip addr del "$BOB_IP/32" dev "$LAB-alice"

echo "== no back door from the outer network"
lab_exec eve ip route add 10.1.0.0/16 via "$LAB_UNDERLAY_GW" 2>/dev/null || true
lab_exec eve ip route add 10.100.0.0/24 via "$LAB_UNDERLAY_GW" 2>/dev/null || true
expect "outer host (no tunnel) cannot ping vpc-a via the gateway" lab_no_ping eve 10.1.0.10
expect "outer host (no tunnel) gets no TCP to vpc-a" test -z "$(lab_tcp_whoami eve 10.1.0.10)"
expect "outer host cannot send to a user's address ($ALICE_IP)" lab_no_ping eve "$ALICE_IP"
# The check above can fail: without wgate's firewall the back door is open.
# The daemon is paused meanwhile, or its periodic pass may restore the table
# before the control ping gets through.
kill -STOP "$SERVER_PID"
lab_exec gw nft delete table inet wgate
if lab_exec eve ping -c 1 -i 0.3 -w 3 -q 10.1.0.10 >/dev/null 2>&1; then
  pass "control: with wgate's nftables table deleted, the outer host does reach vpc-a"
else
  fail "control: with wgate's nftables table deleted, the outer host should reach vpc-a"
fi
kill -CONT "$SERVER_PID"
sleep 3  # the daemon's periodic pass restores its table
expect "wgate restored its nftables table" lab_exec gw nft list table inet wgate >/dev/null
expect "outer host is blocked again after wgate restored its firewall" lab_no_ping eve 10.1.0.10

echo "== revoke cuts access within 2 s"
expect "carol reaches vpc-a before revoke" lab_ping carol 10.1.0.10
wgate key revoke "$KEY_ID_carol" >/dev/null
took=$(wait_peer "$LAB-dev" "$PUB_carol" absent 5)
expect "carol's peer is removed in ${took}s (<= 2s)" sh -c "awk -v t='$took' 'BEGIN { exit !(t <= 2) }' && ! ip netns exec $LAB-gw wg show $LAB-dev peers | grep -qF -- '$PUB_carol'"
expect "carol no longer reaches vpc-a" lab_no_ping carol 10.1.0.10
expect "alice still reaches vpc-a" lab_ping alice 10.1.0.10

echo "== restart safety"
expect "bob reaches vpc-b before the crash" lab_ping bob 10.2.0.10
hs_before=$(lab_exec gw wg show "$LAB-ops" latest-handshakes | awk -v k="$PUB_bob" '$1 == k {print $2}')
# What shows the interface was adopted: the same wireguard-go process, or
# the same kernel link (ifindex).
iface_id() {
  if [ "$BACKEND" = userspace ]; then pgrep -f "wireguard-go -f $LAB-ops" | head -1
  else lab_exec gw ip -o link show dev "$LAB-ops" | cut -d: -f1; fi
}
wgpid_before=$(iface_id)
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""
expect_not "no wgate daemon is left running" pgrep -f "$CFG server"
expect "tunnels stay up with wgate killed (bob reaches vpc-b)" lab_ping bob 10.2.0.10
wgate key revoke "$KEY_ID_dave" >/dev/null
expect "dave's peer is still there while wgate is down" has_peer "$LAB-dev" "$PUB_dave"
start_server
took=$(wait_peer "$LAB-dev" "$PUB_dave" absent 10)
expect "dave's key revoked while down is gone after restart (${took}s)" sh -c "! ip netns exec $LAB-gw wg show $LAB-dev peers | grep -qF -- '$PUB_dave'"
sleep 1
expect "bob's peer survived the restart" has_peer "$LAB-ops" "$PUB_bob"
expect "alice's peer survived the restart" has_peer "$LAB-dev" "$PUB_alice"
expect "bob reaches vpc-b after restart" lab_ping bob 10.2.0.10
hs_after=$(lab_exec gw wg show "$LAB-ops" latest-handshakes | awk -v k="$PUB_bob" '$1 == k {print $2}')
expect "bob's session needed no new handshake ($hs_before == $hs_after)" test -n "$hs_before" -a "$hs_before" = "$hs_after"
wgpid_after=$(iface_id)
[ "$BACKEND" = userspace ] && what="interface process" || what="kernel link (ifindex)"
expect "the $what was adopted, not restarted ($wgpid_before == $wgpid_after)" test -n "$wgpid_before" -a "$wgpid_before" = "$wgpid_after"
expect "dave no longer reaches vpc-a" lab_no_ping dave 10.1.0.10

echo "== audit and status"
expect "every change left an audit record (key.revoke x2)" sh -c "'$WGATE_BIN' -c '$CFG' audit --limit 100 | grep -c key.revoke | grep -qx 2"
expect "status shows bob's peer with traffic" sh -c "ip netns exec $LAB-gw '$WGATE_BIN' -c '$CFG' status | grep -E ' bob/[^ ]* .* rx [1-9]'"
expect "key list records alice's handshake" sh -c "'$WGATE_BIN' -c '$CFG' --json key list | jq -e '.[] | select(.id == $KEY_ID_alice) | .last_handshake_at > 0' >/dev/null"

if [ "$failed" -ne 0 ]; then
  echo "---- server log"; tail -50 "$WORK/server.log"
fi
echo "e2e lab wall time: $(( $(date +%s) - started ))s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
