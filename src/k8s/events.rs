//! Kubernetes Events about services on this node: what to say (pure) and how often.
//!
//! An Event is emitted when a service's state on this node changes and when an address is
//! refused. A token bucket per service (a burst of [`BURST`], then one per [`REFILL`]) keeps a
//! flapping service from flooding the API server; the advertisement always carries the latest
//! state whatever the limiter drops.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::plan::{Report, ServiceKey, State};

/// Events a service may emit at once.
pub const BURST: u32 = 5;
/// One more Event allowed per this long.
pub const REFILL: Duration = Duration::from_secs(30);

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Informational.
    Normal,
    /// Something a person should look at.
    Warning,
}

/// One Event about one AnycastService.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The service it is about.
    pub service: ServiceKey,
    /// The service's UID (the Event's `regarding`).
    pub uid: String,
    /// Normal or Warning.
    pub severity: Severity,
    /// `PascalCase` reason, e.g. `Announced`.
    pub reason: &'static str,
    /// What happened and what to do, naming the node.
    pub note: String,
}

impl Notice {
    /// True when the Event is about the service itself (an invalid spec, a refused address),
    /// which is the same on every node, rather than about its health on this node.
    pub fn is_service_error(&self) -> bool {
        matches!(self.reason, "InvalidSpec" | "Refused" | "AddressRefused")
    }
}

/// The Event reason and severity for a state.
pub fn reason_for(state: State) -> (&'static str, Severity) {
    match state {
        State::Up => ("Announced", Severity::Normal),
        State::Degraded => ("Degraded", Severity::Warning),
        State::Down => ("Withdrawn", Severity::Warning),
        State::Disabled => ("Disabled", Severity::Normal),
        State::Draining => ("Draining", Severity::Normal),
        State::Refused => ("Refused", Severity::Warning),
        State::Invalid => ("InvalidSpec", Severity::Warning),
        State::NotSelected => ("NotSelected", Severity::Normal),
    }
}

/// The Events for a report that changed from `old` (`None`: first seen by this agent).
pub fn notices(
    key: &ServiceKey,
    uid: &str,
    node: &str,
    old: Option<&Report>,
    new: &Report,
) -> Vec<Notice> {
    let mut out = Vec::new();
    // A service first seen down here is the common case on nodes without its pods: with
    // thousands of nodes, an Event from each would bury the ones that matter.
    let is_quiet_start = old.is_none() && new.state == State::Down;
    if old.map(|o| o.state) != Some(new.state) && !is_quiet_start {
        let (reason, severity) = reason_for(new.state);
        out.push(Notice {
            service: key.clone(),
            uid: uid.to_owned(),
            severity,
            reason,
            note: format!("node {node}: {:?}: {}", new.state, new.reason),
        });
    }
    for (ip, why) in &new.refused {
        let was_refused = old.is_some_and(|o| o.refused.iter().any(|(i, _)| i == ip));
        if !was_refused {
            out.push(Notice {
                service: key.clone(),
                uid: uid.to_owned(),
                severity: Severity::Warning,
                reason: "AddressRefused",
                note: format!("node {node}: address {ip} is not announced: {why}"),
            });
        }
    }
    out
}

/// A token bucket per service.
#[derive(Debug, Clone, Default)]
pub struct Limiter {
    buckets: BTreeMap<ServiceKey, (f64, Timestamp)>,
}

impl Limiter {
    /// True when `service` may emit one more Event at `now` (and takes the token).
    pub fn allow(&mut self, service: &ServiceKey, now: Timestamp) -> bool {
        let (tokens, last) = self
            .buckets
            .entry(service.clone())
            .or_insert((f64::from(BURST), now));
        let elapsed = now.duration_since(*last).as_secs_f64().max(0.0);
        *tokens = (*tokens + elapsed / REFILL.as_secs_f64()).min(f64::from(BURST));
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets services that no longer exist. Asks `keep` in key order, so it may walk a
    /// sorted map alongside ([`crate::sorted::Cursor`]).
    pub fn retain(&mut self, mut keep: impl FnMut(&ServiceKey) -> bool) {
        self.buckets.retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_report(state: State, refused: &[&str]) -> Report {
        Report {
            state,
            med: None,
            prefixes: vec![],
            communities: vec![],
            refused: refused
                .iter()
                .map(|ip| (ip.parse().unwrap(), "outside every pool".to_owned()))
                .collect(),
            reason: "because".into(),
            probes: std::collections::BTreeMap::new(),
        }
    }

    #[test]
    fn a_burst_then_one_per_refill_per_service() {
        let key = ServiceKey::new("ns", "web");
        let other = ServiceKey::new("ns", "db");
        let mut limiter = Limiter::default();
        let t0 = Timestamp::UNIX_EPOCH;
        let allowed = (0..10).filter(|_| limiter.allow(&key, t0)).count();
        assert_eq!(allowed, BURST as usize);
        assert!(limiter.allow(&other, t0), "buckets are per service");
        assert!(!limiter.allow(&key, t0 + Duration::from_secs(29)));
        assert!(limiter.allow(&key, t0 + Duration::from_secs(31)));
        assert!(!limiter.allow(&key, t0 + Duration::from_secs(32)));
    }

    #[test]
    fn notices_on_state_changes_and_newly_refused_addresses_only() {
        let key = ServiceKey::new("ns", "web");
        let up = mk_report(State::Up, &[]);
        let refused = mk_report(State::Up, &["192.0.2.9"]);
        let down = mk_report(State::Down, &["192.0.2.9"]);
        let reasons = |old: Option<&Report>, new: &Report| -> Vec<&str> {
            notices(&key, "u", "n1", old, new)
                .iter()
                .map(|n| n.reason)
                .collect()
        };
        assert_eq!(reasons(None, &up), ["Announced"]);
        assert!(
            reasons(None, &mk_report(State::Down, &[])).is_empty(),
            "first seen down"
        );
        assert_eq!(reasons(None, &down), ["AddressRefused"]);
        assert!(reasons(Some(&up), &up).is_empty());
        assert_eq!(reasons(Some(&up), &refused), ["AddressRefused"]);
        assert_eq!(reasons(Some(&refused), &down), ["Withdrawn"]);
        let n = &notices(&key, "u", "n1", Some(&up), &refused)[0];
        assert_eq!(n.severity, Severity::Warning);
        assert!(n.is_service_error());
        let is_error =
            |new: &Report| notices(&key, "u", "n1", Some(&up), new)[0].is_service_error();
        assert!(is_error(&mk_report(State::Invalid, &[])));
        assert!(is_error(&mk_report(State::Refused, &[])));
        assert!(
            !is_error(&mk_report(State::Down, &[])),
            "health, not the service"
        );
        assert!(!is_error(&mk_report(State::Degraded, &[])));
        assert!(
            n.note.contains("node n1") && n.note.contains("192.0.2.9"),
            "{}",
            n.note
        );
    }
}
