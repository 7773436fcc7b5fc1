#!/usr/bin/env bash
# Side-by-side cost of a healthcheck iteration: ExaBGP 5.0.15's `python -m exabgp healthcheck`
# against `kube-anycast healthcheck`, same options, same machine, one run.
#
#   scripts/bench/healthcheck.sh [SECONDS]     (default 20 s per variant)
#
# For each variant the checker runs with --interval/--fast-interval 0.01 and --no-ack for the
# given time; its own CPU (utime+stime of the process, children excluded), its children's CPU
# (cutime+cstime: the check commands it waited for) and its peak RSS (VmHWM) are read from /proc
# just before it is stopped; iterations are counted from its output (one line per iteration).
# Prints a Markdown table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
secs="${1:-20}"
export KAT_CACHE="${KAT_CACHE:-$HOME/.cache/kube-anycast}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KAT_CACHE/target}"
venv="$(bash scripts/ensure-exabgp.sh)"
cargo build --release --locked -q
ka="$CARGO_TARGET_DIR/release/kube-anycast"
tick="$(getconf CLK_TCK)"
work="$(mktemp -d)"
trap 'rm -rf "$work"; kill $(jobs -p) 2>/dev/null || true' EXIT

# A local HTTP and TCP target for the native checks.
python3 -m http.server --bind 127.0.0.1 18080 --directory "$work" >/dev/null 2>&1 &
sleep 1

measure() { # name command...
  local name=$1 out="$work/$1.out" pid stat
  shift
  "$@" >"$out" 2>/dev/null </dev/null &
  pid=$!
  sleep "$secs"
  # Fields after the comm: 14-17 are utime stime cutime cstime (1-based in the full line).
  stat="$(sed 's/^.*) //' "/proc/$pid/stat")"
  local hwm; hwm="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  local iters; iters="$(grep -c ' announce ' "$out" || true)"
  awk -v name="$name" -v st="$stat" -v tick="$tick" -v it="$iters" -v hwm="$hwm" 'BEGIN {
    split(st, f, " "); own = (f[12] + f[13]) / tick; kids = (f[14] + f[15]) / tick;
    if (it == 0) it = 1;
    printf "| %s | %d | %.3f | %.3f | %.1f |\n", name, it, own * 1000 / it, (own + kids) * 1000 / it, hwm / 1024
  }'
}

common=(--no-syslog --no-ack --no-ip-setup --interval 0.01 --fast-interval 0.01 --rise 1 --fall 1 --ip 192.0.2.1/32)
echo "| checker | iterations | own CPU ms/iteration | CPU ms/iteration with children | peak RSS MiB |"
echo "|---|---|---|---|---|"
measure "ExaBGP 5.0.15 healthcheck, --cmd true" "$venv/bin/python" -m exabgp healthcheck "${common[@]}" --cmd true
measure "kube-anycast healthcheck, --cmd true" "$ka" healthcheck "${common[@]}" --cmd true
measure "ExaBGP 5.0.15 healthcheck, --cmd 'curl -sf URL'" "$venv/bin/python" -m exabgp healthcheck "${common[@]}" --cmd "curl -sf -o /dev/null http://127.0.0.1:18080/"
measure "kube-anycast healthcheck, --http URL" "$ka" healthcheck "${common[@]}" --http http://127.0.0.1:18080/
measure "kube-anycast healthcheck, --tcp HOST:PORT" "$ka" healthcheck "${common[@]}" --tcp 127.0.0.1:18080
