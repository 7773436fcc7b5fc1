//! The pure index: watch events (as summaries) in, the [`World`] out.
//!
//! Three operations per kind: apply, delete and reset (a completed relist). A watch error never
//! reaches the index, so it keeps its last contents (fail static); only a reset replaces them.
//! [`Index::world`] is `None` until every kind has had its first complete list, so the engine
//! never plans from a half-known world.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::engine::world::{EndpointCounts, World};
use crate::plan::{NodeInfo, ReadinessSource, ServiceKey, labels_match, selector_matches};

use self::dependents::{Backends, Dependents, selector_of};
use super::local::LocalEndpoints;
use super::summary::{
    BackendSummary, NamespaceSummary, PodSummary, PoolSummary, ServiceSummary, SliceSummary,
};

/// One change from one watch.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<S> {
    /// Added or modified.
    Apply(S),
    /// Deleted.
    Delete(S),
    /// A complete list: replaces everything of this kind.
    Reset(Vec<S>),
}

/// A change of one watched kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// An AnycastService (boxed: a validated spec is large beside the other summaries).
    Service(Change<Box<ServiceSummary>>),
    /// An AnycastPool.
    Pool(Change<PoolSummary>),
    /// A Namespace.
    Namespace(Change<NamespaceSummary>),
    /// This node.
    Node(Change<NodeInfo>),
    /// An EndpointSlice.
    Slice(Change<SliceSummary>),
    /// A core Service (its selector).
    Backend(Change<BackendSummary>),
    /// A Pod on this node.
    Pod(Change<PodSummary>),
}

/// The watched kinds, for sync tracking, logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// AnycastService.
    Service,
    /// AnycastPool.
    Pool,
    /// Namespace.
    Namespace,
    /// Node.
    Node,
    /// EndpointSlice.
    Slice,
    /// Service (core/v1).
    Backend,
    /// Pod.
    Pod,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 7] = [
        Kind::Service,
        Kind::Pool,
        Kind::Namespace,
        Kind::Node,
        Kind::Slice,
        Kind::Backend,
        Kind::Pod,
    ];

    /// True when `source` needs this kind watched.
    pub fn is_watched(self, source: EndpointSource) -> bool {
        match self {
            Kind::Slice => source == EndpointSource::EndpointSlices,
            Kind::Backend => source == EndpointSource::Pods,
            _ => true,
        }
    }

    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Service => "AnycastService",
            Kind::Pool => "AnycastPool",
            Kind::Namespace => "Namespace",
            Kind::Node => "Node",
            Kind::Slice => "EndpointSlice",
            Kind::Backend => "Service",
            Kind::Pod => "Pod",
        }
    }
}

impl Update {
    /// The kind this update is about.
    pub fn kind(&self) -> Kind {
        match self {
            Update::Service(_) => Kind::Service,
            Update::Pool(_) => Kind::Pool,
            Update::Namespace(_) => Kind::Namespace,
            Update::Node(_) => Kind::Node,
            Update::Slice(_) => Kind::Slice,
            Update::Backend(_) => Kind::Backend,
            Update::Pod(_) => Kind::Pod,
        }
    }

    /// True for a complete list.
    pub fn is_reset(&self) -> bool {
        matches!(
            self,
            Update::Service(Change::Reset(_))
                | Update::Pool(Change::Reset(_))
                | Update::Namespace(Change::Reset(_))
                | Update::Node(Change::Reset(_))
                | Update::Slice(Change::Reset(_))
                | Update::Backend(Change::Reset(_))
                | Update::Pod(Change::Reset(_))
        )
    }
}

type NsName = (String, String);

/// Where `readiness.service` counts local endpoints from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EndpointSource {
    /// This node's Pods (field selector `spec.nodeName`) matched against the Service's
    /// selector: watch traffic does not grow with other nodes' pods. A Service without a
    /// selector has no endpoints this way.
    #[default]
    Pods,
    /// Every EndpointSlice of the cluster, reduced to this node's endpoints: works for
    /// Services without a selector, but every agent receives every endpoint change.
    #[value(name = "endpointslices")]
    EndpointSlices,
}

/// Everything the watches told us, reduced to what this node needs.
#[derive(Debug, Clone, Default)]
pub struct Index {
    node_name: String,
    source: EndpointSource,
    /// The world as of the last update, kept current event by event: an event recounts only
    /// the services it can change, so its cost follows the event, not the cluster.
    world: World,
    node: Option<NodeInfo>,
    /// This node's pods, and the slices with at least one endpoint on this node.
    local: LocalEndpoints,
    /// Core Services' selectors.
    backends: Backends,
    /// Which services each pod, slice or core Service concerns.
    dependents: Dependents,
    listed: BTreeMap<Kind, bool>,
}

/// The services whose local endpoints an update may change.
enum Recount {
    None,
    All,
    /// These services.
    Services(Vec<ServiceKey>),
    /// The services of a namespace whose readiness matches one of these pods' labels.
    PodLabels(String, Vec<BTreeMap<String, String>>),
    /// The services of a namespace whose readiness names one of these core Services.
    Backends(String, Vec<String>),
}

