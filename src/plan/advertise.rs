//! From a planner report to the AnycastAdvertisement a node writes about one service, and
//! whether the node writes one at all.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::AnycastAdvertisementSpec;
use crate::crd::advertisement::ProbeReport;

use super::{LocalHealth, Report, ServiceKey, State, ValidService};

/// True when this node writes (or keeps) an AnycastAdvertisement about a service: when it is one
/// of the nodes that matter for it. That is while the node announces it in any state (up,
/// degraded, draining, or a down or disabled state set to announce), while it has at least one
/// local endpoint (ready or not), or, for a service that needs no ready endpoint
/// (`minReadyEndpoints: 0`, probes alone decide), while it selects the node.
///
/// A refused or invalid service is the same on every node (policy and validation do not depend
/// on the node), so only nodes with a local endpoint report it; the others tell through an
/// Event. A node that does not keep one deletes it, as when the service stops selecting it.
/// So the objects follow the service's pods, not the cluster: 1,000 services on 100 nodes
/// with 3 pods each make about 3,000 objects, not 100,000.
///
/// `svc` is the validated service (`None` when invalid); `local_endpoints` counts this node's
/// endpoints of it, ready or not.
pub fn keeps_advertisement(
    report: &Report,
    svc: Option<&ValidService>,
    local_endpoints: u32,
) -> bool {
    let is_announced = !report.prefixes.is_empty();
    let has_endpoints = local_endpoints > 0;
    match report.state {
        State::NotSelected => false,
        State::Invalid | State::Refused => has_endpoints,
        State::Up | State::Degraded | State::Down | State::Disabled | State::Draining => {
            let needs_no_endpoints = svc.is_some_and(|s| s.min_ready_endpoints == 0);
            is_announced || has_endpoints || needs_no_endpoints
        }
    }
}

/// The advertisement of `key` on `node`. `svc` (when valid) gives the probes' weights and
/// criticality; `last_transition_time` comes from the caller, who owns the clock.
pub fn advertisement(
    key: &ServiceKey,
    node: &str,
    report: &Report,
    svc: Option<&ValidService>,
    health: Option<&LocalHealth>,
    last_transition_time: Option<Time>,
) -> AnycastAdvertisementSpec {
    let health = health.cloned().unwrap_or_default();
    let probes = svc
        .map(|svc| {
            svc.probes
                .iter()
                .map(|p| ProbeReport {
                    name: p.name.clone(),
                    passing: health.probes.get(&p.name).copied().unwrap_or(false),
                    critical: p.critical,
                    weight: p.weight,
                })
                .collect()
        })
        .unwrap_or_default();
    AnycastAdvertisementSpec {
        node: node.to_owned(),
        service: key.name.to_string(),
        state: report.state,
        med: report.med,
        prefixes: report.prefixes.iter().map(ToString::to_string).collect(),
        communities: report.communities.clone(),
        reason: report.reason.clone(),
        ready_endpoints: health.ready,
        total_endpoints: health.total,
        probes,
        last_transition_time,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::plan::tests::mk_service;

    fn mk_report(state: State, announced: bool) -> Report {
        Report {
            state,
            med: announced.then_some(100),
            prefixes: if announced {
                vec!["192.0.2.10/32".parse().unwrap()]
            } else {
                vec![]
            },
            communities: vec![],
            refused: vec![],
            reason: String::new(),
            probes: BTreeMap::new(),
        }
    }

    #[test]
    fn the_nodes_that_matter_keep_an_advertisement() {
        use State::{Degraded, Disabled, Down, Draining, Invalid, NotSelected, Refused, Up};
        let needs = |min: u32| {
            mk_service(
                json!({"addresses": ["192.0.2.10"], "readiness": {"service": "s"},
                              "minReadyEndpoints": min}),
            )
            .unwrap()
        };
        let (one, zero) = (needs(1), needs(0));
        // (state, announced, service needs no endpoint, local endpoints, kept)
        let cases = [
            (Up, true, false, 1, true),
            (Degraded, true, false, 1, true),
            (Draining, true, false, 1, true),
            (Draining, false, false, 1, true),
            (Down, false, false, 1, true),
            (Down, false, false, 3, true),
            // No local endpoint, nothing announced: the common case on most nodes.
            (Down, false, false, 0, false),
            (Draining, false, false, 0, false),
            (Disabled, false, false, 0, false),
            // Announced without a local endpoint (a down or disabled MED, probes only).
            (Down, true, false, 0, true),
            (Disabled, true, false, 0, true),
            // minReadyEndpoints 0: every selected node is a candidate.
            (Down, false, true, 0, true),
            // Errors: only where the service has local endpoints.
            (Invalid, false, false, 0, false),
            (Invalid, false, false, 1, true),
            (Refused, false, false, 0, false),
            (Refused, false, true, 0, false),
            (Refused, false, false, 2, true),
            (NotSelected, false, false, 0, false),
            (NotSelected, false, false, 1, false),
            (NotSelected, false, true, 0, false),
        ];
        for (state, announced, no_endpoints_needed, endpoints, kept) in cases {
            let svc = match state {
                Invalid => None,
                _ if no_endpoints_needed => Some(&zero),
                _ => Some(&one),
            };
            assert_eq!(
                keeps_advertisement(&mk_report(state, announced), svc, endpoints),
                kept,
                "{state:?} announced={announced} minReady0={no_endpoints_needed} endpoints={endpoints}"
            );
        }
    }
}
