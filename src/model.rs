//! Plain domain values shared by the pure cores and the drivers.

use std::collections::BTreeMap;

use ipnet::IpNet;

use crate::exabgp::encode::{Attributes, NextHop, Target};

/// Where a route goes and what it is: the key of a RIB entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    /// The neighbors it is announced to.
    pub target: Target,
    /// The prefix (a host route for a service IP).
    pub prefix: IpNet,
}

/// The routes to announce (or announced), each with its attributes.
pub type Rib = BTreeMap<RouteKey, Attributes>;

/// The RIB with every IPv6 route whose next hop is `self` given `ipv6_next_hop` instead.
///
/// Why: ExaBGP resolves `next-hop self` to the session's local address and refuses it (answers
/// `error`) for an IPv6 route on an IPv4 session, so a node that carries IPv6 routes over IPv4
/// sessions names its IPv6 next hop (`--ipv6-next-hop`). IPv4 routes and explicit next hops are
/// left alone; `None` leaves the RIB as it is (IPv6 routes then need IPv6 sessions).
pub fn with_ipv6_next_hop(rib: Rib, ipv6_next_hop: Option<std::net::Ipv6Addr>) -> Rib {
    let Some(address) = ipv6_next_hop else {
        return rib;
    };
    rib.into_iter()
        .map(|(key, mut attributes)| {
            if key.prefix.addr().is_ipv6() && attributes.next_hop == NextHop::SelfAddress {
                attributes.next_hop = NextHop::Address(address.into());
            }
            (key, attributes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, next_hop: NextHop) -> (RouteKey, Attributes) {
        let key = RouteKey {
            target: Target::All,
            prefix: prefix.parse().unwrap(),
        };
        let attributes = Attributes {
            next_hop,
            med: Some(100),
            ..Attributes::default()
        };
        (key, attributes)
    }

    #[test]
    fn only_ipv6_routes_with_next_hop_self_get_the_ipv6_next_hop() {
        let explicit = NextHop::Address("2001:db8:ffff::1".parse().unwrap());
        let rib: Rib = [
            route("192.0.2.1/32", NextHop::SelfAddress),
            route("2001:db8::1/128", NextHop::SelfAddress),
            route("2001:db8::2/128", explicit),
        ]
        .into_iter()
        .collect();
        let resolved = with_ipv6_next_hop(rib, Some("fd00:255::1".parse().unwrap()));
        let next_hops: Vec<String> = resolved.values().map(|a| a.next_hop.to_string()).collect();
        assert_eq!(next_hops, ["self", "fd00:255::1", "2001:db8:ffff::1"]);
        assert!(
            resolved.values().all(|a| a.med == Some(100)),
            "only the next hop changes"
        );
    }

    #[test]
    fn without_an_ipv6_next_hop_the_rib_is_unchanged() {
        let rib: Rib = [route("2001:db8::1/128", NextHop::SelfAddress)]
            .into_iter()
            .collect();
        assert_eq!(with_ipv6_next_hop(rib.clone(), None), rib);
    }
}
