//! From what a user wrote (`AnycastServiceSpec`) to a validated service the planner trusts.
//!
//! Every community and AS path goes through the typed parsers of `exabgp::attrs`, so nothing a
//! user writes reaches ExaBGP's API unparsed. The schema already rejects most mistakes at
//! `kubectl apply`; this repeats the checks for services read from files (no API server) and
//! for objects written before a rule existed. Errors name the field, as the API server would.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::crd::Communities;
use crate::crd::service::{
    AnycastServiceSpec, HttpScheme, Probe, ProbeTarget, Readiness, StateAnnounce,
};
use crate::exabgp::attrs::{AsPath, AttrError, Community, ExtendedCommunity, LargeCommunity, List};
use crate::exabgp::encode::{NextHop, Target};
use crate::probe::StatusRange;

use super::duration::parse_duration;
use super::service::{
    Check, ReadinessSource, RouteProfile, StateRoute, Timings, ValidProbe, ValidService,
};

/// One problem in a spec, with the path of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field, e.g. `spec.announce.up.communities[1]`.
    pub field: String,
    /// What is wrong, e.g. `invalid community "x": ...`.
    pub message: String,
}

/// Every problem found in one spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidSpec(pub Vec<FieldError>);

impl fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Collects field errors while a spec is walked, so one pass reports them all.
#[derive(Default)]
pub(super) struct Errors(Vec<FieldError>);

impl Errors {
    pub(super) fn push(&mut self, field: impl Into<String>, message: impl fmt::Display) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.to_string(),
        });
    }

    /// Parses each entry, recording failures under `field[i]`.
    pub(super) fn parse_each<T: FromStr<Err = AttrError>>(
        &mut self,
        field: &str,
        items: &[String],
    ) -> List<T> {
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.parse() {
                Ok(v) => out.push(v),
                Err(e) => self.push(format!("{field}[{i}]"), e),
            }
        }
        List(out)
    }

    /// Parses the three community lists of a spec, recording failures under their fields.
    pub(super) fn parse_communities(
        &mut self,
        c: &Communities,
    ) -> (
        List<Community>,
        List<ExtendedCommunity>,
        List<LargeCommunity>,
    ) {
        (
            self.parse_each("spec.communities", &c.communities),
            self.parse_each("spec.extendedCommunities", &c.extended_communities),
            self.parse_each("spec.largeCommunities", &c.large_communities),
        )
    }

    pub(super) fn finish<T>(self, value: T) -> Result<T, InvalidSpec> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(InvalidSpec(self.0))
        }
    }
}

/// Validates a spec, reporting every problem with the path of its field.
pub fn validate_service(spec: &AnycastServiceSpec) -> Result<ValidService, InvalidSpec> {
    let mut errors = Errors::default();
    let mut addresses = Vec::with_capacity(spec.addresses.len());
    for (i, a) in spec.addresses.iter().enumerate() {
        match a.parse::<IpAddr>() {
            // A pool as wide as 0.0.0.0/0 must still not let anyone announce these.
            Ok(ip) if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() => errors.push(
                format!("spec.addresses[{i}]"),
                format_args!("{a:?} is not a unicast host address"),
            ),
            // Link-local addresses are only meaningful on one link; routers must not carry them.
            Ok(ip) if is_link_local(ip) => errors.push(
                format!("spec.addresses[{i}]"),
                format_args!("{a:?} is link-local (169.254.0.0/16, fe80::/10) and is never routed"),
            ),
            Ok(ip) => addresses.push(ip),
            Err(_) => errors.push(
                format!("spec.addresses[{i}]"),
                format_args!("{a:?} is not an IP host address"),
            ),
        }
    }
    if spec.addresses.is_empty() {
        errors.push("spec.addresses", "at least one address is required");
    }
    addresses.sort_unstable();
    addresses.dedup();
    let readiness = validate_readiness(&spec.readiness, &mut errors);
    let mut probes = Vec::with_capacity(spec.probes.len());
    for (i, p) in spec.probes.iter().enumerate() {
        let field = format!("spec.probes[{i}]");
        if spec.probes[..i].iter().any(|q| q.name == p.name) {
            errors.push(
                format!("{field}.name"),
                format_args!("duplicate name {:?}", p.name),
            );
        }
        if let Some(probe) = validate_probe(p, &field, &mut errors) {
            probes.push(probe);
        }
    }
    let t = &spec.thresholds;
    if t.up > 100 || t.degraded > t.up {
        errors.push(
            "spec.thresholds",
            format_args!(
                "need 0 <= degraded ({}) <= up ({}) <= 100",
                t.degraded, t.up
            ),
        );
    }
    let timings = validate_timings(spec, &mut errors);
    let route = validate_route(spec, &mut errors);
    if let NextHop::Address(hop) = route.next_hop {
        check_next_hop_family(hop, &spec.addresses, &mut errors);
    }
    errors.finish(ValidService {
        addresses,
        readiness: readiness.unwrap_or(ReadinessSource::Service(String::new())),
        min_ready_endpoints: spec.min_ready_endpoints,
        probes,
        up_threshold: t.up,
        degraded_threshold: t.degraded,
        timings,
        route,
        node_selector: spec.node_selector.clone(),
        disabled: spec.disabled,
    })
}

