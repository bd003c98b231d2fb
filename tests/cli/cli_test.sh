#!/usr/bin/env bash
# The wgate CLI against a real store, without root or network: only `wgate
# init` creates a store; bad input gets a clear error naming what was wrong
# and loses nothing already stored; --json output is machine-readable;
# devices keep their addresses; whois names person and device from lease and
# device history; `wgate flows` and `wgate traffic` print what the service
# layer recorded (filled by wgate_flow_fixture, as the daemon's filter hook
# would).
# Usage: tests/cli/cli_test.sh path/to/wgate path/to/wgate_flow_fixture
set -uo pipefail
WGATE_BIN=$(readlink -f "${1:?usage: cli_test.sh path/to/wgate path/to/wgate_flow_fixture}")
FLOW_FIXTURE=$(readlink -f "${2:?usage: cli_test.sh path/to/wgate path/to/wgate_flow_fixture}")
umask 077
WORK=$(mktemp -d /tmp/wgate-cli.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
CFG=$WORK/wgate.toml
passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
w() { "$WGATE_BIN" -c "$CFG" "$@"; }
# expect_error "what" "text the error must contain" command...
expect_error() {
  local what=$1 text=$2 out rc
  shift 2
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne 0 ] && grep -qF -- "$text" <<<"$out"; then pass "$what"; else fail "$what (rc=$rc: $out)"; fi
}
expect() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
# expect_jq "what" 'jq filter that must be true' wgate-args...
expect_jq() {
  local what=$1 filter=$2 out
  shift 2
  out=$(w --json "$@" 2>&1)
  if jq -e "$filter" >/dev/null 2>&1 <<<"$out"; then pass "$what"; else fail "$what ($filter: $out)"; fi
}
# RFC 3339 forms of a Unix time: UTC with a fraction, and at +01:00.
rfc3339_fraction() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%S.750Z; }
rfc3339_plus_one() { date -u -d "@$(($1 + 3600))" +%Y-%m-%dT%H:%M:%S+01:00; }
audit_count() { w --json audit --limit 1000 | jq length; }

command -v wg >/dev/null || { echo "wg (wireguard-tools) missing"; exit 1; }
command -v jq >/dev/null || { echo "jq missing"; exit 1; }

# A /28 cut in /30s: two usable blocks, 10.100.0.4/30 and 10.100.0.8/30.
cat >"$CFG" <<EOT
[server]
endpoint = "vpn.example.com"
store = "$WORK/wgate.db"
state_dir = "$WORK/state"
backend = "userspace"
[pool]
ipv4 = "10.100.0.0/28"
per_user = 4
[networks]
vpc-a = ["10.1.0.0/16"]
[groups.dev]
networks = ["vpc-a"]
interface = "wgt-dev"
port = 51820
table = 1001
key_ttl = "1h"
EOT

# --- config errors name the key
cp "$CFG" "$WORK/bad.toml"
sed -i 's|ipv4 = "10.100.0.0/28"|ipv4 = "10.1.2.0/24"|; s|table = 1001|table = 254|; s|per_user = 4|per_user = 3|' \
  "$WORK/bad.toml"
expect_error "check-config names the overlapping pool" "pool.ipv4: 10.1.2.0/24 overlaps network 'vpc-a'" \
  "$WGATE_BIN" -c "$WORK/bad.toml" check-config
expect_error "check-config names the reserved table in the same run" "groups.dev.table: 254 is a reserved table" \
  "$WGATE_BIN" -c "$WORK/bad.toml" check-config
expect_error "check-config names a bad per_user" "pool.per_user: 3 is not a power of two" \
  "$WGATE_BIN" -c "$WORK/bad.toml" check-config
expect_error "a missing config file is named" "$WORK/none.toml" "$WGATE_BIN" -c "$WORK/none.toml" user list
expect "check-config says how many addresses each person gets" \
  sh -c "'$WGATE_BIN' -c '$CFG' check-config | grep -q '4 addresses per person'"

