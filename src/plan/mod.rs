//! The planner: services, pools, this node and local health in; the routes to announce and a
//! report per service out. Pure: no I/O, no clock (elapsed drain time is an input), and the
//! output depends only on the input values, never on their order (every collection is a
//! `BTreeMap` or sorted).
//!
//! Policy, in the order it is applied:
//! 1. An invalid spec announces nothing ([`State::Invalid`]).
//! 2. An address is announced only from the most specific AnycastPool that holds it, and only
//!    when that pool grants the service's namespace: a broader pool granted to the namespace
//!    never reaches into a more specific pool granted to others. An address no pool grants is
//!    refused, with the reason.
//! 3. The granting pool's `allowedAttributes` must allow every attribute the service sets
//!    (communities, AS-path prepend, `LOCAL_PREF`, MEDs, next hop, neighbors); otherwise the
//!    addresses from that pool are refused, with each field at fault in the reason.
//! 4. A service with an exec probe is refused unless every pool it uses sets `allowExec`.
//! 5. Two services claiming one address with different route settings (attributes, announce
//!    settings, neighbors or pool) are both refused for that address: neither is announced
//!    half-way. With identical settings they share it, and the more cautious wins: a withdraw
//!    beats an announce, a higher MED beats a lower one.
//! 6. The service's and the pool's node selectors must match this node.
//! 7. Health ([`score`]): fewer ready local endpoints than `minReadyEndpoints`, or a failing
//!    critical probe, is down; otherwise the weighted probe score picks up, degraded or down.
//!    `spec.disabled` is the disabled state.
//! 8. A draining node ([`NodeInfo::drain_cause`]) announces with `GRACEFUL_SHUTDOWN` until the
//!    pool's drain delay has passed, then withdraws (or withdraws at once, per the pool).
//! 9. The MED is the state's MED plus the node's offset ([`med`]); pool communities are always
//!    added.

mod advertise;
mod assemble;
mod claim;
mod duration;
mod incremental;
pub mod med;
mod policy;
mod pool;
pub mod score;
mod service;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

pub use crate::crd::AdvertisedState as State;
use crate::model::Rib;

pub use advertise::{advertisement, keeps_advertisement};
pub use assemble::plan;
pub use duration::parse_duration;
pub use incremental::replan;
pub use policy::{AttributePolicy, Part, Pattern, Violation};
pub use pool::{ValidPool, labels_match, selector_matches, validate_pool};
pub use service::{
    Check, ReadinessSource, RouteProfile, StateRoute, Timings, ValidProbe, ValidService,
};
pub use validate::{FieldError, InvalidSpec, validate_service};

/// The label that excludes a node from external load balancers (and so from announcing).
pub const EXCLUDE_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
/// The Node annotation that drains a node for kube-anycast only.
pub const DRAIN_ANNOTATION: &str = "kube-anycast.io/drain";

/// A namespaced service name. Its parts are shared (`Arc<str>`): every per-service map of the
/// agent is keyed by it, and copying a key into one is a reference count, not two allocations.
#[derive(Debug, Clone, Eq)]
pub struct ServiceKey {
    /// Namespace.
    pub namespace: Arc<str>,
    /// Name.
    pub name: Arc<str>,
}

impl ServiceKey {
    /// A key from its parts.
    pub fn new(namespace: impl Into<Arc<str>>, name: impl Into<Arc<str>>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

// The same key met in two maps is usually one allocation: equal without reading the bytes.
fn cmp_shared(a: &Arc<str>, b: &Arc<str>) -> std::cmp::Ordering {
    if Arc::ptr_eq(a, b) {
        std::cmp::Ordering::Equal
    } else {
        a.cmp(b)
    }
}

impl Ord for ServiceKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        cmp_shared(&self.namespace, &other.namespace)
            .then_with(|| cmp_shared(&self.name, &other.name))
    }
}

impl PartialOrd for ServiceKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ServiceKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl std::hash::Hash for ServiceKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (&*self.namespace, &*self.name).hash(state);
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A validated AnycastService (an invalid one is reported, never announced), shared between the
/// source, the engine and the status writer: an unchanged service is the same allocation from one
/// world to the next, so telling what changed is a pointer comparison.
pub type ServiceEntry = Arc<Result<ValidService, InvalidSpec>>;