/// An explicit next hop must be of every address's family: ExaBGP refuses (answers `error` to)
/// an IPv6 route with an IPv4 next hop and the reverse, so such a route would never leave the
/// node while the service looked valid.
fn check_next_hop_family(hop: IpAddr, addresses: &[String], errors: &mut Errors) {
    let family = |ip: IpAddr| if ip.is_ipv4() { "IPv4" } else { "IPv6" };
    let other = addresses.iter().enumerate().find_map(|(i, a)| {
        a.parse::<IpAddr>()
            .ok()
            .filter(|ip| ip.is_ipv4() != hop.is_ipv4())
            .map(|ip| (i, ip))
    });
    if let Some((i, ip)) = other {
        errors.push(
            "spec.nextHop",
            format_args!(
                "{hop} is {} but spec.addresses[{i}] ({ip}) is {}: a next hop must be of its \
                 route's family; a dual-stack service keeps 'self'",
                family(hop),
                family(ip)
            ),
        );
    }
}

/// `169.254.0.0/16` or `fe80::/10`, also when written as an IPv4-mapped IPv6 address.
fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_unicast_link_local() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_link_local())
        }
    }
}

fn validate_readiness(r: &Readiness, errors: &mut Errors) -> Option<ReadinessSource> {
    match (&r.service, &r.pod_selector) {
        (Some(s), None) if !s.is_empty() => Some(ReadinessSource::Service(s.clone())),
        (None, Some(sel)) => Some(ReadinessSource::Pods(sel.clone())),
        _ => {
            errors.push(
                "spec.readiness",
                "set exactly one of readiness.service or readiness.podSelector",
            );
            None
        }
    }
}

fn validate_probe(p: &Probe, field: &str, errors: &mut Errors) -> Option<ValidProbe> {
    let checks = [
        p.http.is_some(),
        p.tcp.is_some(),
        p.icmp.is_some(),
        p.grpc.is_some(),
        p.exec.is_some(),
    ];
    let check = if checks.iter().filter(|c| **c).count() == 1 {
        validate_check(p, field, errors)
    } else {
        errors.push(field, "set exactly one of http, tcp, icmp, grpc or exec");
        None
    };
    match (p.target, &p.address) {
        (ProbeTarget::Address, Some(a)) => validate_address(a, &format!("{field}.address"), errors),
        (ProbeTarget::Address, None) => {
            errors.push(
                format!("{field}.address"),
                "required when target is Address",
            );
        }
        (_, Some(_)) => errors.push(
            format!("{field}.address"),
            "only allowed when target is Address",
        ),
        (_, None) => {}
    }
    if p.exec.is_some() && p.target != ProbeTarget::ServiceIP {
        errors.push(
            format!("{field}.target"),
            "exec probes run on the node and take no target",
        );
    }
    let timeout = parse_duration(&p.timeout).filter(|d| !d.is_zero());
    if timeout.is_none() {
        errors.push(
            format!("{field}.timeout"),
            format_args!("{:?} is not a positive duration such as 2s", p.timeout),
        );
    }
    if p.weight == 0 || p.weight > 1000 {
        errors.push(
            format!("{field}.weight"),
            format_args!("{} is not within 1-1000", p.weight),
        );
    }
    Some(ValidProbe {
        name: p.name.clone(),
        target: p.target,
        address: p.address.clone(),
        check: check?,
        timeout: timeout?,
        weight: p.weight,
        critical: p.critical,
    })
}

fn validate_check(p: &Probe, field: &str, errors: &mut Errors) -> Option<Check> {
    if let Some(h) = &p.http {
        let expect = match h.expected_status.parse::<StatusRange>() {
            Ok(r) => Some(r),
            Err(e) => {
                errors.push(format!("{field}.http.expectedStatus"), e);
                None
            }
        };
        if !h.path.starts_with('/') || h.path.chars().any(char::is_whitespace) {
            errors.push(
                format!("{field}.http.path"),
                format_args!("{:?} is not an absolute path", h.path),
            );
        }
        return Some(Check::Http {
            port: port(h.port, &format!("{field}.http.port"), errors)?,
            path: h.path.clone(),
            https: h.scheme == HttpScheme::HTTPS,
            expect: expect?,
            body_contains: h.body_contains.clone(),
        });
    }
    if let Some(t) = &p.tcp {
        return Some(Check::Tcp {
            port: port(t.port, &format!("{field}.tcp.port"), errors)?,
        });
    }
    if let Some(g) = &p.grpc {
        return Some(Check::Grpc {
            port: port(g.port, &format!("{field}.grpc.port"), errors)?,
            service: g.service.clone(),
        });
    }
    if let Some(x) = &p.exec {
        if x.command.first().is_none_or(String::is_empty) {
            errors.push(format!("{field}.exec.command"), "needs a program");
            return None;
        }
        return Some(Check::Exec {
            command: x.command.clone(),
        });
    }
    Some(Check::Icmp)
}

