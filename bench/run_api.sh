#!/usr/bin/env bash
# bench/api: requests per second and latency of the admin API's
# `GET /api/v1/keys?limit=100` with 10,000 people in the store, and of the
# daemon's `GET /metrics` with 10,000 peers on its wireguard-go device, each
# driven by wrk over loopback and printed against nginx serving a static file
# of the same body (the same bytes, captured from wgate first) in the same
# run: the ceiling of an HTTP server on this machine. /metrics is driven a
# second time over one connection, as a Prometheus server scrapes. Asserts
# nothing about speed.
#
# Usage (root): bench/run_api.sh path/to/wgate [--people 10000] [--seconds 10]
#                 [--connections 16] [--threads 2]
#   --people       people in the store, each with one device and one key (a
#                  peer of the daemon's interface)
#   --seconds      length of one wrk run
#   --connections  wrk's open connections (keep-alive)
#   --threads      wrk's threads
#
# Everything runs in network namespace wgb-api (removed at start if stale and
# at exit, also on failure or Ctrl-C; what runs in it is killed by pid):
# `wgate server` (userspace backend: one wireguard-go device wgb-api0 with a
# peer per person; [metrics] on 127.0.0.1:9586), `wgate web` (the admin API
# on 127.0.0.1:8480), nginx with a temporary config of its own on
# 127.0.0.1:8481 (never the system service), and wrk. Touches nothing in the
# root namespace.
#
# The store is filled before anything is timed, in one SQLite transaction
# written straight into the store's tables (as bench/change_latency.cpp and
# bench/run_login.sh do; `wgate user add` is O(n) per person). The admin
# token comes from `wgate token create` (scope read).
#
# Needs wireguard-go, wg, wrk, nginx (scripts/install-bench-deps.sh), curl,
# jq, python3. Builds nothing: run scripts/build.sh release first.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
die() { echo "run_api.sh: $*" >&2; exit 2; }

[[ $# -ge 1 ]] || die "usage: $0 path/to/wgate [--people N] [--seconds N] [--connections N] [--threads N]"
[[ $EUID -eq 0 ]] || die "needs root (network namespaces)"
WGATE_BIN=$(realpath -- "$1") || die "no such file: $1"
[[ -x $WGATE_BIN ]] || die "not executable: $WGATE_BIN"
shift
PEOPLE=10000 SECS=10 CONNS=16 THREADS=2
while [[ $# -gt 0 ]]; do
  case $1 in
    --people) PEOPLE=${2:-} ;;
    --seconds) SECS=${2:-} ;;
    --connections) CONNS=${2:-} ;;
    --threads) THREADS=${2:-} ;;
    *) die "unknown argument $1" ;;
  esac
  [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "$1 takes a whole number >= 1, not '${2:-}'"
  shift 2
done
((PEOPLE <= 60000)) || die "--people: at most 60000 (one wireguard-go device holds 65,536 peers)"
for tool in wireguard-go wg wrk nginx curl jq python3 awk; do
  command -v "$tool" >/dev/null || die "missing $tool: run scripts/install-deps.sh and scripts/install-bench-deps.sh"
done

NS=wgb-api
IFACE=wgb-api0
SOCK=/var/run/wireguard/$IFACE.sock
METRICS=127.0.0.1:9586 WEB=127.0.0.1:8480 NGINX=127.0.0.1:8481
tmp_glob='/tmp/wgb-api.?????? /tmp/wgb-api-static.??????'

# Kills the processes of the namespace by pid (TERM, then KILL after 5 s)
# and deletes it. Bounded: at most ~7 s.
teardown_ns() {
  local pids
  ip netns list | awk '{print $1}' | grep -qx -- "$NS" || return 0
  pids=$(ip netns pids "$NS" 2>/dev/null || true)
  if [[ -n $pids ]]; then
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 50); do
      pids=$(ip netns pids "$NS" 2>/dev/null || true)
      [[ -z $pids ]] && break
      sleep 0.1
    done
    # shellcheck disable=SC2086
    [[ -z $pids ]] || { kill -KILL $pids 2>/dev/null || true; sleep 0.5; }
  fi
  ip netns del "$NS" 2>/dev/null || true
}
WORK="" STATIC=""
cleanup() {
  teardown_ns
  rm -f "$SOCK"  # wireguard-go removes its socket on SIGTERM, not on SIGKILL
  if [[ -n $WORK && -n ${WGB_KEEP:-} ]]; then echo "kept $WORK"; elif [[ -n $WORK ]]; then rm -rf "$WORK"; fi
  [[ -z $STATIC ]] || rm -rf "$STATIC"
}
teardown_ns
rm -f "$SOCK"
# shellcheck disable=SC2086
[[ -n ${WGB_KEEP:-} ]] || rm -rf $tmp_glob
trap cleanup EXIT
trap 'exit 130' INT TERM
WORK=$(mktemp -d /tmp/wgb-api.XXXXXX)
CFG=$WORK/wgate.toml

ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }
wgate() { "$WGATE_BIN" -c "$CFG" "$@"; }

