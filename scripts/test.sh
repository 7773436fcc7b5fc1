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

stage "format"
cargo fmt --all -- --check
stage "clippy"
cargo clippy --locked --all-targets -- -D warnings
stage "unit and property tests"
cargo test --locked --lib --bins
stage "end"
