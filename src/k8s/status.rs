//! What this node tells the cluster, as data: each plan becomes the AnycastAdvertisements this
//! node should have (one per service for which it matters, [`keeps_advertisement`]), and the
//! [`Writer`] turns the difference from what it wrote last into [`Op`]s (apply, delete, Event)
//! for the applier. Pure: the time is an argument.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::events::{Limiter, Notice, notices};
use crate::crd::{AnycastAdvertisement, AnycastAdvertisementSpec};
use crate::engine::world::{EndpointCounts, World};
use crate::plan::{
    LocalHealth, Plan, Report, ServiceEntry, ServiceKey, State, ValidService, advertisement,
    keeps_advertisement,
};
use crate::sorted::{self, Cursor};

/// One advertisement to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Advertisement {
    /// The service.
    pub service: ServiceKey,
    /// The object's name, [`advertisement_name`].
    pub name: String,
    /// The AnycastService's UID (owner reference).
    pub owner_uid: String,
    /// The content.
    pub spec: AnycastAdvertisementSpec,
}

/// A side effect for the applier.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Server-side apply this advertisement.
    Apply(Box<Advertisement>),
    /// Delete the advertisement `name` in `namespace`.
    Delete {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Emit an Event.
    Notify(Notice),
}

impl Op {
    /// The object an apply or delete is about (namespace, name); `None` for Events.
    pub fn object(&self) -> Option<(String, String)> {
        match self {
            Op::Apply(a) => Some((a.service.namespace.to_string(), a.name.clone())),
            Op::Delete { namespace, name } => Some((namespace.clone(), name.clone())),
            Op::Notify(_) => None,
        }
    }
}

/// The advertisement's name: `<service>.<node>`, a valid DNS subdomain (lower case, at most
/// 253 characters; longer names are cut and end in a hash of the full name, so they stay unique).
pub fn advertisement_name(service: &str, node: &str) -> String {
    let full: String = format!("{service}.{node}")
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trim = |s: &str| {
        s.trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_owned()
    };
    if full.len() <= 253 {
        return trim(&full);
    }
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let hash = full.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{}-{hash:016x}", trim(&full[..236]))
}

/// Remembers what this node wrote and turns each plan into the ops that change it.
#[derive(Debug, Clone)]
pub struct Writer {
    node: String,
    /// What was written per service: the owner's UID and the spec.
    written: BTreeMap<ServiceKey, (String, AnycastAdvertisementSpec)>,
    /// What each service's last decision was made from.
    seen: BTreeMap<ServiceKey, Seen>,
    limiter: Limiter,
}

/// Everything a service's advertisement and Events depend on: when none of it changed, neither
/// did they, so a plan that changes one service of thousands costs one decision.
#[derive(Debug, Clone)]
struct Seen {
    report: Arc<Report>,
    uid: Option<String>,
    svc: Option<ServiceEntry>,
    counts: EndpointCounts,
}

impl Seen {
    fn is_same(
        &self,
        report: &Arc<Report>,
        uid: Option<&String>,
        svc: Option<&ServiceEntry>,
        counts: EndpointCounts,
    ) -> bool {
        let same_svc = match (&self.svc, svc) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
            (None, None) => true,
            _ => false,
        };
        same_svc && self.counts == counts && self.uid.as_ref() == uid && self.report == *report
    }
}

impl Writer {
    /// A writer for `node` that knows the advertisements this node wrote before (listed at
    /// start), so a restart rewrites nothing unchanged, keeps transition times and deletes
    /// leftovers.
    pub fn new(node: &str, existing: Vec<AnycastAdvertisement>) -> Self {
        let written = existing
            .into_iter()
            .filter(|a| a.spec.node == node)
            .filter_map(|a| {
                let ns = a.metadata.namespace?;
                let owner = a.metadata.owner_references.into_iter().flatten().next();
                let uid = owner.map(|o| o.uid).unwrap_or_default();
                Some((ServiceKey::new(ns, a.spec.service.clone()), (uid, a.spec)))
            })
            .collect();
        Self {
            node: node.to_owned(),
            written,
            seen: BTreeMap::new(),
            limiter: Limiter::default(),
        }
    }

    /// The ops that bring the cluster from what was written to what `plan` says, at `now`.
    pub fn update(&mut self, plan: &Plan, world: &World, now: Timestamp) -> Vec<Op> {
        let mut ops = Vec::new();
        for (key, report) in self.changed(plan, world) {
            let uid = world.service_uids.get(key);
            let svc = world.services.get(key);
            let counts = world
                .endpoints
                .as_ref()
                .and_then(|e| e.get(key))
                .copied()
                .unwrap_or_default();
            self.decide(key, report, uid, svc, counts, now, &mut ops);
            let seen = Seen {
                report: Arc::clone(report),
                uid: uid.cloned(),
                svc: svc.cloned(),
                counts,
            };
            self.seen.insert(key.clone(), seen);
        }
        let mut reported = Cursor::new(&plan.reports);
        self.seen.retain(|k, _| reported.seek(k).is_some());
        let gone: Vec<ServiceKey> = sorted::missing_from(&self.written, &plan.reports)
            .cloned()
            .collect();
        for key in gone {
            self.unwrite(&key, &mut ops);
        }
        let mut reported = Cursor::new(&plan.reports);
        self.limiter.retain(|k| reported.seek(k).is_some());
        ops
    }

