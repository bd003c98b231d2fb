#!/usr/bin/env bash
# End-to-end test of SSO-born keys in the network-namespace lab: a real OIDC
# provider (tests/idp, oidc-provider 9), `wgate server` and `wgate web` in the
# gateway's namespace, `wgate login` (device grant) on the clients with real
# wireguard-go tunnels, and (when chromium and playwright-core are there) a
# browser login with Playwright.
# Usage: tests/e2e/sso.sh path/to/wgate     (root; label e2e in ctest)
# Environment: WGATE_E2E_LAB=prefix (default wgsso), WGATE_E2E_PLAN=alt,
# WGATE_SCREENSHOTS=dir for the admin UI's screenshots (default ./screenshots).
# Exit 77 (skipped) when Node.js is too old for the test IdP.
set -uo pipefail
WGATE_BIN=$(readlink -f "${1:?usage: sso.sh path/to/wgate}")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

case "${WGATE_E2E_PLAN:-default}" in
  default) ;;
  alt) LAB_UNDERLAY=192.168.78 LAB_NET_A=172.22 LAB_NET_B=172.23 LAB_POOL=100.64.12.0/22 LAB_PER_USER=8 LAB_G1=eng LAB_G2=admin ;;
  *) echo "WGATE_E2E_PLAN must be default or alt"; exit 1 ;;
esac
# shellcheck source=../../scripts/lab-lib.sh
source "$ROOT/scripts/lab-lib.sh"
LAB=${WGATE_E2E_LAB:-wgsso}
WORK=$(mktemp -d /tmp/wgate-sso.XXXXXX)
CFG=$WORK/wgate.toml
G1=$LAB_G1 G2=$LAB_G2
A=$LAB_VPCA_HOST B=$LAB_VPCB_HOST
WEB_PORT=8443  # inside the gateway's namespace; the test IdP's client config names it
WEB=http://$LAB_UNDERLAY_GW:$WEB_PORT
PIDS=()
passed=0
failed=0

if [ "$(id -u)" -ne 0 ]; then echo "the SSO lab needs root (network namespaces)"; exit 1; fi
for tool in wireguard-go wg wg-quick socat ping ip jq nft node curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh"; exit 1; }
done
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=18)?0:1)'; then
  echo "SKIP: Node.js $(node -v) is too old for the test IdP (>= 20.18)"; exit 77
fi

pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
expect() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
expect_not() { local what=$1; shift; if "$@"; then fail "$what"; else pass "$what"; fi; }
abort() { fail "$*"; echo "$passed passed, $failed failed"; exit 1; }

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  sleep 0.3
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  lab_down
  if [ "$failed" -gt 0 ] || [ -n "${KEEP_LOGS:-}" ]; then
    for f in server web idp hooks; do echo "--- $f.log (tail)"; tail -25 "$WORK/$f.log" 2>/dev/null; done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