# --- only `wgate init` creates a store
expect_error "a command before init fails, pointing at init" "wgate init" w user list
expect_error "user add before init fails" "no store at '$WORK/wgate.db'" w user add alice --group dev
expect "the failed commands created no store" test -z "$(ls "$WORK" | grep wgate.db)"
sed "s|store = \"$WORK/wgate.db\"|store = \"$WORK/typo/wgate.db\"|" "$CFG" >"$WORK/typo.toml"
expect_error "a wrong store path is an error" "$WORK/typo/wgate.db" "$WGATE_BIN" -c "$WORK/typo.toml" user list
expect "a wrong store path creates nothing" test ! -e "$WORK/typo"
expect "init creates the store" sh -c "'$WGATE_BIN' -c '$CFG' init | grep -q 'created store'"
expect "the store file is 0600" test "$(stat -c %a "$WORK/wgate.db")" = 600
expect "the state directory is 0700" test "$(stat -c %a "$WORK/state")" = 700
expect "init creates no interface key" test -z "$(ls -A "$WORK/state")"
expect_jq "a second init keeps the store" '.created == false' init

# --- users
expect "alice is added" w user add alice --group dev --email alice@example.com
expect_error "a duplicate user is refused" "user 'alice' already exists" w user add alice
expect_error "a bad user name is refused" "is not a valid user name" w user add "al ice"
expect_error "an unknown group is refused" "no group 'nope'" w user add bob --group nope
AUDIT_BEFORE=$(audit_count)
expect_error "a group given twice is refused" "group 'dev' is given twice" w user add x --group dev --group dev
expect_jq "the failed adds stored nothing" 'length == 1 and .[0].name == "alice"' user list
expect "... and audited nothing" test "$(audit_count)" = "$AUDIT_BEFORE"
expect_jq "alice holds the first usable block" '.[0].block == "10.100.0.4/30" and .[0].groups == ["dev"]' user list

# --- keys and devices
PRIV=$(wg genkey)
PUB=$(wg pubkey <<<"$PRIV")
expect_error "a malformed public key is refused" "public key: not a WireGuard key" w key add alice "abc="
expect_error "a key for an unknown user is refused" "no user 'zed'" w key add zed "$PUB"
ID=$(w --json key add alice "$PUB" --device laptop | jq -r .id)
expect "the laptop's key is added (id $ID)" test -n "$ID" -a "$ID" != null
expect_jq "the key is added with the group's TTL" '.[0] | (.expires_at - .created_at) == 3600' key list
expect_jq "the laptop takes the block's first address" '.[0].device == "laptop" and .[0].address == "10.100.0.4"' \
  key list
PHONE_PRIV=$(wg genkey)
PHONE_ID=$(w --json key add alice "$(wg pubkey <<<"$PHONE_PRIV")" --device phone | jq -r .id)
T_PHONE=$(date +%s)
expect_jq "the phone takes the next address of the same block" \
  ".[] | select(.id == $PHONE_ID) | .device == \"phone\" and .address == \"10.100.0.5\"" key list --user alice
expect_jq "device list shows both devices with their addresses" \
  'map({device, address}) == [{"device": "laptop", "address": "10.100.0.4"}, {"device": "phone", "address": "10.100.0.5"}]' \
  device list
# --- stale devices ([connections], service/stale_devices.h): never seen
# devices count from their creation, seconds ago here.
expect_jq "device list --stale leaves out devices silent less than 30d" 'length == 0' device list --stale
expect_jq "device list --stale --older-than 0s lists alice's never-seen devices" \
  '(map(.device) | sort) == ["laptop", "phone"] and (.[0].last_handshake == null) and (.[0].live_keys | length == 1)' \
  device list --stale --older-than 0s
expect_error "--older-than needs --stale" "--older-than needs --stale" w device list --older-than 1d
expect_error "a bad --older-than is named" "--older-than: 'soon' is not a duration" w device list --stale --older-than soon
expect_error "--log-format takes text or json" "--log-format: yaml not in {text,json}" w --log-format yaml device list
expect_error "the same public key cannot be registered twice" "already registered" w key add alice "$PUB"
expect_error "a bad --ttl is refused" "is not a duration" w key add alice "$(wg genkey | wg pubkey)" --ttl soon
expect_error "a bad device name is refused" "is not a valid device name" \
  w key add alice "$(wg genkey | wg pubkey)" --device "my laptop"
expect_error "--label (the old name of --device) and --device together are refused" "excludes" \
  w key add alice "$(wg genkey | wg pubkey)" --device laptop --label phone
expect_error "the keys of an unknown user are an error, not an empty list" "no user 'nobody'" w key list --user nobody
expect_jq "the failed key adds stored nothing" 'length == 2' key list
expect_jq "... and made no device" 'length == 2' device list

