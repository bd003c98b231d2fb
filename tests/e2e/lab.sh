#!/usr/bin/env bash
# End-to-end test of the gateway core in the network-namespace lab, with
# real wireguard-go peers configured only from `wgate config` output.
# Usage: tests/e2e/lab.sh path/to/wgate     (root; label e2e in ctest)
# Environment:
#   WGATE_E2E_BACKEND=kernel  runs the gateway on kernel WireGuard instead
#                             (needs the module: tests/vm/run.sh does that)
#   WGATE_E2E_PLAN=alt        another address plan and other names (the same
#                             checks must hold on any layout)
#   WGATE_E2E_LAB=prefix      namespace prefix (default wge2e)
set -uo pipefail
WGATE_BIN=$(readlink -f "${1:?usage: lab.sh path/to/wgate}")
HERE=$(cd "$(dirname "$0")" && pwd)

case "${WGATE_E2E_PLAN:-default}" in
  default) ;;
  alt)
    # Private ranges unlike the default's, a /22 pool with 8 addresses per
    # person, other group names.
    LAB_UNDERLAY=192.168.77 LAB_NET_A=172.20 LAB_NET_B=172.21 LAB_POOL=100.64.8.0/22 LAB_PER_USER=8
    LAB_G1=eng LAB_G2=admin
    ;;
  *) echo "WGATE_E2E_PLAN must be default or alt"; exit 1 ;;
esac
# shellcheck source=../../scripts/lab-lib.sh
source "$HERE/../../scripts/lab-lib.sh"
# shellcheck source=e2e-lib.sh
source "$HERE/e2e-lib.sh"

LAB=${WGATE_E2E_LAB:-wge2e}
WORK=$(mktemp -d /tmp/wgate-e2e.XXXXXX)
CFG=$WORK/wgate.toml
SERVER_PID=""
passed=0
failed=0
started=$(date +%s)
BACKEND=${WGATE_E2E_BACKEND:-userspace}
case "$BACKEND" in userspace|kernel) ;; *) echo "WGATE_E2E_BACKEND must be userspace or kernel"; exit 1 ;; esac
G1=$LAB_G1 G2=$LAB_G2
IF1=$LAB-$G1 IF2=$LAB-$G2
A=$LAB_VPCA_HOST B=$LAB_VPCB_HOST
CLOSED_PORT=2222  # a service on the gateway that users must not reach
OPEN_PORT=7001    # one the config opens to them

if [ "$(id -u)" -ne 0 ]; then echo "e2e lab needs root (network namespaces)"; exit 1; fi
for tool in wireguard-go wg wg-quick socat ping ip jq nft; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh"; exit 1; }
done


cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -CONT "$SERVER_PID" 2>/dev/null; kill -9 "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  lab_down
  rm -rf "$WORK"
}
trap cleanup EXIT

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
# Seconds (bounded by $2) until command $1... succeeds; prints them.
seconds_until() {
  local limit=$1 t0 now; shift
  t0=$(date +%s.%N)
  for _ in $(seq 1 $((limit * 20))); do
    "$@" >/dev/null 2>&1 && break
    sleep 0.05
  done
  now=$(date +%s.%N)
  awk -v a="$now" -v b="$t0" 'BEGIN { printf "%.2f\n", a - b }'
}
within() { awk -v t="$1" -v l="$2" 'BEGIN { exit !(t <= l) }'; }
firewall_whole() {
  lab_exec gw nft list table inet wgate >"$WORK/nft.now" 2>/dev/null && ! grep -q dormant "$WORK/nft.now" &&
    grep -q "chain forward" "$WORK/nft.now" && grep -q "chain input" "$WORK/nft.now"
}
reconciles_logged() { grep -c "reconciled" "$WORK/server.log"; }