cat >"$CFG" <<EOF
# Written by bench/run_api.sh for $PEOPLE people.
[server]
endpoint  = "wgb.invalid"
store     = "$WORK/wgate.db"
state_dir = "$WORK/state"
backend   = "userspace"

[pool]
ipv4     = "10.64.0.0/12"
per_user = 4

[networks]
bench-net = ["10.1.0.0/16"]

[groups.g0]
networks  = ["bench-net"]
interface = "$IFACE"
port      = 51930
table     = 1930

[metrics]
listen = "$METRICS"

# No provider: logins would fail, the admin API (bearer tokens) works.
[oidc]
issuer    = "http://127.0.0.1:1"
client_id = "wgate"

[web]
listen     = "$WEB"
public_url = "http://$WEB"
EOF
wgate check-config >/dev/null || { wgate check-config; die "the benchmark's config is invalid"; }
wgate init >/dev/null

# The fill: person i (bench00000..), member of g0, the i+1-th block of the
# pool (what IPAM would have given the i-th person added), one device
# "laptop" in slot 0 and one key of a random public key, expiring in 30
# days. Written for the tables of schema version 2 and later (later
# migrations only add tables and columns with defaults).
t0=$(date +%s.%N)
python3 - "$WORK/wgate.db" "$PEOPLE" <<'PY'
import base64, ipaddress, os, sqlite3, sys, time
path, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path, isolation_level=None)
version = db.execute("PRAGMA user_version").fetchone()[0]
if version < 2:
    sys.exit(f"the store's schema is version {version}; the fill needs 2 or later")
if db.execute("SELECT count(*) FROM users").fetchone()[0]:
    sys.exit("the store is not empty")
now = int(time.time())
base = int(ipaddress.IPv4Address("10.64.0.0"))
db.execute("BEGIN IMMEDIATE")
for i in range(n):
    block = base + (i + 1) * 4
    uid = db.execute("INSERT INTO users (name, email, disabled, created_at) VALUES (?, '', 0, ?)",
                     (f"bench{i:05d}", now)).lastrowid
    db.execute("INSERT INTO memberships (user_id, group_name) VALUES (?, 'g0')", (uid,))
    db.execute("INSERT INTO leases (user_id, address, prefix_len, family, from_ts, until_ts) VALUES (?, ?, 30, 4, ?, NULL)",
               (uid, str(ipaddress.IPv4Address(block)), now))
    did = db.execute("INSERT INTO devices (user_id, name, slot, created_at) VALUES (?, 'laptop', 0, ?)",
                     (uid, now)).lastrowid
    db.execute("INSERT INTO keys (user_id, device_id, group_name, public_key, label, created_at, expires_at) "
               "VALUES (?, ?, 'g0', ?, 'laptop', ?, ?)",
               (uid, did, base64.b64encode(os.urandom(32)).decode(), now, now + 30 * 86400))
