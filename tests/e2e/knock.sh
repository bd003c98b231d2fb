#!/usr/bin/env bash
# End-to-end test of expired-key notices ("knock", docs/NOTIFY.md) in the
# namespace lab: `wgate server` (userspace backend) in the gateway namespace
# captures WireGuard handshake initiations with its eBPF socket filter. A
# real wireguard-go client whose key expired keeps retrying its handshake
# (pings force the retries); a webhook receiver must get the "log in again"
# notice exactly once. A key wgate does not know only bumps
# wgate_handshake_initiations_total{result="unknown_key"}; a valid key
# raises no notice. A reload that changes the webhook URL restarts the
# watcher: the next notice goes to the new URL.
# Usage: tests/e2e/knock.sh path/to/wgate     (root; label e2e in ctest)
# Environment: WGATE_E2E_LAB=prefix  namespace prefix (default wgknk)
set -uo pipefail
START=$(date +%s.%N)
WGATE_BIN=$(readlink -f "${1:?usage: knock.sh path/to/wgate}")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lab-lib.sh
source "$HERE/../../scripts/lab-lib.sh"

LAB=${WGATE_E2E_LAB:-wgknk}
WORK=$(mktemp -d /tmp/wgate-knock.XXXXXX)
CFG=$WORK/wgate.toml
MPORT=9587
SERVER_PID=""
HOOK_PID=""
passed=0
failed=0
G1=$LAB_G1
IF1=$LAB-$G1
A=$LAB_VPCA_HOST
TTL=8

if [ "$(id -u)" -ne 0 ]; then echo "knock e2e needs root (network namespaces, eBPF)"; exit 1; fi
for tool in wireguard-go wg wg-quick ping ip jq curl node; do
  command -v "$tool" >/dev/null || { echo "FAIL: missing $tool: run scripts/install-deps.sh"; exit 1; }
done

pass() { echo "PASS [$(date +%T.%2N)]: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL [$(date +%T.%2N)]: $*"; failed=$((failed + 1)); }
expect() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
abort() { fail "$*"; echo "$passed passed, $failed failed"; exit 1; }

cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -9 "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  [ -n "$HOOK_PID" ] && kill "$HOOK_PID" 2>/dev/null
  lab_down
  rm -rf "$WORK"
}
trap cleanup EXIT
[ -n "${KNOCK_KEEP_LOG:-}" ] && trap 'cp "$WORK/server.log" "$KNOCK_KEEP_LOG"; cleanup' EXIT