wgate() { "$WGATE_BIN" -c "$CFG" "$@"; }
# (background processes are started with ip netns exec itself, so $! is the process, not a subshell)
in_gw() { ip netns exec "$LAB-gw" "$@"; }
# Waits until a file exists and is not empty (bounded); prints nothing.
wait_file() { for _ in $(seq 1 200); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
idp_api() {  # idp_api METHOD PATH [JSON]
  in_gw curl -sS -m 5 -X "$1" -H 'content-type: application/json' ${3:+-d "$3"} "http://127.0.0.1:$IDP_PORT$2"
}
start_idp() {
  rm -f "$WORK/idp.port"
  ip netns exec "$LAB-gw" node "$ROOT/tests/idp/server.mjs" --config "$WORK/idp.json" --port "${IDP_PORT:-0}" --test-api \
    --port-file "$WORK/idp.port" >>"$WORK/idp.log" 2>&1 &
  IDP_PID=$!
  PIDS+=("$IDP_PID")
  wait_file "$WORK/idp.port" || abort "the test IdP started"
  IDP_PORT=$(cat "$WORK/idp.port")
}
has_peer() { lab_exec gw wg show "$1" peers 2>/dev/null | grep -qF -- "$2"; }
# Seconds (bounded by $1) until the command succeeds; prints them.
seconds_until() {
  local limit=$1 t0 now; shift
  t0=$(date +%s.%N)
  for _ in $(seq 1 $((limit * 20))); do "$@" >/dev/null 2>&1 && break; sleep 0.05; done
  now=$(date +%s.%N)
  awk -v a="$now" -v b="$t0" 'BEGIN { printf "%.2f\n", a - b }'
}
within() { awk -v t="$1" -v l="$2" 'BEGIN { exit !(t <= l) }'; }

# `wgate login` on a client host, approved at the IdP as `user`.
# Usage: login host user device [extra login args...]; sets LOGIN_JSON.
login() {
  local host=$1 user=$2 device=$3
  shift 3
  mkdir -p "$WORK/$host"
  lab_sso_login "$host" "$IDP_PORT" "$user" "$WORK/$host.login.out" "$WORK/$host.login.err" "$WGATE_BIN" \
    --json --server "$WEB" --device "$device" --interface "${LAB}c" --config-dir "$WORK/$host" "$@"
  local rc=$?
  LOGIN_JSON=$(cat "$WORK/$host.login.out")
  [ $rc -eq 0 ] || { cat "$WORK/$host.login.err"; return 1; }
}

echo "== setting up lab $LAB in $WORK"
LAB=$LAB lab_down
lab_up alice bob carol
# Its client "wgate" points at port 8443.
# The test IdP as the tests use it, polling interval 2 s (Keycloak's realm
# setting; 5 s without it) so the lab's logins wait less.
# dana is an admin: her IdP group /wgate-admins is in [web] admin_groups (and
# maps to no wgate group: she has no tunnel).
jq '. + {device_interval: 2} | .users += [{sub: "5e0c7a11-9d3b-4f2e-8c6a-dana00000003", username: "dana",
  password: "dana-admin-password", email: "dana@example.com", name: "Dana Admin", groups: ["/wgate-admins"]}]' \
  "$ROOT/tests/idp/test-config.json" >"$WORK/idp.json"
start_idp
(umask 077; echo wgate-test-secret >"$WORK/client-secret")
ip netns exec "$LAB-gw" node "$HERE/webhook_receiver.mjs" --log "$WORK/hooks.log" --port-file "$WORK/hook.port" --fail-first 2 \
  >>"$WORK/hook-receiver.log" 2>&1 &
PIDS+=("$!")
wait_file "$WORK/hook.port" || abort "the webhook receiver started"
{
  # resync 2 s: handshakes reach the store quickly, for the never-activated check
  lab_gateway_config "$WORK" userspace 'resync = "2s"'
  cat <<EOF

[oidc]
issuer = "http://127.0.0.1:$IDP_PORT"
client_id = "wgate"
client_secret_file = "$WORK/client-secret"
check_interval = "3s"
http_timeout = "3s"

[oidc.group_map]
"/eng/dev" = ["$G1"]
"/eng/ops" = ["$G2"]

[web]
listen = "0.0.0.0:$WEB_PORT"
public_url = "http://127.0.0.1:$WEB_PORT"
admin_groups = ["/wgate-admins"]

[alerts]
never_activated_after = "8s"
expiry_reminder = "0s"
retry_base = "1s"
webhook_url = "http://127.0.0.1:$(cat "$WORK/hook.port")/hook"

[metrics]
listen = "127.0.0.1:9586"
EOF
} >"$CFG"
wgate check-config >/dev/null || { wgate check-config; abort "the SSO lab's config is valid"; }
wgate init >/dev/null
ip netns exec "$LAB-gw" "$WGATE_BIN" -c "$CFG" server >>"$WORK/server.log" 2>&1 &
PIDS+=("$!")
ip netns exec "$LAB-gw" "$WGATE_BIN" -c "$CFG" web >>"$WORK/web.log" 2>&1 &
WEB_PID=$!
PIDS+=("$WEB_PID")
lab_wait_for_interface_keys "$WORK/state" "$LAB-$G1" "$LAB-$G2" || abort "the daemon made the interface keys"
for _ in $(seq 1 100); do lab_exec alice curl -s -m 1 "$WEB/healthz" >/dev/null && break; sleep 0.1; done
expect "the web part answers on the gateway's address" sh -c "ip netns exec $LAB-alice curl -s -m 2 $WEB/healthz | grep -qx ok"

