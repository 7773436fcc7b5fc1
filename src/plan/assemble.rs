//! `plan`: the policy of `plan/mod.rs`, step by step.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use crate::crd::pool::DrainMode;
use crate::exabgp::attrs::{Community, GRACEFUL_SHUTDOWN, List};
use crate::exabgp::encode::Attributes;
use crate::model::{Rib, RouteKey};

use super::claim::{Claim, Grant, claim, refuse_conflicts};
use super::med::{med_offset, node_med};
use super::pool::{ValidPool, labels_match};
use super::score::{Verdict, evaluate};
use super::service::{RouteProfile, StateRoute, ValidService};
use super::{Inputs, LocalHealth, Plan, Report, ServiceKey, State};

/// One service's wish for one route: `None` withdraws.
type Wish = (RouteKey, Option<Attributes>);

/// Plans the routes of this node. See the module documentation of `plan` for the policy.
pub fn plan(inputs: &Inputs) -> Plan {
    let pools: Vec<(&str, &ValidPool)> = inputs
        .pools
        .iter()
        .filter_map(|(name, p)| p.as_ref().ok().map(|p| (name.as_str(), p)))
        .collect();
    let invalid_pools: Vec<&str> = inputs
        .pools
        .iter()
        .filter(|(_, p)| p.is_err())
        .map(|(n, _)| n.as_str())
        .collect();
    let unlabelled = BTreeMap::new();
    let mut reports = BTreeMap::new();
    let mut claims = BTreeMap::new();
    for (key, svc) in inputs.services.iter() {
        match &**svc {
            Err(e) => {
                reports.insert(
                    key.clone(),
                    bare_report(State::Invalid, e.to_string(), Vec::new()),
                );
            }
            Ok(svc) => {
                let ns_labels = inputs
                    .namespaces
                    .get(&*key.namespace)
                    .unwrap_or(&unlabelled);
                claims.insert(key, claim(key, svc, &pools, &invalid_pools, ns_labels));
            }
        }
    }
    refuse_conflicts(&mut claims);
    let mut replan_after = None;
    let mut wishes: BTreeMap<RouteKey, Vec<(&ServiceKey, Option<Attributes>)>> = BTreeMap::new();
    for (key, c) in &claims {
        let (report, service_wishes) =
            decide(c, inputs, inputs.health.get(*key), &mut replan_after);
        for (route, attrs) in service_wishes {
            wishes.entry(route).or_default().push((*key, attrs));
        }
        reports.insert((*key).clone(), report);
    }
    let rib = combine(&wishes, &mut reports);
    for (key, report) in &mut reports {
        if let Some(Ok(svc)) = inputs.services.get(key).map(|s| &**s) {
            let health = inputs.health.get(key);
            report.probes = svc
                .probes
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        health
                            .and_then(|h| h.probes.get(&p.name))
                            .copied()
                            .unwrap_or(false),
                    )
                })
                .collect();
        }
    }
    Plan {
        rib: Arc::new(rib),
        reports: reports.into_iter().map(|(k, r)| (k, Arc::new(r))).collect(),
        replan_after,
    }
}

