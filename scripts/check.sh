#!/usr/bin/env bash
# Quick pre-commit check: format, clippy and unit tests (the fast stages of scripts/test.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --lib --bins -q