echo "== setting up lab $LAB in $WORK (plan ${WGATE_E2E_PLAN:-default}: underlay $LAB_UNDERLAY.0/24, vpc-a $LAB_NET_A.0.0/16, vpc-b $LAB_NET_B.0.0/16, pool $LAB_POOL per_user $LAB_PER_USER, groups $G1/$G2)"
LAB=$LAB lab_down
lab_up alice alice2 bob carol dave mallory eve
lab_gateway_config "$WORK" "$BACKEND" "allow_to_gateway = [\"tcp/$OPEN_PORT\"]" >"$CFG"
wgate check-config || abort "the lab's config is valid"
expect_not "a command on a store that was never made fails" wgate user list
expect "it created no store file" test ! -e "$WORK/wgate.db"
wgate init >/dev/null
for u in alice:$G1 bob:$G2 carol:$G1 dave:$G1 mallory:$G1; do
  wgate user add "${u%%:*}" --group "${u#*:}" >/dev/null
done

start_server
lab_wait_for_interface_keys "$WORK/state" "$IF1" "$IF2" || { tail -20 "$WORK/server.log"; abort "the daemon made the interface keys"; }
connect alice alice laptop
connect alice2 alice phone
connect bob bob laptop
connect carol carol laptop
connect dave dave laptop
connect mallory mallory laptop
echo "alice: laptop $IP_alice, phone $IP_alice2; bob $IP_bob"
# Wait for the daemon to install the peers (it reacts to store changes).
wait_peer "$IF1" "$PUB_mallory" present >/dev/null
wait_peer "$IF2" "$PUB_bob" present >/dev/null
expect "each device got its own address" test -n "$IP_alice" -a -n "$IP_alice2" -a "$IP_alice" != "$IP_alice2" -a "$IP_alice" != "$IP_bob"

if [ "$BACKEND" = kernel ]; then
  echo "== kernel data plane"
  expect "$IF1 is a kernel WireGuard link" sh -c "ip netns exec $LAB-gw ip -d link show $IF1 | grep -qw wireguard"
  expect "no UAPI socket: wg reads $IF1 over kernel netlink" test ! -e "/var/run/wireguard/$IF1.sock"
  expect_not "no wireguard-go process serves the gateway" pgrep -f "wireguard-go -f $LAB-"
  expect "wg show lists exactly $G1's peers" test "$(lab_exec gw wg show "$IF1" peers | sort)" = "$(printf '%s\n' "$PUB_alice" "$PUB_alice2" "$PUB_carol" "$PUB_dave" "$PUB_mallory" | sort)"
  expect "wg show gives alice's laptop its address $IP_alice/32" sh -c "ip netns exec $LAB-gw wg show $IF1 allowed-ips | grep -qF -- '$PUB_alice	$IP_alice/32'"
fi

echo "== group segmentation"
expect "$G1 (alice) reaches vpc-a by ICMP" lab_ping alice "$A"
expect "$G1 (alice) reaches vpc-a by TCP" test -n "$(lab_tcp_whoami alice "$A")"
expect "$G1 (alice) does not reach vpc-b by ICMP" lab_no_ping alice "$B"
expect "$G1 (alice) does not reach vpc-b by TCP" test -z "$(lab_tcp_whoami alice "$B")"
expect "$G2 (bob) reaches vpc-a by ICMP" lab_ping bob "$A"
expect "$G2 (bob) reaches vpc-b by ICMP" lab_ping bob "$B"
expect "$G2 (bob) reaches vpc-a by TCP" test -n "$(lab_tcp_whoami bob "$A")"
expect "$G2 (bob) reaches vpc-b by TCP" test -n "$(lab_tcp_whoami bob "$B")"

echo "== un-NATed source addresses, one per device"
seen=$(lab_tcp_whoami alice "$A")
expect "vpc-a server sees alice's laptop address ($seen == $IP_alice)" test "$seen" = "$IP_alice"
seen=$(lab_tcp_whoami alice2 "$A")
expect "vpc-a server sees alice's phone address ($seen == $IP_alice2)" test "$seen" = "$IP_alice2"
seen=$(lab_tcp_whoami bob "$B")
expect "vpc-b server sees bob's own address ($seen == $IP_bob)" test "$seen" = "$IP_bob"
expect "vpc-a server log names alice's laptop address" grep -qx "$IP_alice" "/tmp/$LAB-vpca.log"
expect "whois $IP_alice2 names alice and her phone" sh -c "'$WGATE_BIN' -c '$CFG' --json whois $IP_alice2 | jq -e '.user == \"alice\" and .device == \"phone\"' >/dev/null"

