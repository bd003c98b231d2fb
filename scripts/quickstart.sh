#!/usr/bin/env bash
# wgate quickstart: installs the dependencies, builds wgate, and runs it as
# the gateway of a small lab of network namespaces on this machine (root):
#
#   wgq-alice (group dev) ─┐                   ┌─ wgq-vpca 10.1.0.10
#   wgq-bob   (group ops) ─┼─ underlay ─ wgq-gw ┤
#                          ┘  172.30.0.0/24    └─ wgq-vpcb 10.2.0.10
#
# Embedded defaults: SQLite store, the userspace data plane (wireguard-go)
# when the kernel has no WireGuard module. The state lives in .quickstart/.
#
#   scripts/quickstart.sh        set up and start (leaves it running)
#   scripts/quickstart.sh down   stop everything and remove the lab
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
source scripts/lab-lib.sh
LAB=wgq
DIR=$ROOT/.quickstart
CFG=$DIR/wgate.toml

if [ "$(id -u)" -ne 0 ]; then echo "quickstart needs root (it creates network namespaces)"; exit 1; fi
if [ "${1:-}" = down ]; then
  lab_down
  echo "quickstart lab removed (state kept in $DIR; rm -rf it to start over)"
  exit 0
fi

scripts/install-deps.sh
scripts/build.sh release
WGATE=$ROOT/build/wgate

lab_down
rm -rf "$DIR"
mkdir -p "$DIR"
lab_up alice bob
lab_gateway_config "$DIR" "auto" >"$CFG"
w() { "$WGATE" -c "$CFG" "$@"; }
w check-config
w init
setsid ip netns exec "$LAB-gw" "$WGATE" -c "$CFG" server >"$DIR/server.log" 2>&1 &
echo "wgate server started in namespace $LAB-gw (log: $DIR/server.log)"
# The daemon creates each interface's key on its first pass; client configs
# need the public halves.
lab_wait_for_interface_keys "$DIR/state" "$LAB-dev" "$LAB-ops" || { tail -20 "$DIR/server.log"; exit 1; }

w user add alice --group dev --email alice@example.com
w user add bob --group ops --email bob@example.com
for user in alice bob; do
  # The key pair is made on the "device"; only the public half goes to wgate.
  (umask 077; wg genkey >"$DIR/$user.key")
  id=$(w --json key add "$user" "$(wg pubkey <"$DIR/$user.key")" --device laptop | jq -r .id)
  w config "$id" --private-key-file "$DIR/$user.key" >"$DIR/$LAB-$user.conf"
  lab_client_up "$user" "$DIR/$LAB-$user.conf"
done
sleep 1

echo
echo "== what each person can reach"
for pair in "alice 10.1.0.10" "alice 10.2.0.10" "bob 10.1.0.10" "bob 10.2.0.10"; do
  set -- $pair
  if lab_ping "$1" "$2"; then r="reachable (server saw $(lab_tcp_whoami "$1" "$2"))"; else r="blocked"; fi
  echo "  $1 -> $2: $r"
done
echo
ip netns exec "$LAB-gw" "$WGATE" -c "$CFG" status
cat <<EOF

wgate is running. Try:
  $WGATE -c $CFG user list
  $WGATE -c $CFG key list
  $WGATE -c $CFG device list
  $WGATE -c $CFG whois 10.100.0.4 --at now
  ip netns exec $LAB-gw $WGATE -c $CFG status
  $WGATE -c $CFG key revoke 1          # alice loses access within a second
  ip netns exec $LAB-alice ping 10.1.0.10
Stop and clean up: scripts/quickstart.sh down
EOF
