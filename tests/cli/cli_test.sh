#!/usr/bin/env bash
# The wgate CLI against a real store, without root or network: bad input
# gets a clear error naming what was wrong and loses nothing already stored;
# --json output is machine-readable; whois answers from lease history.
# Usage: tests/cli/cli_test.sh path/to/wgate
set -uo pipefail
WGATE_BIN=$(readlink -f "${1:?usage: cli_test.sh path/to/wgate}")
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

cat >"$CFG" <<EOT
[server]
endpoint = "vpn.example.com"
store = "$WORK/wgate.db"
state_dir = "$WORK/state"
backend = "userspace"
[pool]
ipv4 = "10.100.0.0/30"
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
sed -i 's|ipv4 = "10.100.0.0/30"|ipv4 = "10.1.2.0/24"|; s|table = 1001|table = 254|' "$WORK/bad.toml"
expect_error "check-config names the overlapping pool" "pool.ipv4: 10.1.2.0/24 overlaps network 'vpc-a'" \
  "$WGATE_BIN" -c "$WORK/bad.toml" check-config
expect_error "check-config names the reserved table in the same run" "groups.dev.table: 254 is a reserved table" \
  "$WGATE_BIN" -c "$WORK/bad.toml" check-config
expect_error "a missing config file is named" "$WORK/none.toml" "$WGATE_BIN" -c "$WORK/none.toml" user list

# --- users
expect "alice is added" w user add alice --group dev --email alice@example.com
expect_error "a duplicate user is refused" "user 'alice' already exists" w user add alice
expect_error "a bad user name is refused" "is not a valid user name" w user add "al ice"
expect_error "an unknown group is refused" "no group 'nope'" w user add bob --group nope
expect "the failed adds stored nothing" test "$(w --json user list | jq length)" = 1
expect "alice kept her address" test "$(w --json user list | jq -r '.[0].address')" = 10.100.0.1
expect "the store file is 0600" test "$(stat -c %a "$WORK/wgate.db")" = 600

# --- keys
PRIV=$(wg genkey 2>/dev/null || echo "")
if [ -z "$PRIV" ]; then echo "wg (wireguard-tools) missing"; exit 1; fi
PUB=$(wg pubkey <<<"$PRIV")
expect_error "a malformed public key is refused" "public_key: not a WireGuard key" w key add alice "abc="
expect_error "a key for an unknown user is refused" "no user 'zed'" w key add zed "$PUB"
ID=$(w --json key add alice "$PUB" --label laptop | jq -r .id)
expect "the key is added with the group's TTL" \
  sh -c "'$WGATE_BIN' -c '$CFG' --json key list | jq -e '.[0] | (.expires_at - .created_at) == 3600' >/dev/null"
expect_error "the same public key cannot be registered twice" "already registered" w key add alice "$PUB"
expect_error "a bad --ttl is refused" "is not a duration" w key add alice "$(wg genkey | wg pubkey)" --ttl soon
expect "the failed key adds stored nothing" test "$(w --json key list | jq length)" = 1
echo "$PRIV" >"$WORK/alice.key"
expect "config fills in the user's own private key" sh -c "'$WGATE_BIN' -c '$CFG' config $ID --private-key-file '$WORK/alice.key' | grep -qx 'PrivateKey = $PRIV'"
expect "the gateway key file is 0600" test "$(stat -c %a "$WORK/state/wgt-dev.key")" = 600
wg genkey >"$WORK/other.key"
expect_error "config refuses a private key that is not the key's" "is not the private half of key $ID" \
  w config "$ID" --private-key-file "$WORK/other.key"
expect "config without a private key leaves a comment, never a key" sh -c "'$WGATE_BIN' -c '$CFG' config $ID | grep -q '^# PrivateKey'"
expect_error "revoking an unknown key is refused" "99" w key revoke 99
expect "the key is revoked" w key revoke "$ID"
expect_error "revoking twice is refused" "already revoked" w key revoke "$ID"
expect_error "no config for a revoked key" "is revoked" w config "$ID"

# --- lease history: a /30 has 2 addresses; the released one is reused last
expect "bob is added" w user add bob --group dev
T_ALICE=$(date +%s)
sleep 1
expect "alice is disabled (lease ended)" w user disable alice
sleep 1
CAROL_IP=$(w --json user add carol --group dev | jq -r .address)
expect "carol gets the address alice released ($CAROL_IP)" test "$CAROL_IP" = 10.100.0.1
expect_error "the pool is exhausted with a clear error" "is exhausted" w user add dave
expect "whois now names carol" sh -c "'$WGATE_BIN' -c '$CFG' --json whois 10.100.0.1 | jq -e '.user == \"carol\"' >/dev/null"
expect "whois --at the past names alice" sh -c "'$WGATE_BIN' -c '$CFG' --json whois 10.100.0.1 --at $T_ALICE | jq -e '.user == \"alice\"' >/dev/null"
expect_error "whois rejects a bad time, naming it" "'yesterday' is not a time" w whois 10.100.0.1 --at yesterday
expect_error "whois rejects a bad address" "is not an IP address" w whois 10.100.0.300
expect_error "alice cannot be enabled while the pool is full" "exhausted" w user enable alice

# --- audit
expect "every change is audited with its actor" sh -c "'$WGATE_BIN' -c '$CFG' --json audit --limit 100 | jq -e 'map(.action) | index(\"key.revoke\") != null and index(\"user.disable\") != null' >/dev/null"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
