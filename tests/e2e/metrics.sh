#!/usr/bin/env bash
# End-to-end test of the daemon's [metrics] endpoints in the namespace lab:
# `wgate server` in the gateway namespace serves /metrics, /healthz and
# /readyz on that namespace's loopback; real wireguard-go clients move
# traffic, and the scrape must show it (bytes > 0 and growing, a handshake,
# interface up, key counts as `key list` has them). Events of another
# process show in the daemon's scrape: `wgate web` (its IdP unreachable on
# purpose) records a failed browser login and fails to deliver a
# never-activated alert (the webhook's port is closed); the eBPF filter
# (when built) denies a port the lab's policy leaves out. Those counters
# keep their values across a daemon restart. Prometheus's own
# `promtool check metrics` must accept the scrape.
# Usage: tests/e2e/metrics.sh path/to/wgate     (root; label e2e in ctest)
# Environment: WGATE_E2E_LAB=prefix  namespace prefix (default wgmet)
set -uo pipefail
WGATE_BIN=$(readlink -f "${1:?usage: metrics.sh path/to/wgate}")
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../scripts/lab-lib.sh
source "$HERE/../../scripts/lab-lib.sh"

LAB=${WGATE_E2E_LAB:-wgmet}
WORK=$(mktemp -d /tmp/wgate-metrics.XXXXXX)
CFG=$WORK/wgate.toml
PORT=9586
URL=http://127.0.0.1:$PORT
WEB_PORT=9587
WEB_URL=http://127.0.0.1:$WEB_PORT
SERVER_PID=""
WEB_PID=""
HOLD_PID=""
passed=0
failed=0
G1=$LAB_G1 G2=$LAB_G2
IF1=$LAB-$G1 IF2=$LAB-$G2
A=$LAB_VPCA_HOST

if [ "$(id -u)" -ne 0 ]; then echo "metrics e2e needs root (network namespaces)"; exit 1; fi
# promtool is the point of the test: missing, it fails (no skip).
for tool in wireguard-go wg wg-quick ping ip jq curl promtool; do
  command -v "$tool" >/dev/null || { echo "FAIL: missing $tool: run scripts/install-deps.sh"; exit 1; }
done

pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
expect() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

cleanup() {
  [ -n "$HOLD_PID" ] && kill "$HOLD_PID" 2>/dev/null
  if [ -n "$WEB_PID" ]; then kill -9 "$WEB_PID" 2>/dev/null; wait "$WEB_PID" 2>/dev/null; fi
  if [ -n "$SERVER_PID" ]; then kill -9 "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  lab_down
  rm -rf "$WORK"
}
trap cleanup EXIT

