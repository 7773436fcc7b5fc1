#!/usr/bin/env bash
# The live demo through a real Kubernetes API server (`scripts/demo.sh --k8s` runs this): the
# project's test control plane (etcd + kube-apiserver on loopback, no kubelet, scheduler or
# controllers), the CRDs, an AnycastPool, two AnycastServices backed by Pods on the demo node,
# the agent watching the API server, and ExaBGP + GoBGP in private network namespaces. The demo
# plays kubelet (it sets the Pods' Ready condition) and the operator (cordon, uncordon), and
# shows the peer's timeline with `kubectl get anycastadvertisements -A` at each step.
#
#   sudo ./scripts/demo.sh --k8s            interactive pacing (Ctrl-C stops and cleans up)
#   sudo ./scripts/demo.sh --k8s --ci       fast, non-interactive, checks each step, exit 0/1
#
# The agent runs in the host network namespace (it reaches the API server on 127.0.0.1; its
# probes run there too) with --vip-interface none; ExaBGP's relay reaches it over a unix socket.
# Leaves nothing behind: the control plane is stopped, namespaces and processes are removed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ci=0
pause=4
for arg in "$@"; do
  case $arg in
    --k8s) ;;
    --ci) ci=1; pause=0 ;;
    --duration=*) pause="${arg#--duration=}" ;;
    *) echo "usage: scripts/demo.sh --k8s [--ci] [--duration=SECONDS_PER_STEP]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "the demo needs root (network namespaces): sudo $0 $*" >&2; exit 1; }

export KAT_CACHE="${KAT_CACHE:-$HOME/.cache/kube-anycast}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KAT_CACHE/target}"
export KAT_TESTBED_PREFIX="kak8s$$"
# shellcheck source=lib.sh
. scripts/demo/lib.sh