# --- client configs: the interface key comes from the daemon only
echo "$PRIV" >"$WORK/alice.key"
expect_error "config fails before the daemon made the interface key" "interface wgt-dev has no key yet" w config "$ID"
expect "... and does not make one" test ! -e "$WORK/state/wgt-dev.key"
expect_error "... also with a private key file, without blaming that file" "has no key yet" \
  w config "$ID" --private-key-file "$WORK/alice.key"
expect "... and still makes none" test -z "$(ls -A "$WORK/state")"
wg genkey >"$WORK/state/wgt-dev.key"  # what `wgate server` does when it brings wgt-dev up
GATEWAY_PUB=$(wg pubkey <"$WORK/state/wgt-dev.key")
expect "config fills in the user's own private key" \
  sh -c "'$WGATE_BIN' -c '$CFG' config $ID --private-key-file '$WORK/alice.key' | grep -qx 'PrivateKey = $PRIV'"
expect "config gives the laptop its address" sh -c "'$WGATE_BIN' -c '$CFG' config $ID | grep -qx 'Address = 10.100.0.4/32'"
expect "config gives the phone its address" \
  sh -c "'$WGATE_BIN' -c '$CFG' config $PHONE_ID | grep -qx 'Address = 10.100.0.5/32'"
expect "config names the gateway's key" \
  sh -c "'$WGATE_BIN' -c '$CFG' config $ID | grep -qxF 'PublicKey = $GATEWAY_PUB'"
wg genkey >"$WORK/other.key"
expect_error "config refuses a private key that is not the key's" "is not the private half of key $ID" \
  w config "$ID" --private-key-file "$WORK/other.key"
expect_error "... naming the file" "$WORK/other.key" w config "$ID" --private-key-file "$WORK/other.key"
expect "config without a private key leaves a comment, never a key" \
  sh -c "'$WGATE_BIN' -c '$CFG' config $ID | grep -q '^# PrivateKey'"
expect "the gateway key was not rewritten" test "$(wg pubkey <"$WORK/state/wgt-dev.key")" = "$GATEWAY_PUB"
expect_error "revoking an unknown key is refused" "no key 99" w key revoke 99
expect "the laptop's key is revoked" w key revoke "$ID"
expect_error "revoking twice is refused" "already revoked" w key revoke "$ID"
expect_error "no config for a revoked key" "is revoked" w config "$ID"
out=$(w config "$ID" --private-key-file "$WORK/alice.key" 2>&1)
expect "a revoked key's error does not blame the private key file ($out)" \
  test "$out" = "wgate: key $ID is revoked"
NEW_ID=$(w --json key add alice "$(wg genkey | wg pubkey)" --device laptop | jq -r .id)
expect_jq "a renewed key keeps the laptop's address" ".[] | select(.id == $NEW_ID) | .address == \"10.100.0.4\"" \
  key list

# --- explain: which step decides
expect_jq "explain: alice's laptop reaches vpc-a, every step named" \
  ".allowed and (.devices[] | select(.device == \"laptop\") | [.steps[].step] == [\"person\",\"key\",\"table\",\"firewall\",\"l4-rules\"])" \
  explain alice 10.1.2.3 tcp/5432
expect_jq "explain: outside dev's networks the group table decides" \
  '(.allowed | not) and (.devices[] | select(.device == "laptop") | .deciding_step == "table")' explain alice 10.9.0.1
expect_jq "explain by device address names the person and the device" \
  '.person == "alice" and (.devices | map(.device)) == ["laptop"]' explain 10.100.0.4 10.1.0.1 icmp
expect "explain says it in words too" sh -c "'$WGATE_BIN' -c '$CFG' explain alice 10.9.0.1 | grep -q 'blackhole default'"

# --- plan --config: a preview of another config, nothing applied
cp "$CFG" "$WORK/next.toml"
printf '[[policy]]\ngroup = "dev"\nto = "vpc-a"\nallow = ["tcp/22"]\n' >>"$WORK/next.toml"
before_plan=$(w --json plan)
expect_jq "plan --config names the filter rules and what alice gains and loses" \
  '.changes and (.filter_rules_added == ["group dev: 10.1.0.0/16 tcp/22"]) and (.access_lost.alice == ["10.1.0.0/16 all"]) and (.access_gained.alice == ["10.1.0.0/16 tcp/22"])' \
  plan --config "$WORK/next.toml"
