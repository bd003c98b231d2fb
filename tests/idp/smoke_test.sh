#!/usr/bin/env bash
# Smoke test of the test IdP (tests/idp/server.mjs), with curl only, on
# loopback, no root: discovery; the device flow (approved through the
# test-control API), the ID token's claims (groups as full paths), userinfo,
# refresh, a group change, a disabled user's refresh failing with
# invalid_grant; the browser login (authorization code + PKCE) with a wrong
# and a right password; a back-channel logout reaching a receiver and ending
# the session; key rotation (a new kid first in the JWKS, signing from then
# on); an ES256 client. Exits 77 (skipped) only when node is missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null; then
  echo "SKIP: node is not installed (scripts/install-deps.sh installs it); the test IdP needs Node.js >= 20.18"
  exit 77
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 18) ? 0 : 1)'; then
  echo "FAIL: Node.js $(node -p process.versions.node) is too old for oidc-provider 9 (needs >= 20.18; Debian 12's nodejs is 18.x): see README.md, \"Node.js\""
  exit 1
fi
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/install-deps.sh installs it)"; exit 1; }
done
if [ ! -d "$HERE/node_modules/oidc-provider" ]; then
  echo "FAIL: $HERE/node_modules is missing: run scripts/install-deps.sh (it runs npm ci in tests/idp)"
  exit 1
fi

