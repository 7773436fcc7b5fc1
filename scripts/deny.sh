#!/usr/bin/env bash
# Supply-chain checks with cargo-deny and deny.toml: licences (allowlist), sources (crates.io
# only) and bans (duplicate versions are warnings, each skip commented).
#   scripts/deny.sh
#
# The advisories check needs the RustSec advisory database, which cargo-deny clones from
# GitHub; this workplace reaches only package registries, so the check runs only when a local
# copy exists in $CARGO_HOME/advisory-dbs (where cargo-deny keeps its checkout; copy one there
# from a machine that has fetched it). Then it runs offline (--frozen) against that copy.
# Otherwise the script says that it skipped it: run `cargo deny check advisories` where GitHub is
# reachable, before a release.
#
# cargo-deny is installed from crates.io at a pinned version into $KAT_CACHE/cargo-bin when
# missing, so CI pays for it once per machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export KAT_CACHE="${KAT_CACHE:-$HOME/.cache/kube-anycast}"
cargo_deny_version=0.20.2
bin="$KAT_CACHE/cargo-bin"
export PATH="$bin/bin:$PATH"
log() { printf '[deny %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ "$(cargo-deny --version 2>/dev/null)" != "cargo-deny $cargo_deny_version" ]]; then
  log "installing cargo-deny $cargo_deny_version from crates.io into $bin"
  cargo install --quiet --locked --version "$cargo_deny_version" --root "$bin" cargo-deny
fi

cargo deny --locked check licenses sources bans

db="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if compgen -G "$db/*/crates" >/dev/null; then
  log "advisories: against the local database in $db (not fetched)"
  cargo deny --frozen check advisories
else
  log "advisories: SKIPPED, no local RustSec database in $db (GitHub is unreachable here)"
fi
