#!/bin/bash
# Make ExaBGP's connection attempts to gobgpd hang instead of fail: its packets to
# the peer go to a MAC address nobody has, so a connect gets neither an answer nor
# a refusal (no RST, no ICMP). ExaBGP forgets its queued updates whenever an
# attempt fails, but not while one hangs; `off` lets the attempt through (at the
# next SYN retransmit, 1-15 s later).
#
#   blackhole.sh on     gobgpd gets nothing more from ExaBGP
#   blackhole.sh off    the neighbor entry is resolved again (ARP), as before
set -Eeuo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_running_bed "$NS_EXA"

case ${1:-} in
  # Locally administered, unicast, on no interface of the bed.
  on) ip -n "$NS_EXA" neigh replace "$PEER_ADDR" dev to-peer lladdr 02:00:00:00:de:ad nud permanent ;;
  off) ip -n "$NS_EXA" neigh del "$PEER_ADDR" dev to-peer 2>/dev/null || true ;;
  *) die "usage: blackhole.sh on|off" ;;
esac
echo "blackhole: $1 done"
