//! ExaBGP API commands, from typed values to the exact text lines ExaBGP reads.
//!
//! Attribute order follows ExaBGP's healthcheck: next-hop, med, local-preference, community,
//! extended-community, large-community, as-path, path-information. Every field is typed, so no
//! input can add a word, a newline or a second command to a line.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use ipnet::IpNet;

use super::attrs::{AsPath, Community, ExtendedCommunity, LargeCommunity, List};

/// Which BGP neighbors a command is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Target {
    /// `neighbor *`: every neighbor.
    #[default]
    All,
    /// `neighbor A, neighbor B`, in this order, duplicates kept.
    Neighbors(Vec<IpAddr>),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Neighbors(n) if !n.is_empty() => {
                for (i, ip) in n.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "neighbor {ip}")?;
                }
                Ok(())
            }
            _ => f.write_str("neighbor *"),
        }
    }
}

/// The next hop: `self` (the session's local address) or an explicit address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum NextHop {
    /// `next-hop self`.
    #[default]
    SelfAddress,
    /// An explicit address.
    Address(IpAddr),
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextHop::SelfAddress => f.write_str("self"),
            NextHop::Address(ip) => write!(f, "{ip}"),
        }
    }
}

/// A route's attributes. Announce lines carry them all; so do withdraws in the bulk form (see
/// [`BulkCommand`]); a withdraw in the `route` form (the healthcheck's, as ExaBGP's own writes it)
/// keeps only next hop and path id.
///
/// Numbers are signed because ExaBGP's healthcheck writes negative values unchanged; the agent
/// only ever builds them from unsigned fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Attributes {
    /// The next hop.
    pub next_hop: NextHop,
    /// `MULTI_EXIT_DISC`.
    pub med: Option<i64>,
    /// `LOCAL_PREF` (only meaningful over iBGP).
    pub local_preference: Option<i64>,
    /// Standard communities.
    pub communities: List<Community>,
    /// Extended communities.
    pub extended_communities: List<ExtendedCommunity>,
    /// Large communities.
    pub large_communities: List<LargeCommunity>,
    /// An explicit AS path; `None` lets ExaBGP build it.
    pub as_path: Option<AsPath>,
    /// ADD-PATH path identifier.
    pub path_id: Option<i64>,
}

impl Attributes {
    /// Appends ` med … as-path [ … ]`: everything but next hop and path id.
    fn write_announce_attrs(&self, out: &mut String) {
        // Writing to a String cannot fail.
        if let Some(med) = self.med {
            let _ = write!(out, " med {med}");
        }
        if let Some(lp) = self.local_preference {
            let _ = write!(out, " local-preference {lp}");
        }
        write_list(out, "community", &self.communities);
        write_list(out, "extended-community", &self.extended_communities);
        write_list(out, "large-community", &self.large_communities);
        if let Some(path) = self.as_path.as_ref().filter(|p| !p.0.is_empty()) {
            let _ = write!(out, " as-path [ {path} ]");
        }
    }

    fn write_path_id(&self, out: &mut String) {
        if let Some(id) = self.path_id {
            let _ = write!(out, " path-information {id}");
        }
    }
}

fn write_list<T: fmt::Display>(out: &mut String, name: &str, list: &List<T>) {
    if !list.is_empty() {
        let _ = write!(out, " {name} [ {list} ]");
    }
}

/// Announce or withdraw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Announce the route with its attributes.
    Announce,
    /// Withdraw the route.
    Withdraw,
}

impl Action {
    fn word(self) -> &'static str {
        match self {
            Action::Announce => "announce",
            Action::Withdraw => "withdraw",
        }
    }
}

/// One route command, rendered as one API line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCommand<'a> {
    /// The neighbors it is for.
    pub target: &'a Target,
    /// Announce or withdraw.
    pub action: Action,
    /// The prefix.
    pub prefix: IpNet,
    /// Its attributes (only next hop and path id are written on a withdraw).
    pub attributes: &'a Attributes,
}

impl RouteCommand<'_> {
    /// The API line, with its trailing newline.
    pub fn to_line(&self) -> String {
        let mut out = String::with_capacity(96);
        let _ = write!(
            out,
            "{} {} route {} next-hop {}",
            self.target,
            self.action.word(),
            self.prefix,
            self.attributes.next_hop
        );
        if self.action == Action::Announce {
            self.attributes.write_announce_attrs(&mut out);
        }
        self.attributes.write_path_id(&mut out);
        out.push('\n');
        out
    }
}

