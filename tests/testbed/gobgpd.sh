#!/bin/bash
# Control the gobgpd (the peer) of a running bed; ExaBGP keeps running and
# reconnects on its own (with its back-off, so re-peering takes seconds).
#
#   gobgpd.sh kill     SIGKILL: a crash; the session and the RIB go with it
#   gobgpd.sh start    start it again on the same config, wait until listening
#                      and then until ExaBGP is Established again
set -Eeuo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_running_bed "$NS_PEER"

kill_gobgpd() {
  local pid _ i
  if pid_alive "$PIDS/gobgpd.pid"; then
    read -r pid _ <"$PIDS/gobgpd.pid"
    kill -KILL "$pid"
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
  rm -f "$PIDS/gobgpd.pid"
}

start_gobgpd() {
  local i
  pid_alive "$PIDS/gobgpd.pid" && die "gobgpd is already running"
  ip netns exec "$NS_PEER" gobgpd -f "$KAT_TESTBED_DIR/gobgpd.toml" \
    --api-hosts "$GOBGP_HOST:$GOBGP_PORT" --pprof-disable --log-plain \
    </dev/null >>"$KAT_TESTBED_DIR/gobgpd.log" 2>&1 &
  write_pid $! "$PIDS/gobgpd.pid"
  for ((i = 0; ; i++)); do
    [ -n "$(ip netns exec "$NS_PEER" ss -Hltn 'sport = :179')" ] &&
      gobgp_cli neighbor "$EXA_ADDR" >/dev/null 2>&1 && break
    pid_alive "$PIDS/gobgpd.pid" || die "gobgpd exited"
    ((i < 100)) || die "gobgpd not listening after 10 s"
    sleep 0.1
  done
  wait_established
}

case ${1:-} in
  kill) kill_gobgpd ;;
  start) start_gobgpd ;;
  *) die "usage: gobgpd.sh kill|start" ;;
esac
echo "gobgpd: $1 done"
