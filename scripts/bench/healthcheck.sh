#!/usr/bin/env bash
# Side-by-side cost of a healthcheck iteration: ExaBGP 5.0.15's `python -m exabgp healthcheck`
# against `kube-anycast healthcheck`, same options, same machine, one run.
#
#   scripts/bench/healthcheck.sh [SECONDS]     (default 20 s per variant)
#
# For each variant the checker runs with --interval/--fast-interval 0.01 and --no-ack for the
# given time; its own CPU (children excluded) is the scheduler's exact on-CPU time of the process
# (/proc/PID/schedstat, nanoseconds: utime+stime come in 10 ms ticks and are sampled, too coarse
# for ~0.1 ms iterations), its children's CPU is cutime+cstime (the check commands it waited
# for), its peak RSS is VmHWM, and its RSS split into anonymous memory and file pages (RssAnon,
# RssFile: the executable's and its libraries' pages, shared with every other copy and with the
# page cache; how many of them a process maps depends on what the page cache holds), all read
# just before it is stopped; iterations are counted from its output (one line per iteration).
# Prints a Markdown table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
secs="${1:-20}"
export KAT_CACHE="${KAT_CACHE:-$HOME/.cache/kube-anycast}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KAT_CACHE/target}"
. scripts/bench/lib.sh
venv="$(bash scripts/ensure-exabgp.sh)"
cargo build --release --locked -q
ka="$CARGO_TARGET_DIR/release/kube-anycast"
# The binary the images ship (Dockerfile): static, musl. Built when the target and musl-gcc can
# be installed; otherwise its rows are left out and a line says why.
ka_static="$(build_shipped_binary)" || ka_static=""
tick="$(getconf CLK_TCK)"
work="$(mktemp -d)"
trap 'rm -rf "$work"; kill $(jobs -p) 2>/dev/null || true' EXIT

# Measured as deployed: read from disk, not as the linker left them in the page cache.
# shellcheck disable=SC2086 # ka_static is empty or one path without spaces
drop_from_page_cache "$ka" $ka_static

# A local HTTP and TCP target for the native checks.
python3 -m http.server --bind 127.0.0.1 18080 --directory "$work" >/dev/null 2>&1 &
sleep 1

measure() { # name command...
  local name=$1 out="$work/$1.out" pid stat
  shift
  "$@" >"$out" 2>/dev/null </dev/null &
  pid=$!
  sleep "$secs"
  # Fields after the comm: 16-17 are cutime cstime (1-based in the full line).
  stat="$(sed 's/^.*) //' "/proc/$pid/stat")"
  local oncpu; oncpu="$(cat /proc/"$pid"/task/*/schedstat | awk '{ns += $1} END {print ns}')" # all threads
  local hwm anon file
  read -r hwm anon file < <(awk '/^VmHWM/ {h = $2} /^RssAnon/ {a = $2} /^RssFile/ {f = $2}
    END {printf "%.1f %.1f %.1f\n", h / 1024, a / 1024, f / 1024}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  local iters; iters="$(grep -c ' announce ' "$out" || true)"
  local row
  row="$(awk -v st="$stat" -v tick="$tick" -v it="$iters" -v ns="$oncpu" 'BEGIN {
    split(st, f, " "); own = ns / 1e9; kids = (f[14] + f[15]) / tick;
    if (it == 0) it = 1;
    printf "%d\t%.3f\t%.3f", it, own * 1000 / it, (own + kids) * 1000 / it
  }')"
  local it own all
  IFS=$'\t' read -r it own all <<<"$row"
  echo "| $name | $it | $own | $all | $hwm | $anon | $file |"
  tsv healthcheck "$name" "$it" "$own" "$all" "$hwm" "$anon" "$file"
}

common=(--no-syslog --no-ack --no-ip-setup --interval 0.01 --fast-interval 0.01 --rise 1 --fall 1 --ip 192.0.2.1/32)
tsv_header healthcheck checker iterations own_cpu_ms_per_iteration cpu_ms_per_iteration_with_children peak_rss_mib anon_rss_mib file_rss_mib
echo "| checker | iterations | own CPU ms/iteration | CPU ms/iteration with children | peak RSS MiB | anonymous MiB | file pages MiB |"
echo "|---|---|---|---|---|---|---|"
measure "ExaBGP 5.0.15 healthcheck, --cmd true" "$venv/bin/python" -m exabgp healthcheck "${common[@]}" --cmd true
measure "kube-anycast healthcheck, --cmd true" "$ka" healthcheck "${common[@]}" --cmd true
if [ -n "$ka_static" ]; then
  measure "kube-anycast healthcheck (static musl, as shipped), --cmd true" "$ka_static" healthcheck "${common[@]}" --cmd true
fi
measure "ExaBGP 5.0.15 healthcheck, --cmd 'curl -sf URL'" "$venv/bin/python" -m exabgp healthcheck "${common[@]}" --cmd "curl -sf -o /dev/null http://127.0.0.1:18080/"
measure "kube-anycast healthcheck, --http URL" "$ka" healthcheck "${common[@]}" --http http://127.0.0.1:18080/
measure "kube-anycast healthcheck, --tcp HOST:PORT" "$ka" healthcheck "${common[@]}" --tcp 127.0.0.1:18080
[ -n "$ka_static" ] || echo "(the static musl build was left out: the musl target or musl-gcc could not be installed)"
