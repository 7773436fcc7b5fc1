#!/usr/bin/env bash
# Start a control plane for humans and demos (tests start their own, see
# tests/support/controlplane.rs): etcd + kube-apiserver on loopback, RBAC, static tokens.
# No controller-manager, scheduler or kubelet. Stop it with stop.sh.
#
# Environment:
#   KAT_CP_CACHE          where build.sh put the binaries (default ${KAT_CACHE:-~/.cache/kube-anycast}/controlplane)
#   KAT_CP_BIN            directory with etcd and kube-apiserver (overrides KAT_CP_CACHE)
#   KAT_CP_DIR            run directory (default ./.cache/controlplane-run, relative to the caller)
#   KAT_CP_START_TIMEOUT  seconds to wait for /readyz (default 60)
#
# Writes into KAT_CP_DIR: env (source it: KUBECONFIG, KAT_CP_SERVER, ...),
# admin.kubeconfig (kat-admin, system:masters), restricted.kubeconfig (kat-restricted,
# no rights), pki/, tokens.csv, logs/, etcd.pid, kube-apiserver.pid.
# Running it again while that control plane is up changes nothing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
log() { printf '[cp-start %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  printf '[cp-start] error: %s\n' "$*" >&2
  exit 1
}
for tool in openssl curl setsid base64; do
  command -v "$tool" >/dev/null || die "$tool is missing (Debian: apt-get install -y openssl curl util-linux coreutils)"
done

bin="${KAT_CP_BIN:-${KAT_CP_CACHE:-${KAT_CACHE:-$HOME/.cache/kube-anycast}/controlplane}/k8s-$KAT_K8S_VERSION/bin}"
[[ -x $bin/kube-apiserver && -x $bin/etcd ]] || die "no etcd/kube-apiserver in $bin: run $here/build.sh first"
dir="${KAT_CP_DIR:-./.cache/controlplane-run}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
timeout="${KAT_CP_START_TIMEOUT:-60}"
# shellcheck source=common.sh
. "$here/common.sh"

if [[ -f $dir/env ]] && alive "$(pid_of kube-apiserver)" kube-apiserver && alive "$(pid_of etcd)" etcd; then
  # shellcheck disable=SC1091
  . "$dir/env"
  if curl -fsS --max-time 5 --cacert "$dir/pki/ca.crt" "$KAT_CP_SERVER/readyz" >/dev/null 2>&1; then
    log "already running at $KAT_CP_SERVER; source $dir/env"
    exit 0
  fi
fi
# Leftovers of an earlier run: stop what its pid files name, then clear only our files.
KAT_CP_DIR="$dir" bash "$here/stop.sh" 2>/dev/null
rm -rf "$dir/pki" "$dir/logs" "$dir/etcd-data" "$dir/tokens.csv" "$dir/env" "$dir"/*.kubeconfig
mkdir -p "$dir/logs"
t0=$SECONDS

bash "$here/pki.sh" "$dir/pki"
admin_token="$(openssl rand -hex 24)"
restricted_token="$(openssl rand -hex 24)"
(
  umask 077
  printf '%s,kat-admin,kat-admin,"system:masters"\n%s,kat-restricted,kat-restricted\n' \
    "$admin_token" "$restricted_token" >"$dir/tokens.csv"
)

# Free loopback ports below the ephemeral range, not used by any socket in any state.
low="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
((low > 12000)) || low=32768
picked=" "
free_port() {
  local p hex
  for _ in $(seq 500); do
    p=$((10000 + RANDOM % (low - 10000)))
    printf -v hex '%04X' "$p"
    [[ $picked == *" $p "* ]] && continue
    grep -qE "^ *[0-9]+: [0-9A-F]+:$hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null && continue
    picked+="$p "
    echo "$p"
    return 0
  done
  die "no free loopback port"
}
etcd_port="$(free_port)"
picked+="$etcd_port "
peer_port="$(free_port)"
picked+="$peer_port "
api_port="$(free_port)"
server="https://127.0.0.1:$api_port"
etcd_url="http://127.0.0.1:$etcd_port"
peer_url="http://127.0.0.1:$peer_port"

ca_data="$(base64 -w0 <"$dir/pki/ca.crt")"
for user in admin restricted; do
  token_var="${user}_token"
  (
    umask 077
    cat >"$dir/$user.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: kube-anycast-test
  cluster:
    server: $server
    certificate-authority-data: $ca_data
users:
- name: kat-$user
  user:
    token: ${!token_var}
contexts:
- name: kat-$user
  context:
    cluster: kube-anycast-test
    user: kat-$user
    namespace: default
current-context: kat-$user
KC
  )
done

fail() {
  local name
  printf '[cp-start] error: %s\n' "$1" >&2
  for name in etcd kube-apiserver; do
    [[ -s $dir/logs/$name.log ]] && { echo "--- last lines of $dir/logs/$name.log" >&2; tail -n 25 "$dir/logs/$name.log" >&2; }
  done
  KAT_CP_DIR="$dir" bash "$here/stop.sh" >&2 || true
  exit 1
}
launch() { # name args...: own session, so it outlives this script and the terminal
  local name=$1
  shift
  setsid "$bin/$name" "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
}

pki="$dir/pki"
launch etcd --name=kat --data-dir="$dir/etcd-data" \
  --listen-client-urls="$etcd_url" --advertise-client-urls="$etcd_url" \
  --listen-peer-urls="$peer_url" --initial-advertise-peer-urls="$peer_url" \
  --initial-cluster="kat=$peer_url" --unsafe-no-fsync --log-level=warn
# The same flags as tests/support/controlplane.rs; see docs/testing.md for the reasons.
launch kube-apiserver --etcd-servers="$etcd_url" \
  --bind-address=127.0.0.1 --secure-port="$api_port" --advertise-address=127.0.0.1 \
  --endpoint-reconciler-type=none \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --cert-dir="$pki" \
  --token-auth-file="$dir/tokens.csv" --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.96.0.0/12 --disable-admission-plugins=ServiceAccount \
  --allow-privileged=true --profiling=false

deadline=$((SECONDS + timeout))
until curl -fsS --max-time 2 --cacert "$pki/ca.crt" "$server/readyz" >/dev/null 2>&1; do
  for name in etcd kube-apiserver; do
    alive "$(pid_of "$name")" "$name" || fail "$name exited during start-up"
  done
  ((SECONDS < deadline)) || fail "kube-apiserver not ready after ${timeout}s"
  sleep 0.1
done

cat >"$dir/env" <<ENV
export KAT_CP_DIR='$dir'
export KAT_CP_SERVER='$server'
export KAT_CP_ADMIN_KUBECONFIG='$dir/admin.kubeconfig'
export KAT_CP_RESTRICTED_KUBECONFIG='$dir/restricted.kubeconfig'
export KAT_CP_RESTRICTED_USER='kat-restricted'
export KUBECONFIG='$dir/admin.kubeconfig'
ENV
log "ready at $server in $((SECONDS - t0)) s (etcd pid $(pid_of etcd), kube-apiserver pid $(pid_of kube-apiserver))"
log "use it: . $dir/env; stop it: KAT_CP_DIR=$dir $here/stop.sh"