echo "== one person, two devices, at the same time"
lab_ping alice "$A" >/dev/null; lab_ping alice2 "$A" >/dev/null
before=$(reconciles_logged)
lab_exec alice ping -c 30 -i 0.4 -q "$A" >"$WORK/ping-laptop" 2>&1 &
p1=$!
lab_exec alice2 ping -c 30 -i 0.4 -q "$A" >"$WORK/ping-phone" 2>&1 &
p2=$!
wait $p1 $p2
got1=$(awk '/received/ {print $4}' "$WORK/ping-laptop")
got2=$(awk '/received/ {print $4}' "$WORK/ping-phone")
after=$(reconciles_logged)
expect "laptop and phone both answered for 12 s ($got1/30, $got2/30)" test "${got1:-0}" -ge 29 -a "${got2:-0}" -ge 29
expect "no pass wrote anything meanwhile ($before == $after passes with changes logged)" test "$before" = "$after"
expect "both devices are peers on $IF1" sh -c "has() { ip netns exec $LAB-gw wg show $IF1 allowed-ips | grep -qF -- \"\$1\"; }; has '$IP_alice/32' && has '$IP_alice2/32'"

echo "== users do not reach the gateway itself"
lab_exec gw socat "TCP-LISTEN:$CLOSED_PORT,fork,reuseaddr" SYSTEM:'echo hi' </dev/null >/dev/null 2>&1 &
lab_exec gw socat "TCP-LISTEN:$OPEN_PORT,fork,reuseaddr" SYSTEM:'echo hi' </dev/null >/dev/null 2>&1 &
sleep 0.3
expect "control: a vpc-a host reaches the gateway's service on $LAB_VPCA_GW:$CLOSED_PORT" lab_tcp_open vpca "$LAB_VPCA_GW" "$CLOSED_PORT"
expect_not "alice cannot reach a gateway service ($LAB_VPCA_GW:$CLOSED_PORT) through her tunnel" lab_tcp_open alice "$LAB_VPCA_GW" "$CLOSED_PORT"
expect_not "alice cannot ping the gateway's own address $LAB_VPCA_GW" lab_ping alice "$LAB_VPCA_GW"
expect "alice reaches the service the config opens (tcp/$OPEN_PORT)" lab_tcp_open alice "$LAB_VPCA_GW" "$OPEN_PORT"

echo "== a client claiming every network, with a group's ip rule gone"
# mallory ($G1) edits her own tunnel: every address via the gateway.
MIF=$LAB-mallory
lab_exec mallory wg set "$MIF" peer "$(lab_exec gw wg show "$IF1" public-key)" allowed-ips 0.0.0.0/0
lab_exec mallory ip route add "$LAB_NET_B.0.0/16" dev "$MIF"
expect_not "mallory ($G1) does not reach vpc-b by claiming it" lab_ping mallory "$B"
expect_not "mallory does not reach the gateway's vpc-b address ($LAB_NET_B.0.1:$CLOSED_PORT)" lab_tcp_open mallory "$LAB_NET_B.0.1" "$CLOSED_PORT"
kill -STOP "$SERVER_PID"
lab_exec gw ip rule del iif "$IF1"
expect "with the daemon paused and $G1's ip rule deleted, mallory still does not reach vpc-b (ICMP)" lab_no_ping mallory "$B"
expect_not "...nor by TCP" test -n "$(lab_tcp_whoami mallory "$B")"
expect "...while alice still reaches vpc-a" lab_ping alice "$A"
# Control: the check above can fail. Without wgate's nftables guard and its
# eBPF filter (which allows $G1's devices only into $G1's networks) too, the
# missing rule lets mallory through.
lab_exec gw nft delete table inet wgate
FILTER_ON=""
if lab_exec gw tc filter show dev "$IF1" ingress 2>/dev/null | grep -q 'handle 0x77'; then
  FILTER_ON=1
  lab_exec gw tc filter del dev "$IF1" ingress
