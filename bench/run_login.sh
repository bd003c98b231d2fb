#!/usr/bin/env bash
# bench/login: how soon a device-grant login gives a working tunnel, and how
# many logins per second wgate completes with 10,000 people in its store,
# each against the provider's own token endpoint measured in the same run
# (see bench/README.md, "login"). Asserts nothing about speed.
#
# Usage (root): bench/run_login.sh path/to/wgate [--runs 50] [--intervals 1,5]
#                 [--people 10000] [--logins 300] [--concurrency 16]
#   --runs         logins timed from approval to the first reply through the
#                  tunnel, for each provider polling interval
#   --intervals    the provider's device polling intervals (seconds) to run
#   --people       people in wgate's store (and at the test IdP) before the
#                  throughput phases
#   --logins       logins per throughput phase
#   --concurrency  logins completed at once in the throughput phases
#
# The lab of scripts/lab-lib.sh with the prefix wgbl (namespaces wgbl-*,
# removed at start if stale and at exit, also on failure or Ctrl-C): the
# test IdP, `wgate server` and `wgate web` in wgbl-gw, one client wgbl-c1.
# Builds nothing: run scripts/build.sh release first. Touches nothing in the
# root namespace.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
die() { echo "run_login.sh: $*" >&2; exit 2; }

[[ $# -ge 1 ]] || die "usage: $0 path/to/wgate [--runs N] [--intervals 1,5] [--people N] [--logins N] [--concurrency N]"
[[ $EUID -eq 0 ]] || die "needs root (network namespaces)"
WGATE_BIN=$(realpath -- "$1") || die "no such file: $1"
[[ -x $WGATE_BIN ]] || die "not executable: $WGATE_BIN"
shift
RUNS=50 INTERVALS=1,5 PEOPLE=10000 LOGINS=300 CONCURRENCY=16
while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) RUNS=$2 ;;
    --intervals) INTERVALS=$2 ;;
    --people) PEOPLE=$2 ;;
    --logins) LOGINS=$2 ;;
    --concurrency) CONCURRENCY=$2 ;;
    *) die "unknown argument $1" ;;
  esac
  [[ ${2:-} =~ ^[0-9]+(,[0-9]+)*$ ]] || die "$1 takes whole numbers, not '${2:-}'"
  shift 2
done
[[ $PEOPLE -ge $((RUNS * $(tr , ' ' <<<"$INTERVALS" | wc -w) + 2 * LOGINS)) ]] ||
  die "--people must cover the timed logins (runs x intervals) and two throughput phases of --logins"
for tool in wireguard-go wg wg-quick ping ip jq node curl sqlite3 awk; do
  command -v "$tool" >/dev/null || die "missing $tool: run scripts/install-deps.sh"
done

