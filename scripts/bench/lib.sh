# shellcheck shell=bash
# Shared by the benchmarks: results as TSV next to the Markdown they print.
# With BENCH_OUT set (scripts/bench/all.sh sets it), `tsv FILE col...` appends one tab-separated
# row to $BENCH_OUT/FILE.tsv; the first call per file writes the header given by `tsv_header`.

tsv_header() { # file col...
  [ -n "${BENCH_OUT:-}" ] || return 0
  mkdir -p "$BENCH_OUT"
  local f="$BENCH_OUT/$1.tsv"
  shift
  [ -s "$f" ] || (IFS=$'\t'; echo "$*") >"$f"
}

tsv() { # file col...
  [ -n "${BENCH_OUT:-}" ] || return 0
  local f="$BENCH_OUT/$1.tsv"
  shift
  (IFS=$'\t'; echo "$*") >>"$f"
}

# Builds the binary the images ship (Dockerfile: static, musl) and prints its path; fails (with
# nothing printed) when the musl target or musl-gcc cannot be installed. Uses CARGO_TARGET_DIR.
build_shipped_binary() {
  local target
  target="$(uname -m)-unknown-linux-musl"
  { rustup target list --installed | grep -qx "$target" || rustup target add "$target" >/dev/null 2>&1; } &&
    { command -v musl-gcc >/dev/null || apt-get install -y -qq --no-install-recommends musl-tools >/dev/null 2>&1; } &&
    cargo build --release --locked -q --bin kube-anycast --target "$target" >&2 &&
    echo "$CARGO_TARGET_DIR/$target/release/kube-anycast"
}

# Drops FILE... from the page cache. A binary just written by a linker sits there in a form
# of which the kernel maps about twice as many pages per fault (the static kube-anycast build:
# 9.4 MiB of file pages against 4.4 MiB read from disk); a deployed binary is read from disk,
# so the memory benchmarks measure that state, for every side's freshly built binaries.
drop_from_page_cache() {
  local f
  for f in "$@"; do
    sync "$f"
    dd if="$f" iflag=nocache count=0 status=none
  done
}

# anycast-healthchecker, pinned, in its own venv under $KAT_CACHE; prints the venv. Idempotent; a
# flock serialises callers (detect.sh and fleet.sh may run at once).
ensure_ahc() {
  local venv=$KAT_CACHE/ahc-venv version=0.9.10
  mkdir -p "$KAT_CACHE"
  (
    flock 9
    if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("anycast-healthchecker"))' \
          2>/dev/null)" != "$version" ]; then
      echo "bench: installing anycast-healthchecker==$version into $venv" >&2
      rm -rf "$venv"
      { /usr/bin/python3 -m venv "$venv" &&
        "$venv/bin/pip" install -q --disable-pip-version-check "anycast-healthchecker==$version"; } \
        >"$venv.install.log" 2>&1 || { tail -n 20 "$venv.install.log" >&2; exit 1; }
    fi
  ) 9>"$venv.lock"
  echo "$venv"
}

# anycast-healthchecker's daemon config in DIR/ahc.conf (its prefix file DIR/anycast-prefixes.conf,
# log level info as in the peer anchors). Args: DIR, the BIRD reconfigure command, the log file.
write_ahc_conf() {
  cat >"$1/ahc.conf" <<EOF
[DEFAULT]
interface             = lo
[daemon]
pidfile               = $1/ahc.pid
ipv4                  = true
ipv6                  = false
bird_conf             = $1/anycast-prefixes.conf
bird_variable         = ACAST_PS_ADVERTISE
bird_reconfigure_cmd  = $2
dummy_ip_prefix       = 10.189.200.255/32
bird_keep_changes     = false
purge_ip_prefixes     = true
loglevel              = info
log_file              = $3
prometheus_exporter   = false
EOF
}

# One anycast-healthchecker service check in DIR/checks.d/NAME.conf. Args: DIR, NAME, the check
# command, interval, timeout, rise, fall, the prefix.
write_ahc_check() {
  cat >"$1/checks.d/$2.conf" <<EOF
[$2]
check_cmd         = $3
check_interval    = $4
check_timeout     = $5
check_rise        = $6
check_fail        = $7
check_disabled    = false
on_disabled       = withdraw
ip_prefix         = $8
EOF
}
