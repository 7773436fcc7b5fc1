#!/usr/bin/env bash
# Health checking at fleet scale, side by side in one run: N services checked every second by
#   (a) N copies of ExaBGP 5.0.15's `python -m exabgp healthcheck --cmd "curl -sf URL"`,
#   (b) N copies of `kube-anycast healthcheck --http URL`,
#   (c) one `kube-anycast agent` (standalone, no ExaBGP needed) with N services, each with an
#       HTTP probe of the same URL.
# For each: CPU-seconds per minute of wall time (processes and the children they waited for)
# and total RSS, after a warm-up. Prints a Markdown table.
#
#   scripts/bench/fleet.sh [SECONDS] [N...]      (defaults: 30 s; N = 1 20 100)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
secs="${1:-30}"
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1 20 100)
export KAT_CACHE="${KAT_CACHE:-$HOME/.cache/kube-anycast}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KAT_CACHE/target}"
. scripts/bench/lib.sh
venv="$(bash scripts/ensure-exabgp.sh)"
cargo build --release --locked -q
ka="$CARGO_TARGET_DIR/release/kube-anycast"
tick="$(getconf CLK_TCK)"
work="$(mktemp -d)"
pids=()
stop_all() { [ ${#pids[@]} = 0 ] || { kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }; pids=(); }
trap 'stop_all; [ -z "${server:-}" ] || kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

python3 -m http.server --bind 127.0.0.1 18081 --directory "$work" >/dev/null 2>&1 &
server=$!
sleep 1
url=http://127.0.0.1:18081/

cpu_ticks() { # pids... -> total utime+stime+cutime+cstime
  local total=0 p f
  for p in "$@"; do
    f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    set -- $f
    total=$((total + ${12} + ${13} + ${14} + ${15}))
  done
  echo "$total"
}
rss_kib() { local total=0 p r; for p in "$@"; do r=$(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0); total=$((total + r)); done; echo "$total"; }

measure() { # label n -> uses ${pids[@]}
  sleep 5 # warm-up: first checks, imports
  local t0 c0 c1 rss
  c0=$(cpu_ticks "${pids[@]}"); t0=$(date +%s.%N)
  sleep "$secs"
  c1=$(cpu_ticks "${pids[@]}"); rss=$(rss_kib "${pids[@]}")
  local cpu
  cpu="$(awk -v c="$((c1 - c0))" -v t="$tick" -v t0="$t0" -v t1="$(date +%s.%N)" \
    'BEGIN { printf "%.2f", (c / t) * 60 / (t1 - t0) }')"
  rss="$(awk -v r="$rss" 'BEGIN { printf "%.1f", r / 1024 }')"
  echo "| $1 | $2 | $cpu | $rss |"
  tsv fleet "$1" "$2" "$cpu" "$rss"
  stop_all
}

tsv_header fleet checker services cpu_s_per_min total_rss_mib
echo "| checker | services | CPU-s per minute | total RSS MiB |"
echo "|---|---:|---:|---:|"
for n in "${sizes[@]}"; do
  for i in $(seq 1 "$n"); do
    "$venv/bin/python" -m exabgp healthcheck --no-syslog --no-ack --no-ip-setup --interval 1 \
      --ip "192.0.2.$((i % 250 + 1))/32" --cmd "curl -sf -o /dev/null $url" </dev/null >/dev/null 2>&1 &
    pids+=($!)
  done
  measure "ExaBGP healthcheck + curl (one process per service)" "$n"
  for i in $(seq 1 "$n"); do
    "$ka" healthcheck --no-syslog --no-ack --no-ip-setup --interval 1 \
      --ip "192.0.2.$((i % 250 + 1))/32" --http "$url" </dev/null >/dev/null 2>&1 &
    pids+=($!)
  done
  measure "kube-anycast healthcheck --http (one process per service)" "$n"
  dir="$work/services-$n"
  mkdir -p "$dir"
  {
    echo 'apiVersion: kube-anycast.io/v1alpha1'
    echo 'kind: AnycastPool'
    echo 'metadata: {name: bench}'
    echo 'spec: {cidrs: ["192.0.2.0/24", "198.18.0.0/15"]}'
    for i in $(seq 1 "$n"); do
      echo '---'
      echo 'apiVersion: kube-anycast.io/v1alpha1'
      echo 'kind: AnycastService'
      echo "metadata: {name: svc-$i}"
      echo "spec:"
      echo "  addresses: [\"198.18.$((i / 250)).$((i % 250 + 1))\"]"
      echo "  timings: {interval: 1s, fastInterval: 1s, rise: 3, fall: 2}"
      echo "  probes: [{name: http, target: Address, address: \"127.0.0.1:18081\", http: {port: 18081, path: /}}]"
    done
  } >"$dir/services.yaml"
  "$ka" agent --services-dir "$dir" --socket "$work/agent-$n.sock" --vip-interface none \
    --metrics-listen 127.0.0.1:0 --log-level warn </dev/null >/dev/null 2>&1 &
  pids+=($!)
  measure "kube-anycast agent, native HTTP probes (one process)" "$n"
done
kill "$server" 2>/dev/null || true
