#!/usr/bin/env bash
# Runs wgate's bundled development IdP (tests/idp/server.mjs: oidc-provider on
# loopback) in the background, for the quickstart and for trying wgate's SSO
# by hand. Not for production: made-up passwords, plain HTTP, state in memory.
#
#   scripts/idp.sh start [--test-api]   start (or report the one running), wait until it answers
#   scripts/idp.sh stop                 stop it (SIGTERM, then SIGKILL after 5 s)
#   scripts/idp.sh status               running or not, and where
#
# Environment:
#   IDP_CONFIG  config JSON (default tests/idp/quickstart-config.json)
#   IDP_PORT    loopback port (default 8900; the issuer is http://127.0.0.1:$IDP_PORT)
#   IDP_DIR     pid, port and log files (default .idp/ in the source tree)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONFIG=${IDP_CONFIG:-$ROOT/tests/idp/quickstart-config.json}
PORT=${IDP_PORT:-8900}
DIR=${IDP_DIR:-$ROOT/.idp}
PIDFILE=$DIR/idp.pid
PORTFILE=$DIR/idp.port
LOG=$DIR/idp.log
SERVER=$ROOT/tests/idp/server.mjs

# The pid in the pid file, if that process is still our server (a pid file
# left by a crash may name an unrelated process by now).
running_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$SERVER" || return 1
  echo "$pid"
}

describe() {
  local issuer
  issuer="http://127.0.0.1:$(cat "$PORTFILE")"
  echo "dev IdP: issuer $issuer (pid $(cat "$PIDFILE"), log $LOG)"
  echo "  discovery: $issuer/.well-known/openid-configuration"
  # The people and their dev-only passwords, and the clients, from the config.
  jq -r '"  clients: " + ([.clients[] | .client_id + (if .client_secret then " (secret " + .client_secret + ")" else " (public)" end)] | join(", ")),
         (.users[] | "  user \(.username) / password \(.password)  groups \(.groups // [] | join(" "))\(if .enabled == false then "  (disabled)" else "" end)")' "$CONFIG"
}

start() {
  local test_api=()
  case "${1:-}" in
    --test-api) test_api=(--test-api) ;;
    "") ;;
    *) echo "usage: $0 start [--test-api]" >&2; exit 2 ;;
  esac
  if running_pid >/dev/null; then
    echo "dev IdP already running"
    describe
    return 0
  fi
  command -v node >/dev/null || { echo "idp.sh: node is not installed; run scripts/install-deps.sh" >&2; exit 1; }
  [ -d "$ROOT/tests/idp/node_modules/oidc-provider" ] ||
    { echo "idp.sh: tests/idp/node_modules is missing; run scripts/install-deps.sh" >&2; exit 1; }
  mkdir -p "$DIR"
  rm -f "$PORTFILE" "$PIDFILE"
  # Its own session, so that the caller's Ctrl-C or exit leaves it running.
  setsid node "$SERVER" --config "$CONFIG" --port "$PORT" --port-file "$PORTFILE" "${test_api[@]}" \
    >"$LOG" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  for _ in $(seq 150); do
    [ -s "$PORTFILE" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "idp.sh: the dev IdP exited at start; its log ($LOG):" >&2
      tail -20 "$LOG" >&2
      rm -f "$PIDFILE"
      exit 1
    fi
    sleep 0.1
  done
  if [ ! -s "$PORTFILE" ]; then
    echo "idp.sh: the dev IdP did not come up within 15 s; its log ($LOG):" >&2
    tail -20 "$LOG" >&2
    stop >/dev/null
    exit 1
  fi
  curl -sf --max-time 5 "http://127.0.0.1:$(cat "$PORTFILE")/.well-known/openid-configuration" >/dev/null ||
    { echo "idp.sh: the dev IdP does not answer discovery" >&2; stop >/dev/null; exit 1; }
  describe
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE" "$PORTFILE"
    echo "dev IdP not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$PIDFILE" "$PORTFILE"
  echo "dev IdP stopped"
}

status() {
  if running_pid >/dev/null && [ -s "$PORTFILE" ]; then
    describe
  else
    echo "dev IdP not running"
    return 3
  fi
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start [--test-api] | stop | status" >&2; exit 2 ;;
esac