wgate() { "$WGATE_BIN" -c "$CFG" "$@"; }
scrape() { lab_exec gw curl -sS -m 5 "$URL/metrics"; }
# The value of one series (exact name and labels as wgate writes them), or
# nothing when the scrape lacks it.
value_of() { scrape | awk -v s="$1" '$1 == s { print $2; found = 1 } END { exit !found }'; }
# Polls (up to $1 s) until command $2... succeeds.
eventually() {
  local limit=$1; shift
  for _ in $(seq 1 $((limit * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  "$@"
}
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'; }
series_gt() { local v; v=$(value_of "$1") && gt "$v" "$2"; }
series_is() { local v; v=$(value_of "$1") && [ "$v" = "$2" ]; }
http_code() { lab_exec gw curl -s -o /dev/null -m 5 -w '%{http_code}' "$URL$1"; }
# (A function, so that `eventually` asks again each time: a "$(http_code)"
# in its arguments would be asked once.)
code_is() { [ "$(http_code "$1")" = "$2" ]; }
# Key counts by state: the scrape's against `wgate key list`'s.
keys_match() {
  local st json_st want got
  for st in active never_used expired revoked superseded; do
    json_st=${st/never_used/never-used}
    want=$(wgate --json key list | jq --arg s "$json_st" '[.[] | select(.state == $s)] | length')
    got=$(value_of "wgate_keys{state=\"$st\"}") || return 1
    [ "$want" = "$got" ] || { echo "keys{state=$st}: scrape $got, key list $want"; return 1; }
  done
}

echo "== lab $LAB in $WORK"
LAB=$LAB lab_down
lab_up alice bob

echo "== config"
lab_gateway_config "$WORK" userspace >"$CFG"
cp "$CFG" "$WORK/bad.toml"
printf '\n[metrics]\nlisten = "localhost:%s"\nbogus = 1\n' "$PORT" >>"$WORK/bad.toml"
out=$("$WGATE_BIN" -c "$WORK/bad.toml" check-config 2>&1)
expect "check-config refuses a host name in metrics.listen" grep -q "metrics.listen: 'localhost:$PORT' is not address:port" <<<"$out"
expect "check-config refuses an unknown [metrics] key" grep -q "metrics.bogus: unknown key" <<<"$out"
printf '\n[metrics]\nlisten = "127.0.0.1:%s"\n' "$PORT" >>"$CFG"
# `wgate web` for logins and alerts: nobody listens on port 9 (discard), so
# the IdP cannot be reached and every webhook attempt is refused. The policy
# gives $G1 ping and ssh to vpc-a, so the filter denies other ports.
cat >>"$CFG" <<EOF

[oidc]
issuer = "http://127.0.0.1:9"
client_id = "wgate"

[web]
listen = "127.0.0.1:$WEB_PORT"
public_url = "$WEB_URL"

[alerts]
never_activated_after = "2s"
expiry_reminder = "0s"
retry_base = "1s"
webhook_url = "http://127.0.0.1:9/hook"

[[policy]]
group = "$G1"
to = "vpc-a"
allow = ["icmp", "tcp/22"]
EOF
expect "the lab's config with [metrics] is valid" wgate check-config
wgate init >/dev/null
wgate user add alice --group "$G1" >/dev/null
wgate user add bob --group "$G2" >/dev/null

echo "== daemon"
# `ip netns exec` execs: $! is wgate itself. A short resync so full passes
# (which read the counters) come often.
ip netns exec "$LAB-gw" "$WGATE_BIN" -c "$CFG" server --resync-ms 500 >>"$WORK/server.log" 2>&1 &
SERVER_PID=$!
lab_wait_for_interface_keys "$WORK/state" "$IF1" "$IF2" || { tail -20 "$WORK/server.log"; fail "the daemon made the interface keys"; }
expect "/healthz answers 200" eventually 5 code_is /healthz 200
expect "/readyz answers 200 after the first full pass" eventually 5 code_is /readyz 200
ctype=$(lab_exec gw curl -s -o /dev/null -m 5 -w '%{content_type}' "$URL/metrics")
expect "Content-Type is the text format 0.0.4 ($ctype)" test "$ctype" = "text/plain; version=0.0.4; charset=utf-8"

echo "== clients"
connect() {
  local host=$1 user=$2 device=$3 priv pub json
  priv=$WORK/$host.key
  (umask 077; wg genkey >"$priv")
  pub=$(wg pubkey <"$priv")
  json=$(wgate --json key add "$user" "$pub" --device "$device")
  wgate config "$(jq -r .id <<<"$json")" --private-key-file "$priv" >"$WORK/$LAB-$host.conf"
  lab_client_up "$host" "$WORK/$LAB-$host.conf" || echo "wg-quick up failed for $host"
  printf -v "KEY_ID_$host" %s "$(jq -r .id <<<"$json")"
}
KEY_ID_alice="" KEY_ID_bob=""
connect alice alice laptop
connect bob bob laptop
ALICE="{person=\"alice\",device=\"laptop\",group=\"$G1\",interface=\"$IF1\",key=\"$KEY_ID_alice\"}"
BOB="{person=\"bob\",device=\"laptop\",group=\"$G2\",interface=\"$IF2\",key=\"$KEY_ID_bob\"}"
expect "alice pings vpc-a through her tunnel" lab_ping alice "$A"
expect "bob pings vpc-a through his tunnel" lab_ping bob "$A"

echo "== values"
expect "alice's receive bytes > 0" eventually 5 series_gt "wgate_device_receive_bytes_total$ALICE" 0
expect "alice's transmit bytes > 0" eventually 5 series_gt "wgate_device_transmit_bytes_total$ALICE" 0
expect "alice's last handshake is a recent unix time" eventually 5 series_gt "wgate_device_last_handshake_seconds$ALICE" $(($(date +%s) - 120))
expect "bob's receive bytes > 0" eventually 5 series_gt "wgate_device_receive_bytes_total$BOB" 0
rx1=$(value_of "wgate_device_receive_bytes_total$ALICE")
tx1=$(value_of "wgate_device_transmit_bytes_total$ALICE")
lab_exec alice ping -c 40 -i 0.05 -s 1000 -q "$A" >/dev/null 2>&1
expect "alice's receive bytes grow with traffic (> $rx1 + 20000)" eventually 5 series_gt "wgate_device_receive_bytes_total$ALICE" $((rx1 + 20000))
expect "alice's transmit bytes grow with traffic (> $tx1 + 20000)" eventually 5 series_gt "wgate_device_transmit_bytes_total$ALICE" $((tx1 + 20000))
expect "interface $IF1 is up" series_is "wgate_interface_up{interface=\"$IF1\",group=\"$G1\"}" 1
expect "interface $IF2 is up" series_is "wgate_interface_up{interface=\"$IF2\",group=\"$G2\"}" 1
expect "$IF1 has 1 peer" series_is "wgate_interface_peers{interface=\"$IF1\"}" 1
expect "keys{state=\"active\"} is 2" eventually 5 series_is 'wgate_keys{state="active"}' 2
expect "every wgate_keys state matches \`wgate key list\`" eventually 5 keys_match
expect "full passes are counted" series_gt 'wgate_reconcile_passes_total{kind="full"}' 0
expect "incremental passes are counted (one per key add)" series_gt 'wgate_reconcile_passes_total{kind="incremental"}' 0
expect "reconcile durations are observed" series_gt 'wgate_reconcile_duration_seconds_count' 0
expect "build info names the version" sh -c "ip netns exec $LAB-gw curl -sS -m 5 $URL/metrics | grep -q '^wgate_build_info{version=\"[0-9.]*\"} 1$'"
expect "no public key appears in the scrape" sh -c "! ip netns exec $LAB-gw curl -sS -m 5 $URL/metrics | grep -qF -- '$(wg pubkey <"$WORK/alice.key")'"

echo "== events of every process, counted by the store"
LOGIN_FAIL='wgate_logins_total{result="failure",kind="browser"}'
ATTEMPTS_FAILED='wgate_alert_attempts_failed_total{channel="webhook",kind="never_activated"}'
for s in 'wgate_logins_total{result="success",kind="browser"}' 'wgate_logins_total{result="success",kind="cli"}' \
  "$LOGIN_FAIL" 'wgate_logins_total{result="failure",kind="cli"}' \
  'wgate_alerts_sent_total{channel="webhook",kind="never_activated"}' "$ATTEMPTS_FAILED" \
  'wgate_alerts_failed_total{channel="email",kind="stale_key_knock"}' 'wgate_event_read_errors_total'; do
  expect "$s is 0 before any login or alert" series_is "$s" 0
done
ip netns exec "$LAB-gw" "$WGATE_BIN" -c "$CFG" web >>"$WORK/web.log" 2>&1 &
WEB_PID=$!
expect "wgate web answers" eventually 10 sh -c "ip netns exec $LAB-gw curl -s -m 1 $WEB_URL/healthz | grep -qx ok"
code=$(lab_exec gw curl -s -o /dev/null -m 5 -w '%{http_code}' "$WEB_URL/auth/callback?state=forged&code=x")
expect "a forged login callback is refused by wgate web ($code)" test "$code" = 400
expect "the daemon's scrape counts wgate web's failed browser login" eventually 5 series_is "$LOGIN_FAIL" 1
expect "no successful login is counted" series_is 'wgate_logins_total{result="success",kind="browser"}' 0
# A key that is never used: wgate web raises never_activated after 2 s and
# its webhook attempts fail (retried after 1 s, 3 s, ...).
wgate user add carol --group "$G1" >/dev/null
wgate key add carol "$(wg genkey | wg pubkey)" --device phone >/dev/null
expect "failed webhook attempts are counted (web's dispatcher)" eventually 15 series_gt "$ATTEMPTS_FAILED" 0
expect "...and retried: a second failed attempt" eventually 15 series_gt "$ATTEMPTS_FAILED" 1
expect "nothing was sent" series_is 'wgate_alerts_sent_total{channel="webhook",kind="never_activated"}' 0
if grep -q "eBPF filter loaded" "$WORK/server.log"; then
  DENIED='wgate_flows_total{verdict="denied",reason="proto-port"}'
  d0=$(value_of "$DENIED")
  p0=$(value_of 'wgate_filter_packets_total{verdict="denied"}')
  # tcp/5432 is not in $G1's policy: the filter drops alice's SYNs.
  lab_exec alice timeout 2 bash -c "exec 3<>/dev/tcp/$A/5432" >/dev/null 2>&1
  expect "alice's denied tcp/5432 is a denied flow record (was $d0)" eventually 10 series_gt "$DENIED" "$d0"
  # The filter's counters are sampled every 15 s (agent/flow_recorder.h).
  expect "the filter's denied packets grow (was $p0)" eventually 20 series_gt 'wgate_filter_packets_total{verdict="denied"}' "$p0"
  expect "alice's pings are allowed flow records" eventually 10 series_gt 'wgate_flows_total{verdict="allowed",reason="rule"}' 0
  expect "the filter's allowed packets are counted" series_gt 'wgate_filter_packets_total{verdict="allowed"}' 0
else
  echo "(eBPF filter not loaded: flow counters checked for presence only)"
  expect "flow records are counted (none)" series_is 'wgate_flows_total{verdict="denied",reason="no-rule"}' 0
  expect "filter packets are counted (none)" series_is 'wgate_filter_packets_total{verdict="denied"}' 0
fi

echo "== the counters survive a daemon restart"
scrape >"$WORK/before-restart.txt"
counters_before=$(grep -E '^wgate_(logins|alerts_sent|alerts_failed|alert_attempts_failed|flows|filter_packets)_total' "$WORK/before-restart.txt")
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
ip netns exec "$LAB-gw" "$WGATE_BIN" -c "$CFG" server --resync-ms 500 >>"$WORK/server.log" 2>&1 &
SERVER_PID=$!
expect "the restarted daemon serves /metrics" eventually 30 code_is /metrics 200
echo "(after the restart, /readyz says: $(lab_exec gw curl -s -m 2 "$URL/readyz"))"
not_lower() {  # every counter of the first scrape is in the new one, not lower
  local now after name val
  now=$(scrape) || return 1
  while read -r name val; do
    after=$(awk -v s="$name" '$1 == s { print $2 }' <<<"$now")
    if [ -z "$after" ] || gt "$val" "$after"; then echo "$name: $val before, '$after' after"; return 1; fi
  done <<<"$counters_before"
}
expect "no event counter went down or vanished across the restart ($(wc -l <<<"$counters_before") series)" not_lower
expect "the failed login is still counted" series_is "$LOGIN_FAIL" 1

echo "== promtool"
scrape >"$WORK/scrape.txt"
if promtool check metrics <"$WORK/scrape.txt" >"$WORK/promtool.out" 2>&1; then
  pass "promtool check metrics accepts the scrape ($(wc -l <"$WORK/scrape.txt") lines)"
else
  fail "promtool check metrics: $(cat "$WORK/promtool.out")"
fi
# Control: the check above can fail (a malformed line, a counter not named
# *_total).
expect "control: promtool refuses a broken scrape" sh -c "! printf 'wgate_x{a=\"b} 1\n' | promtool check metrics >/dev/null 2>&1"
expect "control: promtool refuses a counter without _total" \
  sh -c "! printf '# HELP wgate_x x\n# TYPE wgate_x counter\nwgate_x 1\n' | promtool check metrics >/dev/null 2>&1"

echo "== a stalled scrape does not hold the reconcile loop"
# A client that connects and never sends its request holds the metrics
# thread's connection; the daemon must still apply a revocation at once.
lab_exec gw bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; printf 'GET /metrics HTTP/1.1\r\n' >&3; sleep 30" &
HOLD_PID=$!
sleep 0.2
wgate key revoke "$KEY_ID_bob" >/dev/null
gone() { ! lab_exec gw wg show "$IF2" peers | grep -q .; }
expect "bob's peer is removed within 2 s while a scrape stalls" eventually 2 gone
expect "bob's series are gone from the scrape" eventually 3 sh -c "! ip netns exec $LAB-gw curl -sS -m 5 $URL/metrics | grep -q 'person=\"bob\"'"
expect "keys{state=\"revoked\"} is 1" eventually 5 series_is 'wgate_keys{state="revoked"}' 1
expect "every wgate_keys state still matches \`wgate key list\`" eventually 5 keys_match
kill "$HOLD_PID" 2>/dev/null; HOLD_PID=""

echo "== Grafana example"
DASH=$REPO/examples/grafana-wgate.json
expect "examples/grafana-wgate.json is valid JSON with panels" sh -c "jq -e '.panels | length > 0' '$DASH' >/dev/null"
missing=""
for m in $(jq -r '.. | .expr? // empty' "$DASH" | grep -o 'wgate_[a-z_]*' | sort -u); do
  base=${m%_bucket}; base=${base%_count}; base=${base%_sum}
  grep -q "^# TYPE $base " "$WORK/scrape.txt" || missing="$missing $m"
done
expect "every metric the dashboard queries is in the scrape${missing:+ (missing:$missing)}" test -z "$missing"

if grep -qE "runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$WORK/server.log"; then
  fail "sanitizer report in the daemon's log"
fi
echo "--- scrape (excerpt)"
grep -E "^wgate_(device_receive|interface_up|keys|reconcile_passes)" "$WORK/scrape.txt"
grep -E "^wgate_(logins|alerts_sent|alerts_failed|alert_attempts_failed|flows|filter_packets|filter_bytes)_total.* [1-9][0-9]*$" "$WORK/scrape.txt"
echo "--- promtool"
cat "$WORK/promtool.out"
if [ "$failed" -ne 0 ]; then echo "--- server log (tail)"; tail -30 "$WORK/server.log"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
