#!/usr/bin/env bash
# Every benchmark in one run, side by side on this machine, with a results directory and plots.
#
#   sudo scripts/bench/all.sh [--quick] [--out DIR]
#
# Writes DIR/*.tsv (one file per benchmark), DIR/summary.md (the Markdown tables as printed) and
# DIR/plots/*.png; `--publish` also copies the plots to docs/performance/ for docs/performance.md.
# The full run takes about 45 minutes on 2 cores; --quick (smaller sizes, fewer trials) about 10.
# Needs root (network namespaces) and the package registries (ExaBGP venv, MetalLB's Go
# modules, anycast-healthchecker, matplotlib), all cached under $KAT_CACHE.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[ "$(id -u)" = 0 ] || { echo "all.sh needs root (network namespaces)" >&2; exit 1; }
export KAT_CACHE="${KAT_CACHE:-$HOME/.cache/kube-anycast}"
quick="" publish=""
out="$KAT_CACHE/bench-results/all-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --publish) publish=1 ;;
    --out) out="$2"; shift ;;
    *) echo "usage: all.sh [--quick] [--publish] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
export BENCH_OUT="$out"
summary="$out/summary.md"
: >"$summary"

section() { # title command...
  local title=$1 start
  shift
  start=$(date +%s)
  echo "=== $title"
  { echo; echo "## $title"; echo; } >>"$summary"
  if "$@" 2>"$out/$(echo "$title" | tr -c 'a-zA-Z0-9\n' '-').log" | tee -a "$summary"; then
    echo "=== $title: $(( $(date +%s) - start )) s"
  else
    echo "=== $title: FAILED (log in $out)" | tee -a "$summary"
  fi
}

{ echo "# kube-anycast benchmarks, $(date -u +%Y-%m-%dT%H:%MZ)"; echo
  echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r), load before start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$summary"

if [ -n "$quick" ]; then
  section "Planning" cargo run --release --locked -q --example plan_bench -- 100 1000
  section "Agent CPU per Kubernetes change" cargo run --release --locked -q --example change_bench -- 100 1000
  section "Pod parsing per watch event" cargo run --release --locked -q --example watch_parse -- 2000
  section "Health checking cost" bash scripts/bench/healthcheck.sh 5
  section "Health checking at fleet scale" bash scripts/bench/fleet.sh 10 1 20
  section "Route volume" env BENCH_RUNS=1 bash scripts/bench/routes.sh 1000
  section "Detection to peer" bash scripts/bench/detect.sh --quick --out "$out/detect"
  section "Kubernetes path" bash scripts/bench/k8s.sh --quick --out "$out/k8s"
  section "Kubernetes path, both at once" bash scripts/bench/k8s.sh --paired --quick --out "$out/k8s-paired"
else
  section "Planning" cargo run --release --locked -q --example plan_bench -- 100 1000 5000
  section "Agent CPU per Kubernetes change" cargo run --release --locked -q --example change_bench -- 100 1000 5000
  section "Agent CPU per Kubernetes change, one namespace" env BENCH_NAMESPACES=1 cargo run --release --locked -q --example change_bench -- 1000 5000
  section "Index memory, one namespace" env BENCH_NAMESPACES=1 cargo run --release --locked -q --example index_memory -- 5000
  section "Pod parsing per watch event" cargo run --release --locked -q --example watch_parse
  section "Health checking cost" bash scripts/bench/healthcheck.sh 20
  section "Health checking at fleet scale" bash scripts/bench/fleet.sh 30 1 20 100
  section "Route volume" bash scripts/bench/routes.sh 1000 10000 50000
  section "Detection to peer" bash scripts/bench/detect.sh --trials 20 --out "$out/detect"
  section "Kubernetes path" bash scripts/bench/k8s.sh --out "$out/k8s"
  section "Kubernetes path, both at once" bash scripts/bench/k8s.sh --paired --out "$out/k8s-paired"
  section "Scale: the agent from 10 to 5,000 AnycastServices, then 50,000 endpoints" \
    bash scripts/bench/k8s.sh --only kat --sizes 10,100,1000,5000 --endpoints 10 --out "$out/k8s-scale"
fi

venv="$KAT_CACHE/plot-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'matplotlib==3.9.2'
fi
"$venv/bin/python" scripts/bench/plot.py "$out" "$out/plots"
if [ -n "$publish" ]; then
  cp "$out"/plots/*.png docs/performance/
fi
echo "results: $out (summary.md, *.tsv, plots/)"
