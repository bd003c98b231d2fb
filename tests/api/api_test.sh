#!/usr/bin/env bash
# The admin API against docs/openapi.yaml (tests/api/api_test.mjs), on a
# `wgate web` serving a temporary store on loopback. No root, no IdP: the
# [oidc] issuer is a closed loopback port (the web process starts anyway and
# only logins would fail). Sessions (one admin, one not) are written into
# the store as a login records them (SHA-256 of the token, the admin flag
# its IdP groups gave); the full OIDC login that sets that flag is covered
# by the service's unit tests and the SSO lab, not here.
# Usage: api_test.sh path/to/wgate
set -euo pipefail
WGATE=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
command -v node >/dev/null || { echo "SKIP: node is missing"; exit 77; }
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 is missing (scripts/install-deps.sh)"; exit 1; }
[ -d "$HERE/node_modules/ajv" ] || { echo "FAIL: npm ci in tests/api first (scripts/install-deps.sh)"; exit 1; }

WORK=$(mktemp -d /tmp/wgate-api-test.XXXXXX)
WEB_PID=
cleanup() {
  if [ -n "$WEB_PID" ]; then kill "$WEB_PID" 2>/dev/null || true; wait "$WEB_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/wgate.toml" <<CONF
[server]
endpoint = "vpn.example.com"
store = "$WORK/db/wgate.db"
state_dir = "$WORK/state"

[pool]
ipv4 = "10.100.0.0/16"
per_user = 4

[networks]
vpc-a = ["10.1.0.0/16"]

[groups.dev]
networks = ["vpc-a"]
interface = "wgapi-dev"
port = 51820
table = 1001

[groups.ops]
networks = ["vpc-a"]
interface = "wgapi-ops"
port = 51821
table = 1002

[oidc]
issuer = "http://127.0.0.1:1"
client_id = "wgate"

[web]
listen = "127.0.0.1:$PORT"
public_url = "http://127.0.0.1:$PORT"
admin_groups = ["/wgate-admins"]
CONF
w() { "$WGATE" -c "$WORK/wgate.toml" "$@"; }
pubkey() { python3 -c 'import os,base64; print(base64.b64encode(os.urandom(32)).decode())'; }

w init >/dev/null
w user add alice --group dev >/dev/null
w user add admin --group dev >/dev/null
w user add user --group dev >/dev/null
w key add alice "$(pubkey)" --device laptop --ttl 1d >/dev/null
sleep 1  # the newer key of the device is the later one
w key add alice "$(pubkey)" --device laptop --ttl 1d >/dev/null
w key add alice "$(pubkey)" --device phone --ttl 5m >/dev/null

TOKEN_WRITE=$(w --json token create ci-write --scope write --ttl 1h | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
TOKEN_READ=$(w --json token create ci-read --scope read --ttl 1h | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
w token list | grep -q ci-write
if w token list --json | grep -q "$TOKEN_WRITE"; then echo "FAIL: token list shows a secret"; exit 1; fi
if sqlite3 "$WORK/db/wgate.db" "SELECT * FROM api_tokens" | grep -q "$TOKEN_WRITE"; then
  echo "FAIL: the store holds a token's secret"; exit 1
fi

# Sessions as a login records them.
session() {  # session <user> <admin 0|1> -> token
  local token csrf hash now
  token=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
  csrf=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
  hash=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
  now=$(date +%s)
  sqlite3 "$WORK/db/wgate.db" "INSERT INTO web_sessions (id_hash, user_id, kind, created_at, expires_at, csrf_token, \
    next_check_at, admin) SELECT '$hash', id, 'browser', $now, $now + 3600, '$csrf', $now + 3600, $2 FROM users \
    WHERE name = '$1'"
  echo "$token $csrf"
}
# Flow records as the daemon writes them (service::record_flows): two of
# alice's (one allowed, one dropped), one from an address nobody held.
now=$(date +%s)
sqlite3 "$WORK/db/wgate.db" "INSERT INTO flows (at, user_id, user_name, device_name, source, destination, destination_v4, \
  protocol, source_port, destination_port, allowed, reason, interface) \
  SELECT $now - 30, id, 'alice', 'laptop', '10.100.0.4', '10.1.2.3', 167838211, 6, 40000, 22, 1, 'rule', 'wgt-dev' \
    FROM users WHERE name = 'alice'; \
  INSERT INTO flows (at, user_id, user_name, device_name, source, destination, destination_v4, \
  protocol, source_port, destination_port, allowed, reason, interface) \
  SELECT $now - 20, id, 'alice', 'laptop', '10.100.0.4', '10.1.2.3', 167838211, 6, 40001, 5432, 0, 'no-rule', 'wgt-dev' \
    FROM users WHERE name = 'alice'; \
  INSERT INTO flows (at, user_id, user_name, device_name, source, destination, destination_v4, \
  protocol, source_port, destination_port, allowed, reason, interface) \
  VALUES ($now - 10, NULL, '', '', '10.100.0.99', '10.2.0.1', 167903233, 17, 5353, 53, 0, 'unknown-source', 'wgt-dev')"
read -r SESSION_ADMIN SESSION_ADMIN_CSRF < <(session admin 1)
read -r SESSION_USER _ < <(session user 0)

# Not through w(): a backgrounded function is a subshell, and $! would be
# that subshell, whose kill leaves `wgate web` running after the test.
"$WGATE" -c "$WORK/wgate.toml" web >"$WORK/web.log" 2>&1 &
WEB_PID=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$WEB_PID" 2>/dev/null || { cat "$WORK/web.log"; echo "FAIL: wgate web exited"; exit 1; }
  sleep 0.1
done

rc=0
STATE_DIR="$WORK/state" WGATE_API="http://127.0.0.1:$PORT" SPEC="$ROOT/docs/openapi.yaml" TOKEN_WRITE="$TOKEN_WRITE" TOKEN_READ="$TOKEN_READ" \
  SESSION_ADMIN="$SESSION_ADMIN" SESSION_ADMIN_CSRF="$SESSION_ADMIN_CSRF" SESSION_USER="$SESSION_USER" \
  node "$HERE/api_test.mjs" || rc=$?

# No secret in the web log.
for s in "$TOKEN_WRITE" "$TOKEN_READ" "$SESSION_ADMIN" "$SESSION_USER"; do
  if grep -qF "$s" "$WORK/web.log"; then echo "FAIL: a secret in the web log"; rc=1; fi
done
if grep -E "runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$WORK/web.log"; then rc=1; fi
[ "$rc" = 0 ] || tail -30 "$WORK/web.log"
# The CLI revokes a token; it stops working at once.
w token revoke ci-read >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN_READ" "http://127.0.0.1:$PORT/api/v1/groups")
[ "$code" = 401 ] || { echo "FAIL: a revoked token got $code"; rc=1; }
[ "$rc" = 0 ] && echo "api_test: ok"
exit "$rc"
