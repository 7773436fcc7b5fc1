#!/bin/bash
# The gobgp CLI against a bed's gobgpd (its gRPC API listens only on the
# loopback of <prefix>-peer). Examples:
#   gobgp.sh neighbor                 session state and counters
#   gobgp.sh global rib -a ipv6 -j    the raw IPv6 RIB as JSON
#   gobgp.sh monitor global rib -j    one JSON line per RIB change, until killed
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
check_prefix
netns_exists "$NS_PEER" || die "no test bed '$KAT_TESTBED_PREFIX' (netns $NS_PEER is missing)"
exec ip netns exec "$NS_PEER" gobgp -u "$GOBGP_HOST" -p "$GOBGP_PORT" "$@"
