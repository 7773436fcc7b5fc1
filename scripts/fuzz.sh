#!/usr/bin/env bash
# Bounded fuzzing with cargo-fuzz (libFuzzer): every target in fuzz/ for SECONDS each.
#   scripts/fuzz.sh [SECONDS]            (default 20)
#   scripts/fuzz.sh 300 encoder          (one target, longer)
#   KAT_FUZZ_TARGET_DIR                  build directory (default $KAT_CACHE/target-fuzz)
#
# cargo-fuzz is installed from crates.io at a pinned version into $KAT_CACHE/cargo-bin when missing,
# so CI pays for it once per machine. Targets build with the nightly toolchain the machine image
# ships (libFuzzer needs `-Z` flags); without one, the pinned toolchain is used with
# RUSTC_BOOTSTRAP=1. No sanitizer: the crate forbids unsafe code, and panics (what we look for)
# abort the fuzzer on their own; this keeps the build and each run fast.
#
# The committed seed corpus (fuzz/corpus/<target>) is read, never written: new inputs go to
# $KAT_CACHE/fuzz-corpus/<target>, which later runs reuse. A crash leaves its input in
# fuzz/artifacts/<target>/ (not committed) and fails the script; reproduce it with
#   cargo +nightly fuzz run -s none <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-20}"
shift || true
export KAT_CACHE="${KAT_CACHE:-$HOME/.cache/kube-anycast}"
cargo_fuzz_version=0.13.2
bin="$KAT_CACHE/cargo-bin"
export PATH="$bin/bin:$PATH"
log() { printf '[fuzz %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ "$(cargo-fuzz --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]]; then
  log "installing cargo-fuzz $cargo_fuzz_version from crates.io into $bin"
  cargo install --quiet --locked --version "$cargo_fuzz_version" --root "$bin" cargo-fuzz
fi

toolchain=(+nightly)
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  log "no nightly toolchain: using the pinned one with RUSTC_BOOTSTRAP=1"
  toolchain=()
  export RUSTC_BOOTSTRAP=1
fi

# healthcheck_args writes its config-file inputs under TMPDIR: keep them in a scratch directory.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export TMPDIR="$scratch"

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
flags=(--sanitizer none --target-dir "${KAT_FUZZ_TARGET_DIR:-$KAT_CACHE/target-fuzz}")
# A dictionary of the input's keywords (fuzz/dict/<target>.dict), where there is one.
dict() { [[ -f fuzz/dict/$1.dict ]] && echo "-dict=$PWD/fuzz/dict/$1.dict"; }

log "building ${targets[*]}"
cargo "${toolchain[@]}" fuzz build "${flags[@]}"
for t in "${targets[@]}"; do
  corpus="$KAT_CACHE/fuzz-corpus/$t"
  mkdir -p "$corpus" "fuzz/corpus/$t"
  log "$t: ${seconds}s"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: 2 GiB is a leak or a blow-up.
  out="$KAT_CACHE/fuzz-logs/$t.log"
  mkdir -p "$(dirname "$out")"
  rc=0
  cargo "${toolchain[@]}" fuzz run "${flags[@]}" "$t" "$corpus" "$PWD/fuzz/corpus/$t" -- \
    -max_total_time="$seconds" $(dict "$t") -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$out" 2>&1 || rc=$?
  grep -E '^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+ +DONE)' "$out" >&2 || true
  if [[ $rc != 0 ]]; then
    tail -n 40 "$out" >&2
    log "$t: FAILED (exit $rc; the input is in fuzz/artifacts/$t/)"
    exit 1
  fi
done
log "no crash in ${#targets[@]} targets x ${seconds}s"
