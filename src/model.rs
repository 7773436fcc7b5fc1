//! Plain domain values shared by the pure cores and the drivers.

use std::collections::BTreeMap;

use ipnet::IpNet;

use crate::exabgp::encode::{Attributes, Target};

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
