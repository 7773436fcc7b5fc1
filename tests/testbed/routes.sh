#!/bin/bash
# GoBGP's RIB of a bed as GoBGP's own JSON (an object keyed by prefix; `{}` when
# empty). tests/support/testbed.rs turns it into typed routes.
#
#   routes.sh [-6]      IPv4 unicast, or IPv6 unicast with -6
#
# Non-zero exit when gobgpd cannot be asked (bed down, not started yet).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
check_prefix
family=ipv4
case ${1:-} in
  "") ;;
  -6) family=ipv6 ;;
  *) die "usage: routes.sh [-6]" ;;
esac
netns_exists "$NS_PEER" || die "no test bed '$KAT_TESTBED_PREFIX' (netns $NS_PEER is missing)"
exec ip netns exec "$NS_PEER" gobgp -u "$GOBGP_HOST" -p "$GOBGP_PORT" global rib -a "$family" -j