echo "== device-flow login (alice, group $G1)"
login alice alice laptop --up || abort "wgate login (alice) succeeded"
ADDR_ALICE=$(jq -r .address <<<"$LOGIN_JSON")
KEY1=$(jq -r .key_id <<<"$LOGIN_JSON")
expect "alice's login brought the tunnel up (wg-quick)" test "$(jq -r .brought_up <<<"$LOGIN_JSON")" = true
expect "the config is mode 0600" test "$(stat -c %a "$WORK/alice/${LAB}c.conf")" = 600
expect "alice was created at first login, in $G1 from /eng/dev" sh -c "'$WGATE_BIN' -c '$CFG' --json user list | jq -e '.[] | select(.name == \"alice\") | .groups == [\"$G1\"]' >/dev/null"
expect "alice reaches vpc-a through the tunnel" lab_ping alice "$A"
seen=$(lab_tcp_whoami alice "$A")
expect "the vpc-a server sees alice's device address ($seen == $ADDR_ALICE)" test "$seen" = "$ADDR_ALICE"
expect "alice does not reach vpc-b ($G1 has only vpc-a)" lab_no_ping alice "$B"
expect "whois names alice's laptop" sh -c "'$WGATE_BIN' -c '$CFG' --json whois $ADDR_ALICE | jq -e '.user == \"alice\" and .device == \"laptop\"' >/dev/null"
expect "the private key never reached the server (not in the store)" sh -c "! grep -qF \"\$(grep PrivateKey '$WORK/alice/${LAB}c.conf' | cut -d' ' -f3)\" '$WORK/wgate.db'"

echo "== renewal before expiry, with a running ping"
# 15 s of pings with the renewal (~2 s: the device grant's poll interval) in
# the middle; ping counts a reply later than 2 RTTs after its last echo as
# lost, so the renewal must not be at its very end.
lab_exec alice ping -c 150 -i 0.1 "$A" >"$WORK/ping-renew.txt" 2>&1 &
ping_pid=$!
sleep 1
login alice alice laptop --ttl 20s || fail "the renewal login succeeded"
KEY2=$(jq -r .key_id <<<"$LOGIN_JSON")
expect "the renewal switched the running tunnel to the new key" test "$(jq -r .switched_live <<<"$LOGIN_JSON")" = true
expect "the device kept its address" test "$(jq -r .address <<<"$LOGIN_JSON")" = "$ADDR_ALICE"
wait "$ping_pid"
lost=$(awk '/icmp_seq=/ { sub(/.*icmp_seq=/, ""); sub(/ .*/, ""); got[$1] = 1 } END { for (i = 1; i <= 150; i++) if (!got[i]) printf "%d ", i }' "$WORK/ping-renew.txt")
[ -n "$lost" ] && echo "   lost icmp_seq: $lost"
loss=$(grep -o '[0-9.]*% packet loss' "$WORK/ping-renew.txt")
echo "   ping through the renewal: $(grep 'packets transmitted' "$WORK/ping-renew.txt"); $(grep '^rtt' "$WORK/ping-renew.txt")"
expect "the renewal dropped no packet of the running ping ($loss)" test "$loss" = "0% packet loss"
expect "the old key ($KEY1) is superseded, the new one ($KEY2) active" sh -c "'$WGATE_BIN' -c '$CFG' --json key list | jq -e '[.[] | select(.id == $KEY1 or .id == $KEY2)] | length == 2' >/dev/null"

echo "== expiry (TTL 20 s) and renewal by logging in again"
exp=$(jq -r .expires_at <<<"$LOGIN_JSON")
pub=$(wg pubkey < <(grep PrivateKey "$WORK/alice/${LAB}c.conf" | cut -d' ' -f3))
expect "alice's key is in the data plane before expiry" has_peer "$LAB-$G1" "$pub"
while [ "$(date +%s)" -lt "$exp" ]; do sleep 0.2; done
t=$(seconds_until 10 sh -c "! ip netns exec $LAB-gw wg show $LAB-$G1 peers | grep -qF -- '$pub'")
expect "at expiry the peer left the data plane within 5 s (${t} s)" within "$t" 5
expect "after expiry alice reaches nothing" lab_no_ping alice "$A"
login alice alice laptop --up || fail "logging in again after expiry succeeded"
expect "after logging in again alice reaches vpc-a" lab_ping alice "$A"
expect "the audit log has the expiry and the logins" sh -c "'$WGATE_BIN' -c '$CFG' --json audit --limit 1000 | jq -e '[.[].action] | index(\"key.expire\") != null and (map(select(startswith(\"login\"))) | length >= 3)' >/dev/null"