TMP=$(mktemp -d /tmp/wgate-idp-smoke.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

passed=0
failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() {
  echo "not ok - $*"
  failed=$((failed + 1))
  echo "--- IdP log (last 20 lines)"; tail -20 "$TMP/idp.log" || true
}
check() { # check "description" test-command...
  local what=$1; shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}
wait_for_file() { # FILE PID: up to 10 s, while PID lives
  for _ in $(seq 100); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
b64url_decode() {
  local s=${1//-/+}
  s=${s//_//}
  while ((${#s} % 4)); do s+='='; done
  printf '%s' "$s" | base64 -d
}
jwt_header() { b64url_decode "$(cut -d. -f1 <<<"$1")"; }
jwt_payload() { b64url_decode "$(cut -d. -f2 <<<"$1")"; }
c() { curl -sS --max-time 10 "$@" || true; } # a failed request fails the check that uses it
has() { jq -e "$@" >/dev/null 2>&1; } # has [jq args] FILTER <<<JSON: the filter yields neither false nor null

# --- a receiver for back-channel logouts, and the IdP ------------------------------------
node "$HERE/logout_receiver.mjs" --out "$TMP/logouts.jsonl" --port-file "$TMP/receiver.port" 2>"$TMP/receiver.log" &
pids+=($!)
wait_for_file "$TMP/receiver.port" "${pids[-1]}" || { echo "FAIL: the logout receiver did not start"; cat "$TMP/receiver.log"; exit 1; }
RP=http://127.0.0.1:$(cat "$TMP/receiver.port")

# The committed test config, with wgate's URLs pointing at the receiver and one
# more client whose ID tokens are ES256-signed.
jq --arg rp "$RP" '
  .clients |= map(if .client_id == "wgate" then
      .redirect_uris = [$rp + "/auth/callback"] | .post_logout_redirect_uris = [$rp + "/"]
      | .backchannel_logout_uri = ($rp + "/auth/backchannel-logout") else . end)
  | .clients += [{"client_id": "wgate-es256", "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
                  "id_token_signed_response_alg": "ES256"}]' \
  "$HERE/test-config.json" >"$TMP/config.json"

node "$HERE/server.mjs" --config "$TMP/config.json" --port 0 --port-file "$TMP/idp.port" --test-api >"$TMP/idp.log" 2>&1 &
IDP_PID=$!
pids+=("$IDP_PID")
wait_for_file "$TMP/idp.port" "$IDP_PID" || { echo "FAIL: the IdP did not start"; cat "$TMP/idp.log"; exit 1; }
B=http://127.0.0.1:$(cat "$TMP/idp.port")
check "IdP listening on $B (port 0 picked a free port and printed it)" grep -q "^test-idp: listening on $B" "$TMP/idp.log"

# --- discovery ----------------------------------------------------------------------------
D=$(c "$B/.well-known/openid-configuration")
check "discovery: issuer is $B" test "$(jq -r .issuer <<<"$D")" = "$B"
check "discovery: device_authorization_endpoint" test "$(jq -r .device_authorization_endpoint <<<"$D")" = "$B/device/auth"
check "discovery: backchannel_logout_supported and _session_supported" \
  test "$(jq -r '[.backchannel_logout_supported, .backchannel_logout_session_supported] | all' <<<"$D")" = true
check "discovery: PKCE S256" has '.code_challenge_methods_supported | index("S256")' <<<"$D"
check "discovery: revocation and userinfo endpoints" has '.revocation_endpoint and .userinfo_endpoint' <<<"$D"
JWKS=$(c "$B/jwks")
check "JWKS: RSA first, then EC and OKP keys (signing_algs RS256, ES256, EdDSA)" \
  test "$(jq -r '[.keys[].kty] | join(",")' <<<"$JWKS")" = "RSA,EC,OKP"
check "JWKS: public keys only" test "$(jq '[.keys[] | select(.d != null)] | length' <<<"$JWKS")" = 0
KID1=$(jq -r '.keys[0].kid' <<<"$JWKS")

# --- device flow ----------------------------------------------------------------------------
DEVICE_GRANT=urn:ietf:params:oauth:grant-type:device_code
device_start() { # CLIENT [SCOPE] -> device authorization response
  c -d client_id="$1" --data-urlencode scope="${2:-openid email profile}" "$B/device/auth"
}
device_token() { # CLIENT DEVICE_CODE [curl args...]
  local client=$1 code=$2; shift 2
  c -d grant_type="$DEVICE_GRANT" -d client_id="$client" -d device_code="$code" "$@" "$B/token"
}
approve() { # USER_CODE USER
  c -X POST -H 'content-type: application/json' -d "$(jq -n --arg c "$1" --arg u "$2" '{user_code: $c, user: $u}')" "$B/test/device/approve"
}
refresh() { # CLIENT REFRESH_TOKEN [curl args...]
  local client=$1 rt=$2; shift 2
  c -d grant_type=refresh_token -d client_id="$client" -d refresh_token="$rt" "$@" "$B/token"
}

DA=$(device_start wgate-cli)
check "device authorization: user_code, device_code, verification_uri" \
  has '.user_code and .device_code and (.verification_uri == "'"$B"'/device")' <<<"$DA"
T=$(device_token wgate-cli "$(jq -r .device_code <<<"$DA")")
check "token before approval: authorization_pending" test "$(jq -r .error <<<"$T")" = authorization_pending
A=$(approve "$(jq -r .user_code <<<"$DA")" alice)
check "test API approves the device code for alice" test "$(jq -r .approved <<<"$A")" = true
T=$(device_token wgate-cli "$(jq -r .device_code <<<"$DA")")
IDT=$(jq -r .id_token <<<"$T")
check "device token: access, ID and refresh token" has '.access_token and .id_token and .refresh_token' <<<"$T"
P=$(jwt_payload "$IDT")
check "ID token: groups are full paths [\"/eng/dev\"]" test "$(jq -c .groups <<<"$P")" = '["/eng/dev"]'
check "ID token: sub, email, name, preferred_username" \
  test "$(jq -r '[.sub, .email, .name, .preferred_username] | join("|")' <<<"$P")" = "0b6f2a52-4c1e-4d5e-9a43-alice0000001|alice@example.com|Alice Example|alice"
check "ID token: iss and aud" test "$(jq -r '.iss + " " + .aud' <<<"$P")" = "$B wgate-cli"
check "ID token: RS256 with the first JWKS key ($KID1)" test "$(jwt_header "$IDT" | jq -r '.alg + " " + .kid')" = "RS256 $KID1"
check "ID token lifetime from the config (ttl.id_token 300)" test "$(jq '.exp - .iat' <<<"$P")" = 300
U=$(c -H "authorization: Bearer $(jq -r .access_token <<<"$T")" "$B/me")
check "userinfo: groups and preferred_username" test "$(jq -c '[.groups, .preferred_username]' <<<"$U")" = '[["/eng/dev"],"alice"]'

RT=$(jq -r .refresh_token <<<"$T")
R=$(refresh wgate-cli "$RT")
check "refresh: new access token and ID token" has '.access_token and .id_token' <<<"$R"
c -X PUT -H 'content-type: application/json' -d '{"groups": ["/eng/ops", "/eng/dev/leads"]}' "$B/test/users/alice/groups" >/dev/null
R=$(refresh wgate-cli "$RT")
check "after a group change the refreshed ID token carries the new groups" \
  test "$(jwt_payload "$(jq -r .id_token <<<"$R")" | jq -c .groups)" = '["/eng/ops","/eng/dev/leads"]'
c -X PUT -H 'content-type: application/json' -d '{"groups": ["/eng/dev"]}' "$B/test/users/alice/groups" >/dev/null

c -X POST "$B/test/users/alice/disable" >/dev/null
R=$(refresh wgate-cli "$RT")
check "disabled user: refresh fails with invalid_grant" test "$(jq -r .error <<<"$R")" = invalid_grant
DA2=$(device_start wgate-cli)
check "disabled user: the device code cannot be approved for them" \
  test "$(jq -r .error <<<"$(approve "$(jq -r .user_code <<<"$DA2")" alice)")" = account_disabled
c -X POST "$B/test/users/alice/enable" >/dev/null
check "enabled again: refresh works" has '.access_token' <<<"$(refresh wgate-cli "$RT")"

# --- browser login: authorization code + PKCE, with the real sign-in page --------------------------
JAR=$TMP/cookies
VERIFIER=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
CHALLENGE=$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n')
REDIRECT=$RP/auth/callback
authz() { # extra query -> the redirect location
  c -c "$JAR" -b "$JAR" -o /dev/null -w '%{redirect_url}' -G "$B/auth" -d client_id=wgate -d response_type=code \
    --data-urlencode "scope=openid email profile" --data-urlencode "redirect_uri=$REDIRECT" -d state=st1 -d nonce=n1 "$@"
}
L=$(authz)
check "authorization without PKCE is refused" grep -q 'error=invalid_request' <<<"$L"
L=$(authz -d code_challenge="$CHALLENGE" -d code_challenge_method=S256)
check "authorization request leads to the sign-in page" grep -q "^$B/interaction/" <<<"$L"
check "sign-in page has the login form" grep -q 'name="password"' <<<"$(c -c "$JAR" -b "$JAR" "$L")"
check "wrong password: 401" test "$(c -c "$JAR" -b "$JAR" -o /dev/null -w '%{http_code}' -d prompt=login -d login=alice -d password=nope "$L")" = 401
L2=$(c -c "$JAR" -b "$JAR" -o /dev/null -w '%{redirect_url}' -d prompt=login -d login=alice -d password=alice-dev-password "$L")
L3=$(c -c "$JAR" -b "$JAR" -o /dev/null -w '%{redirect_url}' "$L2")
check "right password: redirected to wgate's callback with a code (no consent page)" grep -q "^$REDIRECT?code=" <<<"$L3"
CODE=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$L3")
T2=$(c -u wgate:wgate-test-secret -d grant_type=authorization_code -d code="$CODE" --data-urlencode "redirect_uri=$REDIRECT" \
  -d code_verifier="$VERIFIER" "$B/token")
P2=$(jwt_payload "$(jq -r .id_token <<<"$T2")")
check "code exchange: ID token with nonce, sid and groups" \
  test "$(jq -r '[.nonce, (.sid | length > 0), (.groups | join(","))] | map(tostring) | join(" ")' <<<"$P2")" = "n1 true /eng/dev"
SID=$(jq -r .sid <<<"$P2")

# --- back-channel logout ---------------------------------------------------------------------------------
S=$(c "$B/test/users/alice/sessions")
check "test API lists alice's sessions, one of them with sid $SID" \
  has --arg sid "$SID" '[.sessions[].clients[].sid] | index($sid)' <<<"$S"
BL=$(c -X POST -H 'content-type: application/json' -d "$(jq -n --arg sid "$SID" '{sid: $sid}')" "$B/test/users/alice/backchannel-logout")
check "back-channel logout delivered to wgate's backchannel_logout_uri" \
  test "$(jq -r '[.deliveries[] | select(.client_id == "wgate") | .delivered] | all' <<<"$BL") $(jq '.deliveries | length' <<<"$BL")" = "true 1"
LT=$(tail -1 "$TMP/logouts.jsonl" 2>/dev/null | jq -r .logout_token)
LP=$(jwt_payload "$LT")
check "logout token: typ logout+jwt, sub, sid, the back-channel logout event" \
  test "$(jwt_header "$LT" | jq -r .typ) $(jq -r '[.sub, .sid, (.events | has("http://schemas.openid.net/event/backchannel-logout")), .aud] | map(tostring) | join(" ")' <<<"$LP")" \
       = "logout+jwt 0b6f2a52-4c1e-4d5e-9a43-alice0000001 $SID true wgate"
check "after the logout the session's refresh token fails with invalid_grant" \
  test "$(jq -r .error <<<"$(refresh wgate "$(jq -r .refresh_token <<<"$T2")" -u wgate:wgate-test-secret)")" = invalid_grant
check "the device login's session (another sid) was left alone" has '.access_token' <<<"$(refresh wgate-cli "$RT")"

# --- key rotation ---------------------------------------------------------------------------------------
K=$(c -X POST "$B/test/keys/rotate")
JWKS2=$(c "$B/jwks")
NEWKID=$(jq -r '.keys[0].kid' <<<"$JWKS2")
check "rotation: a new kid first in the JWKS" test "$NEWKID" != "$KID1" -a "$NEWKID" = "$(jq -r '.new_kids[0]' <<<"$K")"
check "rotation: the old keys stay published" has --arg k "$KID1" '[.keys[].kid] | index($k)' <<<"$JWKS2"
check "rotation: new ID tokens are signed with the new key" \
  test "$(jwt_header "$(refresh wgate-cli "$RT" | jq -r .id_token)" | jq -r .kid)" = "$NEWKID"
c -X POST -H 'content-type: application/json' -d '{"retire_old": true}' "$B/test/keys/rotate" >/dev/null
check "rotation with retire_old: only the 3 new keys remain" test "$(c "$B/jwks" | jq '.keys | length')" = 3

# --- another signing algorithm ------------------------------------------------------------------------
DA3=$(device_start wgate-es256 openid)
approve "$(jq -r .user_code <<<"$DA3")" bob >/dev/null
T3=$(device_token wgate-es256 "$(jq -r .device_code <<<"$DA3")")
check "a client with id_token_signed_response_alg ES256 gets ES256 ID tokens, bob's groups [\"/eng/ops\"]" \
  test "$(jwt_header "$(jq -r .id_token <<<"$T3")" | jq -r .alg) $(jwt_payload "$(jq -r .id_token <<<"$T3")" | jq -c .groups)" = 'ES256 ["/eng/ops"]'

check "a device code used twice is refused with invalid_grant" \
  test "$(jq -r .error <<<"$(device_token wgate-es256 "$(jq -r .device_code <<<"$DA3")")")" = invalid_grant
check "... and its grant is revoked: the refresh token from the first use fails" \
  test "$(jq -r .error <<<"$(refresh wgate-es256 "$(jq -r .refresh_token <<<"$T3")")")" = invalid_grant

# --- stop ----------------------------------------------------------------------------------------------
kill -TERM "$IDP_PID"
for _ in $(seq 50); do kill -0 "$IDP_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$IDP_PID" 2>/dev/null; then not_ok "IdP stops on SIGTERM within 5 s"; else ok "IdP stops on SIGTERM"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
