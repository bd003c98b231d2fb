# shellcheck shell=bash
# Helpers shared by the e2e lab scripts (tests/e2e/lab.sh, filter.sh):
# verdict counting, the wgate CLI and daemon of the lab, and connecting a
# client. Source after scripts/lab-lib.sh; the caller sets WGATE_BIN, CFG,
# WORK and LAB, and passed=0 failed=0.

pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
expect() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
expect_not() { local what=$1; shift; if "$@"; then fail "$what"; else pass "$what"; fi; }
abort() { fail "$*"; echo "$passed passed, $failed failed"; exit 1; }

wgate() { "$WGATE_BIN" -c "$CFG" "$@"; }
start_server() {
  # `ip netns exec` execs the command, so $! is wgate itself (kill -9 below
  # must hit the daemon, not a wrapper shell).
  ip netns exec "$LAB-gw" "$WGATE_BIN" -c "$CFG" server >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
}

# Makes a key on the client's side, registers its public half for a device,
# writes the client config with `wgate config` and brings the tunnel up.
# Usage: connect host user device -> sets KEY_ID_<host>, PUB_<host>, IP_<host>
connect() {
  local host=$1 user=$2 device=$3 priv pub json
  priv=$WORK/$host.key
  (umask 077; wg genkey >"$priv")
  pub=$(wg pubkey <"$priv")
  json=$(wgate --json key add "$user" "$pub" --device "$device")
  wgate config "$(jq -r .id <<<"$json")" --private-key-file "$priv" >"$WORK/$LAB-$host.conf"
  lab_client_up "$host" "$WORK/$LAB-$host.conf" || echo "wg-quick up failed for $host"
  printf -v "KEY_ID_$host" %s "$(jq -r .id <<<"$json")"
  printf -v "PUB_$host" %s "$pub"
  printf -v "IP_$host" %s "$(jq -r .address <<<"$json")"
}
