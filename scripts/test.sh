#!/usr/bin/env bash
# The one test command: everything CI runs, in the same order, with the time each stage took.
#   sudo ./scripts/test.sh          (root: network namespaces and netlink)
# Caches live outside the clone (KAT_CACHE, default ~/.cache/kube-anycast).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export KAT_CACHE="${KAT_CACHE:-$HOME/.cache/kube-anycast}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KAT_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

stage_start=0
stage() {
  [ "$stage_start" = 0 ] || echo "=== done in $(( $(date +%s) - stage_start )) s"
  stage_start=$(date +%s)
  echo "=== stage: $*"
}

[ "$(id -u)" = 0 ] || { echo "scripts/test.sh needs root (network namespaces, netlink)" >&2; exit 1; }

stage "dependencies (apt: gobgpd, iproute2, python3-venv...; ExaBGP 5.0.15 venv)"
bash scripts/ensure-deps.sh
bash scripts/ensure-exabgp.sh >/dev/null
bash tests/testbed/down.sh --all >/dev/null 2>&1 || true
trap 'bash tests/testbed/down.sh --all >/dev/null 2>&1 || true' EXIT

stage "format"
cargo fmt --all -- --check
rustfmt --edition 2024 --check fuzz/fuzz_targets/*.rs fuzz/src/lib.rs
stage "clippy"
cargo clippy --locked --all-targets -- -D warnings
(cd fuzz && cargo clippy --locked --bins -- -D warnings)
stage "cargo deny: licences, sources, duplicate crates (advisories only with a local database)"
bash scripts/deny.sh
stage "unit and property tests; tenancy and input security"
cargo test --locked --lib --bins --test tenancy
stage "netlink tests in a private network namespace; healthcheck metrics, JSON logs, native checks"
cargo test --locked --test netlink --test healthcheck_extras
stage "healthcheck: differential against ExaBGP 5.0.15, and end to end on the BGP test bed"
cargo test --locked --no-fail-fast --test bgp_testbed --test healthcheck_differential --test healthcheck_bgp
stage "agent: end to end on the BGP test bed (standalone agent + exabgp-relay + gobgpd)"
cargo test --locked --no-fail-fast --test agent_bgp
stage "chaos: kill -9 / SIGSTOP agent, relay, ExaBGP, gobgpd, kube-apiserver, etcd at random while services flap; invariants from the peer's RIB (docs/reliability.md)"
bash scripts/ci-controlplane.sh --test chaos -- --nocapture
stage "the demo, non-interactive: checks what the BGP peer saw, and that nothing is left behind"
./scripts/demo.sh --ci
stage "the demo through the API server (--k8s): the same checks, plus the advertisements and a stopped control plane"
./scripts/demo.sh --ci --k8s
stage "Kubernetes integration tests and the agent end to end (control plane built once, cached; ExaBGP + GoBGP)"
bash scripts/ci-controlplane.sh --test k8s_harness --test crd_apiserver --test k8s_agent --test k8s_watch_traffic
stage "packaging: hadolint, ExaBGP image pin, Helm chart against the real API server and ExaBGP"
bash scripts/ci-packaging.sh
stage "fuzzing (bounded): each cargo-fuzz target for 20 s"
bash scripts/fuzz.sh 20
stage "end"
