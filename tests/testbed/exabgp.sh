#!/bin/bash
# Control the ExaBGP of a running bed; gobgpd keeps running. For tests of what
# the peer sees when the speaker goes away (with KAT_TESTBED_GR > 0 at up
# time, graceful restart keeps the routes as stale for that many seconds).
#
#   exabgp.sh stop       SIGTERM: ExaBGP sends a NOTIFICATION, stops its API process
#   exabgp.sh kill       SIGKILL: a crash; the API process is stopped too
#   exabgp.sh start      start it again and wait until Established
#   exabgp.sh restart    stop + start;  exabgp.sh crash: kill + start
set -Eeuo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_running_bed "$NS_EXA"

stop() {
  if [ "$1" = kill ]; then
    if pid_alive "$PIDS/exabgp.pid"; then
      read -r pid _ <"$PIDS/exabgp.pid"
      kill -KILL "$pid"
    fi
    rm -f "$PIDS/exabgp.pid"
  else
    stop_pidfile "$PIDS/exabgp.pid" 6
  fi
  # After a crash the API process is an orphan; stop it as ExaBGP would have.
  stop_pidfile "$PIDS/api.pid" 3
  rm -f "$KAT_TESTBED_DIR/api.exit"
  # Wait until gobgpd has seen the session go, so a start cannot see the old one.
  for ((i = 0; i < 100; i++)); do established || return 0; sleep 0.1; done
  [ "$1" = kill ] || note "gobgpd still reports the old session as Established"
}

start() {
  start_exabgp
  wait_established
}

case ${1:-} in
  stop) stop term ;;
  kill) stop kill ;;
  start) start ;;
  restart) stop term && start ;;
  crash) stop kill && start ;;
  *) die "usage: exabgp.sh stop|kill|start|restart|crash" ;;
esac
echo "exabgp: $1 done"
