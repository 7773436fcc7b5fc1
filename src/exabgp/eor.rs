//! End-of-RIB under BGP graceful restart. ExaBGP with `manual-eor` leaves it to the relay: sent
//! by ExaBGP itself as soon as a session comes up, it would tell the peer that the RIB is
//! complete before the agent has replayed a single route, and the peer would flush the stale
//! routes of every ready service (found by the chaos suite, docs/reliability.md). The relay
//! sends it once the agent's replay is complete, and on every session that comes up after that.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// An address family End-of-RIB is sent for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4 unicast.
    Ipv4Unicast,
    /// IPv6 unicast.
    Ipv6Unicast,
}

impl Family {
    /// ExaBGP's words for it.
    fn words(self) -> &'static str {
        match self {
            Family::Ipv4Unicast => "ipv4 unicast",
            Family::Ipv6Unicast => "ipv6 unicast",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4Unicast => "ipv4-unicast",
            Family::Ipv6Unicast => "ipv6-unicast",
        })
    }
}

/// The families each graceful-restart neighbor negotiates, from `--end-of-rib ADDR=FAMILY,...`.
/// A peer waits for End-of-RIB in every family it negotiated graceful restart for before it
/// flushes stale routes, and one in a family it did not negotiate may reset the session, so the
/// relay needs the exact list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndOfRib {
    neighbors: BTreeMap<String, BTreeSet<Family>>,
}

/// A malformed `--end-of-rib` value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndOfRibError {
    /// No `=` between the neighbor and its families.
    #[error("expected NEIGHBOR=FAMILY[,FAMILY], got {0:?}")]
    Shape(String),
    /// A neighbor that is not an IP address.
    #[error("{0:?} is not a neighbor address")]
    Neighbor(String),
    /// A family other than ipv4-unicast and ipv6-unicast.
    #[error("unknown family {0:?}: expected ipv4-unicast or ipv6-unicast")]
    Family(String),
}

/// Parses one `--end-of-rib` value: `ADDR=FAMILY[,FAMILY]`.
pub fn parse_neighbor(text: &str) -> Result<(String, BTreeSet<Family>), EndOfRibError> {
    let (addr, families) = text
        .split_once('=')
        .ok_or_else(|| EndOfRibError::Shape(text.to_owned()))?;
    let addr: std::net::IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| EndOfRibError::Neighbor(addr.to_owned()))?;
    let families = families
        .split(',')
        .map(|f| match f.trim() {
            "ipv4-unicast" => Ok(Family::Ipv4Unicast),
            "ipv6-unicast" => Ok(Family::Ipv6Unicast),
            other => Err(EndOfRibError::Family(other.to_owned())),
        })
        .collect::<Result<BTreeSet<_>, _>>()?;
    Ok((addr.to_string(), families))
}

impl EndOfRib {
    /// From the parsed `--end-of-rib` values.
    pub fn new(neighbors: impl IntoIterator<Item = (String, BTreeSet<Family>)>) -> EndOfRib {
        let mut eor = EndOfRib::default();
        for (addr, families) in neighbors {
            eor.neighbors.entry(addr).or_default().extend(families);
        }
        eor
    }

    /// The lines for every configured neighbor once the agent's replay is complete. Neighbors
    /// not configured get none: ExaBGP sends their End-of-RIB itself (no `manual-eor`), and
    /// one in a family a peer did not negotiate could reset its session.
    pub fn after_replay(&self) -> Vec<String> {
        self.neighbors
            .iter()
            .flat_map(|(addr, families)| lines(addr, families))
            .collect()
    }

    /// The lines for one neighbor whose session just came up (none unless configured).
    pub fn on_session_up(&self, addr: &str) -> Vec<String> {
        self.neighbors
            .get(addr)
            .map(|families| lines(addr, families))
            .unwrap_or_default()
    }
}

fn lines(target: &str, families: &BTreeSet<Family>) -> Vec<String> {
    families
        .iter()
        .map(|f| format!("neighbor {target} announce eor {}\n", f.words()))
        .collect()
}

/// The neighbor of ExaBGP's `neighbor ADDR up` (text encoder, `api { neighbor-changes; }`).
pub fn session_up(line: &str) -> Option<&str> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["neighbor", addr, "up"] => Some(addr),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case = (
        &'static str,
        Result<(String, BTreeSet<Family>), EndOfRibError>,
    );

    #[test]
    fn values_parse_and_bad_ones_name_the_fault() {
        let both = BTreeSet::from([Family::Ipv4Unicast, Family::Ipv6Unicast]);
        let cases: &[Case] = &[
            (
                "10.0.0.1=ipv4-unicast,ipv6-unicast",
                Ok(("10.0.0.1".into(), both.clone())),
            ),
            (
                "fd00::1=ipv6-unicast",
                Ok(("fd00::1".into(), BTreeSet::from([Family::Ipv6Unicast]))),
            ),
            ("10.0.0.1", Err(EndOfRibError::Shape("10.0.0.1".into()))),
            (
                "rack=ipv4-unicast",
                Err(EndOfRibError::Neighbor("rack".into())),
            ),
            (
                "10.0.0.1=l2vpn-evpn",
                Err(EndOfRibError::Family("l2vpn-evpn".into())),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_neighbor(text), want, "{text}");
        }
    }

    #[test]
    fn only_configured_neighbors_get_end_of_rib_in_their_families() {
        let eor = EndOfRib::new([
            parse_neighbor("10.0.0.1=ipv4-unicast,ipv6-unicast").unwrap(),
            parse_neighbor("fd00::2=ipv6-unicast").unwrap(),
        ]);
        assert_eq!(
            eor.after_replay(),
            [
                "neighbor 10.0.0.1 announce eor ipv4 unicast\n",
                "neighbor 10.0.0.1 announce eor ipv6 unicast\n",
                "neighbor fd00::2 announce eor ipv6 unicast\n"
            ]
        );
        assert_eq!(eor.on_session_up("10.0.0.1").len(), 2);
        assert!(eor.on_session_up("10.0.0.9").is_empty());
        assert!(EndOfRib::default().after_replay().is_empty());
    }

    #[test]
    fn only_a_session_up_line_names_a_neighbor() {
        assert_eq!(session_up("neighbor 10.0.0.1 up"), Some("10.0.0.1"));
        assert_eq!(session_up("neighbor 10.0.0.1 down - peer reset"), None);
        assert_eq!(session_up("neighbor 10.0.0.1 connected"), None);
        assert_eq!(session_up("done"), None);
    }
}
