# shellcheck shell=bash
# The network-namespace lab (docs/ARCHITECTURE.md), shared by the e2e test
# and the quickstart. Source it, set LAB (a namespace-name prefix owned by the
# caller), optionally an address plan (below), then call lab_up / lab_down.
#
#   [LAB-alice] ─┐                          ┌─ [LAB-vpca $LAB_NET_A.0.10: tcp+icmp]
#   [LAB-bob]   ─┼─ LAB-ul (bridge) ─ [LAB-gw] ─┤
#   [LAB-eve]   ─┘  $LAB_UNDERLAY.0/24          └─ [LAB-vpcb $LAB_NET_B.0.10: tcp+icmp]
#
# Every host on the underlay routes everything via the gateway's outer
# address, so the lab also shows that nothing reaches a protected network
# except through a tunnel. Traffic stays inside these namespaces.
#
# The address plan and names are variables so that tests run on more than
# one layout (set them before sourcing, or leave the defaults):
#   LAB_UNDERLAY   first three octets of the underlay /24   (172.30.0)
#   LAB_NET_A/B    first two octets of the two VPC /16s      (10.1 / 10.2)
#   LAB_POOL       the user pool                             (10.100.0.0/24)
#   LAB_PER_USER   addresses per person                      (4)
#   LAB_G1/LAB_G2  the two group names (G1 reaches A, G2 both) (dev / ops)
LAB_UNDERLAY=${LAB_UNDERLAY:-172.30.0}
LAB_NET_A=${LAB_NET_A:-10.1}
LAB_NET_B=${LAB_NET_B:-10.2}
LAB_POOL=${LAB_POOL:-10.100.0.0/24}
LAB_PER_USER=${LAB_PER_USER:-4}
LAB_G1=${LAB_G1:-dev}
LAB_G2=${LAB_G2:-ops}
LAB_UNDERLAY_GW=$LAB_UNDERLAY.1
LAB_VPCA_HOST=$LAB_NET_A.0.10
LAB_VPCB_HOST=$LAB_NET_B.0.10
LAB_VPCA_GW=$LAB_NET_A.0.1
LAB_TCP_PORT=7000

lab_ns() { echo "$LAB-$1"; }
lab_exec() { local ns; ns=$(lab_ns "$1"); shift; ip netns exec "$ns" "$@"; }

# Kills every process in the lab's namespaces and deletes them, and removes
# UAPI sockets named after the lab (the socket directory is shared by all
# namespaces). Safe to call when nothing exists.
lab_down() {
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$LAB-" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  done
  sleep 0.2
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$LAB-" || true); do
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -f /var/run/wireguard/"$LAB"-*.sock
}

# Connects namespace $1 to the underlay bridge with address $2.
lab_attach_underlay() {
  local host=$1 addr=$2 ns; ns=$(lab_ns "$host")
  ip link add "u-$host" netns "$(lab_ns ul)" type veth peer name eth0 netns "$ns"
  lab_exec ul ip link set "u-$host" master br0 up
  lab_exec "$host" ip addr add "$addr/24" dev eth0
  lab_exec "$host" ip link set eth0 up
}

# Creates gateway, underlay, two VPCs with servers, and the given clients.
# Usage: lab_up client...
lab_up() {
  local name i=10
  for name in ul gw vpca vpcb "$@"; do
    ip netns add "$(lab_ns "$name")"
    lab_exec "$name" ip link set lo up
  done
  lab_exec ul ip link add br0 type bridge
  lab_exec ul ip link set br0 up
  lab_attach_underlay gw "$LAB_UNDERLAY_GW"
  for name in "$@"; do
    i=$((i + 1))
    lab_attach_underlay "$name" "$LAB_UNDERLAY.$i"
    lab_exec "$name" ip route add default via "$LAB_UNDERLAY_GW"
  done
  local vpc net
  for vpc in vpca vpcb; do
    [ "$vpc" = vpca ] && net=$LAB_NET_A || net=$LAB_NET_B
    ip link add "$vpc" netns "$(lab_ns gw)" type veth peer name eth0 netns "$(lab_ns "$vpc")"
    lab_exec gw ip addr add "$net.0.1/16" dev "$vpc"
    lab_exec gw ip link set "$vpc" up
    lab_exec "$vpc" ip addr add "$net.0.10/16" dev eth0
    lab_exec "$vpc" ip link set eth0 up
    lab_exec "$vpc" ip route add default via "$net.0.1"
    # The server answers every TCP connection with the source address it
    # sees, and logs it: that is what a protected server's access log shows.
    lab_exec "$vpc" socat -T5 "TCP-LISTEN:$LAB_TCP_PORT,fork,reuseaddr" \
      SYSTEM:'echo $SOCAT_PEERADDR; echo $SOCAT_PEERADDR >> /tmp/'"$LAB-$vpc"'.log' </dev/null >/dev/null 2>&1 &
  done
  rm -f "/tmp/$LAB-vpca.log" "/tmp/$LAB-vpcb.log"
}