echo "== a key never activated: one webhook to its owner, through two failures"
login bob bob desk || fail "bob's login succeeded"
BOBKEY=$(jq -r .key_id <<<"$LOGIN_JSON")
for _ in $(seq 1 300); do
  grep "\"key\":\"never_activated:$BOBKEY\"" "$WORK/hooks.log" 2>/dev/null | grep -q '"status":200' && break
  sleep 0.1
done
sleep 4  # a duplicate would come within the back-off (1 s, 3 s)
bob_calls=$(grep -c "\"key\":\"never_activated:$BOBKEY\"" "$WORK/hooks.log" 2>/dev/null)
bob_ok=$(grep "\"key\":\"never_activated:$BOBKEY\"" "$WORK/hooks.log" 2>/dev/null | grep -c '"status":200')
expect "the receiver got bob's alert exactly once after failing twice ($bob_calls calls, $bob_ok accepted)" test "$bob_calls" = 3 -a "$bob_ok" = 1
grep "\"key\":\"never_activated:$BOBKEY\"" "$WORK/hooks.log" | tail -1 | jq -r .body >"$WORK/bob-alert.json"
expect "its body names the person and the device" jq -e '.person == "bob" and .device == "desk"' "$WORK/bob-alert.json"
expect "alice's activated keys raised no never-activated alert" sh -c "! grep '\"key\":\"never_activated:' '$WORK/hooks.log' | jq -r .body | jq -e 'select(.person == \"alice\")' | grep -q ."
expect "the alert is in the audit log" sh -c "'$WGATE_BIN' -c '$CFG' --json audit --limit 1000 | jq -e 'map(select(.action == \"alert.raise\")) | length >= 1' >/dev/null"

echo "== a person disabled at the provider loses access by the next check"
bobpub=$(wg pubkey < <(grep PrivateKey "$WORK/bob/${LAB}c.conf" | cut -d' ' -f3))
expect "bob's key is in the data plane" has_peer "$LAB-$G2" "$bobpub"
idp_api POST /test/users/bob/disable >/dev/null
t=$(seconds_until 20 sh -c "! ip netns exec $LAB-gw wg show $LAB-$G2 peers | grep -qF -- '$bobpub'")
expect "bob's key left the data plane after the check (${t} s; check_interval 3 s)" within "$t" 15

echo "== a person moved to another group at the provider is moved at the next check"
idp_api POST /test/users/bob/enable >/dev/null
login bob bob desk2 || fail "bob logged in again once enabled"
bobpub=$(wg pubkey < <(grep PrivateKey "$WORK/bob/${LAB}c.conf" | cut -d' ' -f3))
for _ in $(seq 1 100); do has_peer "$LAB-$G2" "$bobpub" && break; sleep 0.05; done
expect "bob's new key is on $G2's interface" has_peer "$LAB-$G2" "$bobpub"
idp_api PUT /test/users/bob/groups '{"groups":["/eng/dev"]}' >/dev/null
t=$(seconds_until 20 sh -c "'$WGATE_BIN' -c '$CFG' --json user list | jq -e '.[] | select(.name == \"bob\") | .groups == [\"$G1\"]'")
expect "bob's groups follow the provider by the next check (${t} s; check_interval 3 s)" within "$t" 15
t=$(seconds_until 10 sh -c "! ip netns exec $LAB-gw wg show $LAB-$G2 peers | grep -qF -- '$bobpub'")
expect "his key for $G2 left $G2's interface (${t} s)" within "$t" 5
expect "the move is in the audit log" sh -c "'$WGATE_BIN' -c '$CFG' --json audit --limit 1000 | jq -e 'map(select(.subject == \"bob\" and (.action | test(\"member\")))) | length >= 1' >/dev/null"

echo "== the provider down"
kill -9 "$IDP_PID"; wait "$IDP_PID" 2>/dev/null  # a crash: no goodbye to open connections
if lab_ping alice "$A"; then
  pass "alice's tunnel keeps working"
else
  fail "alice's tunnel keeps working"
  for host in gw alice; do echo "--- wg show ($host)"; lab_exec "$host" wg show all | head -40; done
  echo "--- keys"; wgate --json key list | jq -c '.[] | {id, user, device, public_key, state}' 2>/dev/null | tail -8
  echo "--- alice's config key: $(wg pubkey < <(grep PrivateKey "$WORK/alice/${LAB}c.conf" | cut -d' ' -f3))"
  grep -E "alice|key [0-9]+ for" "$WORK/web.log" | tail -12
