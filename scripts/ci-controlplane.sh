#!/usr/bin/env bash
# CI step for the Kubernetes integration tests: build the pinned control plane (cached
# under $KAT_CP_CACHE; ~5 min the first time on 2 cores, ~0.1 s afterwards), then run the
# tests, which start and stop their own etcd + kube-apiserver.
#
#   KAT_CP_CACHE  cache root (default ${KAT_CACHE:-~/.cache/kube-anycast}/controlplane); keep it
#                 outside the clone so fresh CI clones reuse it
#   arguments     passed to cargo test (default: --test k8s_harness)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export KAT_CP_CACHE="${KAT_CP_CACHE:-${KAT_CACHE:-$HOME/.cache/kube-anycast}/controlplane}"
# build.sh prints the bin directory last on stdout; progress goes to stderr.
KAT_CP_BIN="$(bash scripts/controlplane/build.sh | tail -n 1)"
export KAT_CP_BIN
if (($# == 0)); then set -- --test k8s_harness; fi
cargo test --locked "$@"
