//! What the healthcheck writes for each state: pure, from the options to the API lines.

use ipnet::IpNet;

use super::options::Options;
use super::values::Neighbor;
use crate::exabgp::attrs::{AsPath, Community, List};
use crate::exabgp::encode::{Action, Attributes, NextHop, RouteCommand, Target};
use crate::health::State;

/// The most addresses one network may expand to; ExaBGP tries any size and hangs on a /8.
pub const MAX_EXPANDED: usize = 65_536;

/// The route settings of a healthcheck, resolved from its options.
#[derive(Debug, Clone)]
pub struct Announcer {
    target: Target,
    /// The routes in their fixed order (after deaggregation and rotation).
    pub ips: Vec<IpNet>,
    next_hop: NextHop,
    up: StateAttrs,
    down: StateAttrs,
    disabled: StateAttrs,
    increase: i64,
    withdraw_on_down: bool,
    base: Attributes,
}

#[derive(Debug, Clone)]
struct StateAttrs {
    metric: i64,
    communities: List<Community>,
    as_path: Option<AsPath>,
}

/// A network too large to expand address by address.
#[derive(Debug, thiserror::Error)]
#[error("--ip {network} has more than {MAX_EXPANDED} addresses to expand")]
pub struct TooLarge {
    /// The network.
    pub network: IpNet,
}

impl Announcer {
    /// Resolves the options; `ips` are the configured (or discovered) networks in order.
    pub fn new(opts: &Options, ips: &[IpNet]) -> Result<Self, TooLarge> {
        let mut ips = if opts.deaggregate_networks {
            expand_all(ips)?
        } else {
            ips.to_vec()
        };
        if !ips.is_empty() {
            let len = i64::try_from(ips.len()).unwrap_or(i64::MAX);
            let start = usize::try_from(opts.start_ip.rem_euclid(len)).unwrap_or(0);
            ips.rotate_left(start);
        }
        let neighbors: Option<Vec<_>> = opts
            .neighbor
            .iter()
            .map(|n| match n {
                Neighbor::Any => None,
                Neighbor::Address(ip) => Some(*ip),
            })
            .collect();
        let target = match neighbors {
            Some(list) if !list.is_empty() => Target::Neighbors(list),
            _ => Target::All,
        };
        let community = non_empty(opts.community.clone());
        let degraded = non_empty(opts.disabled_community.clone()).or_else(|| community.clone());
        let as_path = opts.as_path.clone().filter(|p| !p.0.is_empty());
        // A per-state path given empty suppresses the common one.
        let path_for = |p: &Option<AsPath>| p.clone().or_else(|| as_path.clone());
        let state = |metric, communities: &Option<List<Community>>, path| StateAttrs {
            metric,
            communities: communities.clone().unwrap_or_default(),
            as_path: path,
        };
        Ok(Announcer {
            target,
            next_hop: opts.next_hop.map_or(NextHop::SelfAddress, NextHop::Address),
            up: state(opts.up_metric, &community, path_for(&opts.up_as_path)),
            down: state(opts.down_metric, &degraded, path_for(&opts.down_as_path)),
            disabled: state(
                opts.disabled_metric,
                &degraded,
                path_for(&opts.disabled_as_path),
            ),
            increase: opts.increase,
            withdraw_on_down: opts.withdraw_on_down,
            base: Attributes {
                local_preference: (opts.local_preference >= 0).then_some(opts.local_preference),
                extended_communities: opts.extended_community.clone().unwrap_or_default(),
                large_communities: opts.large_community.clone().unwrap_or_default(),
                path_id: opts.path_id.filter(|id| *id != 0),
                ..Attributes::default()
            },
            ips,
        })
    }

    /// The lines for a state, one per IP in order; empty for INIT, RISING and FALLING.
    pub fn lines(&self, state: State) -> Vec<String> {
        let (action, attrs) = match state {
            State::Up => (Action::Announce, &self.up),
            State::Down if !self.withdraw_on_down => (Action::Announce, &self.down),
            State::Disabled if !self.withdraw_on_down => (Action::Announce, &self.disabled),
            State::Down | State::Disabled | State::Exit => (Action::Withdraw, &self.up),
            State::Init | State::Rising | State::Falling => return Vec::new(),
        };
        let mut attributes = Attributes {
            next_hop: self.next_hop,
            communities: attrs.communities.clone(),
            as_path: attrs.as_path.clone(),
            ..self.base.clone()
        };
        let mut metric = attrs.metric;
        self.ips
            .iter()
            .map(|prefix| {
                attributes.med = Some(metric);
                metric = metric.saturating_add(self.increase);
                RouteCommand {
                    target: &self.target,
                    action,
                    prefix: *prefix,
                    attributes: &attributes,
                }
                .to_line()
            })
            .collect()
    }
}

fn non_empty(list: Option<List<Community>>) -> Option<List<Community>> {
    list.filter(|l| !l.is_empty())
}

/// Every address of every network, as host routes, network and broadcast included.
pub fn expand_all(nets: &[IpNet]) -> Result<Vec<IpNet>, TooLarge> {
    let mut out = Vec::new();
    for net in nets {
        let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
        if host_bits > MAX_EXPANDED.trailing_zeros() {
            return Err(TooLarge { network: *net });
        }
        out.extend(net.hosts_all().map(IpNet::from));
    }
    Ok(out)
}

/// Iterates every address of a network (unlike `IpNet::hosts`, network and broadcast too).
trait AllAddresses {
    fn hosts_all(&self) -> Box<dyn Iterator<Item = std::net::IpAddr>>;
}

impl AllAddresses for IpNet {
    fn hosts_all(&self) -> Box<dyn Iterator<Item = std::net::IpAddr>> {
        match self {
            IpNet::V4(n) => {
                let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
                Box::new((lo..=hi).map(|a| std::net::Ipv4Addr::from(a).into()))
            }
            IpNet::V6(n) => {
                let (lo, hi) = (u128::from(n.network()), u128::from(n.broadcast()));
                Box::new((lo..=hi).map(|a| std::net::Ipv6Addr::from(a).into()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