fi
t0=$(date +%s.%N)
lab_exec carol timeout 30 "$WGATE_BIN" login --server "$WEB" --device x --config-dir "$WORK" >"$WORK/down.out" 2>&1
rc=$?
t=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
expect "a new login fails fast (${t} s) with exit code 1" sh -c "[ $rc = 1 ] && awk -v t=$t 'BEGIN { exit !(t < 5) }'"
expect "and says why (the identity provider is unavailable)" grep -q "identity provider" "$WORK/down.out"

echo "== back-channel logout"
start_idp  # the same port, a fresh provider (new keys: wgate refetches the JWKS)
login alice alice laptop || fail "alice logged in at the restarted provider"
pub=$(wg pubkey < <(grep PrivateKey "$WORK/alice/${LAB}c.conf" | cut -d' ' -f3))
for _ in $(seq 1 100); do has_peer "$LAB-$G1" "$pub" && break; sleep 0.05; done
expect "alice reaches vpc-a" lab_ping alice "$A"
idp_api POST /test/users/alice/backchannel-logout >"$WORK/bcl.json"
expect "the provider delivered the logout token to wgate" jq -e '.deliveries | map(select(.delivered)) | length >= 1' "$WORK/bcl.json"
t=$(seconds_until 10 sh -c "! ip netns exec $LAB-gw wg show $LAB-$G1 peers | grep -qF -- '$pub'")
expect "the back-channel logout cut alice's tunnel within 5 s (${t} s)" within "$t" 5
expect "alice reaches nothing" lab_no_ping alice "$A"

if [ -x "$(command -v chromium)" ] && [ -d "$ROOT/tests/browser/node_modules/playwright-core" ]; then
  echo "== browser login (Playwright, Debian's chromium)"
  in_gw node "$ROOT/tests/browser/login.mjs" --base "http://127.0.0.1:$WEB_PORT" --user carol-unknown --password x \
    --expect-failure >"$WORK/browser-bad.log" 2>&1
  expect "a wrong password does not log in" test $? -eq 0
  # alice signs in in the browser, makes a key for device "tablet" there, renews it with the
  # device's Renew button and downloads the renewed config.
  idp_api POST /test/users/alice/enable >/dev/null
  in_gw node "$ROOT/tests/browser/login.mjs" --base "http://127.0.0.1:$WEB_PORT" --user alice \
    --password alice-dev-password --device tablet --renew --out "$WORK/browser.conf" >"$WORK/browser.log" 2>&1
  rc=$?
  cat "$WORK/browser.log"
  expect "the browser login made a key, renewed it and gave a config with its private key" sh -c "[ $rc = 0 ] && grep -q '^PrivateKey = ' '$WORK/browser.conf'"
  # Code-flow attacks against wgate and the real provider: a reused code, a
  # code redeemed with another login's PKCE verifier, a missing verifier.
  in_gw node "$ROOT/tests/browser/code_attacks.mjs" --base "http://127.0.0.1:$WEB_PORT" --idp "http://127.0.0.1:$IDP_PORT" \
    --user alice --password alice-dev-password --client-id wgate --client-secret wgate-test-secret \
    >"$WORK/attacks.log" 2>&1
  rc=$?
  grep -E '^(PASS|FAIL)' "$WORK/attacks.log" | sed 's/^/   /'
  expect "reused codes and wrong or missing PKCE verifiers are refused ($(grep -c '^PASS' "$WORK/attacks.log") checks passed)" \
    sh -c "[ $rc = 0 ] && ! grep -q '^FAIL' '$WORK/attacks.log'"
  expect "the refused logins are in the audit log with their reasons" sh -c "'$WGATE_BIN' -c '$CFG' --json audit --limit 2000 | jq -e '[.[] | select(.action == \"login.failure\") | .detail | fromjson | .reason | select(test(\"invalid_grant|no login is in progress|unknown, used\"))] | length >= 3' >/dev/null"
  cp "$WORK/browser.conf" "$WORK/${LAB}b.conf"
  lab_client_up carol "$WORK/${LAB}b.conf"
  addr=$(grep '^Address' "$WORK/browser.conf" | cut -d' ' -f3 | cut -d/ -f1)
  expect "the browser's config brings a working tunnel up" lab_ping carol "$A"
  seen=$(lab_tcp_whoami carol "$A")
  expect "the vpc-a server sees the tablet's address ($seen == $addr)" test -n "$addr" -a "$seen" = "$addr"

  echo "== the admin UI (Playwright): live bytes, 403 for non-admins, a forged POST, revoke by click"
  SHOTS=${WGATE_SCREENSHOTS:-$PWD/screenshots}
  tabletpub=$(wg pubkey < <(grep PrivateKey "$WORK/browser.conf" | cut -d' ' -f3))
  # Traffic through the tablet's tunnel (carol) while the admin watches: 1 kB
  # echoes every 0.1 s, for at most 60 s.
  lab_exec carol ping -i 0.1 -s 1000 -w 60 -q "$A" >/dev/null 2>&1 &
  traffic_pid=$!
  in_gw node "$ROOT/tests/browser/admin.mjs" --base "http://127.0.0.1:$WEB_PORT" --admin dana \
    --admin-password dana-admin-password --user alice --password alice-dev-password --person alice --device tablet \
    --whois-ip "$addr" --explain-dest "$A" --screenshots "$SHOTS" --expect-updates live >"$WORK/admin-ui.log" 2>&1
  rc=$?
  kill "$traffic_pid" 2>/dev/null; wait "$traffic_pid" 2>/dev/null
  sed 's/^/   /' "$WORK/admin-ui.log"
  expect "the admin UI checks passed ($(grep -c '^PASS' "$WORK/admin-ui.log") checks)" \
    sh -c "[ $rc = 0 ] && ! grep -q '^FAIL' '$WORK/admin-ui.log'"
  t=$(seconds_until 10 sh -c "! ip netns exec $LAB-gw wg show $LAB-$G1 peers | grep -qF -- '$tabletpub'")
  expect "the key revoked in the admin UI left the data plane within 5 s (${t} s)" within "$t" 5
  expect "the tablet's tunnel passes no traffic any more" lab_no_ping carol "$A"
  expect "the revocation is in the audit log with dana as its actor" sh -c "'$WGATE_BIN' -c '$CFG' --json audit --limit 2000 | jq -e 'map(select(.action == \"key.revoke\" and .actor == \"user:dana\")) | length == 1' >/dev/null"
