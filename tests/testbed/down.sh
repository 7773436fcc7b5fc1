#!/bin/bash
# Tear down a test bed: stop its daemons by PID file, then anything still
# running inside its namespaces, then delete the namespaces (and with them the
# veth pair). Idempotent; fine on a half-built or already-gone bed. Logs and
# rendered configs stay in KAT_TESTBED_DIR for post-mortems.
#
#   down.sh          the bed named by KAT_TESTBED_PREFIX
#   down.sh --all    every bed with a state directory under KAT_TESTBED_HOME
#                    (CI runs this before and after the tests)
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

if [ "${1:-}" = --all ]; then
  rc=0
  for f in "$KAT_TESTBED_HOME"/*/prefix; do
    [ -f "$f" ] || continue
    KAT_TESTBED_PREFIX=$(cat "$f") KAT_TESTBED_DIR=$(dirname "$f") \
      bash "$TESTBED_SRC/down.sh" || rc=1
  done
  exit $rc
fi
check_prefix

# In parallel: each daemon takes 1-2 s to stop. ExaBGP gets the longest grace
# because it stops its API process itself (SIGTERM, SIGKILL after 2 s).
stop_pidfile "$PIDS/exabgp.pid" 6 &
stop_pidfile "$PIDS/gobgpd.pid" 5 &
wait
stop_pidfile "$PIDS/api.pid" 3

# Anything left inside our own namespaces is ours: children of the API process,
# commands a test ran there, a daemon whose PID file was lost. Never by name.
for ns in "$NS_EXA" "$NS_PEER"; do
  netns_exists "$ns" || continue
  for pid in $(ip netns pids "$ns" 2>/dev/null); do
    note "stopping leftover PID $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) in $ns"
    stop_pid "$pid" 3
  done
  ip netns del "$ns" 2>/dev/null || note "could not delete netns $ns"
done

left=0
for ns in "$NS_EXA" "$NS_PEER"; do
  netns_exists "$ns" && { note "netns $ns still exists"; left=1; }
done
[ $left = 0 ] && echo "testbed $KAT_TESTBED_PREFIX is down"
exit $left