# Prints the gateway config of the lab: groups $LAB_G1 (vpc-a) and $LAB_G2
# (vpc-a, vpc-b) on interfaces $LAB-$LAB_G1 / $LAB-$LAB_G2, state in dir $1,
# backend $2; more [server] lines may follow as $3 (e.g. allow_to_gateway).
lab_gateway_config() {
  local dir=$1 backend=$2 extra=${3:-}
  cat <<EOF
[server]
endpoint = "$LAB_UNDERLAY_GW"
store = "$dir/wgate.db"
state_dir = "$dir/state"
backend = "$backend"
$extra

[pool]
ipv4 = "$LAB_POOL"
per_user = $LAB_PER_USER

[networks]
vpc-a = ["$LAB_NET_A.0.0/16"]
vpc-b = ["$LAB_NET_B.0.0/16"]

[groups.$LAB_G1]
networks = ["vpc-a"]
interface = "$LAB-$LAB_G1"
port = 51820
table = 1001
key_ttl = "12h"

[groups.$LAB_G2]
networks = ["vpc-a", "vpc-b"]
interface = "$LAB-$LAB_G2"
port = 51821
table = 1002
key_ttl = "8h"
EOF
}

# Waits (up to 10 s) until the daemon has made the private key of each named
# interface in state dir $1. Usage: lab_wait_for_interface_keys dir if...
lab_wait_for_interface_keys() {
  local dir=$1 i name missing
  shift
  for i in $(seq 1 100); do
    missing=""
    for name in "$@"; do [ -s "$dir/$name.key" ] || missing="$missing $name"; done
    [ -z "$missing" ] && return 0
    sleep 0.1
  done
  echo "no interface key after 10 s for:$missing" >&2
  return 1
}

# Brings up a client's tunnel from a wg-quick config (as printed by
# `wgate config`), with wireguard-go as the userspace implementation.
# Usage: lab_client_up host conf_path
lab_client_up() {
  local host=$1 conf=$2
  WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
    lab_exec "$host" wg-quick up "$conf" >/dev/null 2>&1
}

# Succeeds when host can ping addr: echoes every 0.3 s until one is answered
# or 7 s pass. A client whose first handshake went out before its peer was
# configured retries after WireGuard's 5 s rekey timeout.
lab_ping() { lab_exec "$1" ping -c 1 -i 0.3 -w 7 -q "$2" >/dev/null 2>&1; }
# Succeeds when no echo of ~7 sent over 2 s is answered.
lab_no_ping() { ! lab_exec "$1" ping -c 1 -i 0.3 -w 2 -q "$2" >/dev/null 2>&1; }

# Prints the source address the server at addr saw for a TCP connection
# from host (empty on failure). Extra socat address options may follow.
lab_tcp_whoami() {
  local host=$1 addr=$2 opts=${3:-}
  lab_exec "$host" timeout 4 socat -T2 - "TCP:$addr:$LAB_TCP_PORT,connect-timeout=2$opts" </dev/null 2>/dev/null || true
}

# Succeeds when host can open a TCP connection to addr:port (within 2 s).
lab_tcp_open() {
  lab_exec "$1" timeout 4 socat -T1 /dev/null "TCP:$2:$3,connect-timeout=2" </dev/null >/dev/null 2>&1
}

# Logs a lab host in with `wgate login` (the device grant) and approves its
# code at the test IdP (running in the gateway's namespace, with --test-api)
# as a person would in a browser. The login's stdout goes to $out, its
# stderr (the prompt with the code) to $err; returns the login's status.
# Usage: lab_sso_login host idp_port user out err wgate login-args...
lab_sso_login() {
  local host=$1 idp_port=$2 user=$3 out=$4 err=$5 wgate_bin=$6 code pid
  shift 6
  rm -f "$out" "$err"
  WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
    lab_exec "$host" timeout 60 "$wgate_bin" login "$@" >>"$out" 2>>"$err" &  # appends: $out may be $err
  pid=$!
  code=""
  for _ in $(seq 1 100); do
    code=$(grep -o 'enter the code [A-Z0-9-]*' "$err" "$out" 2>/dev/null | head -1 | awk '{print $4}')
    [ -n "$code" ] && break
    sleep 0.1
  done
  if [ -n "$code" ]; then
    lab_exec gw curl -sS -m 5 -H 'content-type: application/json' \
      -d "{\"user_code\":\"$code\",\"user\":\"$user\"}" "http://127.0.0.1:$idp_port/test/device/approve" >/dev/null
  fi
  wait "$pid"
}
