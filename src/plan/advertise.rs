//! From a planner report to the AnycastAdvertisement a node writes about one service.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::AnycastAdvertisementSpec;
use crate::crd::advertisement::ProbeReport;

use super::{LocalHealth, Report, ServiceKey, ValidService};

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
        service: key.name.clone(),
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
