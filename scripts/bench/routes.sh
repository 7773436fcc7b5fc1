#!/usr/bin/env bash
# Route volume, cold: how long until all N host routes are in gobgpd's RIB on the BGP test bed
# (tests/testbed), for the agent and for ExaBGP fed its own bulk form, same machine, one run.
#
#   sudo scripts/bench/routes.sh [N ...]        (default: 1000 10000 50000)
#
# Variants, each on a fresh bed whose BGP session is already Established:
#   exabgp    ExaBGP 5.0.15's API process is a trivial script that, once a trigger file appears,
#             cats pre-generated `neighbor * announce attributes next-hop self med 100 nlri ...`
#             lines (500 prefixes a line, the agent's batch size) and then drains ExaBGP's acks.
#             The clock starts when the trigger is created.
#   agent     ExaBGP runs `kube-anycast exabgp-relay`; the clock starts when `kube-anycast agent`
#             (release build) is started on a services directory holding the same N addresses
#             (64 per AnycastService, no probes) and stops when gobgpd has all N: process start,
#             YAML parsing, planning, the replay through the relay and the VIPs on lo included
#             (as addresses: --vip-mode address, the default).
#   agent-localroute  the same with --vip-mode local-route (the VIPs as local routes on lo).
#   agent-novip  the same with --vip-interface none (the cost of N VIPs on lo left out).
# gobgpd's path count is polled every 50 ms with `gobgp global rib summary`. Each variant runs
# BENCH_RUNS times (default 3) and the median is reported; a run past BENCH_TIMEOUT seconds
# (default 120) counts as a failure. Prints a Markdown table; the ratio is agent / exabgp.
# Needs root (network namespaces). Logs and generated files stay in $work on failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[ "$(id -u)" = 0 ] || { echo "routes.sh needs root (network namespaces)" >&2; exit 1; }
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 50000)
runs="${BENCH_RUNS:-3}"
timeout="${BENCH_TIMEOUT:-120}"
export KAT_CACHE="${KAT_CACHE:-$HOME/.cache/kube-anycast}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KAT_CACHE/target}"
. scripts/bench/lib.sh
bash scripts/ensure-exabgp.sh >/dev/null
cargo build --release --locked -q
ka="$CARGO_TARGET_DIR/release/kube-anycast"
work="$(mktemp -d /tmp/kat-bench-routes.XXXXXX)"
export KAT_TESTBED_PREFIX="katbench$$"
export KAT_TESTBED_HOME="$work/testbed"
agent_pid=""
cleanup() {
  [ -z "$agent_pid" ] || kill -KILL "$agent_pid" 2>/dev/null || true
  bash tests/testbed/down.sh >/dev/null 2>&1 || true
}
trap 'cleanup; echo "kept $work" >&2' EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

paths() {
  bash tests/testbed/gobgp.sh global rib summary -a ipv4 2>/dev/null | sed -n 's/.*Path: \([0-9]*\).*/\1/p'
}

# Milliseconds from $1 (ms since the epoch) until gobgpd holds $2 paths, or "timeout".
wait_paths() { # t0 n
  local n
  while :; do
    n="$(paths)"
    [ "${n:-0}" -ge "$2" ] && { echo $(($(now_ms) - $1)); return; }
    (($(now_ms) - $1 < timeout * 1000)) || { echo timeout; return; }
    sleep 0.05
  done
}

ip_of() { echo "100.64.$(($1 / 256)).$(($1 % 256))"; }

