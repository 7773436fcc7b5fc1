#!/usr/bin/env bash
# Build pinned etcd and kube-apiserver from the Go module proxy into a cache keyed by version:
#   $KAT_CP_CACHE/k8s-$KAT_K8S_VERSION/bin/{kube-apiserver,etcd,BUILD-INFO}
# Does nothing (and says so) when that directory is complete. Prints the bin directory on
# its last line of stdout.
#
# Environment:
#   KAT_CP_CACHE     cache root (default ${KAT_CACHE:-$HOME/.cache/kube-anycast}/controlplane)
#   KAT_K8S_VERSION  Kubernetes tag (default: versions.env)
#   GO               go binary (default: go on PATH, else /usr/local/go/bin/go)
#   GOMODCACHE, GOCACHE  honoured when set, else kept under $KAT_CP_CACHE/go
#   KAT_CP_PRUNE=1   delete $KAT_CP_CACHE/go after a successful build (~3 GB -> ~110 MB)
#
# Why a generated wrapper module: `go install k8s.io/kubernetes/cmd/kube-apiserver@v1.36.5`
# is refused because k8s.io/kubernetes' go.mod replaces its staging modules with
# ./staging/... paths. The wrapper depends on k8s.io/kubernetes and replaces each staging
# module with its published v0.Y.Z tag instead.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"

log() { printf '[cp-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  printf '[cp-build] error: %s\n' "$*" >&2
  exit 1
}

