# Settings and helpers shared by the test bed scripts. Sourced, not run.
# Every KAT_TESTBED_* setting can be overridden from the environment; the
# list with defaults is in docs/testing.md ("BGP test bed").
# shellcheck shell=bash disable=SC2034  # names are used by the scripts that source this

KAT_TESTBED_PREFIX=${KAT_TESTBED_PREFIX:-kat}
KAT_TESTBED_HOME=${KAT_TESTBED_HOME:-$HOME/.cache/kube-anycast/testbed}
KAT_TESTBED_DIR=${KAT_TESTBED_DIR:-$KAT_TESTBED_HOME/$KAT_TESTBED_PREFIX}
KAT_TESTBED_EXA_AS=${KAT_TESTBED_EXA_AS:-65001}
KAT_TESTBED_PEER_AS=${KAT_TESTBED_PEER_AS:-65000}
KAT_TESTBED_GR=${KAT_TESTBED_GR:-0}              # graceful restart time in s; 0 = off
KAT_TESTBED_API_ONCE=${KAT_TESTBED_API_ONCE:-0}  # 1 = do not let ExaBGP respawn the API process
KAT_TESTBED_WAIT=${KAT_TESTBED_WAIT:-30}         # s to wait for Established; 0 = do not wait

TESTBED_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$TESTBED_SRC/../.." && pwd)

# Interfaces are created inside the namespaces, so nothing of a bed shows in the
# root namespace and parallel beds can all use the same names and addresses.
NS_EXA=$KAT_TESTBED_PREFIX-exa
NS_PEER=$KAT_TESTBED_PREFIX-peer
EXA_ADDR=10.255.0.1     # ExaBGP, dev to-peer in $NS_EXA
PEER_ADDR=10.255.0.2    # GoBGP, dev to-exa in $NS_PEER
EXA_ADDR6=fd00:255::1   # usable as an explicit IPv6 next hop
PEER_ADDR6=fd00:255::2
GOBGP_HOST=127.0.0.1    # gRPC API, on the loopback of $NS_PEER only
GOBGP_PORT=50051
PIDS=$KAT_TESTBED_DIR/pids

die() { echo "testbed: $*" >&2; exit 1; }
note() { echo "testbed: $*" >&2; }

check_prefix() {
  [[ $KAT_TESTBED_PREFIX =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] ||
    die "KAT_TESTBED_PREFIX='$KAT_TESTBED_PREFIX': use 1-31 characters of a-z, 0-9 and '-'"
}

require_root() {
  [ "$(id -u)" = 0 ] || die "needs root (network namespaces and veth pairs)"
}

netns_exists() { [ -e "/run/netns/$1" ]; }

# Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat).
# PID files hold "PID STARTTIME" so that a reused PID is never signalled.
start_time() {
  local stat fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  read -ra fields <<<"${stat##*) }"  # drop "PID (comm) ": comm may contain spaces
  echo "${fields[19]}"
}

write_pid() {  # pid file
  echo "$1 $(start_time "$1" || echo unknown)" >"$2"
}

# True when the process recorded in a PID file is still the one that was started.
pid_alive() {  # file
  local pid t now
  [ -s "$1" ] && read -r pid t <"$1" || return 1
  now=$(start_time "$pid") || return 1
  [ "$t" = unknown ] || [ "$t" = "$now" ]
}

# SIGTERM, up to $2 seconds of grace, then SIGKILL.
stop_pid() {  # pid [grace-seconds]
  local pid=$1 grace=${2:-5} i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
}

stop_pidfile() {  # file [grace-seconds]
  local pid _
  if pid_alive "$1"; then
    read -r pid _ <"$1"
    stop_pid "$pid" "${2:-5}"
  fi
  rm -f "$1"
}

gobgp_cli() {
  ip netns exec "$NS_PEER" gobgp -u "$GOBGP_HOST" -p "$GOBGP_PORT" "$@"
}

exabgp_venv() {
  bash "$REPO_ROOT/scripts/ensure-exabgp.sh"
}

# Start ExaBGP in $NS_EXA on the rendered config. $! is ExaBGP itself, because
# `ip netns exec` and `env` both exec. It never holds the caller's pipes.
start_exabgp() {
  local venv
  venv=$(exabgp_venv) || die "no ExaBGP venv"
  # daemon.user=root: the default drops to `nobody`, which cannot run the API
  #   process from a root-owned state directory (nor touch addresses).
  # log.destination=stdout: there is no syslog socket; stdout goes to exabgp.log.
  # api.cli=false: no named pipes in shared places such as /run/exabgp.
  # api.ack=true: the 5.x default, stated: the API process gets one line per command.
  ip netns exec "$NS_EXA" env \
    exabgp.daemon.user=root \
    exabgp.daemon.daemonize=false \
    exabgp.log.destination=stdout \
    exabgp.api.cli=false \
    exabgp.api.ack=true \
    "$venv/bin/python" -m exabgp server "$KAT_TESTBED_DIR/exabgp.conf" \
    </dev/null >>"$KAT_TESTBED_DIR/exabgp.log" 2>&1 &
  write_pid $! "$PIDS/exabgp.pid"
}

established() {
  gobgp_cli neighbor "$EXA_ADDR" -j 2>/dev/null | grep -q '"session_state":6'
}

# Wait up to KAT_TESTBED_WAIT seconds for the session; fail early if a daemon died.
wait_established() {
  [ "$KAT_TESTBED_WAIT" != 0 ] || return 0
  local deadline=$(($(date +%s) + KAT_TESTBED_WAIT)) d
  until established; do
    for d in exabgp gobgpd; do
      pid_alive "$PIDS/$d.pid" || { note "$d exited"; return 1; }
    done
    (($(date +%s) < deadline)) || { note "no Established session after $KAT_TESTBED_WAIT s"; return 1; }
    sleep 0.1
  done
}

# For the scripts that act on a running bed: the checks, then an absolute KAT_TESTBED_DIR and
# PIDS. $1 is the bed's network namespace that must exist.
require_running_bed() {
  check_prefix
  require_root
  [ -d "$KAT_TESTBED_DIR" ] || die "no state directory for bed '$KAT_TESTBED_PREFIX'"
  KAT_TESTBED_DIR=$(cd "$KAT_TESTBED_DIR" && pwd)
  PIDS=$KAT_TESTBED_DIR/pids
  netns_exists "$1" || die "no test bed '$KAT_TESTBED_PREFIX' (netns $1 is missing)"
}
