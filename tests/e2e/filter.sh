#!/usr/bin/env bash
# End-to-end test of the per-person L4 filter ([[policy]], the tc eBPF
# filter) in the namespace lab: wgate server with the userspace backend in
# the gateway's namespace (or kernel WireGuard: WGATE_E2E_BACKEND=kernel),
# real wireguard-go clients, listeners in both VPCs.
#   - allowed ports pass (with their replies), the others are dropped;
#   - a policy change by SIGHUP takes effect without a restart and without
#     breaking an established allowed TCP connection that keeps talking;
#   - a bad config on SIGHUP is refused, the running one stays;
#   - `wgate flows` names the person and interface of allowed and dropped flows;
#   - a clean stop leaves the filter on with the last policy (tunnels stay
#     up, so must their rules), and the next start replaces it;
#   - `wgate explain --json` agrees with the lab on every case of a random
#     policy (>= 200 cases; the seed is printed: WGATE_FILTER_SEED=N repeats it).
# Usage: tests/e2e/filter.sh path/to/wgate   (root; ctest e2e_filter, label e2e)
# Exits 77 (skipped) when this wgate was built without the filter (no BTF).
set -uo pipefail
WGATE_BIN=$(readlink -f "${1:?usage: filter.sh path/to/wgate}")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lab-lib.sh
source "$HERE/../../scripts/lab-lib.sh"
# shellcheck source=e2e-lib.sh
source "$HERE/e2e-lib.sh"

LAB=${WGATE_E2E_LAB:-wgflt}
WORK=$(mktemp -d /tmp/wgate-filter.XXXXXX)
CFG=$WORK/wgate.toml
SERVER_PID=""
passed=0
failed=0
started=$(date +%s.%N)
SEED=${WGATE_FILTER_SEED:-$(( $(date +%s) % 100000 ))}
CASES=${WGATE_FILTER_CASES:-200}
# Slow machines (the VM lab under emulation): a longer wait for each probe's
# answer (s), fewer probes at once, a shorter long-lived connection.
WAIT=${WGATE_FILTER_WAIT:-1.5}
G1=$LAB_G1 G2=$LAB_G2            # dev reaches vpc-a; ops reaches vpc-a and vpc-b
IF1=$LAB-$G1 IF2=$LAB-$G2
A=$LAB_VPCA_HOST B=$LAB_VPCB_HOST
TCP_PORTS=(22 80 443 5432 7000 8080)  # 7000: lab-lib's own listener
UDP_PORTS=(53 123 5000)
LONG_PORT=7100                        # the connection kept open across policy changes
PEOPLE=(alice bob carol dave)
declare -A GROUP_OF=([alice]=$G1 [bob]=$G1 [carol]=$G2 [dave]=$G2)

# The gateway's WireGuard: wireguard-go (userspace, the default) or the
# kernel module (WGATE_E2E_BACKEND=kernel: the VM lab, where it exists).
BACKEND=${WGATE_E2E_BACKEND:-userspace}
case "$BACKEND" in userspace|kernel) ;; *) echo "WGATE_E2E_BACKEND must be userspace or kernel"; exit 1 ;; esac
if [ "$(id -u)" -ne 0 ]; then echo "e2e filter lab needs root (network namespaces, BPF)"; exit 1; fi
for tool in wireguard-go wg wg-quick socat ping ip jq python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh"; exit 1; }
done

cleanup() {
  [ -n "${LONG_PID:-}" ] && kill "$LONG_PID" 2>/dev/null
  if [ -n "$SERVER_PID" ]; then kill -9 "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  lab_down
  rm -rf "$WORK"
}
trap cleanup EXIT