wgate() { "$WGATE_BIN" -c "$CFG" "$@"; }
scrape() { lab_exec gw curl -sS -m 5 "http://127.0.0.1:$MPORT/metrics"; }
knocks() { scrape | awk -v s="wgate_handshake_initiations_total{result=\"$1\"}" '$1 == s { print $2; f = 1 } END { exit !f }'; }
knocks_at_least() { local v; v=$(knocks "$1") && [ "${v%.*}" -ge "$2" ]; }
eventually() {
  local limit=$1; shift
  for _ in $(seq 1 $((limit * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  "$@"
}
hooks() { [ -f "$WORK/hooks.log" ] && cat "$WORK/hooks.log"; }
hooks_about() { hooks | jq -c --arg k "$1" 'select(.key | startswith($k))' 2>/dev/null; }
hook_count() { hooks_about "$1" | grep -c . ; }
# Brings host $1's tunnel from config $2 up afresh (no session left).
client_fresh() {
  lab_exec "$1" wg-quick down "$2" >/dev/null 2>&1
  lab_client_up "$1" "$2"
}

echo "== lab $LAB in $WORK"
LAB=$LAB lab_down
lab_up alice bob eve

echo "== webhook receiver and config"
ip netns exec "$LAB-gw" node "$HERE/webhook_receiver.mjs" --log "$WORK/hooks.log" --port-file "$WORK/hook.port" &
HOOK_PID=$!
for _ in $(seq 1 50); do [ -s "$WORK/hook.port" ] && break; sleep 0.1; done
[ -s "$WORK/hook.port" ] || abort "the webhook receiver started"
touch "$WORK/hooks.log"
{
  lab_gateway_config "$WORK" userspace
  printf '\n[metrics]\nlisten = "127.0.0.1:%s"\n' "$MPORT"
  # The key-age rules off: only knock notices reach the receiver.
  printf '\n[alerts]\nnever_activated_after = "0s"\nexpiry_reminder = "0s"\nin_use_window = "0s"\nretry_base = "1s"\n'
  printf 'webhook_url = "http://127.0.0.1:%s/hook"\n' "$(cat "$WORK/hook.port")"
} >"$CFG"
wgate check-config >/dev/null || { wgate check-config; abort "the knock lab's config is valid"; }
wgate init >/dev/null
wgate user add alice --group "$G1" --email alice@example.com >/dev/null
wgate user add bob --group "$G1" >/dev/null

echo "== daemon"
ip netns exec "$LAB-gw" "$WGATE_BIN" -c "$CFG" server --resync-ms 500 >>"$WORK/server.log" 2>&1 &
SERVER_PID=$!
lab_wait_for_interface_keys "$WORK/state" "$IF1" || abort "the daemon made the interface key"
expect "the daemon watches handshake initiations" eventually 5 grep -q "knock: watching handshake initiations" "$WORK/server.log"

# A key of user $2 (ttl $3, or the group's) for client host $1, its config in
# $WORK/$LAB-$1.conf; prints the key id.
client_config() {
  local host=$1 user=$2 ttl=${3:-} priv json
  priv=$WORK/$host.key
  (umask 077; wg genkey >"$priv")
  json=$(wgate --json key add "$user" "$(wg pubkey <"$priv")" --device laptop ${ttl:+--ttl "$ttl"})
  wgate config "$(jq -r .id <<<"$json")" --private-key-file "$priv" >"$WORK/$LAB-$host.conf"
  jq -r .id <<<"$json"
}

echo "== a valid key: no notice"
BOB_KEY=$(client_config bob bob)
lab_client_up bob "$WORK/$LAB-bob.conf" || echo "wg-quick up failed for bob"
expect "bob pings vpc-a" lab_ping bob "$A"
expect "his handshake is counted as valid" eventually 5 knocks_at_least valid 1

echo "== alice's key expires ($TTL s) while her client keeps trying"
ALICE_KEY=$(client_config alice alice "${TTL}s")
lab_client_up alice "$WORK/$LAB-alice.conf" || echo "wg-quick up failed for alice"
expect "alice pings vpc-a while her key is valid" lab_ping alice "$A"
ALICE_PUB=$(wg pubkey <"$WORK/alice.key")
gone() { ! lab_exec gw wg show "$IF1" peers | grep -qF -- "$ALICE_PUB"; }
expect "her peer is removed at expiry" eventually $((TTL + 5)) gone
expect "no notice while her key was valid" test "$(hook_count "stale_key_knock:$ALICE_KEY@")" = 0
# A fresh tunnel has no session: the ping needs a handshake, which the
# gateway no longer answers, so wireguard-go retries every 5 s.
client_fresh alice "$WORK/$LAB-alice.conf"
lab_exec alice ping -c 1 -w 16 -q "$A" >/dev/null 2>&1 &
PING_PID=$!
alice_noticed() { [ "$(hook_count "stale_key_knock:$ALICE_KEY@")" -ge 1 ]; }  # evaluated at each try
expect "the notice reaches the webhook" eventually 15 alice_noticed
expect "her retries are counted as expired_key (>= 3 initiations)" eventually 16 knocks_at_least expired_key 3
wait "$PING_PID" 2>/dev/null
# More retries from another fresh tunnel: still one notice (one per key per hour).
client_fresh alice "$WORK/$LAB-alice.conf"
lab_exec alice ping -c 1 -w 6 -q "$A" >/dev/null 2>&1
n_expired=$(knocks expired_key)
sleep 1
expect "exactly one notice after $n_expired expired-key initiations" test "$(hook_count "stale_key_knock:$ALICE_KEY@")" = 1
body=$(hooks_about "stale_key_knock:$ALICE_KEY@" | head -1 | jq -r .body)
says_log_in_again() {
  [ -n "$body" ] && jq -e '.person == "alice" and .device == "laptop" and (.text | test("log in again"))' <<<"$body" >/dev/null
}
expect "the notice names alice's device and says to log in again" says_log_in_again
expect "the notice is in the audit log (alert.raise, once)" \
  test "$(wgate audit --limit 100 | grep 'alert.raise' | grep -c "stale_key_knock:$ALICE_KEY@")" -ge 1

echo "== an unknown key: counted, no notice"
EVE_PRIV=$(wg genkey)
sed "s|^PrivateKey = .*|PrivateKey = $EVE_PRIV|" "$WORK/$LAB-bob.conf" >"$WORK/$LAB-eve.conf"
before=$(wc -l <"$WORK/hooks.log")
lab_client_up eve "$WORK/$LAB-eve.conf" || echo "wg-quick up failed for eve"
lab_exec eve ping -c 1 -w 2 -q "$A" >/dev/null 2>&1
expect "eve's initiations are counted as unknown_key" eventually 5 knocks_at_least unknown_key 1
sleep 1
expect "no webhook for the unknown key" test "$(wc -l <"$WORK/hooks.log")" = "$before"
expect "no notice about bob's valid key" test "$(hook_count "stale_key_knock:$BOB_KEY@")" = 0
EVE_PUB=$(wg pubkey <<<"$EVE_PRIV")
expect "the unknown key is not logged" sh -c "! grep -qF -- '$EVE_PUB' '$WORK/server.log'"
captured() { scrape | awk '$1 == "wgate_handshake_capture_total{outcome=\"copied\"}" { print $2; f = 1 } END { exit !f }'; }
expect "the capture's kernel counters are exported (copied >= 3)" test "$(captured | cut -d. -f1)" -ge 3
knock_lines=$(grep -c '\] knock:' "$WORK/server.log")
expect "no line per packet: $knock_lines knock lines in the daemon log (start, one notice)" test "$knock_lines" -le 2

echo "== reload: a new webhook URL restarts the watcher, which sends to it"
sed -i 's|^\(webhook_url = ".*\)/hook"$|\1/hook2"|' "$CFG"
grep -q '/hook2"$' "$CFG" || abort "the config now names /hook2"
kill -HUP "$SERVER_PID"
expect "the [alerts] change restarts the watcher" eventually 5 grep -q "knock: restarting the watcher" "$WORK/server.log"
watching_again() { [ "$(grep -c 'knock: watching handshake initiations' "$WORK/server.log")" -ge 2 ]; }
expect "it watches again" eventually 5 watching_again
wgate user add carol --group "$G1" >/dev/null
CAROL_KEY=$(client_config eve carol "${TTL}s")
client_fresh eve "$WORK/$LAB-eve.conf"
expect "carol pings vpc-a while her key is valid" lab_ping eve "$A"
CAROL_PUB=$(wg pubkey <"$WORK/eve.key")
carol_gone() { ! lab_exec gw wg show "$IF1" peers | grep -qF -- "$CAROL_PUB"; }
expect "her peer is removed at expiry" eventually $((TTL + 5)) carol_gone
client_fresh eve "$WORK/$LAB-eve.conf"
lab_exec eve ping -c 1 -w 12 -q "$A" >/dev/null 2>&1 &
PING_PID=$!
carol_noticed() { [ "$(hook_count "stale_key_knock:$CAROL_KEY@")" -ge 1 ]; }
expect "carol's notice reaches the webhook" eventually 15 carol_noticed
kill "$PING_PID" 2>/dev/null  # (ip netns exec runs ping as this process) no need to wait out its -w
wait "$PING_PID" 2>/dev/null
expect "at the reloaded URL (/hook2)" test "$(hooks_about "stale_key_knock:$CAROL_KEY@" | jq -r .path | sort -u)" = /hook2
expect "still exactly one notice about alice after the restart" test "$(hook_count "stale_key_knock:$ALICE_KEY@")" = 1
knock_lines=$(grep -c '\] knock:' "$WORK/server.log")
expect "$knock_lines knock lines in the daemon log (2 starts, a restart, two notices)" test "$knock_lines" -le 5

if grep -qE "runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$WORK/server.log"; then
  fail "sanitizer report in the daemon's log"
fi
echo "--- metrics"
scrape | grep -E '^wgate_handshake_(initiations|capture)_total'
echo "--- audit (knock notices)"
wgate audit --limit 100 | grep "stale_key_knock"
echo "--- webhooks"
jq -c '{n, status, key}' "$WORK/hooks.log"
if [ "$failed" -ne 0 ]; then echo "--- server log (tail)"; tail -30 "$WORK/server.log"; fi
echo "wall time: $(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f s", e - s }')"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