db.execute("COMMIT")
PY
fill_s=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
[[ $(wgate --json key list | jq 'length') == "$PEOPLE" ]] || die "wgate does not list the $PEOPLE keys of the fill"
TOKEN=$(wgate --json token create bench-api --scope read --ttl 1d | jq -r .token)
[[ -n $TOKEN && $TOKEN != null ]] || die "wgate token create gave no token"

# Stopped at exit with everything else in the namespace (teardown_ns).
ip netns exec "$NS" "$WGATE_BIN" -c "$CFG" server >>"$WORK/server.log" 2>&1 &
ip netns exec "$NS" "$WGATE_BIN" -c "$CFG" web >>"$WORK/web.log" 2>&1 &
t0=$(date +%s.%N)
peers=0
for _ in $(seq 1 600); do  # up to 60 s for the daemon to put every peer on the device
  peers=$(in_ns wg show "$IFACE" peers 2>/dev/null | wc -l || true)
  [[ $peers -ge $PEOPLE ]] && break
  sleep 0.1
done
[[ $peers -eq $PEOPLE ]] || die "$IFACE has $peers peers, not $PEOPLE (see $WORK/server.log)"
peers_s=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
for _ in $(seq 1 100); do in_ns curl -fs -m 2 "http://$METRICS/readyz" >/dev/null && break; sleep 0.1; done
in_ns curl -fs -m 2 "http://$METRICS/readyz" >/dev/null || die "the daemon is not ready (see $WORK/server.log)"
for _ in $(seq 1 100); do in_ns curl -fs -m 2 "http://$WEB/healthz" >/dev/null && break; sleep 0.1; done
in_ns curl -fs -m 2 "http://$WEB/healthz" >/dev/null || die "wgate web does not answer (see $WORK/web.log)"

# The anchor's files: the bodies wgate serves, byte for byte, in a directory
# of their own that nginx's workers (user nobody) can read (the work
# directory, with the store and the interface keys, stays 0700).
STATIC=$(mktemp -d /tmp/wgb-api-static.XXXXXX)
chmod 755 "$STATIC"
mkdir -p "$WORK/nginx"
KEYS_PATH='/api/v1/keys?limit=100'
in_ns curl -fsS -m 10 -H "Authorization: Bearer $TOKEN" "http://$WEB$KEYS_PATH" -o "$STATIC/keys.json" ||
  die "GET $KEYS_PATH failed"
jq -e '.items | length == 100' "$STATIC/keys.json" >/dev/null 2>&1 ||
  die "GET $KEYS_PATH did not return 100 keys: $(head -c 300 "$STATIC/keys.json")"
# /metrics must show the whole device: a device's series per person. They
# come from a full pass's observation of the device (every resync, 2 s), so
# the first one, made before the peers were added, has none.
series=0
for _ in $(seq 1 60); do
  in_ns curl -fsS -m 10 "http://$METRICS/metrics" -o "$STATIC/metrics.txt" || die "GET /metrics failed"
  series=$(grep -c '^wgate_device_last_handshake_seconds{' "$STATIC/metrics.txt" || true)
  [[ $series -ge $PEOPLE ]] && break
  sleep 1