expect "plan --config applied nothing (the plan is as before)" test "$(w --json plan)" = "$before_plan"
expect_jq "plan --config of the running config changes nothing" '.changes | not' plan --config "$CFG"
printf '[[policy]]\ngroup = "nope"\nto = "vpc-a"\nallow = ["tcp/22"]\n' >>"$WORK/next.toml"
expect_error "plan --config of a bad config names its error" "policy[1].group: unknown group 'nope'" \
  w plan --config "$WORK/next.toml"
expect_error "explain refuses a bad port" "the port must be a number" w explain alice 10.1.2.3 tcp/70000
expect_error "explain names an unknown person" "no person named 'zed'" w explain zed 10.1.2.3

# --- whois names the device; device remove
expect_jq "whois names the person and the device" \
  '.user == "alice" and .device == "phone" and .block == "10.100.0.4/30"' whois 10.100.0.5
expect "whois says it in words too" sh -c "'$WGATE_BIN' -c '$CFG' whois 10.100.0.5 | grep -q 'alice.*device phone'"
sleep 1
expect "the phone is removed" w device remove alice phone
expect_error "removing it again is refused" "user 'alice' has no device 'phone'" w device remove alice phone
expect_jq "its key was revoked with it" ".[] | select(.id == $PHONE_ID) | .state == \"revoked\"" key list
expect_jq "device list no longer shows it" 'map(.device) == ["laptop"]' device list
expect_jq "whois now: alice, no device in that slot" '.user == "alice" and .device == null' whois 10.100.0.5
expect_jq "whois --at (with a fraction) names the phone" '.user == "alice" and .device == "phone"' \
  whois 10.100.0.5 --at "$(rfc3339_fraction "$T_PHONE")"
expect_jq "whois --at (at +01:00) names the phone" '.device == "phone"' \
  whois 10.100.0.5 --at "$(rfc3339_plus_one "$T_PHONE")"

# --- lease history: the /28 has two blocks; the released one is reused last
expect_jq "bob gets the second block" '.block == "10.100.0.8/30"' user add bob --group dev
T_ALICE=$(date +%s)
sleep 1
expect "alice is disabled (lease ended)" w user disable alice
sleep 1
CAROL_BLOCK=$(w --json user add carol --group dev | jq -r .block)
expect "carol gets the block alice released ($CAROL_BLOCK)" test "$CAROL_BLOCK" = 10.100.0.4/30
expect_error "the pool is exhausted with a clear error" "10.100.0.0/28 is exhausted (2 blocks of 4 addresses" \
  w user add dave
expect_jq "whois now names carol" '.user == "carol" and .device == null' whois 10.100.0.4
expect_jq "whois --at the past names alice and her laptop" '.user == "alice" and .device == "laptop"' \
  whois 10.100.0.4 --at "$T_ALICE"
expect_jq "whois --at an RFC 3339 time at +01:00 names alice" '.user == "alice"' \
  whois 10.100.0.4 --at "$(rfc3339_plus_one "$T_ALICE")"
expect_jq "whois --at an RFC 3339 time with a fraction names alice" '.user == "alice"' \
  whois 10.100.0.4 --at "$(rfc3339_fraction "$T_ALICE")"
expect_jq "whois of any address of the block keeps its history" '.history | map(.user) == ["alice", "carol"]' \
  whois 10.100.0.6
expect_error "whois rejects a bad time, naming it" "'yesterday' is not a time" w whois 10.100.0.4 --at yesterday
expect_error "whois rejects an invalid date" "'2026-02-30T00:00:00+01:00' is not a time" \
  w whois 10.100.0.4 --at 2026-02-30T00:00:00+01:00
expect_error "whois rejects a bad address" "is not an IP address" w whois 10.100.0.300
expect_error "alice cannot be enabled while the pool is full" "exhausted" w user enable alice

# --- flows and traffic: recorded through the service layer, printed by the CLI
# (10.100.0.4 was alice's laptop at T_ALICE and is carol's now, with no device).
expect_jq "no flows yet" '.flows == [] and .next_cursor == null' flows
AUDIT_BEFORE=$(audit_count)
NOW=$(date +%s)
expect "flows are recorded" "$FLOW_FIXTURE" "$CFG" <<EOT
flow 10.100.0.4 10.1.2.3 $T_ALICE 6 40000 443 allow wgt-dev
flow 10.100.0.4 10.1.9.9 $NOW 17 5353 53 deny wgt-dev
flow 10.200.0.1 10.9.0.1 $NOW 1 0 2048 deny wgt-dev
EOT
expect "... and not audited (observations, not changes)" test "$(audit_count)" = "$AUDIT_BEFORE"
expect_jq "flows lists them newest first" '[.flows[].destination] == ["10.9.0.1", "10.1.9.9", "10.1.2.3"]' flows
expect_jq "a flow from the past is alice's laptop" \
  '.flows == [.flows[0]] and (.flows[0] | .user == "alice" and .device == "laptop" and .verdict == "allow" and .protocol == "tcp" and .destination_port == 443 and .interface == "wgt-dev")' \
  flows --user alice
