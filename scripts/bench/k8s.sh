#!/usr/bin/env bash
# The Kubernetes path, side by side: kube-anycast's agent (ExaBGP 5.0.15 running
# `kube-anycast exabgp-relay`) against MetalLB v0.16.1's speaker in native BGP mode, one after
# the other on the same machine, each alone, each on a fresh BGP test bed (tests/testbed: the
# speaker in <prefix>-exa, gobgpd in <prefix>-peer) with its own control plane (etcd +
# kube-apiserver v1.36.5 from scripts/controlplane, started inside <prefix>-exa, so the API
# server, the agent or speaker and the measuring driver share that namespace's loopback).
#
#   sudo scripts/bench/k8s.sh [--sizes 1,100,1000] [--trials 20] [--idle 30] [--out DIR]
#                             [--endpoints 5] [--only kat|metallb|floor] [--bin PATH] [--quick]
#                             [--compare PATH] [--paired]
#
# For each size N (Services, each with one endpoint on this node, node-a):
#   cold start  the whole speaker side started with N Services already in the API server, after
#               gobgpd had no session for > 5 s (its idle hold after a reset): for kube-anycast
#               the agent and ExaBGP (with its relay) together, for MetalLB the speaker; the
#               clock starts just before the start and stops at the N-th route at gobgpd
#   resources   idle CPU (CPU-s/min) over --idle seconds and RSS / anonymous RSS / peak, from
#               /proc, of each process of each side, after a settle time (kube-anycast: after its
#               status writes stopped)
#   latency     --trials trials per direction: t0 just before the API write that makes the
#               local endpoint of svc N/2 unready (or ready again), t1 when `gobgp monitor
#               global rib -j` shows its withdrawal (or announce); a random 0.5-1 s pause first.
#               kube-anycast: both endpoint sources, a fresh agent for each: `pods` (the default:
#               the Pod's Ready condition in status) and `endpointslices` (the slice's endpoint
#               conditions, the write MetalLB is measured with)
# At the largest N, then:
#   drain       one Node patch adding node.kubernetes.io/exclude-from-external-load-balancers,
#               and its removal: first and last change of each kind at gobgpd. kube-anycast
#               drains that label like a cordon: with the pool's `drain: GracefulShutdown`
#               (the default) it re-announces every route with GRACEFUL_SHUTDOWN (65535:0) and
#               withdraws after the delay (30 s; --quick 2 s); with `drain: Withdraw` it
#               withdraws at once, which is what MetalLB does with this label
#   endpoints   every Service grown to --endpoints endpoints (default 5, at most 10; all but one on
#               other nodes, node-b..node-j; Pods too for kube-anycast), then resources and latency
#               again
# And the floor of kube-anycast's path: ExaBGP alone on its own bed, a text API command
# (`announce route ... next-hop self med 100`, then `withdraw route ...`) written to it through
# a FIFO -> the change at gobgpd. Each latency trial also records when a separate watch on the
# written object saw the write ("watch"): the earliest the agent or the speaker can know of it.
# (with --sizes ending in N > 1, again with N - 1 other routes announced first: ExaBGP's cost
# per change may grow with what it announces). `--only floor` runs the floor alone.
#
# Results: DIR (default ${KAT_CACHE}/bench-results/k8s-<UTC timestamp>) gets latency.tsv
# (label, N, direction, trial, ms to the peer or "timeout", ms until the API write returned,
# ms until the watch saw it), resources.tsv
# (label, N, process, CPU-s/min, RSS, anon, peak MiB), drain.tsv (label, change, prefixes,
# first ms, last ms), cold.tsv (label, routes, first ms, last ms, peak RSS MiB of the agent or
# speaker), load.tsv (each step with the load average), env.txt (versions) and logs/; a summary
# goes to stdout.
# --compare PATH: a second kube-anycast binary (an older build, say) measured in turn with the
# first on the same bed and control plane, at each size: pods with the first then the second,
# slices with the second then the first (the order cancels a drift of the machine); its rows
# are labelled "compare: ...". The drain and endpoints steps are then left out.
# --paired: kube-anycast (--endpoints-from endpointslices) and MetalLB's speaker at once on one
# bed and one control plane, each with its own BGP session to gobgpd (the speaker from
# 10.255.0.5) and its own N Services (MetalLB's are svc-10000 onwards), and only the latency
# trials, alternating between the two in every round: the machine's drift, which makes runs
# minutes apart incomparable here, reaches both alike. Labels "paired: ...".
# --quick: 10 Services, 3 trials, 2 s idle windows, 1 drain run (a smoke run, ~3 minutes once
# everything is built). Needs root. Builds what is missing (kube-anycast as the images ship it,
# static musl, or the glibc release build where musl cannot be installed; the control plane;
# MetalLB: scripts/bench/metallb-build.sh), all cached under ${KAT_CACHE}.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo="$(pwd)"
. scripts/bench/lib.sh