k8s="$KAT_K8S_VERSION"
[[ $k8s =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "KAT_K8S_VERSION must look like v1.36.5, got '$k8s'"
minor="${BASH_REMATCH[1]}"
staging="v0.$minor.${BASH_REMATCH[2]}"

cache="${KAT_CP_CACHE:-${KAT_CACHE:-$HOME/.cache/kube-anycast}/controlplane}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
root="$cache/k8s-$k8s"
bin="$root/bin"

complete() {
  [[ -f $bin/BUILD-INFO && -x $bin/etcd && -x $bin/kube-apiserver ]] &&
    "$bin/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes $k8s"
}
if complete; then
  log "cached: $bin ($(paste -sd' ' "$bin/BUILD-INFO"))"
  echo "$bin"
  exit 0
fi

# Serialise builds into the same cache (two shells, parallel CI jobs).
command -v flock >/dev/null || die "flock is missing (Debian: apt-get install -y util-linux)"
exec 9>"$cache/.build.lock"
if ! flock -n 9; then
  log "another build holds $cache/.build.lock; waiting"
  flock 9
fi
if complete; then
  log "built meanwhile by another process: $bin"
  echo "$bin"
  exit 0
fi

go="${GO:-$(command -v go || true)}"
[[ -n $go || ! -x /usr/local/go/bin/go ]] || go=/usr/local/go/bin/go
[[ -n $go ]] || die "no Go toolchain found: install Go >= 1.26 (https://go.dev/dl/ or your \
package manager), put it on PATH or set GO=/path/to/go"
command -v "$go" >/dev/null || die "GO=$go is not an executable Go toolchain"
gover="$("$go" env GOVERSION)" || die "'$go env GOVERSION' failed"
[[ $gover =~ ^go1\.(2[6-9]|[3-9][0-9]) ]] || die "$gover is too old: Kubernetes $k8s needs go1.26 or newer"
proxy="$("$go" env GOPROXY)"
[[ $proxy != off && -n $proxy ]] || die "GOPROXY is '$proxy': the build needs the Go module proxy \
(e.g. GOPROXY=https://proxy.golang.org,direct)"

# Static binaries, never a toolchain download, Go caches inside our cache unless set.
export GOTOOLCHAIN=local CGO_ENABLED=0
own_caches=0
[[ -n ${GOMODCACHE:-} || -n ${GOCACHE:-} ]] || own_caches=1
export GOMODCACHE="${GOMODCACHE:-$cache/go/mod}" GOCACHE="${GOCACHE:-$cache/go/build}"
# -modcacherw keeps the module cache deletable with a plain rm -rf.
GOFLAGS="$("$go" env GOFLAGS) -modcacherw"
export GOFLAGS

started=$SECONDS
log "building Kubernetes $k8s (staging $staging) with $gover into $root"
log "a cold build takes ~5 minutes on 2 cores; later runs reuse $cache"

src="$root/src"
mkdir -p "$src"
cd "$src"
rm -f go.mod go.sum
"$go" mod init kube-anycast.test/controlplane >/dev/null 2>&1

log "fetching k8s.io/kubernetes@$k8s from $proxy"
if ! info="$("$go" mod download -json "k8s.io/kubernetes@$k8s" 2>&1)"; then
  printf '%s\n' "$info" >&2
  die "cannot download k8s.io/kubernetes@$k8s: is the Go module proxy ($proxy) reachable?"
fi
field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" <<<"$info" | head -n 1; }
upstream_mod="$(field GoMod)"
[[ -f $upstream_mod ]] || die "go mod download returned no go.mod for k8s.io/kubernetes@$k8s"
build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$(field Info)")"
# Ask for the same Go as Kubernetes does, not for the (newer) local toolchain.
"$go" mod edit -go="$(awk '$1 == "go" { print $2; exit }' "$upstream_mod")"

# Every "k8s.io/NAME => ./staging/src/k8s.io/NAME" becomes "k8s.io/NAME => k8s.io/NAME@v0.Y.Z".
# All of them are needed, not only those kube-apiserver imports: Go reads every go.mod.
mapfile -t staged < <(sed -n \
  's#^[[:space:]]*\(replace[[:space:]]\{1,\}\)\{0,1\}\(k8s\.io/[A-Za-z0-9._-]\{1,\}\)[[:space:]]\{1,\}=>[[:space:]]\{1,\}\./staging/.*#\2#p' \
  "$upstream_mod")
((${#staged[@]} > 0)) || die "no staging replace directives in $upstream_mod"
edits=()
for m in "${staged[@]}"; do edits+=("-replace=$m=$m@$staging"); done
"$go" mod edit "${edits[@]}"
log "replaced ${#staged[@]} staging modules with their $staging tags"

etcd="$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$upstream_mod")"
[[ $etcd == "$KAT_ETCD_VERSION" ]] ||
  die "k8s.io/kubernetes@$k8s requires etcd '$etcd' but versions.env pins $KAT_ETCD_VERSION"

# No "go mod tidy": it would pull the test dependencies of every package.
log "resolving modules (go get)"
if ! "$go" get "k8s.io/kubernetes/cmd/kube-apiserver@$k8s" "go.etcd.io/etcd/server/v3@$etcd" \
  >"$root/go-get.log" 2>&1; then
  tail -n 30 "$root/go-get.log" >&2
  die "go get failed (full log: $root/go-get.log); is the Go module proxy ($proxy) reachable?"
fi
log "modules resolved: $(grep -c . go.sum) go.sum lines ($((SECONDS - started)) s)"

# Like upstream release builds (hack/lib/golang.sh): static, stripped, -trimpath, and
# version stamps; unstamped, /version says v0.0.0-master and kubectl/helm complain.
stamp=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $p.gitVersion=$k8s -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  stamp+=" -X $p.gitTreeState=clean -X $p.buildDate=$build_date"
done
out="$root/bin.tmp"
rm -rf "$out"
mkdir -p "$out"

compile() { # name package ldflags
  local name=$1 pkg=$2 ldflags=$3 logf="$root/build-$1.log" t0=$SECONDS
  local total
  total="$("$go" list -tags=selinux,notest,grpcnotrace -deps "$pkg" | wc -l)"
  log "compiling $name ($pkg, $total packages, fewer when cached); log: $logf"
  # go build -v names each package as it compiles it: report every 100th as progress.
  if ! "$go" build -v -trimpath -tags=selinux,notest,grpcnotrace -ldflags="$ldflags" \
    -o "$out/$name" "$pkg" 2>&1 | tee "$logf" |
    awk -v n="$name" -v t="$total" 'NR % 100 == 0 {
      printf "[cp-build] %s: %d/%d packages\n", n, NR, t > "/dev/stderr" }'; then
    tail -n 40 "$logf" >&2
    die "go build of $name failed"
  fi
  log "$name built in $((SECONDS - t0)) s"
}
compile etcd go.etcd.io/etcd/server/v3 "-s -w"
compile kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "-s -w$stamp"

got="$("$out/kube-apiserver" --version)"
[[ $got == "Kubernetes $k8s" ]] || die "kube-apiserver --version says '$got'"
got="$("$out/etcd" --version | sed -n 's/^etcd Version: //p')"
[[ v$got == "$etcd" ]] || die "etcd --version says '$got', expected $etcd"
printf 'kubernetes=%s\nstaging=%s\netcd=%s\ngo=%s\n' "$k8s" "$staging" "$etcd" "$gover" >"$out/BUILD-INFO"
# Publish in one rename: a half-finished build is never taken for a finished one.
rm -rf "$bin"
mv "$out" "$bin"
log "done in $((SECONDS - started)) s: $bin"
if [[ ${KAT_CP_PRUNE:-0} == 1 && $own_caches == 1 ]]; then
  rm -rf "$cache/go"
  log "pruned the Go caches ($cache/go)"
fi
echo "$bin"