expect_jq "the same address now is carol's" '[.flows[] | .destination] == ["10.1.9.9"] and .flows[0].user == "carol"' \
  flows --user carol
expect_jq "an address nobody held is recorded as unknown" '.flows[0].user == null and .flows[0].icmp_type == 8' \
  flows --dst 10.9.0.1
expect_jq "--dst takes a CIDR prefix" '[.flows[].destination] == ["10.1.9.9", "10.1.2.3"]' flows --dst 10.1.0.0/16
expect_jq "--verdict deny" '[.flows[].verdict] == ["deny", "deny"]' flows --verdict deny
expect_jq "--since (RFC 3339) leaves out alice's old flow" '(.flows | length) == 2' \
  flows --since "$(date -u -d "@$((T_ALICE + 1))" +%Y-%m-%dT%H:%M:%SZ)"
expect_jq "--until (Unix seconds) keeps only it" '[.flows[].user] == ["alice"]' flows --until "$T_ALICE"
CURSOR=$(w --json flows --limit 2 | jq -r .next_cursor)
expect "a page of 2 of 3 hands out a cursor ($CURSOR)" test -n "$CURSOR" -a "$CURSOR" != null
expect_jq "the cursor fetches the rest" '[.flows[].user] == ["alice"] and .next_cursor == null' \
  flows --limit 2 --cursor "$CURSOR"
expect "the human form says how to go on" \
  sh -c "'$WGATE_BIN' -c '$CFG' flows --limit 2 | grep -qF -- '--cursor $CURSOR'"
expect "the human form names person, device and endpoints" \
  sh -c "'$WGATE_BIN' -c '$CFG' flows --user alice | grep -qE 'allow +alice/laptop +10.100.0.4:40000 +-> 10.1.2.3:443 +tcp'"
expect_error "a bad cursor is a clear error" "cursor 'xyz' is not one a flow listing handed out" \
  w flows --cursor xyz
expect_error "a bad --dst is named" "destination" w flows --dst 10.1.0.0/40
expect_error "a bad --verdict is named" "verdict 'ok' is neither allow nor deny" w flows --verdict ok
expect_error "a bad --since is named" "'yesterday' is not a time" w flows --since yesterday
expect_error "--limit 0 is refused" "limit 0 is outside 1 .. 1000" w flows --limit 0
expect_error "an unknown --user is named" "no user 'zed'" w flows --user zed

expect "no traffic yet" sh -c "'$WGATE_BIN' -c '$CFG' traffic | grep -q 'no traffic recorded'"
expect "counter samples are recorded" "$FLOW_FIXTURE" "$CFG" <<EOT
traffic 1 $NOW 10.100.0.4 10 1000 0 0
traffic 1 $NOW 10.100.0.4 15 1500 1 60
traffic 2 $NOW 10.100.0.4 2 100 0 0
traffic 1 $NOW 10.100.0.8 3 300 0 0
EOT
expect_jq "traffic sums carol's samples across a filter reload" \
  '.[] | select(.user == "carol") | .pass_packets == 17 and .pass_bytes == 1600 and .drop_packets == 1 and .drop_bytes == 60' \
  traffic
expect_jq "traffic lists each person once" '[.[].user] == ["bob", "carol"]' traffic
expect "the human form shows the totals" \
  sh -c "'$WGATE_BIN' -c '$CFG' traffic | grep -qx 'carol: pass 17 packets 1600 bytes, drop 1 packets 60 bytes'"

# --- audit
expect_jq "every change is audited with its actor" \
  'map(.action) | (index("key.revoke") != null and index("user.disable") != null and index("device.remove") != null)' \
  audit --limit 100
expect "nothing ever made an interface key but the test's stand-in for the daemon" \
  test "$(ls -A "$WORK/state")" = wgt-dev.key

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