    /// The reports of services for which something changed since the last update: one walk in
    /// key order over the plan, the world and what was seen (a change usually touches one).
    fn changed<'p>(&self, plan: &'p Plan, world: &World) -> Vec<(&'p ServiceKey, &'p Arc<Report>)> {
        let mut seen = Cursor::new(&self.seen);
        let mut uids = Cursor::new(&world.service_uids);
        let mut services = Cursor::new(&world.services);
        let mut endpoints = sorted::cursor(world.endpoints.as_deref());
        plan.reports
            .iter()
            .filter(|(key, report)| {
                let counts = endpoints
                    .as_mut()
                    .and_then(|e| e.seek(key))
                    .copied()
                    .unwrap_or_default();
                let (uid, svc) = (uids.seek(key), services.seek(key));
                !seen
                    .seek(key)
                    .is_some_and(|s| s.is_same(report, uid, svc, counts))
            })
            .collect()
    }

    /// One service's ops for a report that differs from the last one seen.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call site, every input named"
    )]
    fn decide(
        &mut self,
        key: &ServiceKey,
        report: &Report,
        uid: Option<&String>,
        svc: Option<&ServiceEntry>,
        counts: EndpointCounts,
        now: Timestamp,
        ops: &mut Vec<Op>,
    ) {
        // Only Kubernetes objects get an advertisement; a service that does not select this
        // node has none from it.
        let Some(uid) = uid.filter(|_| report.state != State::NotSelected) else {
            self.unwrite(key, ops);
            return;
        };
        let svc = svc.and_then(|s| s.as_ref().as_ref().ok());
        let keep = keeps_advertisement(report, svc, counts.total);
        let was_kept = self.written.contains_key(key);
        let old = self.written.get(key).map(|(u, s)| (u.clone(), s.clone()));
        let old_report = self.seen.get(key).map(|s| (*s.report).clone()).or_else(|| {
            old.as_ref().map(|(_, o)| Report {
                state: o.state,
                med: o.med,
                prefixes: vec![],
                communities: vec![],
                refused: vec![],
                reason: o.reason.clone(),
                probes: BTreeMap::new(),
            })
        });
        for n in notices(key, uid, &self.node, old_report.as_ref(), report) {
            // State changes are told by the nodes that matter for the service; what is
            // wrong with the service itself by every node, so that a service without an
            // endpoint anywhere still shows its error.
            let tells = keep || was_kept || n.is_service_error();
            if tells && self.limiter.allow(key, now) {
                ops.push(Op::Notify(n));
            }
        }
        if !keep {
            self.unwrite(key, ops);
            return;
        }
        let old_spec = old.as_ref().map(|(_, s)| s);
        let spec = self.spec(key, report, svc, counts, old_spec, now);
        // A service deleted and created again between two plans has a new UID: the owner
        // reference must follow, or garbage collection would take the advertisement.
        if old_spec != Some(&spec) || old.as_ref().map(|(u, _)| u) != Some(uid) {
            ops.push(Op::Apply(Box::new(Advertisement {
                service: key.clone(),
                name: advertisement_name(&key.name, &self.node),
                owner_uid: uid.clone(),
                spec: spec.clone(),
            })));
        }
        self.written.insert(key.clone(), (uid.clone(), spec));
    }

    /// Deletes this node's advertisement of `key`, if it wrote one.
    fn unwrite(&mut self, key: &ServiceKey, ops: &mut Vec<Op>) {
        if self.written.remove(key).is_some() {
            ops.push(Op::Delete {
                namespace: key.namespace.to_string(),
                name: advertisement_name(&key.name, &self.node),
            });
        }
    }

    fn spec(
        &self,
        key: &ServiceKey,
        report: &Report,
        svc: Option<&ValidService>,
        counts: EndpointCounts,
        old: Option<&AnycastAdvertisementSpec>,
        now: Timestamp,
    ) -> AnycastAdvertisementSpec {
        let last_transition_time = match old {
            Some(o) if o.state == report.state => o.last_transition_time.clone(),
            _ => Some(Time(now)),
        };
        let health = LocalHealth {
            ready: counts.ready,
            total: counts.total,
            probes: report.probes.clone(),
        };
        advertisement(
            key,
            &self.node,
            report,
            svc,
            Some(&health),
            last_transition_time,
        )
    }
}

#[cfg(test)]
mod tests;
