# shellcheck shell=bash disable=SC2154 # $dir is set by the sourcing script
# Helpers shared by start.sh and stop.sh (sourced; expects $dir, the run directory).

# alive PID NAME: PID runs (not a zombie) and really is the binary NAME, so a recycled PID
# is never signalled. A rebuilt binary shows as "NAME (deleted)".
alive() {
  local pid=$1 name=$2 state exe
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/stat ]] || return 1
  state="$(sed 's/^.*) //' "/proc/$pid/stat" | cut -d' ' -f1)"
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
  exe="${exe% (deleted)}"
  [[ $state != Z && $exe == */"$name" ]]
}

pid_of() { # NAME: the PID recorded in $dir/NAME.pid, or nothing
  [[ -f $dir/$1.pid ]] && cat "$dir/$1.pid" || true
}