LAB=wgbl
LAB_POOL=10.100.0.0/16 LAB_PER_USER=4  # 16,383 blocks: room for --people and the first logins
# shellcheck source=../scripts/lab-lib.sh
source "$ROOT/scripts/lab-lib.sh"
WORK=$(mktemp -d /tmp/wgb-login.XXXXXX)
CFG=$WORK/wgate.toml
WEB_PORT=8443  # the test IdP's client "wgate" names this port
WEB=http://$LAB_UNDERLAY_GW:$WEB_PORT
A=$LAB_VPCA_HOST
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.3
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  lab_down
  if [[ -n ${WGB_KEEP:-} ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for stale in /tmp/wgb-login.??????; do [[ -d $stale && $stale != "$WORK" ]] && rm -rf "$stale"; done
lab_down
lab_up c1

in_gw() { ip netns exec "$LAB-gw" "$@"; }
now() { date +%s.%N; }
wait_file() { for _ in $(seq 1 200); do [[ -s $1 ]] && return 0; sleep 0.05; done; return 1; }

# The test IdP's people: bench00000.. (in wgate's store before anything is
# timed) and fresh00000.. (first logins, for the new-person phase).
node -e '
  const [base, n, fresh] = process.argv.slice(1);
  const c = JSON.parse(require("fs").readFileSync(base, "utf8"));
  const mk = (p, i) => ({ sub: `${p}-sub-${String(i).padStart(5, "0")}`, username: `${p}${String(i).padStart(5, "0")}`,
                          password: "bench", groups: ["/eng/dev"] });
  for (let i = 0; i < +n; i++) c.users.push(mk("bench", i));
  for (let i = 0; i < +fresh; i++) c.users.push(mk("fresh", i));
  c.ttl = { ...c.ttl, device_code: 900 };
  process.stdout.write(JSON.stringify(c));
' "$ROOT/tests/idp/test-config.json" "$PEOPLE" "$LOGINS" >"$WORK/idp-base.json"
IDP_PORT=0
start_idp() {  # start_idp interval
  jq --argjson i "$1" '. + {device_interval: $i}' "$WORK/idp-base.json" >"$WORK/idp.json"
  rm -f "$WORK/idp.port"
  ip netns exec "$LAB-gw" node "$ROOT/tests/idp/server.mjs" --config "$WORK/idp.json" --port "$IDP_PORT" --test-api \
    --port-file "$WORK/idp.port" >>"$WORK/idp.log" 2>&1 &
  IDP_PID=$!
  PIDS+=("$IDP_PID")
  wait_file "$WORK/idp.port" || die "the test IdP did not start (see $WORK/idp.log)"
  IDP_PORT=$(cat "$WORK/idp.port")
}
start_web() {
  ip netns exec "$LAB-gw" "$WGATE_BIN" -c "$CFG" web >>"$WORK/web.log" 2>&1 &
  WEB_PID=$!
  PIDS+=("$WEB_PID")
  for _ in $(seq 1 100); do in_gw curl -s -m 1 "http://127.0.0.1:$WEB_PORT/healthz" >/dev/null && return 0; sleep 0.1; done
  die "wgate web did not answer (see $WORK/web.log)"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

first_interval=${INTERVALS%%,*}
start_idp "$first_interval"
(umask 077; echo wgate-test-secret >"$WORK/client-secret")
{
  lab_gateway_config "$WORK" userspace
  cat <<EOF

[oidc]
issuer = "http://127.0.0.1:$IDP_PORT"
client_id = "wgate"
client_secret_file = "$WORK/client-secret"
http_timeout = "5s"

[oidc.group_map]
"/eng/dev" = ["$LAB_G1"]

[web]
listen = "0.0.0.0:$WEB_PORT"
public_url = "http://127.0.0.1:$WEB_PORT"
# every login of the benchmark comes from one address
login_burst = 1000000
login_rate = 1000000

[keys]
max_live_per_user = 8
EOF
} >"$CFG"
"$WGATE_BIN" -c "$CFG" check-config >/dev/null || { "$WGATE_BIN" -c "$CFG" check-config; die "the benchmark's config is invalid"; }
"$WGATE_BIN" -c "$CFG" init >/dev/null

# The store filled with --people people, each with the IdP identity, the
# group and the address block a first login would have given them, in one
# transaction written straight into the store's schema (the fill of
# bench/change_latency.cpp does the same; schema version checked).
schema=$(sqlite3 "$WORK/wgate.db" 'PRAGMA user_version')
# Written for version 3; later migrations only add tables, indexes and
# columns with defaults.
[[ $schema -ge 3 ]] || die "the store's schema is version $schema; this fill needs version 3 or later"
[[ $(sqlite3 "$WORK/wgate.db" 'SELECT count(*) FROM users') == 0 ]] || die "the store is not empty"
IFS=./ read -r o1 o2 o3 o4 _ <<<"$LAB_POOL"
pool_base=$(((o1 << 24) | (o2 << 16) | (o3 << 8) | o4))
t_fill=$(now)
sqlite3 "$WORK/wgate.db" <<SQL
BEGIN IMMEDIATE;
CREATE TEMP TABLE n AS WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i + 1 < $PEOPLE) SELECT i FROM c;
INSERT INTO users (id, name, email, disabled, created_at)
  SELECT i + 1, printf('bench%05d', i), '', 0, unixepoch() FROM n;
INSERT INTO memberships (user_id, group_name) SELECT i + 1, '$LAB_G1' FROM n;
INSERT INTO identities (issuer, subject, user_id, created_at, last_login_at)
  SELECT 'http://127.0.0.1:$IDP_PORT', printf('bench-sub-%05d', i), i + 1, unixepoch(), NULL FROM n;
INSERT INTO leases (user_id, address, prefix_len, family, from_ts, until_ts)
  SELECT i + 1, printf('%d.%d.%d.%d', (a >> 24) & 255, (a >> 16) & 255, (a >> 8) & 255, a & 255), 30, 4, unixepoch(), NULL
  FROM (SELECT i, $pool_base + (i + 1) * $LAB_PER_USER AS a FROM n);
COMMIT;
SQL
echo "store: $PEOPLE people filled in $(awk -v a="$(now)" -v b="$t_fill" 'BEGIN { printf "%.1f", a - b }') s"

ip netns exec "$LAB-gw" "$WGATE_BIN" -c "$CFG" server >>"$WORK/server.log" 2>&1 &
PIDS+=("$!")
lab_wait_for_interface_keys "$WORK/state" "$LAB-$LAB_G1" "$LAB-$LAB_G2" || die "the daemon did not start (see $WORK/server.log)"
start_web
"$WGATE_BIN" -c "$CFG" --json user list | jq -e "length == $PEOPLE" >/dev/null || die "wgate does not list the $PEOPLE people"

# p50, p99, min and max of the numbers in file $1, in ms.
stats() {
  sort -g "$1" | awk '{ v[NR] = $1 * 1000 } END {
    if (NR == 0) { print "no samples"; exit }
    p50 = v[int((NR - 1) * 0.5) + 1]; i99 = int(NR * 0.99 + 0.999); if (i99 > NR) i99 = NR
    printf "p50 %7.0f ms  p99 %7.0f ms  (min %.0f, max %.0f, n %d)", p50, v[i99], v[1], v[NR], NR }'
}

# --- 1. approval -> first reply through the tunnel -------------------------------
# A person runs `wgate login --up`, reads the code and approves it at the
# provider some time later; the CLI learns of it at its next poll. The
# approval comes at a random moment 1 to 2 polling intervals after the
# prompt, as a person's would (any phase against the polls). A ping every
# 10 ms from the client to the VPC host runs from the approval on: it goes
# nowhere until the tunnel is up, and its first reply ends the measurement.
person=0
for interval in ${INTERVALS//,/ }; do
  if [[ $interval != "$first_interval" ]]; then
    # A provider with another polling interval: the same port (the people's
    # identities name it), new signing keys; wgate web restarted with a
    # fresh JWKS cache.
    stop "$IDP_PID"
    start_idp "$interval"
    stop "$WEB_PID"
    start_web
  fi
  : >"$WORK/done-$interval.txt"
  : >"$WORK/reply-$interval.txt"
  echo "== $RUNS logins, provider polling interval $interval s"
  for run in $(seq 1 "$RUNS"); do
    user=$(printf 'bench%05d' "$person")
    person=$((person + 1))
    dir=$WORK/c1/$run-$interval
    mkdir -p "$dir"
    WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
      ip netns exec "$LAB-c1" timeout 60 "$WGATE_BIN" login --json --server "$WEB" --device laptop \
      --interface "$LAB-t" --config-dir "$dir" --up >"$dir/out" 2>"$dir/err" &
    login_pid=$!
    code=""
    for _ in $(seq 1 200); do
      code=$(grep -o 'enter the code [A-Z0-9-]*' "$dir/err" 2>/dev/null | awk '{print $4}') && [[ -n $code ]] && break
      sleep 0.05
    done
    [[ -n $code ]] || die "run $run: no code from wgate login: $(cat "$dir/err")"
    sleep "$(awk -v i="$interval" -v s="$RANDOM" 'BEGIN { srand(s); printf "%.3f", i * (1 + rand()) }')"
    ip netns exec "$LAB-c1" ping -D -n -i 0.01 -w 20 "$A" >"$dir/ping" 2>&1 &
    ping_pid=$!
    t_approve=$(now)
    in_gw curl -sS -m 5 -H 'content-type: application/json' -d "{\"user_code\":\"$code\",\"user\":\"$user\"}" \
      "http://127.0.0.1:$IDP_PORT/test/device/approve" >/dev/null || die "run $run: the test IdP did not approve"
    wait "$login_pid" || die "run $run: wgate login failed: $(cat "$dir/err")"
    t_done=$(now)
    reply=""
    for _ in $(seq 1 200); do
      reply=$(grep -m1 "bytes from $A" "$dir/ping" | sed 's/^\[\([0-9.]*\)\].*/\1/') && [[ -n $reply ]] && break
      sleep 0.05
    done
    stop "$ping_pid"
    [[ -n $reply ]] || die "run $run: no reply through the tunnel within 10 s of the login"
    awk -v a="$t_done" -v b="$t_approve" 'BEGIN { printf "%.4f\n", a - b }' >>"$WORK/done-$interval.txt"
    awk -v a="$reply" -v b="$t_approve" 'BEGIN { printf "%.4f\n", a - b }' >>"$WORK/reply-$interval.txt"
    ip netns exec "$LAB-c1" wg-quick down "$dir/$LAB-t.conf" >/dev/null 2>&1 || die "run $run: wg-quick down failed"
  done
done

# --- 2. logins per second, against the provider's token endpoint -------------
echo "== throughput: $LOGINS logins per phase, $CONCURRENCY at a time, $PEOPLE people in the store"
drive() {  # drive mode prefix first
  in_gw node "$HERE/login_throughput.mjs" --mode "$1" --idp "http://127.0.0.1:$IDP_PORT" \
    --wgate "http://127.0.0.1:$WEB_PORT" --client-id wgate --client-secret wgate-test-secret \
    --prefix "$2" --first "$3" --count "$LOGINS" --concurrency "$CONCURRENCY"
}
anchor=$(drive anchor bench "$person") || die "the anchor phase failed"
existing=$(drive wgate bench "$((person + LOGINS))") || die "the existing-people phase failed"
fresh=$(drive wgate fresh 0) || die "the first-login phase failed"

echo
echo "bench/login on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); wgate at $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
echo "approval -> first reply through the tunnel ($RUNS logins per interval; ping every 10 ms):"
for interval in ${INTERVALS//,/ }; do
  printf '  interval %2s s: login done   %s\n' "$interval" "$(stats "$WORK/done-$interval.txt")"
  printf '                 first reply  %s\n' "$(stats "$WORK/reply-$interval.txt")"
done
anchor_p50=$(jq -r .p50_ms <<<"$anchor")
echo "  anchor: one device-code token request at the provider, p50 $anchor_p50 ms (from the throughput anchor below)"
echo "logins per second ($CONCURRENCY at a time):"
for row in "anchor: provider token endpoint|$anchor" "wgate: people already in the store|$existing" "wgate: first logins (new people)|$fresh"; do
  label=${row%%|*} j=${row#*|}
  printf '  %-38s %7.1f/s  p50 %6.1f ms  p99 %6.1f ms' "$label" "$(jq -r .per_second <<<"$j")" \
    "$(jq -r .p50_ms <<<"$j")" "$(jq -r .p99_ms <<<"$j")"
  if [[ $label != anchor* ]]; then
    printf '  ratio wgate/anchor %.2f' "$(jq -n --argjson w "$(jq .per_second <<<"$j")" --argjson p "$(jq .per_second <<<"$anchor")" '$w / $p')"
  fi
  echo
done
