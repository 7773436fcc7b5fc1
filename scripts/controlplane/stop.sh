#!/usr/bin/env bash
# Stop the control plane start.sh started: only the PIDs its pid files name, and only while
# each still runs the binary it was recorded for. SIGTERM, SIGKILL after the grace time.
# Keeps the run directory (logs); the next start.sh clears it.
#
#   KAT_CP_DIR            run directory (default ./.cache/controlplane-run)
#   KAT_CP_STOP_TIMEOUT   grace time in seconds (default 15)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${KAT_CP_DIR:-./.cache/controlplane-run}"
grace="${KAT_CP_STOP_TIMEOUT:-15}"
# shellcheck source=common.sh
. "$here/common.sh"
log() { printf '[cp-stop %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The apiserver first, so it does not log etcd errors while it shuts down.
for name in kube-apiserver etcd; do
  pid="$(pid_of "$name")"
  if alive "$pid" "$name"; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + grace))
    while alive "$pid" "$name" && ((SECONDS < deadline)); do sleep 0.1; done
    if alive "$pid" "$name"; then
      log "$name (pid $pid) ignored SIGTERM for ${grace}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$dir/$name.pid"
done