/// Decides one service's state and routes on this node.
fn decide(
    c: &Claim<'_>,
    inputs: &Inputs,
    health: Option<&LocalHealth>,
    replan_after: &mut Option<Duration>,
) -> (Report, Vec<Wish>) {
    let node = &inputs.node;
    if let Some(why) = &c.refusal {
        return (
            bare_report(State::Refused, why.clone(), c.refused.clone()),
            Vec::new(),
        );
    }
    if c.granted.is_empty() {
        let why = join_refused(&c.refused);
        return (
            bare_report(State::Refused, why, c.refused.clone()),
            Vec::new(),
        );
    }
    if !labels_match(&c.svc.node_selector, &node.labels) {
        let why = format!("spec.nodeSelector does not match node {}", node.name);
        return (
            bare_report(State::NotSelected, why, c.refused.clone()),
            Vec::new(),
        );
    }
    let mut notes = Vec::new();
    let selected: Vec<Grant<'_>> = c
        .granted
        .iter()
        .filter(|g| {
            let ok = labels_match(&g.pool.node_selector, &node.labels);
            if !ok {
                notes.push(format!(
                    "{}: AnycastPool {} does not select node {}",
                    g.ip, g.pool_name, node.name
                ));
            }
            ok
        })
        .copied()
        .collect();
    if selected.is_empty() {
        return (
            bare_report(State::NotSelected, notes.join("; "), c.refused.clone()),
            Vec::new(),
        );
    }
    let verdict = if c.svc.disabled {
        Verdict {
            state: State::Disabled,
            score: 0,
            reason: "spec.disabled is set".to_owned(),
        }
    } else {
        evaluate(c.svc, health.unwrap_or(&LocalHealth::default()))
    };
    let (wishes, graceful) = wish_routes(
        c.svc,
        verdict.state,
        &selected,
        node,
        &mut notes,
        replan_after,
    );
    let mut parts = Vec::new();
    let state = match node.drain_cause() {
        Some(cause) if graceful => {
            parts.push(format!(
                "{cause}: announcing with GRACEFUL_SHUTDOWN for the drain delay, then withdrawing"
            ));
            State::Draining
        }
        Some(cause) => {
            parts.push(format!("{cause}: withdrawn"));
            State::Draining
        }
        None => verdict.state,
    };
    parts.push(verdict.reason);
    parts.extend(notes);
    if !c.refused.is_empty() {
        parts.push(join_refused(&c.refused));
    }
    (report_from(state, parts.join("; "), &wishes, c), wishes)
}

