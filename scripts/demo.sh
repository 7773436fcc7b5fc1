#!/usr/bin/env bash
# The live demo: a real ExaBGP 5.0.15 and a real GoBGP peer in private network namespaces, the
# kube-anycast agent running standalone with two sample services, and a timeline of what the
# peer sees while one service degrades, goes down, the node drains, and everything comes back.
#
#   sudo ./scripts/demo.sh            interactive pacing (Ctrl-C stops and cleans up)
#   sudo ./scripts/demo.sh --ci       fast, non-interactive, checks what the peer saw, exit 0/1
#   sudo ./scripts/demo.sh --k8s      the same story through a real API server (scripts/demo/k8s.sh)
#
# Installs what is missing (gobgpd from apt, ExaBGP in a venv under ~/.cache/kube-anycast) and
# builds the binary. Leaves nothing behind: namespaces, processes and addresses are removed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ci=0
pause=4
for arg in "$@"; do
  case $arg in
    --ci) ci=1; pause=0 ;;
    --duration=*) pause="${arg#--duration=}" ;;
    --k8s) exec bash scripts/demo/k8s.sh "$@" ;;
    *) echo "usage: $0 [--ci] [--k8s] [--duration=SECONDS_PER_STEP]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "the demo needs root (network namespaces): sudo $0" >&2; exit 1; }

export KAT_CACHE="${KAT_CACHE:-$HOME/.cache/kube-anycast}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KAT_CACHE/target}"
export KAT_TESTBED_PREFIX="kademo$$"
# shellcheck source=demo/lib.sh
. scripts/demo/lib.sh

work="$(mktemp -d /tmp/kube-anycast-demo.XXXXXX)"
timeline_pid=""
agent_pid=""
cleanup() {
  trap - EXIT INT TERM
  stop_demo
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "1/3 installing what is missing and building (the first run takes a few minutes)"
bash scripts/ensure-deps.sh
step "ExaBGP venv: $(bash scripts/ensure-exabgp.sh)"
cargo build --locked -q 2>&1 | tail -5
ka="$CARGO_TARGET_DIR/debug/kube-anycast"
step "built $ka"

say "2/3 a BGP test bed: ExaBGP (running kube-anycast exabgp-relay) peering with GoBGP"
mkdir -p "$work/services"
state="$work/state"
mkdir -p "$state"
touch "$state/web-frontend" "$state/web-cache" "$state/web-database" "$state/dns"
cat >"$work/services/pool.yaml" <<YAML
# The admin's grant: service IPs from 192.0.2.0/24, exec probes allowed (the demo flips files),
# a draining node announces with GRACEFUL_SHUTDOWN for 3 s, then withdraws.
apiVersion: kube-anycast.io/v1alpha1
kind: AnycastPool
metadata: {name: demo}
spec:
  cidrs: ["192.0.2.0/24"]
  allowExec: true
  communities: ["65000:1"]
  drain: {mode: GracefulShutdown, delay: 3s}
YAML
cat >"$work/services/web.yaml" <<YAML
# web: three weighted checks; losing the cache (20%) leaves 80%: degraded (MED 150);
# losing the database, a critical dependency, takes it down (withdrawn).
apiVersion: kube-anycast.io/v1alpha1
kind: AnycastService
metadata: {name: web}
spec:
  addresses: ["192.0.2.10"]
  timings: {interval: 1s, fastInterval: 200ms, rise: 2, fall: 2}
  probes:
    - {name: frontend, weight: 6, exec: {command: ["test", "-f", "$state/web-frontend"]}}
    - {name: cache, weight: 2, exec: {command: ["test", "-f", "$state/web-cache"]}}
    - {name: database, weight: 2, critical: true, exec: {command: ["test", "-f", "$state/web-database"]}}
YAML
cat >"$work/services/dns.yaml" <<YAML
# dns: one check, always fine in this demo.
apiVersion: kube-anycast.io/v1alpha1
kind: AnycastService
metadata: {name: dns}
spec:
  addresses: ["192.0.2.53"]
  timings: {interval: 1s, fastInterval: 200ms, rise: 2, fall: 2}
  probes:
    - {name: resolver, exec: {command: ["test", "-f", "$state/dns"]}}
YAML
bash tests/testbed/up.sh "$ka" exabgp-relay --socket "$work/agent.sock" --lease 30s >"$work/up.out"
ns_exa="$(sed -n 's/^NS_EXA=//p' "$work/up.out")"
step "namespaces $ns_exa and ${KAT_TESTBED_PREFIX}-peer are up, BGP session Established"

say "3/3 the agent, standalone, with two services (web, dns); the timeline shows what the peer sees"
record="$work/timeline.txt"
python3 scripts/demo/timeline.py tests/testbed/routes.sh "$record" &
timeline_pid=$!
ip netns exec "$ns_exa" "$ka" agent --node-name demo-node --services-dir "$work/services" \
  --socket "$work/agent.sock" --metrics-listen 127.0.0.1:9180 --log-level warn \
  2>"$work/agent.log" &
agent_pid=$!


step "both services healthy: announced with MED 100"
expect "192.0.2.10/32 100 65000:1"
expect "192.0.2.53/32 100 65000:1"
wait_step
step "web loses its cache (weight 2 of 10): score 80%, degraded"
rm "$state/web-cache"
expect "192.0.2.10/32 150 65000:1"
wait_step
step "web loses its database (critical): down, withdrawn"
rm "$state/web-database"
expect "192.0.2.10/32 withdrawn -"
wait_step
step "web recovers"
touch "$state/web-cache" "$state/web-database"
expect "192.0.2.10/32 100 65000:1"
wait_step
step "the node is drained (annotation kube-anycast.io/drain): GRACEFUL_SHUTDOWN, then withdrawn"
printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: demo-node\n  annotations: {kube-anycast.io/drain: "true"}\n' \
  >"$work/services/node.yaml"
expect "192.0.2.53/32 100 65000:1,65535:0"
expect "192.0.2.53/32 withdrawn -"
wait_step
step "the drain ends: both services come back"
rm "$work/services/node.yaml"
expect "192.0.2.10/32 100 65000:1"
expect "192.0.2.53/32 100 65000:1"
wait_step
step "the agent stops (SIGTERM): it drains, withdraws and removes its loopback IPs"
kill -TERM "$agent_pid"
wait "$agent_pid" || { echo "demo: the agent exited with $?" >&2; exit 1; }
agent_pid=""
expect "192.0.2.10/32 withdrawn -"
expect "192.0.2.53/32 withdrawn -"
if ip -n "$ns_exa" -br addr show dev lo | grep -q '192\.0\.2\.'; then
  echo "demo: service IPs left on lo" >&2
  exit 1
fi
say "done: every step seen at the peer"
cleanup
left=$(ip netns list | grep -c "^${KAT_TESTBED_PREFIX}-" || true)
[ "$left" = 0 ] || { echo "demo: $left namespaces left behind" >&2; exit 1; }
