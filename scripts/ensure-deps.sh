#!/bin/bash
# Install the Debian packages the real-parts tests need, if missing: gobgpd (the
# BGP receiver of the test bed), python3-venv (the ExaBGP venv), iproute2,
# openssl and curl. Idempotent; apt runs only when something is missing.
#
#   scripts/ensure-deps.sh
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have gobgpd && have gobgp || need+=(gobgpd)
have ip && have ss || need+=(iproute2)
have openssl || need+=(openssl)
have curl || need+=(curl)
have flock || need+=(util-linux)
# Debian's python3 lacks ensurepip (and so `-m venv`) without python3-venv.
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
[ ${#need[@]} = 0 ] && exit 0

[ "$(id -u)" = 0 ] || { echo "ensure-deps: need root to install: ${need[*]}" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -y -q -o DPkg::Lock::Timeout=300 install --no-install-recommends "${need[@]}")
echo "ensure-deps: installing ${need[*]}" >&2
# Package lists may be missing or stale on a fresh machine: update only when
# the first install attempt fails.
if ! "${apt[@]}" >&2; then
  apt-get -q -o DPkg::Lock::Timeout=300 update >&2
  "${apt[@]}" >&2
fi
