#!/usr/bin/env bash
# Health checking at fleet scale, side by side in one run: N services checked every second by
#   (a) N copies of ExaBGP 5.0.15's `python -m exabgp healthcheck --cmd "curl -sf URL"`,
#   (b) N copies of `kube-anycast healthcheck --http URL`,
#   (c) one `kube-anycast agent` (standalone, no ExaBGP needed) with N services, each with an
#       HTTP probe of the same URL,
#   (d) one anycast-healthchecker 0.9.10 daemon with N service checks, each `curl -sf URL`
#       (interval 1 s, rise 3, fall 2, log level info to a file, as in the peer anchors). BIRD is
#       not run: the reconfigure command is /bin/true (BIRD cost 0.01 CPU-s/min there). It runs
#       in a network namespace of its own, with its own HTTP target: before each check it looks
#       for the service's VIP on lo (added there), and its single-instance lock is an abstract
#       unix socket (one daemon per namespace). Needs root; skipped otherwise.
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
servers=()
ahc_ns=""
stop_all() { [ ${#pids[@]} = 0 ] || { kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }; pids=(); }
cleanup() {
  stop_all
  [ ${#servers[@]} = 0 ] || { kill "${servers[@]}" 2>/dev/null || true; wait "${servers[@]}" 2>/dev/null || true; }
  [ -z "$ahc_ns" ] || ip netns del "$ahc_ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 -m http.server --bind 127.0.0.1 18081 --directory "$work" >/dev/null 2>&1 &
servers+=($!)
url=http://127.0.0.1:18081/
if [ "$(id -u)" = 0 ]; then
  ahc_venv="$(ensure_ahc)"
  ip netns add "kat-fleet-ahc-$$"
  ahc_ns="kat-fleet-ahc-$$"
  ip -n "$ahc_ns" link set lo up
  # The same kind of target on the same address and port, inside the namespace.
  ip netns exec "$ahc_ns" python3 -m http.server --bind 127.0.0.1 18081 --directory "$work" >/dev/null 2>&1 &
  servers+=($!)
else
  echo "fleet: not root, so no anycast-healthchecker rows (it needs a network namespace)" >&2
fi
sleep 1

cpu_ticks() { # pids... -> total utime+stime+cutime+cstime
  local total=0 p f
  for p in "$@"; do
    f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    # shellcheck disable=SC2086 # split the fields of /proc/PID/stat
    set -- $f
    total=$((total + ${12} + ${13} + ${14} + ${15}))
  done
  echo "$total"
}
rss_kib() { local total=0 p r; for p in "$@"; do r=$(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0); total=$((total + r)); done; echo "$total"; }

measure() { # label n -> uses ${pids[@]}
  sleep 5 # warm-up: first checks, imports
  local t0 c0 c1 rss p
  # A checker that died (bad config, taken lock) would be measured as free.
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "fleet: $1: PID $p exited during the warm-up" >&2; exit 1; }; done
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
  [ -n "$ahc_ns" ] || continue
  dir="$work/ahc-$n"
  mkdir -p "$dir/checks.d"
  echo 'define ACAST_PS_ADVERTISE = [ 10.189.200.255/32 ];' >"$dir/anycast-prefixes.conf"
  write_ahc_conf "$dir" /bin/true "$dir/ahc.log"
  for i in $(seq 1 "$n"); do
    vip="198.18.$((i / 250)).$((i % 250 + 1))/32"
    ip -n "$ahc_ns" addr replace "$vip" dev lo
    write_ahc_check "$dir" "svc-$i" "$(command -v curl) -sf -o /dev/null $url" 1 2 3 2 "$vip"
  done
  # `ip netns exec` execs the daemon, so $! is the daemon itself.
  ip netns exec "$ahc_ns" "$ahc_venv/bin/anycast-healthchecker" -f "$dir/ahc.conf" -d "$dir/checks.d" \
    </dev/null >"$dir/stdout.log" 2>&1 &
  pids+=($!)
  measure "anycast-healthchecker + curl, BIRD not run (one process)" "$n"
done
if [ -n "$ahc_ns" ]; then
  echo
  echo "anycast-healthchecker ran with bird_reconfigure_cmd = /bin/true: BIRD was not run (its CPU was 0.01 CPU-s/min in the peer anchors)."
fi