# The lab's gateway config followed by [[policy]] tables ($1, may be empty).
# tcp/7999 on the gateway itself is open to users (the input guard's
# business, never the filter's); tcp/7998 listens there too but is not.
GW_OPEN=7999 GW_CLOSED=7998
write_config() {
  { lab_gateway_config "$WORK" "$BACKEND" "allow_to_gateway = [\"tcp/$GW_OPEN\"]"; printf '\n%s\n' "$1"; } >"$CFG.new" &&
    mv "$CFG.new" "$CFG"
}
reloads() { grep -c "config reloaded" "$WORK/server.log"; }
# Sends SIGHUP and waits (up to 5 s) for the daemon to log the reload, then
# a moment for the full pass it runs at once.
reload() {
  local before; before=$(reloads)
  kill -HUP "$SERVER_PID"
  for _ in $(seq 1 100); do [ "$(reloads)" -gt "$before" ] && { sleep 0.5; return 0; }; sleep 0.05; done
  return 1
}

# probe host dst service -> prints 1 when it got through and the reply came
# back, else 0. Short timeouts: a dropped packet is never answered.
probe() {
  local host=$1 dst=$2 svc=$3 out
  case "$svc" in
    icmp) lab_exec "$host" ping -c 1 -W "$WAIT" -q "$dst" >/dev/null 2>&1 && echo 1 || echo 0; return ;;
    # -t: how long to wait for the answer after our side is done (the
    # default 0.5 s is too short on a loaded 2-core machine).
    tcp/*) out=$(lab_exec "$host" timeout $((2 * ${WAIT%.*} + 1)) socat -t"$WAIT" -T"$WAIT" - "TCP:$dst:${svc#tcp/},connect-timeout=$WAIT" </dev/null 2>/dev/null) ;;
    udp/*) out=$(echo x | lab_exec "$host" timeout $((2 * ${WAIT%.*} + 1)) socat -t"$WAIT" -T"$WAIT" - "UDP4:$dst:${svc#udp/}" 2>/dev/null) ;;
  esac
  [ -n "$out" ] && echo 1 || echo 0
}
allowed_by_explain() {
  wgate --json explain "$1" "$2" "$3" | jq -r 'if .allowed then 1 else 0 end'
}

echo "== lab $LAB in $WORK"
LAB=$LAB lab_down
lab_up "${PEOPLE[@]}"
for vpc in vpca vpcb; do
  for p in "${TCP_PORTS[@]}"; do
    [ "$p" = "$LAB_TCP_PORT" ] && continue
    lab_exec "$vpc" socat "TCP-LISTEN:$p,fork,reuseaddr" SYSTEM:'echo ok' </dev/null >/dev/null 2>&1 &
  done
  # One process answers every UDP port ("ok" to each datagram): socat's
  # UDP4-RECVFROM with fork lets concurrent children take each other's
  # datagrams, which lost a few of 40 parallel probes.
  lab_exec "$vpc" python3 -c '
import select, socket, sys
socks = []
for port in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(port)))
    socks.append(s)
while True:
    for s in select.select(socks, [], [])[0]:
        _, peer = s.recvfrom(2048)
        s.sendto(b"ok\n", peer)
' "${UDP_PORTS[@]}" </dev/null >/dev/null 2>&1 &
done
lab_exec vpca socat "TCP-LISTEN:$LONG_PORT,fork,reuseaddr" SYSTEM:cat </dev/null >/dev/null 2>&1 &
for p in "$GW_OPEN" "$GW_CLOSED"; do
  lab_exec gw socat "TCP-LISTEN:$p,fork,reuseaddr" SYSTEM:'echo ok' </dev/null >/dev/null 2>&1 &
done

write_config ""
wgate check-config >/dev/null || abort "the lab's config is valid"
wgate init >/dev/null
for person in "${PEOPLE[@]}"; do wgate user add "$person" --group "${GROUP_OF[$person]}" >/dev/null; done
start_server
lab_wait_for_interface_keys "$WORK/state" "$IF1" "$IF2" || { tail -20 "$WORK/server.log"; abort "the daemon made the interface keys"; }
if grep -q "eBPF filter not loaded" "$WORK/server.log"; then
  if grep -q "built without the eBPF filter" "$WORK/server.log"; then echo "SKIP: wgate was built without the eBPF filter"; exit 77; fi
  abort "the daemon loaded the eBPF filter: $(grep 'eBPF filter not loaded' "$WORK/server.log")"
fi
expect "the daemon loaded the eBPF filter" grep -q "eBPF filter loaded" "$WORK/server.log"
for person in "${PEOPLE[@]}"; do connect "$person" "$person" laptop; done
for person in "${PEOPLE[@]}"; do
  expect "$person's tunnel works (no policies: every port of the group's networks)" lab_ping "$person" "$A"
done
expect "tc shows wgate's filter on $IF1" sh -c "ip netns exec $LAB-gw tc filter show dev $IF1 ingress | grep -q 'handle 0x77'"
expect "no policies: alice reaches vpc-a tcp/5432" test "$(probe alice "$A" tcp/5432)" = 1
expect "no policies: explain says the group has no policies" \
  sh -c "'$WGATE_BIN' -c '$CFG' --json explain alice $A tcp/5432 | jq -e '.allowed and (.devices[0].rule == \"group $G1 has no policies\")' >/dev/null"

echo "== a long-lived TCP connection (alice -> $A:$LONG_PORT), kept talking across the policy changes"
LONG_LINES=${WGATE_FILTER_LONG_LINES:-200}  # one line every 0.2 s: 40 s
( for i in $(seq 1 $LONG_LINES); do echo "line $i"; sleep 0.2; done ) |
  lab_exec alice timeout $((LONG_LINES / 5 * 3 + 20)) socat -t3 - "TCP:$A:$LONG_PORT,connect-timeout=3" >"$WORK/long.out" 2>"$WORK/long.err" &
LONG_PID=$!
sleep 1
expect "the long connection is answered" grep -q "line 1" "$WORK/long.out"

echo "== policy 1: $G1 gets ssh, port 7000 and ping to vpc-a; alice keeps tcp/$LONG_PORT of her own"
POLICY1="[[policy]]
group = \"$G1\"
to = \"vpc-a\"
allow = [\"tcp/22\", \"tcp/7000\", \"icmp\"]

[[policy]]
person = \"alice\"
to = \"vpc-a\"
allow = [\"tcp/$LONG_PORT\"]

[[policy]]
person = \"bob\"
to = \"vpc-b\"
allow = [\"tcp/80\"]"
write_config "$POLICY1"
t0=$(date +%s.%N)
expect "SIGHUP: the daemon reloads the config" reload
expect "allowed: alice tcp/22 to vpc-a (and the reply comes back)" test "$(probe alice "$A" tcp/22)" = 1
t1=$(date +%s.%N)
echo "policy 1 in force $(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.2f", a - b }') s after SIGHUP (including 0.5 s of waiting)"
expect "allowed: bob tcp/7000 to vpc-a" test "$(probe bob "$A" tcp/7000)" = 1
expect "allowed: alice ping to vpc-a" test "$(probe alice "$A" icmp)" = 1
expect "dropped: alice tcp/5432 to vpc-a" test "$(probe alice "$A" tcp/5432)" = 0
expect "dropped: alice udp/53 to vpc-a" test "$(probe alice "$A" udp/53)" = 0
expect "dropped: bob tcp/$LONG_PORT to vpc-a (alice's own rule)" test "$(probe bob "$A" tcp/$LONG_PORT)" = 0
expect "not granted: bob's rule to vpc-b, which $G1 does not route" test "$(probe bob "$B" tcp/80)" = 0
expect "the daemon warns that bob's policy is not granted" grep -q "policy #3 (person bob -> vpc-b: tcp/80).*does not route vpc-b" "$WORK/server.log"
expect "$G2 has no policies: carol reaches vpc-b udp/53" test "$(probe carol "$B" udp/53)" = 1
expect "to the gateway itself: alice reaches tcp/$GW_OPEN on $LAB_VPCA_GW (allow_to_gateway; no policy allows it)" \
  test "$(probe alice "$LAB_VPCA_GW" "tcp/$GW_OPEN")" = 1
expect "to the gateway itself: alice's tcp/$GW_CLOSED is dropped (by the input guard)" \
  test "$(probe alice "$LAB_VPCA_GW" "tcp/$GW_CLOSED")" = 0
expect "explain names the rule that allows alice tcp/22" \
  sh -c "'$WGATE_BIN' -c '$CFG' --json explain alice $A tcp/22 | jq -e '.allowed and (.devices[0].rule | startswith(\"policy #1 (group $G1 -> vpc-a\"))' >/dev/null"
expect "explain says no rule allows alice tcp/5432" \
  sh -c "'$WGATE_BIN' -c '$CFG' --json explain alice $A tcp/5432 | jq -e '(.allowed | not) and (.devices[0].deciding_step == \"l4-rules\") and (.devices[0].steps[-1].detail | contains(\"no rule allows tcp/5432 to $A\"))' >/dev/null"

echo "== a bad config on SIGHUP is refused; the running policy stays"
write_config "$POLICY1
[[policy]]
group = \"nosuchgroup\"
to = \"vpc-a\"
allow = [\"tcp/22\"]"
refusals=$(grep -c "config reload refused" "$WORK/server.log")
kill -HUP "$SERVER_PID"
for _ in $(seq 1 60); do [ "$(grep -c "config reload refused" "$WORK/server.log")" -gt "$refusals" ] && break; sleep 0.05; done
expect "the refusal is logged" test "$(grep -c "config reload refused" "$WORK/server.log")" -gt "$refusals"
expect "...naming the error" grep -q "policy\[3\].group: unknown group 'nosuchgroup'" "$WORK/server.log"
expect "still allowed: alice tcp/22" test "$(probe alice "$A" tcp/22)" = 1
expect "still dropped: alice tcp/5432" test "$(probe alice "$A" tcp/5432)" = 0

echo "== flow records name the person (wgate flows)"
write_config "$POLICY1"  # the file the CLI reads: the running config again (the refused one is not)
# The daemon writes the filter's events every 2 s: wait for both verdicts.
has_flow() {  # person verdict port -> 0 when `wgate flows` shows it, on the person's interface
  "$WGATE_BIN" -c "$CFG" --json flows --user "$1" --dst "$A" --verdict "$2" --limit 500 2>/dev/null |
    jq -e --arg p "$1" --arg i "$4" --argjson port "$3" \
      '[.flows[] | select(.user == $p and .protocol == "tcp" and .destination_port == $port and .interface == $i and (.device | length > 0))] | length > 0' >/dev/null
}
wait_flow() { for _ in $(seq 1 40); do has_flow "$@" && return 0; sleep 0.25; done; return 1; }
expect "flows: alice's allowed tcp/22 to vpc-a, on $IF1" wait_flow alice allow 22 "$IF1"
expect "flows: alice's dropped tcp/5432 to vpc-a" wait_flow alice deny 5432 "$IF1"
expect "flows: bob's allowed tcp/7000 is bob's" wait_flow bob allow 7000 "$IF1"
expect "flows: nothing of bob's is recorded as alice's" \
  sh -c "! '$WGATE_BIN' -c '$CFG' --json flows --user alice --limit 1000 | jq -e '.flows[] | select(.destination_port == 7000 and .verdict == \"allow\")' >/dev/null"

echo "== a random policy (seed $SEED), $CASES cases checked against explain --json"
RANDOM=$SEED
pick() { local -n arr=$1; echo "${arr[$((RANDOM % ${#arr[@]}))]}"; }
SERVICES=(tcp/22 tcp/80 tcp/443 tcp/5432 tcp/7000 tcp/8080 tcp/1-1000 tcp/8000-8100 tcp/5000-6000 udp/53 udp/123 udp/5000 udp/1-200 icmp)
random_allow() {
  local n=$((1 + RANDOM % 4)) out="" i
  for i in $(seq 1 $n); do out+="${out:+, }\"$(pick SERVICES)\""; done
  echo "[$out]"
}
random_to() {  # a network the group routes (or, for a person, any), or a CIDR inside one
  local nets=("vpc-a") net
  [ "$1" = "$G2" ] || [ "$1" = any ] && nets+=("vpc-b")
  net=$(pick nets)
  case $((RANDOM % 3)) in
    0) echo "$net" ;;
    1) [ "$net" = vpc-a ] && echo "$LAB_NET_A.0.0/24" || echo "$LAB_NET_B.0.0/24" ;;   # holds the host .0.10
    2) [ "$net" = vpc-a ] && echo "$LAB_NET_A.128.0/17" || echo "$LAB_NET_B.128.0/17" ;;  # does not
  esac
}
POLICY2=""
for g in "$G1" "$G2"; do
  [ $((RANDOM % 4)) = 0 ] && continue  # now and then a group without policies
  for _ in $(seq 1 $((1 + RANDOM % 2))); do
    POLICY2+=$'\n'"[[policy]]"$'\n'"group = \"$g\""$'\n'"to = \"$(random_to "$g")\""$'\n'"allow = $(random_allow)"$'\n'
  done
done
POLICY2+=$'\n'"[[policy]]"$'\n'"person = \"alice\""$'\n'"to = \"vpc-a\""$'\n'"allow = [\"tcp/$LONG_PORT\"]"$'\n'
for person in "${PEOPLE[@]}"; do
  [ $((RANDOM % 2)) = 0 ] && continue
  POLICY2+=$'\n'"[[policy]]"$'\n'"person = \"$person\""$'\n'"to = \"$(random_to any)\""$'\n'"allow = $(random_allow)"$'\n'
done
echo "$POLICY2" | sed 's/^/    /'
write_config "$POLICY2"
wgate check-config >/dev/null || abort "the random policy is a valid config"
expect "SIGHUP: the daemon reloads the random policy" reload

mkdir -p "$WORK/cases"
for i in $(seq 1 "$CASES"); do
  svc=$(pick SERVICES)
  case "$svc" in *-*) svc=${svc%%/*}/$(pick "$( [ "${svc%%/*}" = tcp ] && echo TCP_PORTS || echo UDP_PORTS )") ;; esac
  echo "$(pick PEOPLE) $( [ $((RANDOM % 2)) = 0 ] && echo "$A" || echo "$B") $svc" >"$WORK/cases/$i.case"
done
# Lab and explain at the same time, each in parallel batches (every probe is
# bounded by its timeouts; explain only reads the config and the store).
tc0=$(date +%s.%N)
explain_all() {
  local start i who dst svc pids=()
  for start in $(seq 1 8 "$CASES"); do
    for i in $(seq "$start" $((start + 7))); do
      [ "$i" -le "$CASES" ] || break
      read -r who dst svc <"$WORK/cases/$i.case"
      { allowed_by_explain "$who" "$dst" "$svc" >"$WORK/cases/$i.explain"; } &
      pids+=($!)
    done
    wait "${pids[@]}"
    pids=()
  done
}
explain_all &
EXPLAIN_PID=$!
BATCH=${WGATE_FILTER_BATCH:-40}
pids=()
for start in $(seq 1 $BATCH "$CASES"); do
  for i in $(seq "$start" $((start + BATCH - 1))); do
    [ "$i" -le "$CASES" ] || break
    read -r who dst svc <"$WORK/cases/$i.case"
    { probe "$who" "$dst" "$svc" >"$WORK/cases/$i.lab"; } &
    pids+=($!)
  done
  wait "${pids[@]}"  # not a bare wait: the listeners and the long connection are children too
  pids=()
done
wait "$EXPLAIN_PID"
tc1=$(date +%s.%N)
agree=0 disagree=0 allowed=0
for i in $(seq 1 "$CASES"); do
  lab=$(cat "$WORK/cases/$i.lab") ex=$(cat "$WORK/cases/$i.explain")
  if [ "$lab" = "$ex" ] && [ -n "$lab" ]; then
    agree=$((agree + 1))
  else
    disagree=$((disagree + 1))
    read -r who dst svc <"$WORK/cases/$i.case"
    echo "  disagree: $who -> $dst $svc: lab $lab, explain $ex"
    wgate explain "$who" "$dst" "$svc" | sed 's/^/      /'
  fi
  [ "$lab" = 1 ] && allowed=$((allowed + 1))
done
echo "seed $SEED: $CASES cases, $allowed allowed in the lab, $agree agree, $disagree disagree ($(awk -v a="$tc1" -v b="$tc0" 'BEGIN { printf "%.1f", a - b }') s)"
expect "explain --json agrees with the lab on all $CASES cases (seed $SEED)" test "$disagree" = 0
expect "the random policy allows some cases and drops others" test "$allowed" -gt 0 -a "$allowed" -lt "$CASES"

echo "== the long-lived connection"
wait "$LONG_PID"
LONG_PID=""
got=$(grep -c '^line ' "$WORK/long.out")
expect "every line came back across two policy changes ($got/$LONG_LINES)" test "$got" = "$LONG_LINES"
expect "in order, the last one last" test "$(tail -1 "$WORK/long.out")" = "line $LONG_LINES"

echo "== a clean stop leaves the filter on with the last policy; the next start replaces it"
write_config "$POLICY1"
expect "SIGHUP: back to policy 1" reload
expect "policy 1: alice tcp/22 allowed" test "$(probe alice "$A" tcp/22)" = 1
expect "policy 1: alice tcp/5432 dropped" test "$(probe alice "$A" tcp/5432)" = 0
filter_prog_id() { ip netns exec "$LAB-gw" tc filter show dev "$IF1" ingress | sed -n 's/.*handle 0x77.* id \([0-9]*\).*/\1/p' | head -1; }
old_id=$(filter_prog_id)
kill -TERM "$SERVER_PID"
stopped=0
for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || { stopped=1; break; }; sleep 0.1; done
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=""
expect "the daemon stopped on SIGTERM" test "$stopped" = 1
expect "...saying the filter stays with the last policy" grep -q "eBPF filter (with the last policy) stay up" "$WORK/server.log"
expect "with no daemon, the filter is still on $IF1 (program $old_id)" test -n "$old_id" -a "$(filter_prog_id)" = "$old_id"
expect "with no daemon: alice tcp/22 still allowed" test "$(probe alice "$A" tcp/22)" = 1
expect "with no daemon: alice tcp/5432 still dropped" test "$(probe alice "$A" tcp/5432)" = 0
loads=$(grep -c "eBPF filter loaded" "$WORK/server.log")
start_server
for _ in $(seq 1 100); do [ "$(grep -c "eBPF filter loaded" "$WORK/server.log")" -gt "$loads" ] && break; sleep 0.1; done
new_id=""
for _ in $(seq 1 100); do new_id=$(filter_prog_id); [ -n "$new_id" ] && [ "$new_id" != "$old_id" ] && break; sleep 0.1; done
expect "the next daemon replaced the filter with its own program ($old_id -> $new_id)" test -n "$new_id" -a "$new_id" != "$old_id"
expect "after the restart: alice tcp/22 allowed" test "$(probe alice "$A" tcp/22)" = 1
expect "after the restart: alice tcp/5432 dropped" test "$(probe alice "$A" tcp/5432)" = 0
expect "one wgate filter on $IF1, not two" test "$(ip netns exec "$LAB-gw" tc filter show dev "$IF1" ingress | grep -c 'handle 0x77')" = 1

if grep -qE "ERROR: AddressSanitizer|runtime error:" "$WORK/server.log"; then fail "sanitizer report in the daemon's log"; fi
ended=$(date +%s.%N)
echo "$passed passed, $failed failed; wall time $(awk -v a="$ended" -v b="$started" 'BEGIN { printf "%.1f", a - b }') s"
[ "$failed" = 0 ]