impl Index {
    /// An empty index for the node `node_name`, counting endpoints from `source`.
    pub fn new(node_name: impl Into<String>, source: EndpointSource) -> Self {
        Self {
            node_name: node_name.into(),
            source,
            world: World {
                endpoints: Some(Arc::default()),
                ..World::default()
            },
            ..Self::default()
        }
    }

    /// True once `kind` has had a complete list.
    pub fn is_listed(&self, kind: Kind) -> bool {
        self.listed.get(&kind).copied().unwrap_or(false)
    }

    /// Applies one update.
    pub fn update(&mut self, update: Update) {
        let kind = update.kind();
        if update.is_reset() {
            self.listed.insert(kind, true);
        }
        let recount = self.recount_for(&update);
        let world = &mut self.world;
        match update {
            Update::Service(Change::Reset(all)) => {
                let (services, uids) = all
                    .into_iter()
                    .map(|s| ((s.key.clone(), Arc::new(s.valid)), (s.key, s.uid)))
                    .unzip();
                world.services = Arc::new(services);
                world.service_uids = Arc::new(uids);
                self.register_all();
            }
            Update::Service(Change::Apply(s)) => {
                let readiness = s.valid.as_ref().ok().map(|v| &v.readiness);
                let (backends, source) = (&self.backends, self.source);
                self.dependents.set(&s.key, readiness, backends, source);
                Arc::make_mut(&mut world.services).insert(s.key.clone(), Arc::new(s.valid));
                Arc::make_mut(&mut world.service_uids).insert(s.key, s.uid);
            }
            Update::Service(Change::Delete(s)) => {
                self.dependents.remove(&s.key);
                Arc::make_mut(&mut world.services).remove(&s.key);
                Arc::make_mut(&mut world.service_uids).remove(&s.key);
            }
            Update::Pool(c) => change(Arc::make_mut(&mut world.pools), c, |p| (p.name, p.valid)),
            Update::Namespace(c) => change(Arc::make_mut(&mut world.namespaces), c, |n| {
                (n.name, n.labels)
            }),
            Update::Node(c) => self.change_node(c),
            Update::Slice(Change::Apply(s)) => self.local.apply_slice(s),
            Update::Slice(Change::Delete(s)) => self.local.remove_slice(&s.namespace, &s.name),
            Update::Slice(Change::Reset(all)) => self.local.reset_slices(all),
            Update::Backend(c) => {
                let changed = match &c {
                    Change::Apply(b) | Change::Delete(b) => {
                        Some((b.namespace.clone(), b.name.clone()))
                    }
                    Change::Reset(_) => None,
                };
                change(&mut self.backends, c, |b| {
                    ((b.namespace, b.name), b.selector)
                });
                match changed {
                    Some((ns, name)) => self.register_dependents_of(&ns, &name),
                    None => self.register_all(),
                }
            }
            Update::Pod(Change::Apply(p)) => self.local.apply_pod(p),
            Update::Pod(Change::Delete(p)) => self.local.remove_pod(&p.namespace, &p.name),
            Update::Pod(Change::Reset(all)) => self.local.reset_pods(all),
        }
        self.recount(recount);
    }

    /// Which services `update` may change the endpoints of, judged before it applies (the old
    /// pod or slice matters as much as the new one).
    fn recount_for(&self, update: &Update) -> Recount {
        let pods_count = self.source == EndpointSource::Pods;
        match update {
            Update::Pool(_) | Update::Namespace(_) | Update::Node(_) => Recount::None,
            u if u.is_reset() => Recount::All,
            Update::Service(Change::Apply(s) | Change::Delete(s)) => {
                Recount::Services(vec![s.key.clone()])
            }
            Update::Pod(Change::Apply(p) | Change::Delete(p)) => {
                let old = self.local.pod(&p.namespace, &p.name);
                let labels = old.into_iter().chain([p]).map(|p| p.labels.clone());
                Recount::PodLabels(p.namespace.clone(), labels.collect())
            }
            Update::Slice(Change::Apply(s) | Change::Delete(s)) => {
                let old = self.local.slice(&s.namespace, &s.name);
                let names = old.into_iter().chain([s]).filter_map(|s| s.service.clone());
                Recount::Backends(s.namespace.clone(), names.collect())
            }
            Update::Backend(Change::Apply(b) | Change::Delete(b)) if pods_count => {
                Recount::Backends(b.namespace.clone(), vec![b.name.clone()])
            }
            Update::Backend(_) | Update::Slice(_) | Update::Pod(_) | Update::Service(_) => {
                Recount::None
            }
        }
    }

