# shellcheck shell=bash
# The network-namespace lab (docs/ARCHITECTURE.md), shared by the e2e test
# and the quickstart. Source it, set LAB (a namespace-name prefix owned by the
# caller), then call lab_up / lab_down.
#
#   [LAB-alice] ─┐                      ┌─ [LAB-vpca 10.1.0.10: tcp+icmp]
#   [LAB-bob]   ─┼─ LAB-ul (bridge) ─ [LAB-gw] ─┤
#   [LAB-eve]   ─┘  172.30.0.0/24       └─ [LAB-vpcb 10.2.0.10: tcp+icmp]
#
# Every host on the underlay routes everything via the gateway's outer
# address 172.30.0.1, so the lab also shows that nothing reaches a protected
# network except through a tunnel. Traffic stays inside these namespaces.

LAB_UNDERLAY_GW=172.30.0.1
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
    lab_attach_underlay "$name" "172.30.0.$i"
    lab_exec "$name" ip route add default via "$LAB_UNDERLAY_GW"
  done
  local vpc net
  for vpc in vpca vpcb; do
    [ "$vpc" = vpca ] && net=1 || net=2
    ip link add "$vpc" netns "$(lab_ns gw)" type veth peer name eth0 netns "$(lab_ns "$vpc")"
    lab_exec gw ip addr add "10.$net.0.1/16" dev "$vpc"
    lab_exec gw ip link set "$vpc" up
    lab_exec "$vpc" ip addr add "10.$net.0.10/16" dev eth0
    lab_exec "$vpc" ip link set eth0 up
    lab_exec "$vpc" ip route add default via "10.$net.0.1"
    # The server answers every TCP connection with the source address it
    # sees, and logs it: that is what a protected server's access log shows.
    lab_exec "$vpc" socat -T5 "TCP-LISTEN:$LAB_TCP_PORT,fork,reuseaddr" \
      SYSTEM:'echo $SOCAT_PEERADDR; echo $SOCAT_PEERADDR >> /tmp/'"$LAB-$vpc"'.log' </dev/null >/dev/null 2>&1 &
  done
  rm -f "/tmp/$LAB-vpca.log" "/tmp/$LAB-vpcb.log"
}

# Prints the gateway config of the lab: groups dev (vpc-a) and ops (vpc-a,
# vpc-b) on interfaces $LAB-dev / $LAB-ops, state in dir $1, backend $2.
lab_gateway_config() {
  local dir=$1 backend=$2
  cat <<EOF
[server]
endpoint = "$LAB_UNDERLAY_GW"
store = "$dir/wgate.db"
state_dir = "$dir/state"
backend = "$backend"

[pool]
ipv4 = "10.100.0.0/24"

[networks]
vpc-a = ["10.1.0.0/16"]
vpc-b = ["10.2.0.0/16"]

[groups.dev]
networks = ["vpc-a"]
interface = "$LAB-dev"
port = 51820
table = 1001
key_ttl = "12h"

[groups.ops]
networks = ["vpc-a", "vpc-b"]
interface = "$LAB-ops"
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
