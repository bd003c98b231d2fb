#!/usr/bin/env bash
# wgate quickstart: installs the dependencies, builds wgate, and runs it as
# the gateway of a small lab of network namespaces on this machine (root):
#
#   wgq-alice (group dev) ─┐                   ┌─ wgq-vpca 10.1.0.10
#   wgq-bob   (group ops) ─┼─ underlay ─ wgq-gw ┤
#                          ┘  172.30.0.0/24    └─ wgq-vpcb 10.2.0.10
#
# Embedded defaults: SQLite store, the userspace data plane (wireguard-go)
# when the kernel has no WireGuard module, and the bundled development IdP
# (tests/idp: oidc-provider, people alice and bob). The state lives in
# .quickstart/. alice and bob get their keys by logging in (`wgate login`,
# the device grant); the dev IdP's test API approves the code on their
# behalf, which a person would do in a browser. The self-service page and
# the IdP are on this machine's loopback: http://127.0.0.1:8080/self.
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
stop_forwarders() { pkill -f "socat TCP-LISTEN:(8080|8900),bind=127.0.0.1" 2>/dev/null || true; }
if [ "${1:-}" = down ]; then
  stop_forwarders
  lab_down
  echo "quickstart lab removed (state kept in $DIR; rm -rf it to start over)"
  exit 0
fi

scripts/install-deps.sh
scripts/build.sh release
WGATE=$ROOT/build/wgate

stop_forwarders
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

# The dev IdP and `wgate web`, in the gateway's namespace, forwarded to
# this machine's loopback (the browser's side) by socat.
(umask 077; echo wgate-dev-secret >"$DIR/client-secret")
jq '.clients[0].client_secret = "wgate-dev-secret"' tests/idp/quickstart-config.json >"$DIR/idp.json"
setsid ip netns exec "$LAB-gw" node tests/idp/server.mjs --config "$DIR/idp.json" --port 8900 --test-api \
  --port-file "$DIR/idp.port" >"$DIR/idp.log" 2>&1 &
for _ in $(seq 1 100); do [ -s "$DIR/idp.port" ] && break; sleep 0.1; done
[ -s "$DIR/idp.port" ] || { cat "$DIR/idp.log"; echo "the dev IdP did not start (Node.js >= 20.18 needed)"; exit 1; }
cat >>"$CFG" <<EOF2

[oidc]
issuer = "http://127.0.0.1:8900"
client_id = "wgate"
client_secret_file = "$DIR/client-secret"

[oidc.group_map]
"/eng/dev" = ["dev"]
"/eng/ops" = ["ops"]

[web]
listen = "0.0.0.0:8080"
public_url = "http://127.0.0.1:8080"

[keys]
default_ttl = "8h"
EOF2
w check-config >/dev/null
setsid ip netns exec "$LAB-gw" "$WGATE" -c "$CFG" web >"$DIR/web.log" 2>&1 &
for port in 8080 8900; do
  setsid socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" \
    "EXEC:ip netns exec $LAB-gw socat STDIO TCP\:127.0.0.1\:$port" >/dev/null 2>&1 &
done
for _ in $(seq 1 100); do curl -s -m 1 http://127.0.0.1:8080/healthz >/dev/null && break; sleep 0.1; done

# alice and bob log in from their machines with the device grant. Each
# tunnel has a name of its own: wireguard-go's UAPI sockets share one
# directory across network namespaces, so two "wgq-vpn"s would collide.
for user in alice bob; do
  mkdir -p "$DIR/$user"
  echo "== $user: wgate login (the dev IdP approves the device code on $user's behalf)"
  lab_sso_login "$user" 8900 "$user" "$DIR/$user.login" "$DIR/$user.login" "$WGATE" \
    --server "http://$LAB_UNDERLAY_GW:8080" --device laptop --interface "$LAB-$user" --config-dir "$DIR/$user" --up ||
    { cat "$DIR/$user.login"; exit 1; }
  tail -3 "$DIR/$user.login" | sed 's/^/   /'
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

wgate is running, with SSO. Try:
  open http://127.0.0.1:8080/self     (alice / alice-dev-password, bob / bob-dev-password)
  ip netns exec $LAB-alice $WGATE login --server http://$LAB_UNDERLAY_GW:8080 --device laptop \\
      --interface $LAB-alice --config-dir $DIR/alice   # renew alice's key (open the URL it prints)
  $WGATE -c $CFG user list
  $WGATE -c $CFG key list
  $WGATE -c $CFG device list
  $WGATE -c $CFG whois 10.100.0.4 --at now
  ip netns exec $LAB-gw $WGATE -c $CFG status
  $WGATE -c $CFG key revoke 1          # alice loses access within a second
  $WGATE -c $CFG audit                 # logins, keys, memberships, alerts
  ip netns exec $LAB-alice ping 10.1.0.10
Stop and clean up: scripts/quickstart.sh down
EOF