sizes="1,100,1000"
trials=20
idle=30
settle=10
drain_runs=3
endpoints=5
gs_delay=30s
only=""
out=""
ka=""
kb=""
paired=""
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --sizes) sizes="$2"; shift ;;
    --trials) trials="$2"; shift ;;
    --endpoints) endpoints="$2"; shift ;;
    --idle) idle="$2"; shift ;;
    --out) out="$2"; shift ;;
    --only) only="$2"; shift ;;
    --bin) ka="$2"; shift ;; # a kube-anycast binary to use instead of building one
    --compare) kb="$2"; shift ;;
    --paired) paired=1 ;;
    --quick) sizes="10"; trials=3; idle=2; settle=1; drain_runs=1; gs_delay=2s ;;
    -h | --help) usage ;;
    *) echo "k8s.sh: unknown argument $1" >&2; usage ;;
  esac
  shift
done
[[ $endpoints =~ ^([2-9]|10)$ ]] || { echo "k8s.sh: --endpoints wants 2..10: $endpoints" >&2; exit 2; }
[[ $sizes =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "k8s.sh: --sizes wants N,N,...: $sizes" >&2; exit 2; }
IFS=, read -ra sizes <<<"$sizes"
largest="${sizes[-1]}"
[ "$(id -u)" = 0 ] || { echo "k8s.sh needs root (network namespaces)" >&2; exit 1; }

export KAT_CACHE="${KAT_CACHE:-$HOME/.cache/kube-anycast}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KAT_CACHE/target}"
out="${out:-$KAT_CACHE/bench-results/k8s-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out/logs"
out="$(cd "$out" && pwd)"
# Each step is logged with the load average, which also goes to load.tsv: the machine may be
# shared, and every number here is sensitive to it.
log() {
  printf '[k8s-bench %s] %s (load %s)\n' "$(date +%H:%M:%S)" "$*" "$(cut -d' ' -f1 /proc/loadavg)" >&2
  printf '%s\t%s\t%s\n' "$(date -u +%H:%M:%S)" "$*" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/load.tsv"
}

log "building what is missing (cached after the first run)"
bash scripts/ensure-deps.sh >/dev/null
bash scripts/ensure-exabgp.sh >/dev/null
if [ -z "$ka" ]; then
  # The binary the images ship (static, musl) when it can be built: its memory is the product's.
  ka="$(build_shipped_binary)" || {
    log "the static musl build is not available here; measuring the glibc build"
    cargo build --release --locked -q --bin kube-anycast
    ka="$CARGO_TARGET_DIR/release/kube-anycast"
  }
fi
KAT_CP_BIN="$(bash scripts/controlplane/build.sh 2>"$out/logs/cp-build.log" | tail -n 1)"
export KAT_CP_BIN
kubectl="$(bash scripts/controlplane/tools.sh 2>/dev/null | tail -n 1)/kubectl"
metallb=""
if [ "$only" != kat ] && [ "$only" != floor ]; then
  metallb="$(bash scripts/bench/metallb-build.sh 2>"$out/logs/metallb-build.log" | tail -n 1)" || {
    tail -20 "$out/logs/metallb-build.log" >&2
    echo "k8s.sh: the MetalLB build failed (above); --only kat runs kube-anycast's side alone" >&2
    exit 1
  }
fi
# Memory as deployed: the binaries read from disk (lib.sh, drop_from_page_cache).
drop_from_page_cache "$ka" ${metallb:+"$metallb/speaker"}

work="$(mktemp -d /tmp/kat-bench-k8s.XXXXXX)"
export KAT_TESTBED_PREFIX="bk8s$$"
export KAT_TESTBED_HOME="$work/testbed"
ns_exa="$KAT_TESTBED_PREFIX-exa"
ns_peer="$KAT_TESTBED_PREFIX-peer"
pids="$KAT_TESTBED_HOME/$KAT_TESTBED_PREFIX/pids"
cp_dir=""
kc=""
started=() # PIDs this script started outside the bed's own PID files
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${started[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  [ -z "$cp_dir" ] || KAT_CP_DIR="$cp_dir" bash scripts/controlplane/stop.sh >/dev/null 2>&1 || true
  bash tests/testbed/down.sh >/dev/null 2>&1 || true
  cp -r "$KAT_TESTBED_HOME" "$out/logs/" 2>/dev/null || true
  rm -rf "$work"
  [ "$rc" = 0 ] || log "failed (exit $rc); logs in $out/logs"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  [ "$only" = metallb ] || echo "kube-anycast: $("$ka" --version) at $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo +dirty), binary $ka"
  [ -z "$kb" ] || echo "compared with: $kb ($("$kb" --version))"
  echo "exabgp: $("$(bash scripts/ensure-exabgp.sh)/bin/python" -m exabgp version 2>&1 | head -1)"
  echo "gobgpd: $(gobgpd --version 2>&1 | head -1)"
  echo "control plane: $("$KAT_CP_BIN/kube-apiserver" --version)"
  [ -z "$metallb" ] || echo "metallb: $(paste -sd' ' "$metallb/BUILD-INFO")"
  echo "sizes: ${sizes[*]}; trials per direction: $trials; idle window: ${idle}s; drain runs: $drain_runs"
} >>"$out/env.txt"

drv() { ip netns exec "$ns_exa" python3 "$repo/scripts/bench/k8s_driver.py" --kubeconfig "$kc" --peer-ns "$ns_peer" "$@"; }
k() { ip netns exec "$ns_exa" "$kubectl" --kubeconfig "$kc" "$@"; }
pid_in() { cut -d' ' -f1 "$pids/$1.pid"; }
# Waits until the kube-anycast agent's /readyz answers (caches warm, first plan acknowledged).
wait_ready() {
  local i
  for ((i = 0; i < 600; i++)); do
    ip netns exec "$ns_exa" curl -fsS -o /dev/null http://127.0.0.1:9180/readyz 2>/dev/null && return 0
    sleep 0.2
  done
  log "the agent was not ready after 120 s"
  return 1
}

# Waits until the agent has written its AnycastAdvertisements and Events: a fresh agent on
# thousands of Services writes one of each per Service for tens of seconds, which would
# otherwise fall into the idle window. Each look scrapes /metrics (at 5,000 Services that costs
# the agent ~30 ms), so none happens inside the window.
wait_writes_done() {
  local i last="" now
  for ((i = 0; i < 120; i++)); do
    now="$(ip netns exec "$ns_exa" curl -fsS http://127.0.0.1:9180/metrics 2>/dev/null |
      awk '/^kube_anycast_k8s_status_writes_total/ {n += $2} END {print n + 0}')"
    [ -n "$last" ] && [ "$now" = "$last" ] && return 0
    last=$now
    sleep 2
  done
  log "the agent was still writing after 240 s"
}

# A fresh bed and a control plane inside its speaker namespace.
bed_up() { # impl [api process...]
  local impl=$1
  shift
  bash tests/testbed/up.sh "$@" >"$work/up-$impl.out" 2>"$out/logs/up-$impl.log"
  cp_dir="$work/cp-$impl"
  ip netns exec "$ns_exa" env KAT_CP_DIR="$cp_dir" bash scripts/controlplane/start.sh \
    2>"$out/logs/cp-start-$impl.log"
  kc="$cp_dir/admin.kubeconfig"
}

bed_down() {
  local pid
  for pid in "${started[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
    { wait "$pid"; } 2>/dev/null || true
  done
  started=()
  KAT_CP_DIR="$cp_dir" bash scripts/controlplane/stop.sh >/dev/null 2>&1
  cp_dir=""
  mkdir -p "$out/logs/testbed-$1"
  cp "$KAT_TESTBED_HOME/$KAT_TESTBED_PREFIX"/*.log "$out/logs/testbed-$1/" 2>/dev/null || true
  bash tests/testbed/down.sh >/dev/null 2>&1
}

# Signals a process and waits until it is gone (30 s, then SIGKILL): the next agent or speaker
# must find the ports free. Not every one is this shell's child (the cold starts are the
# driver's), so this polls /proc instead of `wait`; a zombie counts as gone.
gone() {
  local state
  state="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
  [ -z "$state" ] || [ "$state" = Z ]
}
stop_pid() { # pid signal
  local i
  kill -"$2" "$1" 2>/dev/null || return 0
  for ((i = 0; i < 300; i++)); do
    # (braces: bash reports a killed job on its own stderr while `wait` reaps it)
    gone "$1" && { { wait "$1"; } 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  { wait "$1"; } 2>/dev/null || true
}

target() { echo $(($1 / 2)); } # the service whose readiness flips: svc-0000, svc-0050, svc-0500

# --- kube-anycast ----------------------------------------------------------------------------
agent_pid=""
agent_bin="" # set for the compared binary's runs
agent_cmd() { # source
  echo env KUBECONFIG="$kc" "${agent_bin:-$ka}" agent --node-name node-a --endpoints-from "$1" \
    --socket "$work/agent.sock" --metrics-listen 127.0.0.1:9180 --vip-interface lo \
    --log-level "${KAT_BENCH_AGENT_LOG:-warn}"
}
start_agent() { # source
  # shellcheck disable=SC2046 # agent_cmd prints words without spaces inside them
  ip netns exec "$ns_exa" $(agent_cmd "$1") 2>>"$out/logs/agent-$1.log" &
  agent_pid=$!
  started+=("$agent_pid")
  wait_ready
}
# SIGKILL: the relay keeps the routes for its 30 s lease and the next agent replays them, so
# the peer sees no flap between the agent runs (SIGTERM would drain: GRACEFUL_SHUTDOWN, withdraw).
stop_agent() {
  [ -z "$agent_pid" ] || stop_pid "$agent_pid" KILL
  agent_pid=""
}

kat_measure() { # source label size endpoints
  local src=$1 label=$2 n=$3 eps=$4
  wait_writes_done
  sleep "$settle"
  drv resources --label "$label" --size "$n" --window "$idle" --out "$out/resources.tsv" \
    agent="$agent_pid" relay="$(pid_in api)" exabgp="$(pid_in exabgp)"
  log "$label: $n Services, latency"
  drv trials --source "${src/endpointslices/slices}" --label "$label" --size "$n" \
    --index "$(target "$n")" --endpoints "$eps" --trials "$trials" --out "$out/latency.tsv"
}

compare_measure() { # source size
  agent_bin=$kb
  start_agent "$1"
  kat_measure "$1" "compare: kube-anycast, --endpoints-from $1" "$2" 1
  stop_agent
  agent_bin=""
}

bench_kat() {
  log "kube-anycast: test bed and control plane"
  bed_up kat "$ka" exabgp-relay --socket "$work/agent.sock" --lease 30s
  k apply --server-side -f crds/ >/dev/null
  k wait --for condition=Established --timeout=60s -f crds/ >/dev/null
  drv setup --impl kat --drain-delay "$gs_delay"
  local prev=0 n src
  for n in "${sizes[@]}"; do
    log "kube-anycast: $n Services"
    drv services --impl kat --start "$prev" --end "$n" 2>>"$out/logs/driver.log"
    prev=$n
    # Cold start of the whole speaker side: agent and ExaBGP (whose relay dials the agent).
    stop_agent
    bash tests/testbed/exabgp.sh stop >/dev/null 2>&1
    sleep 6
    drv cold --count "$n" --label "kube-anycast agent + ExaBGP, N=$n" --pidfile "$work/cold.pid" \
      --hwm-pidfile "$work/agent.pid" --log "$out/logs/agent-pods.log" --out "$out/cold.tsv" -- \
      bash -c "$(agent_cmd pods) & echo \$! >$work/agent.pid; bash tests/testbed/exabgp.sh start >/dev/null"
    agent_pid="$(cat "$work/agent.pid")"
    started+=("$agent_pid")
    wait_ready
    drv wait-routes --count "$n"
    kat_measure pods "kube-anycast, --endpoints-from pods" "$n" 1
    stop_agent
    [ -z "$kb" ] || compare_measure pods "$n"
    [ -z "$kb" ] || compare_measure endpointslices "$n"
    start_agent endpointslices
    kat_measure endpointslices "kube-anycast, --endpoints-from endpointslices" "$n" 1
    stop_agent
  done
  [ -z "$kb" ] || { bed_down kat; return 0; }
  n=$largest
  start_agent pods
  log "kube-anycast: drain of $n routes (exclude-from-external-load-balancers label)"
  drv pool-drain --mode GracefulShutdown --delay "$gs_delay"
  drv drain --on --expect withdraw --count "$n" --label "kube-anycast drain: GracefulShutdown $gs_delay" --out "$out/drain.tsv"
  drv drain --expect announce --count "$n" --label "kube-anycast undrain" --out "$out/drain.tsv"
  drv pool-drain --mode Withdraw --delay "$gs_delay"
  for ((r = 0; r < drain_runs; r++)); do
    drv drain --on --expect withdraw --count "$n" --label "kube-anycast drain: Withdraw" --out "$out/drain.tsv"
    drv drain --expect announce --count "$n" --label "kube-anycast undrain" --out "$out/drain.tsv"
  done
  stop_agent
  log "kube-anycast: $n Services with $endpoints endpoints each"
  drv endpoints --impl kat --count "$n" --endpoints "$endpoints" 2>>"$out/logs/driver.log"
  for src in pods endpointslices; do
    start_agent "$src"
    kat_measure "$src" "kube-anycast, --endpoints-from $src, $endpoints endpoints" "$n" "$endpoints"
    stop_agent
  done
  bed_down kat
}

# --- MetalLB ---------------------------------------------------------------------------------
speaker_pid=""
speaker_cmd() {
  echo env KUBECONFIG="$kc" "$metallb/speaker" --node-name=node-a --pod-name=speaker-node-a \
    --namespace=metallb-system --log-level=info --port=9120 --health-probe-port=17472
}
# MetalLB's controller assigns the Services' addresses; it runs beside the speaker.
start_controller() {
  ip netns exec "$ns_exa" env KUBECONFIG="$kc" "$metallb/controller" --namespace=metallb-system \
    --pod-name=controller-0 --webhook-mode=disabled --log-level=info --port=9121 \
    --health-probe-port=17473 >>"$out/logs/controller.log" 2>&1 &
  controller_pid=$!
  started+=("$controller_pid")
}

# SIGTERM: the speaker closes the session and gobgpd drops its routes at once.
stop_speaker() {
  [ -z "$speaker_pid" ] || stop_pid "$speaker_pid" TERM
  speaker_pid=""
}

metallb_measure() { # label size endpoints
  sleep "$settle"
  drv resources --label "$1" --size "$2" --window "$idle" --out "$out/resources.tsv" \
    speaker="$speaker_pid" controller="$controller_pid"
  log "$1: $2 Services, latency"
  drv trials --source slices --label "$1" --size "$2" --index "$(target "$2")" \
    --endpoints "$3" --trials "$trials" --out "$out/latency.tsv"
}

metallb_cold() { # size label
  stop_speaker
  sleep 6
  # shellcheck disable=SC2046
  drv cold --count "$1" --label "$2" --pidfile "$work/speaker.pid" --log "$out/logs/speaker.log" \
    --out "$out/cold.tsv" -- $(speaker_cmd)
  speaker_pid="$(cat "$work/speaker.pid")"
  started+=("$speaker_pid")
}

bench_metallb() {
  log "MetalLB: test bed (ExaBGP stopped: the speaker takes its address) and control plane"
  bed_up metallb
  bash tests/testbed/exabgp.sh stop >/dev/null 2>&1
  k apply --server-side -f "$metallb/crds/" >/dev/null
  k wait --for condition=Established --timeout=60s -f "$metallb/crds/" >/dev/null
  drv setup --impl metallb
  start_controller
  local prev=0 n
  for n in "${sizes[@]}"; do
    log "MetalLB: $n Services"
    drv services --impl metallb --start "$prev" --end "$n" 2>>"$out/logs/driver.log"
    prev=$n
    drv wait-lb --count "$n"
    metallb_cold "$n" "MetalLB speaker, N=$n"
    metallb_measure "MetalLB speaker" "$n" 1
  done
  n=$largest
  log "MetalLB: drain of $n routes (exclude-from-external-load-balancers label)"
  for ((r = 0; r < drain_runs; r++)); do
    drv drain --on --expect withdraw --count "$n" --label "MetalLB drain" --out "$out/drain.tsv"
    drv drain --expect announce --count "$n" --label "MetalLB undrain" --out "$out/drain.tsv"
  done
  log "MetalLB: $n Services with $endpoints endpoints each"
  drv endpoints --impl metallb --count "$n" --endpoints "$endpoints" 2>>"$out/logs/driver.log"
  metallb_cold "$n" "MetalLB speaker, N=$n, $endpoints endpoints"
  metallb_measure "MetalLB speaker, $endpoints endpoints" "$n" "$endpoints"
  stop_speaker
  bed_down metallb
}

# --- the floor: ExaBGP alone -----------------------------------------------------------------
bench_floor() {
  log "floor: ExaBGP alone, a text API command -> GoBGP"
  mkfifo "$work/feed.fifo"
  bash tests/testbed/up.sh "$(command -v python3)" "$repo/scripts/bench/k8s_driver.py" api-feed \
    --fifo "$work/feed.fifo" >"$work/up-floor.out" 2>"$out/logs/up-floor.log"
  drv floor --fifo "$work/feed.fifo" --label "floor: ExaBGP 5.0.15 alone, API line" \
    --trials "$trials" --out "$out/latency.tsv"
  if [ "$largest" -gt 1 ]; then
    log "floor: ExaBGP alone with $((largest - 1)) other routes announced"
    drv floor --fifo "$work/feed.fifo" --label "floor: ExaBGP 5.0.15 alone, API line" \
      --preload $((largest - 1)) --trials "$trials" --out "$out/latency.tsv" --drain-out "$out/drain.tsv"
  fi
  mkdir -p "$out/logs/testbed-floor"
  cp "$KAT_TESTBED_HOME/$KAT_TESTBED_PREFIX"/*.log "$out/logs/testbed-floor/" 2>/dev/null || true
  bash tests/testbed/down.sh >/dev/null 2>&1
}

# --- both at once ----------------------------------------------------------------------------
paired_offset=10000     # MetalLB's Services: svc-10000 onwards
metallb_source=10.255.0.5 # the speaker's end of its session (ExaBGP has 10.255.0.1)

bench_paired() {
  log "paired: one test bed and control plane for kube-anycast and MetalLB's speaker"
  bed_up paired "$ka" exabgp-relay --socket "$work/agent.sock" --lease 30s
  k apply --server-side -f crds/ -f "$metallb/crds/" >/dev/null
  k wait --for condition=Established --timeout=60s -f crds/ -f "$metallb/crds/" >/dev/null
  drv setup --impl kat --drain-delay "$gs_delay"
  drv setup --impl metallb --source-address "$metallb_source"
  # A second session to gobgpd: the speaker's own address, reachable from gobgpd's side.
  ip -n "$ns_exa" addr add "$metallb_source/32" dev to-peer
  ip -n "$ns_peer" route add "$metallb_source/32" dev to-exa
  ip netns exec "$ns_peer" gobgp -u 127.0.0.1 -p 50051 neighbor add "$metallb_source" as 65001
  start_controller
  start_agent endpointslices
  # shellcheck disable=SC2046 # speaker_cmd prints words without spaces inside them
  ip netns exec "$ns_exa" $(speaker_cmd) >>"$out/logs/speaker.log" 2>&1 &
  speaker_pid=$!
  started+=("$speaker_pid")
  local prev=0 n
  for n in "${sizes[@]}"; do
    log "paired: $n Services each"
    drv services --impl kat --start "$prev" --end "$n" 2>>"$out/logs/driver.log"
    drv services --impl metallb --start $((paired_offset + prev)) --end $((paired_offset + n)) \
      2>>"$out/logs/driver.log"
    prev=$n
    drv wait-lb --count "$n"
    drv wait-routes --count $((2 * n)) --timeout 300
    wait_writes_done
    sleep "$settle"
    log "paired: $n Services each, latency"
    drv paired --size "$n" --trials "$trials" --out "$out/latency.tsv" \
      --label-a "paired: kube-anycast, --endpoints-from endpointslices" --index-a "$(target "$n")" \
      --label-b "paired: MetalLB speaker" --index-b $((paired_offset + $(target "$n")))
  done
  stop_agent
  stop_speaker
  bed_down paired
}

t0=$SECONDS
if [ -n "$paired" ]; then
  bench_paired
  kc="" python3 scripts/bench/k8s_driver.py summary --dir "$out"
  echo
  echo "results: $out ($((SECONDS - t0)) s)"
  exit 0
fi
[ "$only" = metallb ] || bench_floor
[ "$only" = metallb ] || [ "$only" = floor ] || bench_kat
[ "$only" = kat ] || [ "$only" = floor ] || bench_metallb
kc="" python3 scripts/bench/k8s_driver.py summary --dir "$out"
echo
echo "results: $out ($((SECONDS - t0)) s)"
