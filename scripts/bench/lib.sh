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