/// Everything the planner decides from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    /// Every AnycastService, validated (an invalid one is reported, never announced). The
    /// collections are shared with the sources' world: planning a change copies none of them.
    pub services: Arc<BTreeMap<ServiceKey, ServiceEntry>>,
    /// Every AnycastPool by name, validated (an invalid one grants nothing).
    pub pools: Arc<BTreeMap<String, Result<ValidPool, InvalidSpec>>>,
    /// Namespace labels by namespace name (for pools' namespace selectors).
    pub namespaces: Arc<BTreeMap<String, BTreeMap<String, String>>>,
    /// This node.
    pub node: NodeInfo,
    /// Local health per service; a service without an entry has no ready endpoint and no
    /// probe result.
    pub health: BTreeMap<ServiceKey, LocalHealth>,
}

/// This node, as far as the planner cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations (MED offsets, drain).
    pub annotations: BTreeMap<String, String>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// The agent is stopping (SIGTERM): drain as for a cordon.
    pub shutting_down: bool,
    /// How long the node has been draining; the engine starts counting when
    /// [`NodeInfo::drain_cause`] turns `Some`, and it is ignored otherwise.
    pub drain_elapsed: Duration,
}

/// Why a node drains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainCause {
    /// The agent is stopping.
    ShuttingDown,
    /// The node is cordoned.
    Cordoned,
    /// The node has the exclude-from-external-load-balancers label.
    Excluded,
    /// The node has the `kube-anycast.io/drain` annotation.
    Annotated,
}

impl fmt::Display for DrainCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DrainCause::ShuttingDown => "the agent is shutting down",
            DrainCause::Cordoned => "the node is cordoned",
            DrainCause::Excluded => {
                "the node has label node.kubernetes.io/exclude-from-external-load-balancers"
            }
            DrainCause::Annotated => "the node has annotation kube-anycast.io/drain",
        })
    }
}

impl NodeInfo {
    /// Why this node drains, if it does.
    pub fn drain_cause(&self) -> Option<DrainCause> {
        if self.shutting_down {
            Some(DrainCause::ShuttingDown)
        } else if self.unschedulable {
            Some(DrainCause::Cordoned)
        } else if self.labels.contains_key(EXCLUDE_LABEL) {
            Some(DrainCause::Excluded)
        } else if self.annotations.contains_key(DRAIN_ANNOTATION) {
            Some(DrainCause::Annotated)
        } else {
            None
        }
    }
}

/// One service's health on this node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalHealth {
    /// Local endpoints that are ready and not terminating.
    pub ready: u32,
    /// All local endpoints.
    pub total: u32,
    /// Each probe's verdict after rise/fall dampening, by probe name; a probe without an entry
    /// has no verdict yet and counts as failing.
    pub probes: BTreeMap<String, bool>,
}

/// The planner's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The routes to announce. Shared: the engine hands this very map to the ExaBGP driver.
    pub rib: Arc<Rib>,
    /// What happens to each service on this node, and why. Shared: the plan after a change
    /// keeps the reports of the services it did not touch, and readers compare them by pointer.
    pub reports: BTreeMap<ServiceKey, Arc<Report>>,
    /// Plan again after this long even if no input changes (a drain delay ends).
    pub replan_after: Option<Duration>,
}

/// What one service announces from this node, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Its state.
    pub state: State,
    /// The MED announced (of the first prefix announced), with the node offset.
    pub med: Option<u32>,
    /// The prefixes announced.
    pub prefixes: Vec<IpNet>,
    /// The standard communities announced (of the first prefix announced).
    pub communities: Vec<String>,
    /// Addresses not announced because of policy, with the reason for each.
    pub refused: Vec<(IpAddr, String)>,
    /// Why, in words a person can act on.
    pub reason: String,
    /// Each probe's dampened verdict, by name (a probe without a result yet counts as failing).
    pub probes: BTreeMap<String, bool>,
}

impl Report {
    /// True when the agent should run this service's probes: the service is valid, allowed
    /// and selected here, so their results can change what is announced.
    pub fn runs_probes(&self) -> bool {
        !matches!(
            self.state,
            State::Invalid | State::Refused | State::NotSelected
        )
    }
}

#[cfg(test)]
mod incremental_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