else
  echo "SKIP: browser login (chromium or tests/browser/node_modules missing: scripts/install-deps.sh)"
  fail "the browser login test could run"
fi

echo "== the daemon's /metrics counts wgate web's logins and alerts"
# The scrape's login counters against the audit log (the store counts each
# login.* record as it is written): equal, kind by kind.
scrape_value() {
  in_gw curl -sS -m 5 http://127.0.0.1:9586/metrics | awk -v s="$1" '$1 == s { print $2; found = 1 } END { exit !found }'
}
logins_match() {
  local audit result kind want got
  audit=$(wgate --json audit --limit 100000) || return 1
  for result in success failure; do
    for kind in browser cli; do
      want=$(jq --arg a "login.$result" --arg k "$kind" \
        '[.[] | select(.action == $a) | select(((.detail | fromjson | .kind) // .subject) == $k)] | length' <<<"$audit")
      got=$(scrape_value "wgate_logins_total{result=\"$result\",kind=\"$kind\"}") || return 1
      [ "$want" = "$got" ] || { echo "logins $result/$kind: scrape $got, audit $want"; return 1; }
    done
  done
}
expect "wgate_logins_total matches the audit log for every result and kind" logins_match
cli_ok=$(scrape_value 'wgate_logins_total{result="success",kind="cli"}')
expect "successful CLI logins were counted ($cli_ok)" test "${cli_ok:-0}" -ge 3
# (A CLI login that cannot even start, the provider being down, is no
# audited login and not counted; the browser's refused codes are.)
browser_failed=$(scrape_value 'wgate_logins_total{result="failure",kind="browser"}')
expect "the browser logins refused above were counted as failures ($browser_failed)" test "${browser_failed:-0}" -ge 3
sent=$(scrape_value 'wgate_alerts_sent_total{channel="webhook",kind="never_activated"}')
expect "bob's never-activated webhook was counted as sent ($sent)" test "${sent:-0}" -ge 1
attempts=$(scrape_value 'wgate_alert_attempts_failed_total{channel="webhook",kind="never_activated"}')
expect "...after the receiver's two failures ($attempts failed attempts)" test "${attempts:-0}" -ge 2
gave_up=$(scrape_value 'wgate_alerts_failed_total{channel="webhook",kind="never_activated"}')
expect "no delivery was given up ($gave_up)" test "$gave_up" = 0

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