fi
if lab_exec mallory ping -c 1 -i 0.3 -w 3 -q "$B" >/dev/null 2>&1; then
  pass "control: with the guard (and the eBPF filter) deleted as well, mallory does reach vpc-b"
else
  fail "control: with the guard (and the eBPF filter) deleted as well, mallory should reach vpc-b"
fi
kill -CONT "$SERVER_PID"
took=$(seconds_until 5 sh -c "ip netns exec $LAB-gw ip rule | grep -q 'iif $IF1' && ip netns exec $LAB-gw nft list table inet wgate")
expect "the daemon restored the rule and the guard (${took}s)" within "$took" 3
if [ -n "$FILTER_ON" ]; then
  took=$(seconds_until 5 sh -c "ip netns exec $LAB-gw tc filter show dev $IF1 ingress | grep -q 'handle 0x77'")
  expect "the daemon put its eBPF filter back on $IF1 (${took}s)" within "$took" 4
fi
expect "mallory is blocked again" lab_no_ping mallory "$B"

echo "== no back door from the outer network"
lab_exec eve ip route add "$LAB_NET_A.0.0/16" via "$LAB_UNDERLAY_GW" 2>/dev/null || true
lab_exec eve ip route add "$LAB_POOL" via "$LAB_UNDERLAY_GW" 2>/dev/null || true
expect "outer host (no tunnel) cannot ping vpc-a via the gateway" lab_no_ping eve "$A"
expect "outer host (no tunnel) gets no TCP to vpc-a" test -z "$(lab_tcp_whoami eve "$A")"
expect "outer host cannot send to a device address ($IP_alice)" lab_no_ping eve "$IP_alice"
# The check above can fail: without wgate's firewall the back door is open.
# The daemon is paused meanwhile, or its pass may restore the table before
# the control ping gets through.
kill -STOP "$SERVER_PID"
lab_exec gw nft delete table inet wgate
if lab_exec eve ping -c 1 -i 0.3 -w 3 -q "$A" >/dev/null 2>&1; then
  pass "control: with wgate's nftables table deleted, the outer host does reach vpc-a"
else
  fail "control: with wgate's nftables table deleted, the outer host should reach vpc-a"
fi
kill -CONT "$SERVER_PID"
took=$(seconds_until 5 firewall_whole)
expect "wgate restored its deleted table (${took}s)" within "$took" 3
expect "outer host is blocked again" lab_no_ping eve "$A"
lab_exec gw nft add table inet wgate '{ flags dormant; }'
took=$(seconds_until 5 firewall_whole)
expect "a table switched dormant is restored (${took}s)" within "$took" 3
expect "outer host is blocked after the dormant trick" lab_no_ping eve "$A"
lab_exec gw nft flush ruleset
took=$(seconds_until 5 firewall_whole)
expect "after nft flush ruleset the table is back (${took}s)" within "$took" 3
expect "outer host is blocked after the flush" lab_no_ping eve "$A"

echo "== revoke cuts access within 2 s"
expect "carol reaches vpc-a before revoke" lab_ping carol "$A"
wgate key revoke "$KEY_ID_carol" >/dev/null
took=$(wait_peer "$IF1" "$PUB_carol" absent 5)
expect "carol's peer is removed in ${took}s (<= 2s)" sh -c "awk -v t='$took' 'BEGIN { exit !(t <= 2) }' && ! ip netns exec $LAB-gw wg show $IF1 peers | grep -qF -- '$PUB_carol'"
expect "carol no longer reaches vpc-a" lab_no_ping carol "$A"
expect "alice still reaches vpc-a" lab_ping alice "$A"

