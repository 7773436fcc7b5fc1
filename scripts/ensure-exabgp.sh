#!/bin/bash
# Make sure a venv with ExaBGP (pinned, default 5.0.15) exists, and print its
# path on stdout. Idempotent; a flock serialises parallel callers (tests that
# start at the same moment share one venv).
#
#   scripts/ensure-exabgp.sh            -> /root/.cache/kube-anycast/exabgp-venv
#
# KAT_EXABGP_VENV     the venv (default $HOME/.cache/kube-anycast/exabgp-venv)
# KAT_EXABGP_VERSION  the pinned version (default 5.0.15); another version in
#                     an existing venv is replaced
# KAT_PYTHON          the interpreter that creates the venv (default: Debian's
#                     /usr/bin/python3 when present, else python3)
set -euo pipefail

venv=${KAT_EXABGP_VENV:-$HOME/.cache/kube-anycast/exabgp-venv}
version=${KAT_EXABGP_VERSION:-5.0.15}
python=${KAT_PYTHON:-}
if [ -z "$python" ]; then
  if [ -x /usr/bin/python3 ]; then python=/usr/bin/python3; else python=python3; fi
fi

installed() {
  [ -x "$venv/bin/python" ] &&
    [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("exabgp"))' \
        2>/dev/null)" = "$version" ]
}

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if ! installed; then
  echo "ensure-exabgp: installing exabgp==$version into $venv" >&2
  rm -rf "$venv"
  log=$venv.install.log
  if ! { "$python" -m venv "$venv" &&
         "$venv/bin/pip" install -q --disable-pip-version-check "exabgp==$version"; } >"$log" 2>&1
  then
    tail -n 20 "$log" >&2
    echo "ensure-exabgp: installing ExaBGP $version failed (log: $log)" >&2
    exit 1
  fi
  installed || { echo "ensure-exabgp: exabgp $version not importable from $venv" >&2; exit 1; }
fi
echo "$venv"