/// Many prefixes sharing one set of attributes, in ExaBGP's bulk form:
/// `neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32`.
///
/// A withdraw carries the very attributes the routes were announced with. ExaBGP 5.0.15 queues
/// the changes for a neighbor per attribute set, and a withdraw replaces a queued announce of the
/// same route only within the same set: with other attributes both stay queued, and the first
/// UPDATE pass of a new session drops every withdraw, so the announce would go out alone
/// (docs/reliability.md, "What the suite found", 2). Outside a session's first pass the sets go
/// out in the order they were first queued, not in the order of the commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkCommand<'a> {
    /// The neighbors it is for.
    pub target: &'a Target,
    /// Announce or withdraw.
    pub action: Action,
    /// The shared attributes.
    pub attributes: &'a Attributes,
    /// The prefixes, all of one address family.
    pub prefixes: &'a [IpNet],
}

impl BulkCommand<'_> {
    /// The API line, with its trailing newline.
    pub fn to_line(&self) -> String {
        let mut out = String::with_capacity(64 + self.prefixes.len() * 20);
        let _ = write!(
            out,
            "{} {} attributes next-hop {}",
            self.target,
            self.action.word(),
            self.attributes.next_hop
        );
        self.attributes.write_announce_attrs(&mut out);
        self.attributes.write_path_id(&mut out);
        out.push_str(" nlri");
        for p in self.prefixes {
            let _ = write!(out, " {p}");
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mk_attrs() -> Attributes {
        Attributes {
            next_hop: NextHop::Address("10.0.0.254".parse().unwrap()),
            med: Some(100),
            local_preference: Some(200),
            communities: "65000:100".parse().unwrap(),
            ..Attributes::default()
        }
    }

    #[test]
    fn matches_the_reference_example_two() {
        let target = Target::Neighbors(vec![
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
        ]);
        let attrs = mk_attrs();
        let cmd = RouteCommand {
            target: &target,
            action: Action::Announce,
            prefix: "192.0.2.10/32".parse().unwrap(),
            attributes: &attrs,
        };
        assert_eq!(
            cmd.to_line(),
            "neighbor 10.0.0.1, neighbor 10.0.0.2 announce route 192.0.2.10/32 next-hop 10.0.0.254 med 100 local-preference 200 community [ 65000:100 ]\n"
        );
        let withdraw = RouteCommand {
            action: Action::Withdraw,
            ..cmd
        };
        assert_eq!(
            withdraw.to_line(),
            "neighbor 10.0.0.1, neighbor 10.0.0.2 withdraw route 192.0.2.10/32 next-hop 10.0.0.254\n"
        );
    }

    #[test]
    fn matches_the_reference_example_four_ipv6() {
        let attrs = Attributes {
            med: Some(100),
            large_communities: "65000:1:2".parse().unwrap(),
            as_path: Some("65000 65000".parse().unwrap()),
            path_id: Some(3),
            ..Attributes::default()
        };
        let cmd = RouteCommand {
            target: &Target::All,
            action: Action::Announce,
            prefix: "2001:DB8::1/128".parse().unwrap(),
            attributes: &attrs,
        };
        assert_eq!(
            cmd.to_line(),
            "neighbor * announce route 2001:db8::1/128 next-hop self med 100 large-community [ 65000:1:2 ] as-path [ 65000 65000 ] path-information 3\n"
        );
    }

    #[test]
    fn bulk_form_lists_every_prefix_after_nlri() {
        let attrs = Attributes {
            med: Some(150),
            ..Attributes::default()
        };
        let prefixes: Vec<IpNet> = vec![
            "192.0.2.1/32".parse().unwrap(),
            "192.0.2.2/32".parse().unwrap(),
        ];
        let cmd = BulkCommand {
            target: &Target::All,
            action: Action::Announce,
            attributes: &attrs,
            prefixes: &prefixes,
        };
        assert_eq!(
            cmd.to_line(),
            "neighbor * announce attributes next-hop self med 150 nlri 192.0.2.1/32 192.0.2.2/32\n"
        );
        let cmd = BulkCommand {
            action: Action::Withdraw,
            ..cmd
        };
        assert_eq!(
            cmd.to_line(),
            "neighbor * withdraw attributes next-hop self med 150 nlri 192.0.2.1/32 192.0.2.2/32\n"
        );
    }

    proptest! {
        #[test]
        fn a_line_is_exactly_one_command(
            med in proptest::option::of(any::<i64>()),
            comm in ".{0,30}",
            path in ".{0,30}",
            v6 in any::<u128>(),
        ) {
            let attrs = Attributes {
                med,
                communities: comm.parse().unwrap_or_default(),
                as_path: path.parse().ok(),
                ..Attributes::default()
            };
            let prefix = IpNet::from(std::net::IpAddr::from(std::net::Ipv6Addr::from(v6)));
            let line = RouteCommand { target: &Target::All, action: Action::Announce, prefix, attributes: &attrs }.to_line();
            prop_assert!(line.ends_with('\n'));
            prop_assert_eq!(line.matches('\n').count(), 1);
            prop_assert!(!line.contains(';'));
            prop_assert_eq!(line.matches('[').count(), line.matches(']').count());
            prop_assert!(line.starts_with("neighbor * announce route "));
        }
    }
}