echo "== restart safety"
# A fresh session for bob first, so the restart below happens well inside
# WireGuard's 120 s rekey time: on a slow machine (the VM lab under TCG) the
# lab gets here more than 120 s after bob's first handshake, and his next
# packet would start a new handshake on its own, restart or not. A throwaway
# key and back resets his handshake state; the ping then handshakes anew.
lab_exec bob sh -c "wg genkey >'$WORK/bob.throwaway' && wg set '$LAB-bob' private-key '$WORK/bob.throwaway' && wg set '$LAB-bob' private-key '$WORK/bob.key'"
expect "bob reaches vpc-b before the crash" lab_ping bob "$B"
hs_before=$(lab_exec gw wg show "$IF2" latest-handshakes | awk -v k="$PUB_bob" '$1 == k {print $2}')
# What shows the interface was adopted: the same wireguard-go process, or
# the same kernel link (ifindex).
iface_id() {
  if [ "$BACKEND" = userspace ]; then pgrep -f "wireguard-go -f $IF2" | head -1
  else lab_exec gw ip -o link show dev "$IF2" | cut -d: -f1; fi
}
wgpid_before=$(iface_id)
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""
expect_not "no wgate daemon is left running" pgrep -f "$CFG server"
expect "tunnels stay up with wgate killed (bob reaches vpc-b)" lab_ping bob "$B"
wgate key revoke "$KEY_ID_dave" >/dev/null
expect "dave's peer is still there while wgate is down" has_peer "$IF1" "$PUB_dave"
start_server
took=$(wait_peer "$IF1" "$PUB_dave" absent 10)
expect "dave's key revoked while down is gone after restart (${took}s)" sh -c "! ip netns exec $LAB-gw wg show $IF1 peers | grep -qF -- '$PUB_dave'"
sleep 1
expect "bob's peer survived the restart" has_peer "$IF2" "$PUB_bob"
expect "alice's peers survived the restart" sh -c "ip netns exec $LAB-gw wg show $IF1 peers | grep -qF -- '$PUB_alice' && ip netns exec $LAB-gw wg show $IF1 peers | grep -qF -- '$PUB_alice2'"
expect "bob reaches vpc-b after restart" lab_ping bob "$B"
hs_after=$(lab_exec gw wg show "$IF2" latest-handshakes | awk -v k="$PUB_bob" '$1 == k {print $2}')
expect "bob's session needed no new handshake ($hs_before == $hs_after)" test -n "$hs_before" -a "$hs_before" = "$hs_after"
wgpid_after=$(iface_id)
[ "$BACKEND" = userspace ] && what="interface process" || what="kernel link (ifindex)"
expect "the $what was adopted, not restarted ($wgpid_before == $wgpid_after)" test -n "$wgpid_before" -a "$wgpid_before" = "$wgpid_after"
expect "dave no longer reaches vpc-a" lab_no_ping dave "$A"

echo "== audit and status"
expect "every change left an audit record (key.revoke x2)" sh -c "'$WGATE_BIN' -c '$CFG' audit --limit 100 | grep -c key.revoke | grep -qx 2"
expect "status shows bob's peer with traffic" sh -c "ip netns exec $LAB-gw '$WGATE_BIN' -c '$CFG' status | grep -E ' bob/[^ ]* .* rx [1-9]'"
expect "key list records alice's handshake" sh -c "'$WGATE_BIN' -c '$CFG' --json key list | jq -e '.[] | select(.id == $KEY_ID_alice) | .last_handshake_at > 0' >/dev/null"
# [connections]: the daemon turned alice's first handshake into one audited
# connect event (actor agent, stamped with the handshake's own time).
expect "the audit has alice's device connecting" sh -c "'$WGATE_BIN' -c '$CFG' --json audit --limit 1000 | jq -e '[.[] | select(.action == \"device.connect\" and .actor == \"agent\" and (.subject | startswith(\"alice/\")))] | length >= 1' >/dev/null"

# The daemon's own output goes to its log, not to ctest's: a sanitizer
# report there (the build aborts on one) must fail the lab too.
if grep -qE "runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$WORK/server.log"; then
  fail "the daemon's log holds a sanitizer report"
  grep -E -A30 "runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$WORK/server.log" | head -60
fi
if [ "$failed" -ne 0 ]; then
  echo "---- server log"; tail -50 "$WORK/server.log"
fi
echo "e2e lab wall time: $(( $(date +%s) - started ))s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