fn port(p: u16, field: &str, errors: &mut Errors) -> Option<u16> {
    if p == 0 {
        errors.push(field, "0 is not a port");
        return None;
    }
    Some(p)
}

/// `host:port`, `[v6]:port` or a bare host: no spaces, no control characters, a port in range.
fn validate_address(a: &str, field: &str, errors: &mut Errors) {
    let (host, port) = match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => (h, Some(p)),
        _ => (a, None),
    };
    let host_ok = !host.is_empty() && host.chars().all(|c| c.is_ascii_graphic() && c != '/');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !host_ok || !port_ok {
        errors.push(field, format_args!("{a:?} is not host:port"));
    }
}

fn validate_timings(spec: &AnycastServiceSpec, errors: &mut Errors) -> Timings {
    let t = &spec.timings;
    let mut duration = |text: &str, field: &str| {
        parse_duration(text)
            .filter(|d| !d.is_zero())
            .unwrap_or_else(|| {
                errors.push(
                    field,
                    format_args!("{text:?} is not a positive duration such as 5s"),
                );
                Duration::from_secs(1)
            })
    };
    let interval = duration(&t.interval, "spec.timings.interval");
    let fast_interval = duration(&t.fast_interval, "spec.timings.fastInterval");
    for (value, field) in [(t.rise, "spec.timings.rise"), (t.fall, "spec.timings.fall")] {
        if value == 0 {
            errors.push(field, "must be at least 1");
        }
    }
    Timings {
        interval,
        fast_interval,
        rise: t.rise,
        fall: t.fall,
    }
}

fn validate_route(spec: &AnycastServiceSpec, errors: &mut Errors) -> RouteProfile {
    let a = &spec.attributes;
    let next_hop = if spec.next_hop == "self" {
        NextHop::SelfAddress
    } else if let Ok(ip) = spec.next_hop.parse() {
        NextHop::Address(ip)
    } else {
        errors.push(
            "spec.nextHop",
            format_args!("{:?} is not 'self' or an IP address", spec.next_hop),
        );
        NextHop::SelfAddress
    };
    let mut neighbors = Vec::with_capacity(spec.neighbors.len());
    for (i, n) in spec.neighbors.iter().enumerate() {
        match n.parse::<IpAddr>() {
            Ok(ip) => neighbors.push(ip),
            Err(_) => errors.push(
                format!("spec.neighbors[{i}]"),
                format_args!("{n:?} is not an IP address"),
            ),
        }
    }
    // Sorted so that two services listing the same neighbors in another order agree.
    neighbors.sort_unstable();
    neighbors.dedup();
    let as_path_prepend = a
        .as_path_prepend
        .as_ref()
        .and_then(|p| match p.parse::<AsPath>() {
            Ok(path) if !path.0.is_empty() => Some(path),
            Ok(_) => None,
            Err(e) => {
                errors.push("spec.asPathPrepend", e);
                None
            }
        });
    let (communities, extended_communities, large_communities) = errors.parse_communities(&a.added);
    let announce = &spec.announce;
    RouteProfile {
        target: if neighbors.is_empty() {
            Target::All
        } else {
            Target::Neighbors(neighbors)
        },
        next_hop,
        local_preference: a.local_preference,
        communities,
        extended_communities,
        large_communities,
        as_path_prepend,
        path_id: a.path_id,
        up: state_route(&announce.up, "spec.announce.up", errors),
        degraded: state_route(&announce.degraded, "spec.announce.degraded", errors),
        down: state_route(&announce.down, "spec.announce.down", errors),
        disabled: state_route(&announce.disabled, "spec.announce.disabled", errors),
    }
}

fn state_route(s: &StateAnnounce, field: &str, errors: &mut Errors) -> StateRoute {
    let communities = errors.parse_each(&format!("{field}.communities"), &s.communities);
    match (s.withdraw, s.med) {
        (true, _) => StateRoute::Withdraw,
        (false, Some(med)) => StateRoute::Announce { med, communities },
        (false, None) => {
            errors.push(format!("{field}.med"), "a state that announces needs a med");
            StateRoute::Withdraw
        }
    }
}