done
[[ $series -eq $PEOPLE ]] || die "/metrics shows $series devices, not $PEOPLE"
chmod 644 "$STATIC"/*
metrics_lines=$(wc -l <"$STATIC/metrics.txt")
cat >"$WORK/nginx/nginx.conf" <<EOF
# bench/run_api.sh's own nginx (not the system's): loopback of $NS only.
daemon off;
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  sendfile on;
  keepalive_requests 1000000;
  types { application/json json; text/plain txt; }
  server {
    listen $NGINX;
    root $STATIC;
  }
}
EOF
in_ns nginx -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" &
for _ in $(seq 1 50); do in_ns curl -fs -m 2 -o /dev/null "http://$NGINX/keys.json" && break; sleep 0.1; done
for f in keys.json metrics.txt; do
  in_ns curl -fsS -m 10 "http://$NGINX/$f" | cmp -s - "$STATIC/$f" || die "nginx does not serve $f as captured"
done

# One wrk run: prints "<requests/s> <p50 ms> <p99 ms>"; fails on socket
# errors or non-2xx answers (a run that measured errors measured nothing).
WRK_OUT=$WORK/wrk.out
drive() {  # drive url [header]; C and T (connections, threads) default to --connections and --threads
  local args=(-t "${T:-$THREADS}" -c "${C:-$CONNS}" -d "${SECS}s" --latency --timeout 10s)
  [[ -n ${2:-} ]] && args+=(-H "$2")
  in_ns wrk "${args[@]}" "$1" >"$WRK_OUT" 2>&1 || die "wrk $1 failed: $(cat "$WRK_OUT")"
  if grep -qE 'Non-2xx|Socket errors' "$WRK_OUT"; then die "wrk $1: errors: $(grep -E 'Non-2xx|Socket errors' "$WRK_OUT")"; fi
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec:/ { rps = $2 }
    END { if (rps == "" || p99 == "") exit 1; printf "%s %.3f %.3f\n", rps, p50, p99 }' "$WRK_OUT" ||
    die "could not read wrk's output: $(cat "$WRK_OUT")"
}
line() {  # line label "<rps> <p50> <p99>"
  local rps p50 p99; read -r rps p50 p99 <<<"$2"
  printf '  %-44s %9.1f req/s   p50 %8.2f ms   p99 %8.2f ms\n' "$1" "$rps" "$p50" "$p99"
}
ratio() {  # ratio "<wgate>" "<nginx>"
  local a b; read -ra a <<<"$1"; read -ra b <<<"$2"
  awk -v r1="${a[0]}" -v r2="${b[0]}" -v l1="${a[2]}" -v l2="${b[2]}" \
    'BEGIN { printf "  ratio wgate / nginx: req/s %.3g   p99 latency %.3gx\n", r1 / r2, l1 / l2 }'
}

keys_size=$(stat -c %s "$STATIC/keys.json") metrics_size=$(stat -c %s "$STATIC/metrics.txt")
echo "== bench/api on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); wgate $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'), $(nginx -v 2>&1), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
echo "   setup: $PEOPLE people filled in $fill_s s; the daemon put $PEOPLE peers on $IFACE in $peers_s s"
echo "   wrk: $THREADS threads, $CONNS connections (keep-alive), ${SECS} s per run; wgate web: 4 threads; the daemon's /metrics: 1 thread; nginx: worker_processes auto ($(nproc))"
echo "GET $KEYS_PATH, $PEOPLE people (body $keys_size bytes)"
w=$(drive "http://$WEB$KEYS_PATH" "Authorization: Bearer $TOKEN") || exit 1; line "wgate web (admin API, bearer token)" "$w"
n=$(drive "http://$NGINX/keys.json") || exit 1; line "nginx, static file of the same body" "$n"
ratio "$w" "$n"
echo "GET /metrics, $PEOPLE peers (body $metrics_size bytes, $metrics_lines lines)"
w=$(drive "http://$METRICS/metrics") || exit 1; line "wgate server (/metrics)" "$w"
n=$(drive "http://$NGINX/metrics.txt") || exit 1; line "nginx, static file of the same body" "$n"
ratio "$w" "$n"
echo "GET /metrics, one connection (as a Prometheus server scrapes)"
w=$(C=1 T=1 drive "http://$METRICS/metrics") || exit 1; line "wgate server (/metrics)" "$w"
n=$(C=1 T=1 drive "http://$NGINX/metrics.txt") || exit 1; line "nginx, static file of the same body" "$n"
ratio "$w" "$n"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
