//! An AnycastPool's limits on what a tenant's AnycastService may set on its routes
//! (`spec.allowedAttributes`): validated once per pool, checked per service and pool.
//!
//! Values are compared in one canonical spelling, so a limit cannot be dodged by writing a
//! community another way: `blackhole`, `65535:666` and `4294902426` are one value to it.

use std::fmt;

use ipnet::IpNet;

use crate::crd::pool::{AllowedAttributes, ValueRange};
use crate::exabgp::attrs::{Community, ExtendedCommunity};
use crate::exabgp::encode::{NextHop, Target};

use super::service::{RouteProfile, StateRoute};
use super::validate::Errors;

const FIELD: &str = "spec.allowedAttributes";

/// A validated `spec.allowedAttributes`. The default is what a pool without one allows:
/// anything but reserved standard communities (`65535:*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttributePolicy {
    /// Standard community patterns; `None` allows any outside the reserved range.
    pub communities: Option<Vec<Pattern>>,
    /// Large community patterns; `None` allows any.
    pub large_communities: Option<Vec<Pattern>>,
    /// Extended community patterns; `None` allows any.
    pub extended_communities: Option<Vec<Pattern>>,
    /// The longest AS-path prepend allowed.
    pub as_path_max_length: Option<usize>,
    /// The only ASNs a prepend may hold.
    pub as_path_asns: Option<Vec<u32>>,
    /// Inclusive `LOCAL_PREF` bounds.
    pub local_preference: Option<(u32, u32)>,
    /// Inclusive bounds of each announcing state's MED (before the node offset).
    pub med: Option<(u32, u32)>,
    /// Where an explicit next hop must lie (`self` always passes).
    pub next_hop_cidrs: Option<Vec<IpNet>>,
    /// Where every named neighbor must lie.
    pub neighbor_cidrs: Option<Vec<IpNet>>,
}

/// A community pattern: its colon-separated parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(Vec<Part>);

/// One part of a [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// `*`: any value.
    Any,
    /// This value, in canonical spelling (decimal without leading zeros, dotted IPv4).
    Exact(String),
}

impl Pattern {
    fn matches(&self, parts: &[String]) -> bool {
        self.0.len() == parts.len()
            && self.0.iter().zip(parts).all(|(p, v)| match p {
                Part::Any => true,
                Part::Exact(p) => p == v,
            })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            f.write_str(match part {
                Part::Any => "*",
                Part::Exact(v) => v,
            })?;
        }
        Ok(())
    }
}

/// One attribute a service sets that a pool does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The service's field, e.g. `spec.communities[1]`.
    pub field: String,
    /// What is set there, e.g. `blackhole (65535:666)`.
    pub value: String,
    /// The pool's limit under `spec.allowedAttributes`, e.g. `communities`.
    pub limit: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} not allowed", self.field, self.value)
    }
}

/// Validates `spec.allowedAttributes`, recording problems under that path.
pub(super) fn validate_policy(a: &AllowedAttributes, errors: &mut Errors) -> AttributePolicy {
    let patterns = |items: &Option<Vec<String>>,
                    name: &str,
                    parse: fn(&str) -> Option<Pattern>,
                    errors: &mut Errors| {
        items.as_ref().map(|items| {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match parse(item) {
                    Some(p) => out.push(p),
                    None => errors.push(
                        format!("{FIELD}.{name}[{i}]"),
                        format_args!("{item:?} is not a {name} pattern"),
                    ),
                }
            }
            out
        })
    };
    let prepend = a.as_path_prepend.as_ref();
    AttributePolicy {
        communities: patterns(&a.communities, "communities", community_pattern, errors),
        large_communities: patterns(
            &a.large_communities,
            "largeCommunities",
            large_pattern,
            errors,
        ),
        extended_communities: patterns(
            &a.extended_communities,
            "extendedCommunities",
            extended_pattern,
            errors,
        ),
        as_path_max_length: prepend
            .and_then(|p| p.max_length)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        as_path_asns: prepend.and_then(|p| p.asns.clone()),
        local_preference: a
            .local_preference
            .map(|r| range(r, "localPreference", errors)),
        med: a.med.map(|r| range(r, "med", errors)),
        next_hop_cidrs: a
            .next_hop_cidrs
            .as_ref()
            .map(|c| parse_cidrs(&format!("{FIELD}.nextHopCIDRs"), c, errors)),
        neighbor_cidrs: a
            .neighbor_cidrs
            .as_ref()
            .map(|c| parse_cidrs(&format!("{FIELD}.neighborCIDRs"), c, errors)),
    }
}

