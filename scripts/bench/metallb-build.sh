#!/usr/bin/env bash
# Build MetalLB v0.16.1's speaker and controller (native BGP mode needs nothing else) from the Go
# module proxy, for scripts/bench/k8s.sh. Idempotent: does nothing when the binaries exist.
#
#   bash scripts/bench/metallb-build.sh      prints the bin directory on its last line
#
# The source is the module go.universe.tf/metallb@v0.16.1 as the Go proxy serves it (its Origin
# names commit 791dfcc63ced7a6b3e869131eae75e645150fff0, which this script checks); the build is
# the upstream Dockerfile's: `go build -ldflags "-X ...gitCommit=... -X ...gitBranch=..."` of
# ./speaker and ./controller, CGO_ENABLED=0, with the local Go toolchain (never a download).
# Everything stays under ${KAT_CACHE:-~/.cache/kube-anycast}/metallb-v0.16.1: go/ (module and
# build caches), src/ (a writable copy of the module), bin/{speaker,controller,crds/}.
# The control plane's module cache (scripts/controlplane/build.sh) is tried first as a local
# proxy, so most dependencies need no download.
set -euo pipefail
version=v0.16.1
commit=791dfcc63ced7a6b3e869131eae75e645150fff0
cache="${KAT_CACHE:-$HOME/.cache/kube-anycast}/metallb-$version"
bin="$cache/bin"
log() { printf '[metallb-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ -x $bin/speaker && -x $bin/controller && -f $bin/crds/metallb.io_bgppeers.yaml ]]; then
  log "cached: $bin"
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9
go="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-modcacherw
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"
cp_mods="${KAT_CACHE:-$HOME/.cache/kube-anycast}/controlplane/go/mod/cache/download"
proxy="$("$go" env GOPROXY)"
[[ ! -d $cp_mods ]] || proxy="file://$cp_mods,$proxy"
export GOPROXY="$proxy"

t0=$SECONDS
info="$("$go" mod download -json "go.universe.tf/metallb@$version")"
grep -q "\"Hash\": \"$commit\"" <<<"$info" || { log "the proxy's $version is not commit $commit"; exit 1; }
src_dir="$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' <<<"$info")"
rm -rf "$cache/src"
cp -r "$src_dir" "$cache/src"
chmod -R u+w "$cache/src"
cd "$cache/src"
"$go" mod download
pkg=go.universe.tf/metallb/internal/version
ldflags="-X $pkg.gitCommit=$commit -X $pkg.gitBranch=$version"
mkdir -p "$bin.tmp/crds"
"$go" build -o "$bin.tmp/speaker" -ldflags "$ldflags" ./speaker
"$go" build -o "$bin.tmp/controller" -ldflags "$ldflags" ./controller
cp config/crd/bases/*.yaml "$bin.tmp/crds/"
"$go" version >"$bin.tmp/BUILD-INFO"
echo "metallb $version $commit" >>"$bin.tmp/BUILD-INFO"
rm -rf "$bin"
mv "$bin.tmp" "$bin"
log "built $bin in $((SECONDS - t0)) s"
echo "$bin"