work="$(mktemp -d /tmp/kube-anycast-demo-k8s.XXXXXX)"
export KAT_CP_DIR="$work/controlplane"
record="$work/timeline.txt"
node=demo-node
timeline_pid=""
agent_pid=""
cp_pids=""
cleanup() {
  trap - EXIT INT TERM
  stop_demo
  [ ! -d "$KAT_CP_DIR" ] || bash scripts/controlplane/stop.sh 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "1/4 installing what is missing and building (the first run takes a few minutes)"
bash scripts/ensure-deps.sh
step "ExaBGP venv: $(bash scripts/ensure-exabgp.sh)"
cargo build --locked -q 2>&1 | tail -5
ka="$CARGO_TARGET_DIR/debug/kube-anycast"
step "built $ka"
step "etcd + kube-apiserver (built once from the Go module proxy, then cached; the first build takes minutes)"
KAT_CP_BIN="$(bash scripts/controlplane/build.sh 2>"$work/cp-build.log" | tail -n 1)" ||
  { tail -20 "$work/cp-build.log" >&2; exit 1; }
export KAT_CP_BIN
PATH="$(bash scripts/controlplane/tools.sh 2>/dev/null | tail -n 1):$PATH"
step "kubectl: $(command -v kubectl)"

say "2/4 a control plane (etcd + kube-apiserver on 127.0.0.1, no kubelet): CRDs, pool, services, pods"
bash scripts/controlplane/start.sh 2>&1 | sed -n 's/^\[cp-start [0-9:]*\] \(ready.*\)/  demo  \1/p'
cp_pids="$(cat "$KAT_CP_DIR/etcd.pid" "$KAT_CP_DIR/kube-apiserver.pid" | tr '\n' ' ')"
export KUBECONFIG="$KAT_CP_DIR/admin.kubeconfig"
kubectl apply -f crds/ >/dev/null
kubectl wait --for condition=Established --timeout=30s -f crds/ >/dev/null
mkdir -p "$work/state"
touch "$work/state/web-frontend" "$work/state/web-cache"
kubectl apply -f - >/dev/null <<YAML
# This node (no kubelet registers it here).
apiVersion: v1
kind: Node
metadata: {name: $node}
---
# The admin's grant: service IPs from 192.0.2.0/24, exec probes allowed (the demo flips files),
# a draining (cordoned) node announces with GRACEFUL_SHUTDOWN for 3 s, then withdraws.
apiVersion: kube-anycast.io/v1alpha1
kind: AnycastPool
metadata: {name: demo}
spec:
  cidrs: ["192.0.2.0/24"]
  allowExec: true
  communities: ["65000:1"]
  drain: {mode: GracefulShutdown, delay: 3s}
---
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
# web: up while both of its pods on this node are ready, and two weighted probes (they run
# where the agent runs: here the host): losing the cache (20%) leaves 80%, degraded (MED 150).
apiVersion: kube-anycast.io/v1alpha1
kind: AnycastService
metadata: {name: web, namespace: demo}
spec:
  addresses: ["192.0.2.10"]
  readiness: {service: web}
  minReadyEndpoints: 2
  timings: {interval: 1s, fastInterval: 200ms, rise: 2, fall: 2}
  probes:
    - {name: frontend, weight: 8, exec: {command: ["test", "-f", "$work/state/web-frontend"]}}
    - {name: cache, weight: 2, exec: {command: ["test", "-f", "$work/state/web-cache"]}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
# dns: Kubernetes readiness alone (one pod).
apiVersion: kube-anycast.io/v1alpha1
kind: AnycastService
metadata: {name: dns, namespace: demo}
spec:
  addresses: ["192.0.2.53"]
  readiness: {service: dns}
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: demo}
spec:
  selector: {app: dns}
  ports: [{name: dns, port: 53, protocol: UDP}]
YAML
ip=10
for pod in web-1:web web-2:web dns-1:dns; do
  kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: ${pod%%:*}, namespace: demo, labels: {app: ${pod##*:}}}
spec:
  nodeName: $node
  containers: [{name: c, image: "registry.invalid/${pod##*:}:1"}]
YAML
  ip=$((ip + 1))
  echo "${pod%%:*} 10.1.0.$ip" >>"$work/pod-ips"
done
# The kubelet's part: the Pod's Ready condition.
pod_ready() { # POD True|False
  local podip
  podip="$(sed -n "s/^$1 //p" "$work/pod-ips")"
  kubectl -n demo patch pod "$1" --subresource=status --type=merge -p \
    "{\"status\":{\"phase\":\"Running\",\"podIP\":\"$podip\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"$2\"}]}}" \
    >/dev/null
}
for pod in web-1 web-2 dns-1; do pod_ready "$pod" True; done
step "node $node; namespace demo: AnycastServices web (2 pods, 2 probes) and dns (1 pod), all Ready"

say "3/4 a BGP test bed: ExaBGP (running kube-anycast exabgp-relay) peering with GoBGP"
bash tests/testbed/up.sh "$ka" exabgp-relay --socket "$work/agent.sock" --lease 30s >"$work/up.out"
ns_exa="$(sed -n 's/^NS_EXA=//p' "$work/up.out")"
step "namespaces $ns_exa and ${KAT_TESTBED_PREFIX}-peer are up, BGP session Established"

say "4/4 the agent watches the API server; the timeline shows what the peer sees"
python3 scripts/demo/timeline.py tests/testbed/routes.sh "$record" &
timeline_pid=$!
"$ka" agent --node-name "$node" --endpoints-from pods --vip-interface none \
  --socket "$work/agent.sock" --metrics-listen 127.0.0.1:0 --log-level warn \
  2>"$work/agent.log" &
agent_pid=$!

# Waits until each SERVICE=STATE holds on the AnycastAdvertisements (the agent writes them a
# moment after it announces), then shows them beside the peer's view.
adverts() {
  local want got i ok=0
  for i in $(seq 1 100); do
    got="$(kubectl get anycastadvertisements -n demo \
      -o jsonpath='{range .items[*]}{.spec.service}={.spec.state}{" "}{end}' 2>/dev/null || true)"
    ok=1
    for want in "$@"; do
      [[ " $got" == *" $want "* ]] || ok=0
    done
    [ "$ok" = 0 ] || break
    sleep 0.2
  done
  if [ "$ok" = 0 ]; then
    echo "demo: the advertisements never showed $* (they show: $got)" >&2
    [ "$ci" = 1 ] && exit 1
  fi
  kubectl get anycastadvertisements -A 2>&1 | sed 's/^/  k8s   /'
}

step "both services have ready pods on $node: announced with MED 100"
expect_all "192.0.2.10/32 100 65000:1" "192.0.2.53/32 100 65000:1"
adverts web=Up dns=Up
wait_step
step "web's cache probe fails (on the host): score 80%, degraded"
rm "$work/state/web-cache"
expect "192.0.2.10/32 150 65000:1"
adverts web=Degraded dns=Up
wait_step
step "the cache is back"
touch "$work/state/web-cache"
expect "192.0.2.10/32 100 65000:1"
adverts web=Up
wait_step
step "pod web-2 turns unready (kubectl patch --subresource=status): 1 of 2 ready, web withdrawn"
pod_ready web-2 False
expect "192.0.2.10/32 withdrawn -"
adverts web=Down dns=Up
wait_step
step "pod web-2 is ready again: web is back"
pod_ready web-2 True
expect "192.0.2.10/32 100 65000:1"
adverts web=Up dns=Up
wait_step
step "kubectl cordon $node: GRACEFUL_SHUTDOWN for the pool's 3 s drain delay, then withdrawn"
kubectl cordon "$node" >/dev/null
expect_all "192.0.2.10/32 100 65000:1,65535:0" "192.0.2.53/32 100 65000:1,65535:0"
adverts web=Draining dns=Draining
expect_all "192.0.2.10/32 withdrawn -" "192.0.2.53/32 withdrawn -"
kubectl get anycastadvertisements -A 2>&1 | sed 's/^/  k8s   /'
wait_step
step "kubectl uncordon $node: both services come back"
kubectl uncordon "$node" >/dev/null
expect_all "192.0.2.10/32 100 65000:1" "192.0.2.53/32 100 65000:1"
adverts web=Up dns=Up
wait_step
step "the agent stops (SIGTERM): GRACEFUL_SHUTDOWN for the drain delay, then withdrawn"
kill -TERM "$agent_pid"
expect_all "192.0.2.10/32 100 65000:1,65535:0" "192.0.2.53/32 100 65000:1,65535:0"
wait "$agent_pid" || { echo "demo: the agent exited with $?" >&2; exit 1; }
agent_pid=""
expect_all "192.0.2.10/32 withdrawn -" "192.0.2.53/32 withdrawn -"
kubectl get anycastadvertisements -A 2>&1 | sed 's/^/  k8s   /'
say "done: every step seen at the peer and in the API server"
cleanup
left=$(ip netns list | grep -c "^${KAT_TESTBED_PREFIX}-" || true)
[ "$left" = 0 ] || { echo "demo: $left namespaces left behind" >&2; exit 1; }
# stop.sh waited for them; a zombie (not yet reaped by init, since they ran in their own
# session) is not running.
for pid in $cp_pids; do
  state="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1 || true)"
  if [ -n "$state" ] && [ "$state" != Z ]; then
    echo "demo: control plane process $pid left running" >&2
    exit 1
  fi
done