fn range(r: ValueRange, name: &str, errors: &mut Errors) -> (u32, u32) {
    let (min, max) = (r.min.unwrap_or(0), r.max.unwrap_or(u32::MAX));
    if min > max {
        errors.push(
            format!("{FIELD}.{name}"),
            format_args!("min ({min}) exceeds max ({max})"),
        );
    }
    (min, max)
}

/// Parses CIDRs with no host bits set, recording failures under `field[i]`.
pub(super) fn parse_cidrs(field: &str, items: &[String], errors: &mut Errors) -> Vec<IpNet> {
    let mut cidrs = Vec::with_capacity(items.len());
    for (i, c) in items.iter().enumerate() {
        match c.parse::<IpNet>() {
            Ok(net) if net.trunc() == net => cidrs.push(net),
            Ok(net) => errors.push(
                format!("{field}[{i}]"),
                format_args!("{c:?} has host bits set (did you mean {}?)", net.trunc()),
            ),
            Err(_) => errors.push(format!("{field}[{i}]"), format_args!("{c:?} is not a CIDR")),
        }
    }
    cidrs
}

/// `*` or a decimal of type `T`, re-rendered so `065000` and `65000` compare equal.
fn number_part<T: std::str::FromStr + fmt::Display>(s: &str) -> Option<Part> {
    if s == "*" {
        return Some(Part::Any);
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<T>().ok().map(|n| Part::Exact(n.to_string()))
}

fn community_pattern(s: &str) -> Option<Pattern> {
    if let Ok(c) = s.parse::<Community>() {
        return Some(Pattern(
            community_parts(c).into_iter().map(Part::Exact).collect(),
        ));
    }
    let (asn, value) = s.split_once(':')?;
    Some(Pattern(vec![
        number_part::<u16>(asn)?,
        number_part::<u16>(value)?,
    ]))
}

fn large_pattern(s: &str) -> Option<Pattern> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 3 {
        return None;
    }
    parts
        .into_iter()
        .map(number_part::<u32>)
        .collect::<Option<Vec<_>>>()
        .map(Pattern)
}

fn extended_pattern(s: &str) -> Option<Pattern> {
    if s.starts_with("0x") {
        let raw = s.to_ascii_lowercase().parse::<ExtendedCommunity>().ok()?;
        return Some(Pattern(vec![Part::Exact(raw.to_string())]));
    }
    let mut parts = s.split(':');
    let (kind, admin, n) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let kind = match kind {
        "*" => Part::Any,
        "target" | "origin" | "redirect" => Part::Exact(kind.to_owned()),
        _ => return None,
    };
    let admin = if admin.contains('.') {
        Part::Exact(admin.parse::<std::net::Ipv4Addr>().ok()?.to_string())
    } else {
        number_part::<u32>(admin)?
    };
    Some(Pattern(vec![kind, admin, number_part::<u32>(n)?]))
}

/// `ASN` and `VALUE` of the community's 32-bit value, in decimal.
fn community_parts(c: Community) -> Vec<String> {
    let v = c.value();
    vec![(v >> 16).to_string(), (v & 0xFFFF).to_string()]
}

/// The community as written, plus its `ASN:VALUE` form when written otherwise.
fn describe(c: Community) -> String {
    match c {
        Community::Pair(..) => c.to_string(),
        _ => format!("{c} ({})", community_parts(c).join(":")),
    }
}