    fn recount(&mut self, recount: Recount) {
        let keys: BTreeSet<ServiceKey> = match recount {
            Recount::None => return,
            Recount::All => self.world.services.keys().cloned().collect(),
            Recount::Services(keys) => keys.into_iter().collect(),
            Recount::PodLabels(ns, labels) => labels
                .iter()
                .flat_map(|l| self.dependents.of_pod(&ns, l).map(move |k| (k, l)))
                .filter(|(k, l)| self.selects(k, l))
                .map(|(k, _)| k.clone())
                .collect(),
            Recount::Backends(ns, names) => names
                .iter()
                .flat_map(|name| self.dependents.of_backend(&ns, name))
                .cloned()
                .collect(),
        };
        if keys.is_empty() {
            return;
        }
        let mut endpoints = self.world.endpoints.take().unwrap_or_default();
        let counts = Arc::make_mut(&mut endpoints);
        let pod_ips = Arc::make_mut(&mut self.world.pod_ips);
        for key in keys {
            let Some(Ok(svc)) = self.world.services.get(&key).map(|s| &**s) else {
                // Gone or invalid: nothing to count.
                counts.remove(&key);
                pod_ips.remove(&key);
                continue;
            };
            let readiness = &svc.readiness;
            let (n, ips) =
                local_endpoints(&self.backends, self.source, &self.local, &key, readiness);
            counts.insert(key.clone(), n);
            if ips.is_empty() {
                pod_ips.remove(&key);
            } else {
                pod_ips.insert(key, ips);
            }
        }
        self.world.endpoints = Some(endpoints);
    }

    /// True when the valid service `key` selects a pod with these labels.
    fn selects(&self, key: &ServiceKey, labels: &BTreeMap<String, String>) -> bool {
        let Some(Ok(svc)) = self.world.services.get(key).map(|s| &**s) else {
            return false;
        };
        match &svc.readiness {
            ReadinessSource::Pods(selector) => selector_matches(selector, labels),
            ReadinessSource::Service(name) => {
                let selector = selector_of(&self.backends, &key.namespace, name);
                selector.is_some_and(|s| labels_match(s, labels))
            }
        }
    }

    /// Registers every service's readiness again (after a complete list).
    fn register_all(&mut self) {
        self.dependents.clear();
        for (key, svc) in self.world.services.iter() {
            let readiness = svc.as_ref().as_ref().ok().map(|s| &s.readiness);
            self.dependents
                .set(key, readiness, &self.backends, self.source);
        }
    }

    /// Registers again the services whose readiness names the core Service `ns/name` (its
    /// selector decides which pods they count).
    fn register_dependents_of(&mut self, ns: &str, name: &str) {
        let keys: Vec<ServiceKey> = self.dependents.of_backend(ns, name).cloned().collect();
        for key in keys {
            let svc = self.world.services.get(&key);
            let readiness = svc
                .and_then(|s| s.as_ref().as_ref().ok())
                .map(|s| &s.readiness);
            self.dependents
                .set(&key, readiness, &self.backends, self.source);
        }
    }

    fn change_node(&mut self, c: Change<NodeInfo>) {
        match c {
            Change::Apply(n) if n.name == self.node_name => self.node = Some(n),
            Change::Delete(n) if n.name == self.node_name => self.node = None,
            Change::Apply(_) | Change::Delete(_) => {}
            Change::Reset(all) => self.node = all.into_iter().find(|n| n.name == self.node_name),
        }
    }

    /// The world, once every kind has listed.
    pub fn world(&self) -> Option<World> {
        let needed = Kind::ALL.iter().filter(|k| k.is_watched(self.source));
        if !needed.copied().all(|k| self.is_listed(k)) {
            return None;
        }
        Some(World {
            // A node object that does not exist (yet) is a node with no labels: it drains
            // nothing and selects by name only.
            node: self.node.clone().unwrap_or_else(|| NodeInfo {
                name: self.node_name.clone(),
                ..NodeInfo::default()
            }),
            ..self.world.clone()
        })
    }
}

/// The local endpoints of one service, from the source its readiness names.
fn local_endpoints(
    backends: &Backends,
    source: EndpointSource,
    local: &LocalEndpoints,
    key: &ServiceKey,
    readiness: &ReadinessSource,
) -> (EndpointCounts, Vec<std::net::IpAddr>) {
    let ns = &*key.namespace;
    match readiness {
        ReadinessSource::Service(name) if source == EndpointSource::Pods => {
            match selector_of(backends, ns, name) {
                Some(selector) => local.by_service_selector(ns, selector),
                None => (EndpointCounts::default(), Vec::new()),
            }
        }
        ReadinessSource::Service(name) => local.by_slices(ns, name),
        ReadinessSource::Pods(selector) => local.by_pod_selector(ns, selector),
    }
}

/// Applies a change to a map keyed by what `split` extracts.
fn change<S, K: Ord, V>(map: &mut BTreeMap<K, V>, c: Change<S>, split: impl Fn(S) -> (K, V)) {
    match c {
        Change::Apply(s) => {
            let (k, v) = split(s);
            map.insert(k, v);
        }
        Change::Delete(s) => {
            let (k, _) = split(s);
            map.remove(&k);
        }
        Change::Reset(all) => *map = all.into_iter().map(split).collect(),
    }
}

mod dependents;
#[cfg(test)]
mod incremental_tests;
#[cfg(test)]
mod tests;