/// The route each selected address should have in `state` on this node. Also says whether any
/// is announced with `GRACEFUL_SHUTDOWN`.
fn wish_routes(
    svc: &ValidService,
    state: State,
    selected: &[Grant<'_>],
    node: &super::NodeInfo,
    notes: &mut Vec<String>,
    replan_after: &mut Option<Duration>,
) -> (Vec<Wish>, bool) {
    let route = &svc.route;
    let state_route = match state {
        State::Up => &route.up,
        State::Degraded => &route.degraded,
        State::Disabled => &route.disabled,
        _ => &route.down,
    };
    let draining = node.drain_cause().is_some();
    let mut graceful = false;
    let mut wishes = Vec::with_capacity(selected.len());
    for g in selected {
        let key = RouteKey {
            target: route.target.clone(),
            prefix: IpNet::from(g.ip),
        };
        let StateRoute::Announce { med, communities } = state_route else {
            wishes.push((key, None));
            continue;
        };
        let gs = if draining {
            drain_phase(g.pool, node.drain_elapsed, replan_after)
        } else {
            Some(false)
        };
        let attrs = gs.map(|gs| {
            graceful |= gs;
            let offset = med_offset(&node.annotations, &g.pool.med_offset_annotation)
                .unwrap_or_else(|e| {
                    // A broken offset must not make a backup look like a primary.
                    notes.push(format!("{e}; announcing with the highest MED"));
                    u32::MAX
                });
            build_attributes(route, node_med(*med, offset), communities, g.pool, gs)
        });
        wishes.push((key, attrs));
    }
    (wishes, graceful)
}

fn report_from(state: State, reason: String, wishes: &[Wish], c: &Claim<'_>) -> Report {
    let first = wishes.iter().find_map(|(_, a)| a.as_ref());
    Report {
        state,
        med: first
            .and_then(|a| a.med)
            .and_then(|m| u32::try_from(m).ok()),
        prefixes: wishes
            .iter()
            .filter(|(_, a)| a.is_some())
            .map(|(k, _)| k.prefix)
            .collect(),
        communities: first
            .map(|a| a.communities.0.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        refused: c.refused.clone(),
        reason,
        probes: BTreeMap::new(),
    }
}

/// While draining: `Some(true)` announces with `GRACEFUL_SHUTDOWN`, `None` withdraws. Records
/// when the graceful phase ends, so the engine plans again then.
fn drain_phase(
    pool: &ValidPool,
    elapsed: Duration,
    replan_after: &mut Option<Duration>,
) -> Option<bool> {
    match pool.drain_mode {
        DrainMode::Withdraw => None,
        DrainMode::GracefulShutdown => {
            let left = pool
                .drain_delay
                .checked_sub(elapsed)
                .filter(|d| !d.is_zero())?;
            *replan_after = Some(replan_after.map_or(left, |r| r.min(left)));
            Some(true)
        }
    }
}

/// Attributes for one route: service, state and pool communities (then `GRACEFUL_SHUTDOWN`),
/// each list without duplicates, first occurrence kept.
fn build_attributes(
    route: &RouteProfile,
    med: u32,
    state_communities: &List<Community>,
    pool: &ValidPool,
    graceful: bool,
) -> Attributes {
    let mut communities = Vec::new();
    let graceful_list = [GRACEFUL_SHUTDOWN];
    let extra: &[Community] = if graceful { &graceful_list } else { &[] };
    for c in route
        .communities
        .0
        .iter()
        .chain(&state_communities.0)
        .chain(&pool.communities.0)
        .chain(extra)
    {
        if !communities.contains(c) {
            communities.push(*c);
        }
    }
    Attributes {
        next_hop: route.next_hop,
        med: Some(i64::from(med)),
        local_preference: route.local_preference.map(i64::from),
        communities: List(communities),
        extended_communities: List(union(
            &route.extended_communities.0,
            &pool.extended_communities.0,
        )),
        large_communities: List(union(&route.large_communities.0, &pool.large_communities.0)),
        as_path: route.as_path_prepend.clone(),
        path_id: route.path_id.map(i64::from),
    }
}

fn union<T: Copy + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    for x in a.iter().chain(b) {
        if !out.contains(x) {
            out.push(*x);
        }
    }
    out
}

/// Merges the wishes of services sharing a route (their settings agree, or they were refused):
/// a withdraw beats an announce, and the highest MED wins, so the shared address attracts
/// traffic only as much as its least healthy service allows.
fn combine(
    wishes: &BTreeMap<RouteKey, Vec<(&ServiceKey, Option<Attributes>)>>,
    reports: &mut BTreeMap<ServiceKey, Report>,
) -> Rib {
    let mut rib = Rib::new();
    for (route, by_service) in wishes {
        let withdrawn_by: Vec<String> = by_service
            .iter()
            .filter(|(_, a)| a.is_none())
            .map(|(k, _)| k.to_string())
            .collect();
        if withdrawn_by.is_empty() {
            if let Some(best) = by_service
                .iter()
                .filter_map(|(_, a)| a.as_ref())
                .max_by(|a, b| a.med.cmp(&b.med).then_with(|| a.cmp(b)))
            {
                rib.insert(route.clone(), best.clone());
            }
            continue;
        }
        for (key, attrs) in by_service {
            if attrs.is_some()
                && let Some(r) = reports.get_mut(*key)
            {
                r.prefixes.retain(|p| *p != route.prefix);
                let _ = write!(
                    r.reason,
                    "; {} withdrawn: shared with {}, which withdraws it",
                    route.prefix,
                    withdrawn_by.join(", ")
                );
            }
        }
    }
    rib
}

fn bare_report(state: State, reason: String, refused: Vec<(IpAddr, String)>) -> Report {
    Report {
        state,
        med: None,
        prefixes: Vec::new(),
        communities: Vec::new(),
        refused,
        reason,
        probes: BTreeMap::new(),
    }
}

fn join_refused(refused: &[(IpAddr, String)]) -> String {
    refused
        .iter()
        .map(|(_, why)| why.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}
