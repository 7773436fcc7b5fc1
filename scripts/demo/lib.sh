# shellcheck shell=bash disable=SC2154 # $ci, $record, $pause, $work, $agent_pid and $timeline_pid are set by the demo
# Helpers shared by scripts/demo.sh and scripts/demo/k8s.sh. Sourced, not run.

# Stops the timeline and the agent (SIGTERM, SIGKILL after 10 s) and tears the test bed down.
stop_demo() {
  [ -z "$timeline_pid" ] || kill "$timeline_pid" 2>/dev/null || true
  if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
    kill -TERM "$agent_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$agent_pid" 2>/dev/null || true
  fi
  bash tests/testbed/down.sh >/dev/null 2>&1 || true
}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step() { printf '  demo  %s\n' "$*"; }

# Waits until the peer's record (written by timeline.py) has LINE after the line the previous
# expectation matched, so that the steps must be seen in order (fails after 20 s in --ci mode).
seen_upto=0
expect() {
  local want=$1 i n
  for i in $(seq 1 200); do
    n=$(tail -n "+$((seen_upto + 1))" "$record" 2>/dev/null | grep -nx -m1 -- "$want" | cut -d: -f1 || true)
    if [ -n "$n" ]; then
      seen_upto=$((seen_upto + n))
      return 0
    fi
    sleep 0.1
  done
  echo "demo: the peer never saw '$want'" >&2
  [ "$ci" = 1 ] && { echo "--- agent log" >&2; tail -20 "$work/agent.log" >&2; exit 1; }
  return 0
}
wait_step() { [ "$pause" = 0 ] || sleep "$pause"; }

# Like expect, for several LINEs that may come in any order (prefixes that change together):
# each must appear after the previous expectation; the next one starts after the last of them.
expect_all() {
  local start=$seen_upto last=$seen_upto want
  for want in "$@"; do
    seen_upto=$start
    expect "$want"
    ((seen_upto > last)) && last=$seen_upto
  done
  seen_upto=$last
}