generate() { # n dir
  local n=$1 dir=$2 i
  mkdir -p "$dir/services"
  { echo 'apiVersion: kube-anycast.io/v1alpha1'
    echo 'kind: AnycastPool'
    echo 'metadata: {name: bulk}'
    echo 'spec: {cidrs: [100.64.0.0/16]}'
    for ((i = 0; i < n; i++)); do
      if ((i % 64 == 0)); then
        printf -- '\n---\napiVersion: kube-anycast.io/v1alpha1\nkind: AnycastService\n'
        printf 'metadata: {name: bulk-%d}\nspec:\n  addresses: [%s' $((i / 64)) "$(ip_of "$i")"
      else
        printf ', %s' "$(ip_of "$i")"
      fi
      ((i % 64 == 63 || i == n - 1)) && printf ']\n'
    done
  } >"$dir/services/bulk.yaml"
  for ((i = 0; i < n; i++)); do
    if ((i % 500 == 0)); then
      ((i == 0)) || printf '\n'
      printf 'neighbor * announce attributes next-hop self med 100 nlri'
    fi
    printf ' %s/32' "$(ip_of "$i")"
  done >"$dir/bulk.api"
  printf '\n' >>"$dir/bulk.api"
  # The trivial API process: wait for the trigger, write the commands, drain the acks.
  # (A read loop: `exec cat >/dev/null` exits at once there, and ExaBGP respawns a dead process.)
  printf '#!/bin/bash\nwhile [ ! -e %q ]; do sleep 0.005; done\ncat %q\nwhile read -r _; do :; done\n' \
    "$dir/go" "$dir/bulk.api" >"$dir/feed.sh"
  chmod +x "$dir/feed.sh"
}

run_exabgp() { # n dir
  rm -f "$2/go"
  bash tests/testbed/up.sh "$2/feed.sh" >/dev/null 2>"$2/up.log"
  local t0; t0=$(now_ms)
  touch "$2/go"
  wait_paths "$t0" "$1"
  bash tests/testbed/down.sh >/dev/null 2>&1
}

run_agent() { # n dir vip-interface [vip-mode]
  rm -f "$2/relay.sock"
  bash tests/testbed/up.sh "$ka" exabgp-relay --socket "$2/relay.sock" --lease 30s >/dev/null 2>"$2/up.log"
  local t0; t0=$(now_ms)
  ip netns exec "$KAT_TESTBED_PREFIX-exa" "$ka" agent --services-dir "$2/services" \
    --socket "$2/relay.sock" --vip-interface "$3" --vip-mode "${4:-address}" --metrics-listen 127.0.0.1:9180 \
    --log-level warn 2>>"$2/agent.log" &
  agent_pid=$!
  wait_paths "$t0" "$1"
  kill -KILL "$agent_pid" 2>/dev/null || true
  wait "$agent_pid" 2>/dev/null || true
  agent_pid=""
  bash tests/testbed/down.sh >/dev/null 2>&1
}

median() { # values... ("timeout" sorts last)
  printf '%s\n' "$@" | sed 's/^timeout$/999999999/' | sort -n | awk '{v[NR] = $1} END {
    m = v[int((NR + 1) / 2)]; if (m == 999999999) print "timeout"; else print m }'
}

ratio() { # a b
  if [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ && $2 -gt 0 ]]; then
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'
  else echo n/a; fi
}

tsv_header routes routes exabgp_ms agent_ms agent_localroute_ms agent_novip_ms \
  exabgp_runs agent_runs agent_localroute_runs agent_novip_runs
echo "| routes | ExaBGP bulk feed (ms) | agent + relay, VIPs as addresses (ms) | ratio | VIPs as local routes (ms) | ratio | no VIPs (ms) | ratio | runs (ms): ExaBGP / addresses / local routes / no VIPs |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
  dir="$work/n$n"
  generate "$n" "$dir"
  exa=(); agent=(); lr=(); novip=()
  for ((r = 0; r < runs; r++)); do
    exa+=("$(run_exabgp "$n" "$dir")")
    agent+=("$(run_agent "$n" "$dir" lo address)")
    lr+=("$(run_agent "$n" "$dir" lo local-route)")
    novip+=("$(run_agent "$n" "$dir" none)")
  done
  e="$(median "${exa[@]}")"; a="$(median "${agent[@]}")"; l="$(median "${lr[@]}")"
  v="$(median "${novip[@]}")"
  echo "| $n | $e | $a | $(ratio "$a" "$e") | $l | $(ratio "$l" "$e") | $v | $(ratio "$v" "$e") |" \
    "${exa[*]} / ${agent[*]} / ${lr[*]} / ${novip[*]} |"
  tsv routes "$n" "$e" "$a" "$l" "$v" "${exa[*]}" "${agent[*]}" "${lr[*]}" "${novip[*]}"
done
trap cleanup EXIT
[ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
