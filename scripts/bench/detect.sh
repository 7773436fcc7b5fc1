#!/usr/bin/env bash
# Detection to peer (issue #9): the time from a service failing to the BGP peer seeing the
# withdrawal, and from its recovery to the announcement, for four checkers with the same check
# (HTTP GET of a local URL every 1 s, rise 3, fall 2), each alone on the same topology (the
# test bed: a speaker namespace and a GoBGP namespace over a veth), in one run:
#
#   exabgp-healthcheck   ExaBGP 5.0.15's `python -m exabgp healthcheck --cmd "curl ..."` as
#                        ExaBGP's API process, --withdraw-on-down
#   ahc-bird             anycast-healthchecker 0.9.10 (curl) driving BIRD 2 (BIRD takes
#                        ExaBGP's place as the speaker)
#   ka-healthcheck       `kube-anycast healthcheck --http URL` as ExaBGP's API process, same options
#   ka-agent             `kube-anycast agent --services-dir` (one AnycastService, HTTP probe,
#                        interval 1s, rise 3, fall 2) + `kube-anycast exabgp-relay` in ExaBGP;
#                        the agent puts the VIP on lo before announcing, takes it off after the
#                        withdraw (its default, --vip-interface lo)
#   ka-agent-novip       the same with --vip-interface none (no netlink on a change)
#
#   sudo scripts/bench/detect.sh [--trials N | --quick] [--out DIR] [--only NAME[,NAME...]]
#
# --trials: trials per checker (default 20; --quick: 3). Each trial is one failure (the served
# file is deleted: 404) and one recovery, each after a random 2-3 s wait so it lands at a random
# phase of the 1 s loop. The HTTP target stamps every check it answers and `gobgp monitor global
# rib -j` lines are stamped on arrival, both with CLOCK_MONOTONIC (scripts/bench/detect.py).
# The measuring side runs at nice -5 (the checkers, speakers and gobgpd at 0). Per step it records:
#   latency           failure (or recovery) -> change seen at GoBGP
#   phase             failure -> the first check that saw it
#   dampening         first check that saw it -> the deciding check (fall-th or rise-th)
#   above dampening   latency - phase - (k-1) x 1 s, k = fall (down) or rise (up): everything the
#                     configured dampening does not explain (loop drift, check run time, the
#                     decision, the speaker, BGP, the peer)
#   decision -> peer  the deciding check's request at the target -> GoBGP
#   log -> peer       the checker's own decision log line -> GoBGP, where that log has ms stamps
#                     (the agent's `service state`, anycast-healthchecker's `reconfiguring BIRD`)
# Results: DIR/detect.tsv (one row per step), DIR/summary.tsv, DIR/summary.md and the logs;
# DIR defaults to ${KAT_CACHE}/bench-results/detect-<UTC timestamp>. The table goes to stdout.
# Needs root (network namespaces). Installs what is missing: bird2 (apt), anycast-healthchecker
# (PyPI, in a venv under ${KAT_CACHE}), ExaBGP (scripts/ensure-exabgp.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. scripts/bench/lib.sh
trials=20
out=""
only="exabgp-healthcheck,ahc-bird,ka-healthcheck,ka-agent,ka-agent-novip"
while [ $# -gt 0 ]; do
  case $1 in
    --trials) trials=$2; shift 2 ;;
    --trials=*) trials=${1#*=}; shift ;;
    --quick) trials=3; shift ;;
    --out) out=$2; shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    --only) only=$2; shift 2 ;;
    --only=*) only=${1#*=}; shift ;;
    *) echo "usage: $0 [--trials N | --quick] [--out DIR] [--only NAME[,NAME...]]" >&2; exit 2 ;;
  esac
done
[[ $trials =~ ^[1-9][0-9]*$ ]] || { echo "detect: --trials must be a positive number" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "detect.sh needs root (network namespaces)" >&2; exit 1; }

export KAT_CACHE="${KAT_CACHE:-$HOME/.cache/kube-anycast}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KAT_CACHE/target}"
out="${out:-$KAT_CACHE/bench-results/detect-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# The checks: every checker uses these.
RISE=3 FALL=2 INTERVAL=1 TIMEOUT=2
PORT=18080
PREFIX=192.0.2.10/32
URL="http://127.0.0.1:$PORT/svc"
CURL="curl -sf -m 1 -o /dev/null $URL"