impl AttributePolicy {
    /// True when a tenant may set this standard community. A reserved one (`65535:*`) needs a
    /// pattern that writes its ASN out: a wildcard ASN never grants a well-known community.
    pub fn allows_community(&self, c: Community) -> bool {
        let Some(patterns) = &self.communities else {
            return !c.is_reserved();
        };
        let parts = community_parts(c);
        patterns.iter().any(|p| {
            p.matches(&parts) && (!c.is_reserved() || matches!(p.0.first(), Some(Part::Exact(_))))
        })
    }

    /// Every attribute of `route` this policy forbids, in spec order.
    pub fn check(&self, route: &RouteProfile) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut push = |field: String, value: String, limit: String| {
            out.push(Violation {
                field,
                value,
                limit,
            });
        };
        for (i, c) in route.communities.0.iter().enumerate() {
            if !self.allows_community(*c) {
                push(
                    format!("spec.communities[{i}]"),
                    describe(*c),
                    "communities".into(),
                );
            }
        }
        for (name, state) in [
            ("up", &route.up),
            ("degraded", &route.degraded),
            ("down", &route.down),
            ("disabled", &route.disabled),
        ] {
            let StateRoute::Announce { med, communities } = state else {
                continue;
            };
            if let Some((lo, hi)) = self.med
                && !(lo..=hi).contains(med)
            {
                push(
                    format!("spec.announce.{name}.med"),
                    med.to_string(),
                    format!("med: {lo}-{hi}"),
                );
            }
            for (i, c) in communities.0.iter().enumerate() {
                if !self.allows_community(*c) {
                    push(
                        format!("spec.announce.{name}.communities[{i}]"),
                        describe(*c),
                        "communities".into(),
                    );
                }
            }
        }
        let listed = |patterns: &Option<Vec<Pattern>>, value: &str| {
            let parts: Vec<String> = value.split(':').map(str::to_owned).collect();
            patterns
                .as_ref()
                .is_none_or(|ps| ps.iter().any(|p| p.matches(&parts)))
        };
        for (i, c) in route.large_communities.0.iter().enumerate() {
            if !listed(&self.large_communities, &c.to_string()) {
                push(
                    format!("spec.largeCommunities[{i}]"),
                    c.to_string(),
                    "largeCommunities".into(),
                );
            }
        }
        for (i, c) in route.extended_communities.0.iter().enumerate() {
            if !listed(&self.extended_communities, &c.to_string()) {
                push(
                    format!("spec.extendedCommunities[{i}]"),
                    c.to_string(),
                    "extendedCommunities".into(),
                );
            }
        }
        self.check_path_and_peers(route, &mut push);
        out
    }

    fn check_path_and_peers(
        &self,
        route: &RouteProfile,
        push: &mut impl FnMut(String, String, String),
    ) {
        if let Some(path) = &route.as_path_prepend {
            if let Some(max) = self.as_path_max_length
                && path.0.len() > max
            {
                push(
                    "spec.asPathPrepend".into(),
                    format!("{:?} ({} ASNs)", path.to_string(), path.0.len()),
                    format!("asPathPrepend.maxLength: {max}"),
                );
            }
            if let Some(asns) = &self.as_path_asns {
                let mut foreign: Vec<u32> = path
                    .0
                    .iter()
                    .copied()
                    .filter(|a| !asns.contains(a))
                    .collect();
                foreign.dedup();
                for asn in foreign {
                    push(
                        "spec.asPathPrepend".into(),
                        format!("ASN {asn}"),
                        "asPathPrepend.asns".into(),
                    );
                }
            }
        }
        if let (Some(lp), Some((lo, hi))) = (route.local_preference, self.local_preference)
            && !(lo..=hi).contains(&lp)
        {
            push(
                "spec.localPreference".into(),
                lp.to_string(),
                format!("localPreference: {lo}-{hi}"),
            );
        }
        if let (NextHop::Address(ip), Some(cidrs)) = (route.next_hop, &self.next_hop_cidrs)
            && !cidrs.iter().any(|c| c.contains(&ip))
        {
            push("spec.nextHop".into(), ip.to_string(), "nextHopCIDRs".into());
        }
        if let (Target::Neighbors(neighbors), Some(cidrs)) = (&route.target, &self.neighbor_cidrs) {
            for n in neighbors
                .iter()
                .filter(|n| !cidrs.iter().any(|c| c.contains(*n)))
            {
                push(
                    "spec.neighbors".into(),
                    n.to_string(),
                    "neighborCIDRs".into(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::plan::tests::mk_service;

    fn mk_policy(v: Value) -> Result<AttributePolicy, String> {
        let a: AllowedAttributes = serde_json::from_value(v).unwrap();
        let mut errors = Errors::default();
        let policy = validate_policy(&a, &mut errors);
        errors.finish(policy).map_err(|e| e.to_string())
    }

    fn comm(s: &str) -> Community {
        s.parse().unwrap()
    }

    fn route(extra: &Value) -> RouteProfile {
        let mut v = json!({"addresses": ["192.0.2.1"], "readiness": {"service": "web"}});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        mk_service(v).unwrap().route
    }

    #[test]
    fn community_patterns_match_by_value_and_wildcards_skip_reserved() {
        // (allowed list or null, community, allowed?)
        let cases: &[(Value, &str, bool)] = &[
            (Value::Null, "65000:1", true),
            (Value::Null, "no-export", false),
            (Value::Null, "65535:666", false),
            (Value::Null, "4294902426", false),
            (Value::Null, "65534:666", true),
            (json!([]), "65000:1", false),
            (json!(["65000:*"]), "65000:7", true),
            (json!(["65000:*"]), "65001:7", false),
            (json!(["065000:7"]), "65000:7", true),
            (json!(["*:7"]), "65001:7", true),
            (json!(["*:*"]), "1:2", true),
            (json!(["*:*"]), "blackhole", false),
            (json!(["*:666"]), "blackhole", false),
            (json!(["blackhole"]), "65535:666", true),
            (json!(["blackhole"]), "4294902426", true),
            (json!(["65535:666"]), "blackhole", true),
            (json!(["65535:*"]), "no-export", true),
            (json!(["no-export"]), "blackhole", false),
            (json!(["4259840007"]), "65000:7", true),
        ];
        for (list, c, want) in cases {
            let v = if list.is_null() {
                json!({})
            } else {
                json!({ "communities": list })
            };
            let policy = mk_policy(v).unwrap();
            assert_eq!(policy.allows_community(comm(c)), *want, "{list} vs {c}");
        }
    }

    #[test]
    fn each_forbidden_attribute_is_named_by_its_field() {
        let policy = mk_policy(json!({
            "communities": ["65000:*"], "largeCommunities": ["65000:1:*"],
            "extendedCommunities": ["target:65000:*", "0x0002FDE800000001"],
            "asPathPrepend": {"maxLength": 2, "asns": [65000]},
            "localPreference": {"max": 100}, "med": {"min": 100},
            "nextHopCIDRs": ["10.0.0.0/24"], "neighborCIDRs": ["10.1.0.0/24"],
        }))
        .unwrap();
        let ok = route(&json!({
            "communities": ["65000:1"], "largeCommunities": ["65000:1:9"],
            "extendedCommunities": ["target:65000:3", "0x0002fde800000001"],
            "asPathPrepend": "65000 65000", "localPreference": 100, "nextHop": "10.0.0.7",
            "neighbors": ["10.1.0.1"], "announce": {"up": {"med": 100}, "degraded": {"med": 200}},
        }));
        assert_eq!(policy.check(&ok), []);
        let bad = route(&json!({
            "communities": ["65000:1", "blackhole"], "largeCommunities": ["65001:1:9"],
            "extendedCommunities": ["origin:65000:3"],
            "asPathPrepend": "65000 64999 65000", "localPreference": 200, "nextHop": "10.9.0.7",
            "neighbors": ["10.1.0.1", "10.2.0.1"],
            "announce": {"up": {"med": 50, "communities": ["65000:2", "no-export"]}},
        }));
        let got: Vec<String> = policy
            .check(&bad)
            .iter()
            .map(|v| format!("{v} ({})", v.limit))
            .collect();
        assert_eq!(
            got,
            [
                "spec.communities[1]: blackhole (65535:666) not allowed (communities)",
                "spec.announce.up.med: 50 not allowed (med: 100-4294967295)",
                "spec.announce.up.communities[1]: no-export (65535:65281) not allowed (communities)",
                "spec.largeCommunities[0]: 65001:1:9 not allowed (largeCommunities)",
                "spec.extendedCommunities[0]: origin:65000:3 not allowed (extendedCommunities)",
                "spec.asPathPrepend: \"65000 64999 65000\" (3 ASNs) not allowed (asPathPrepend.maxLength: 2)",
                "spec.asPathPrepend: ASN 64999 not allowed (asPathPrepend.asns)",
                "spec.localPreference: 200 not allowed (localPreference: 0-100)",
                "spec.nextHop: 10.9.0.7 not allowed (nextHopCIDRs)",
                "spec.neighbors: 10.2.0.1 not allowed (neighborCIDRs)",
            ]
        );
        // `self` is always a permitted next hop, and an empty list forbids naming neighbors.
        let strict = mk_policy(json!({"nextHopCIDRs": [], "neighborCIDRs": []})).unwrap();
        assert_eq!(strict.check(&route(&json!({}))), []);
        assert_eq!(
            strict
                .check(&route(&json!({"neighbors": ["10.1.0.1"]})))
                .len(),
            1
        );
        // A withdrawing state carries no MED and no community to check.
        let down =
            route(&json!({"announce": {"down": {"withdraw": true, "communities": ["blackhole"]}}}));
        assert_eq!(
            mk_policy(json!({"med": {"min": 1000}}))
                .unwrap()
                .check(&down)
                .len(),
            2
        );
    }

    #[test]
    fn bad_limits_are_named_by_their_field() {
        let err = mk_policy(json!({
            "communities": ["65000:*", "65536:*", "x y"], "largeCommunities": ["1:2"],
            "extendedCommunities": ["bogus:1:2", "0x12"], "med": {"min": 5, "max": 3},
            "nextHopCIDRs": ["10.0.0.1/24"], "neighborCIDRs": ["nope"],
        }))
        .unwrap_err();
        for part in [
            "spec.allowedAttributes.communities[1]: \"65536:*\" is not a communities pattern",
            "spec.allowedAttributes.communities[2]",
            "spec.allowedAttributes.largeCommunities[0]",
            "spec.allowedAttributes.extendedCommunities[0]",
            "spec.allowedAttributes.extendedCommunities[1]",
            "spec.allowedAttributes.med: min (5) exceeds max (3)",
            "spec.allowedAttributes.nextHopCIDRs[0]: \"10.0.0.1/24\" has host bits set",
            "spec.allowedAttributes.neighborCIDRs[0]: \"nope\" is not a CIDR",
        ] {
            assert!(err.contains(part), "{part} not in {err}");
        }
        assert!(!err.contains("communities[0]"), "{err}");
    }

    proptest! {
        #[test]
        fn an_exact_pattern_allows_exactly_its_value(h: u16, l: u16, h2: u16, l2: u16) {
            let policy = mk_policy(json!({"communities": [format!("{h}:{l}")]})).unwrap();
            prop_assert!(policy.allows_community(Community::Pair(h, l)));
            prop_assert!(policy.allows_community(Community::Number(Community::Pair(h, l).value())));
            prop_assert_eq!(policy.allows_community(Community::Pair(h2, l2)), (h, l) == (h2, l2));
        }

        #[test]
        fn a_wildcard_asn_never_allows_a_reserved_community(l: u16, value in proptest::option::of(any::<u16>())) {
            let pattern = value.map_or_else(|| "*:*".to_owned(), |v| format!("*:{v}"));
            let policy = mk_policy(json!({"communities": [pattern]})).unwrap();
            prop_assert!(!policy.allows_community(Community::Pair(65535, l)));
            prop_assert!(!AttributePolicy::default().allows_community(Community::Pair(65535, l)));
        }
    }
}