# --- software --------------------------------------------------------------------------------
ensure_bird() {
  command -v bird >/dev/null && command -v birdc >/dev/null && return 0
  echo "detect: installing bird2" >&2
  DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 install \
    --no-install-recommends bird2 >&2
}

bash scripts/ensure-deps.sh
ensure_bird
venv="$(bash scripts/ensure-exabgp.sh)"
ahc_venv="$(ensure_ahc)"
# KAT_BIN: measure this binary instead of building the release one.
if [ -n "${KAT_BIN:-}" ]; then
  ka=$KAT_BIN
else
  cargo build --release --locked -q --bin kube-anycast
  ka="$CARGO_TARGET_DIR/release/kube-anycast"
fi

# --- one bed at a time ---------------------------------------------------------------------------
work="$(mktemp -d /tmp/kat-bench-detect.XXXXXX)"
export KAT_TESTBED_PREFIX="katdet$$"
export KAT_TESTBED_HOME="$work/testbed"
export KAT_TESTBED_DIR="$KAT_TESTBED_HOME/$KAT_TESTBED_PREFIX"
NS_EXA="$KAT_TESTBED_PREFIX-exa"
started=()  # PIDs this script started outside the bed's own PID files
stop_started() {
  local p
  for p in "${started[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${started[@]}"; do wait "$p" 2>/dev/null || true; done
  started=()
}
down() {
  stop_started
  # The bed's logs are worth keeping next to the results.
  [ -d "$KAT_TESTBED_DIR" ] && mkdir -p "$out/logs/$1" && cp "$KAT_TESTBED_DIR"/*.log "$out/logs/$1/" 2>/dev/null || true
  bash tests/testbed/down.sh >/dev/null 2>&1 || true
}
cleanup() {
  trap - EXIT INT TERM
  stop_started
  bash tests/testbed/down.sh >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tsv="$out/detect.tsv"
python3 -B -c 'import sys; sys.path.insert(0, "scripts/bench"); import detect; print("\t".join(detect.TSV_HEADER))' >"$tsv"

run_trials() { # label
  mkdir -p "$work/www"
  # The measuring side (target, monitor, stamps) runs at nice -5 so that the stamps wait less for
  # a busy CPU; the checkers, the speakers and gobgpd run at the default priority.
  nice -n -5 python3 -B scripts/bench/detect.py trials --label "$1" --ns-exa "$NS_EXA" --port "$PORT" \
    --docroot "$work/www" --name svc --prefix "$PREFIX" --trials "$trials" \
    --rise "$RISE" --fall "$FALL" --interval "$INTERVAL" --out "$tsv" \
    -- bash tests/testbed/gobgp.sh monitor global rib -j 2>>"$out/trials.log"
}

bed_up() { # label api-command...
  local label=$1
  shift
  bash tests/testbed/up.sh "$@" >"$work/up.out" 2>"$work/up.err" ||
    { cat "$work/up.err" >&2; echo "detect: $label: the test bed did not come up" >&2; exit 1; }
}

common_hc=(--no-syslog --no-ip-setup --ip "$PREFIX" --interval "$INTERVAL" --fast-interval "$INTERVAL"
  --rise "$RISE" --fall "$FALL" --timeout "$TIMEOUT" --withdraw-on-down)

variant_exabgp_healthcheck() {
  bed_up "$1" "$venv/bin/python" -m exabgp healthcheck "${common_hc[@]}" --cmd "$CURL"
  run_trials "$1"
}

variant_ka_healthcheck() {
  bed_up "$1" "$ka" healthcheck "${common_hc[@]}" --http "$URL"
  run_trials "$1"
}

variant_ka_agent() { # label [vip-interface]
  local dir="$work/agent" vips=${2:-lo}
  mkdir -p "$dir/services"
  cat >"$dir/services/detect.yaml" <<YAML
apiVersion: kube-anycast.io/v1alpha1
kind: AnycastPool
metadata: {name: bench}
spec: {cidrs: ["192.0.2.0/24"]}
---
apiVersion: kube-anycast.io/v1alpha1
kind: AnycastService
metadata: {name: svc}
spec:
  addresses: ["${PREFIX%/32}"]
  timings: {interval: ${INTERVAL}s, fastInterval: ${INTERVAL}s, rise: $RISE, fall: $FALL}
  probes:
    - {name: http, target: Address, address: "127.0.0.1:$PORT", timeout: ${TIMEOUT}s, http: {port: $PORT, path: /svc}}
YAML
  bed_up "$1" "$ka" exabgp-relay --socket "$dir/relay.sock" --lease 30s
  ip netns exec "$NS_EXA" "$ka" agent --services-dir "$dir/services" --socket "$dir/relay.sock" \
    --vip-interface "$vips" --metrics-listen 127.0.0.1:9180 --log-level info \
    </dev/null 2>"$KAT_TESTBED_DIR/agent.log" >/dev/null &
  started+=($!)
  run_trials "$1"
}

# The same without loopback VIPs: the agent then touches no netlink on a change, like the two
# healthchecks here (--no-ip-setup) and anycast-healthchecker (its VIP is configured statically).
variant_ka_agent_novip() {
  variant_ka_agent "$1" none
}

# BIRD takes ExaBGP's place: the bed comes up with an idle ExaBGP, which is stopped; BIRD then
# peers with the same gobgpd from the same address (peer-anchors A.3, paths local to this run).
variant_ahc_bird() {
  local dir="$work/ahc" i
  mkdir -p "$dir/checks.d"
  bed_up "$1"
  KAT_TESTBED_WAIT=10 bash tests/testbed/exabgp.sh stop >/dev/null
  ip -n "$NS_EXA" addr add "$PREFIX" dev lo
  echo 'define ACAST_PS_ADVERTISE = [ 10.189.200.255/32 ];' >"$dir/anycast-prefixes.conf"
  cat >"$dir/bird.conf" <<EOF
log "$KAT_TESTBED_DIR/bird.log" all;
router id 10.255.0.1;
include "$dir/anycast-prefixes.conf";
function match_route() { return net ~ ACAST_PS_ADVERTISE; }
protocol device { scan time 10; }
protocol direct direct1 { interface "lo"; ipv4 { import all; export none; }; }
protocol bgp gobgp {
    local 10.255.0.1 as 65001;
    neighbor 10.255.0.2 as 65000;
    hold time 90;
    connect retry time 1;
    ipv4 { import none; export where match_route(); };
}
EOF
  write_ahc_conf "$dir" "/usr/sbin/birdc -s $dir/bird.ctl configure" "$KAT_TESTBED_DIR/ahc.log"
  write_ahc_check "$dir" svc "/usr/bin/$CURL" "$INTERVAL" "$TIMEOUT" "$RISE" "$FALL" "$PREFIX"
  ip netns exec "$NS_EXA" bird -f -c "$dir/bird.conf" -s "$dir/bird.ctl" \
    </dev/null >"$KAT_TESTBED_DIR/bird.stdout.log" 2>&1 &
  started+=($!)
  # gobgpd refuses the address for 5 s after the ExaBGP session went; BIRD retries every second.
  for ((i = 0; ; i++)); do
    bash tests/testbed/gobgp.sh neighbor 10.255.0.1 -j 2>/dev/null | grep -q '"session_state":6' && break
    ((i < 300)) || { echo "detect: $1: BIRD never reached Established" >&2; exit 1; }
    sleep 0.1
  done
  ip netns exec "$NS_EXA" "$ahc_venv/bin/anycast-healthchecker" -f "$dir/ahc.conf" -d "$dir/checks.d" \
    </dev/null >/dev/null 2>&1 &
  started+=($!)
  run_trials "$1"
}

started_at=$(date +%s)
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(nproc) cores, $(uname -r), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "trials: $trials per checker; rise $RISE, fall $FALL, interval ${INTERVAL} s"
  echo "kube-anycast: $ka ($(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
  echo "exabgp: $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("exabgp"))')"
  echo "anycast-healthchecker: $("$ahc_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("anycast-healthchecker"))')"
  echo "bird: $(bird --version 2>&1 | head -1)"
  echo "gobgpd: $(gobgpd --version 2>&1 | head -1)"
  echo "curl: $(curl --version | head -1 | cut -d' ' -f1-2)"
} >"$out/conditions.txt"

IFS=, read -ra names <<<"$only"
for name in "${names[@]}"; do
  case $name in
    exabgp-healthcheck | ahc-bird | ka-healthcheck | ka-agent | ka-agent-novip) ;;
    *) echo "detect: unknown checker '$name'" >&2; exit 2 ;;
  esac
  echo "detect: $name: $trials trials" >&2
  "variant_${name//-/_}" "$name"
  down "$name"
done
{
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "run time: $(($(date +%s) - started_at)) s"
} >>"$out/conditions.txt"

python3 -B scripts/bench/detect.py summary --tsv "$tsv" --logs "$out/logs" --out "$out"
echo "detect: results in $out" >&2
