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
    /// Slices with at least one local endpoint, by (namespace, slice name).
    slices: BTreeMap<NsName, SliceSummary>,
    /// This node's pods by (namespace, name).
    pods: BTreeMap<NsName, PodSummary>,
    /// Core Services' selectors by (namespace, name); `None`: no selector.
    backends: BTreeMap<NsName, Option<BTreeMap<String, String>>>,
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
            }
            Update::Service(Change::Apply(s)) => {
                Arc::make_mut(&mut world.services).insert(s.key.clone(), Arc::new(s.valid));
                Arc::make_mut(&mut world.service_uids).insert(s.key, s.uid);
            }
            Update::Service(Change::Delete(s)) => {
                Arc::make_mut(&mut world.services).remove(&s.key);
                Arc::make_mut(&mut world.service_uids).remove(&s.key);
            }
            Update::Pool(c) => change(Arc::make_mut(&mut world.pools), c, |p| (p.name, p.valid)),
            Update::Namespace(c) => change(Arc::make_mut(&mut world.namespaces), c, |n| {
                (n.name, n.labels)
            }),
            Update::Node(c) => self.change_node(c),
            Update::Slice(c) => change_local(&mut self.slices, c, |s| {
                ((s.namespace.clone(), s.name.clone()), s.total > 0)
            }),
            Update::Backend(c) => change(&mut self.backends, c, |b| {
                ((b.namespace, b.name), b.selector)
            }),
            Update::Pod(c) => change_local(&mut self.pods, c, |p| {
                ((p.namespace.clone(), p.name.clone()), p.is_local)
            }),
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
                let old = self.pods.get(&(p.namespace.clone(), p.name.clone()));
                let labels = old.into_iter().chain([p]).map(|p| p.labels.clone());
                Recount::PodLabels(p.namespace.clone(), labels.collect())
            }
            Update::Slice(Change::Apply(s) | Change::Delete(s)) => {
                let old = self.slices.get(&(s.namespace.clone(), s.name.clone()));
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
        let keys: Vec<ServiceKey> = match recount {
            Recount::None => return,
            Recount::All => self.world.services.keys().cloned().collect(),
            Recount::Services(keys) => keys,
            Recount::PodLabels(ns, labels) => self
                .services_of(&ns)
                .filter(|(_, readiness)| match readiness {
                    ReadinessSource::Pods(selector) => {
                        labels.iter().any(|l| selector_matches(selector, l))
                    }
                    ReadinessSource::Service(name) => {
                        let backend = self.backends.get(&(ns.clone(), name.clone()));
                        let selector = backend.and_then(Option::as_ref);
                        selector.is_some_and(|s| labels.iter().any(|l| labels_match(s, l)))
                    }
                })
                .map(|(k, _)| k.clone())
                .collect(),
            Recount::Backends(ns, names) => self
                .services_of(&ns)
                .filter(|(_, r)| matches!(r, ReadinessSource::Service(n) if names.contains(n)))
                .map(|(k, _)| k.clone())
                .collect(),
        };
        if keys.is_empty() {
            return;
        }
        // Only the namespaces involved are grouped: one namespace's pods for a pod event.
        let namespaces: BTreeSet<&str> = keys.iter().map(|k| &*k.namespace).collect();
        let in_namespaces = |(ns, _): &&NsName| namespaces.contains(ns.as_str());
        let local = LocalEndpoints::new(
            self.pods
                .iter()
                .filter(|(k, _)| in_namespaces(k))
                .map(|(_, p)| p),
            self.slices
                .iter()
                .filter(|(k, _)| in_namespaces(k))
                .map(|(_, s)| s),
        );
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
            let (n, ips) = local_endpoints(&self.backends, self.source, &local, &key, readiness);
            counts.insert(key.clone(), n);
            if ips.is_empty() {
                pod_ips.remove(&key);
            } else {
                pod_ips.insert(key, ips);
            }
        }
        self.world.endpoints = Some(endpoints);
    }

    /// The valid services of a namespace with their readiness source.
    fn services_of<'a>(
        &'a self,
        ns: &'a str,
    ) -> impl Iterator<Item = (&'a ServiceKey, &'a ReadinessSource)> + 'a {
        let from = ServiceKey::new(ns, "");
        self.world
            .services
            .range(from..)
            .take_while(move |(k, _)| &*k.namespace == ns)
            .filter_map(|(k, s)| s.as_ref().as_ref().ok().map(|s| (k, &s.readiness)))
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
    backends: &BTreeMap<NsName, Option<BTreeMap<String, String>>>,
    source: EndpointSource,
    local: &LocalEndpoints<'_>,
    key: &ServiceKey,
    readiness: &ReadinessSource,
) -> (EndpointCounts, Vec<std::net::IpAddr>) {
    let ns = &*key.namespace;
    match readiness {
        ReadinessSource::Service(name) if source == EndpointSource::Pods => {
            let backend = (key.namespace.to_string(), name.clone());
            // A Service without a selector (or not there) selects no pod.
            match backends.get(&backend) {
                Some(Some(selector)) => local.by_service_selector(ns, selector),
                _ => (EndpointCounts::default(), Vec::new()),
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

/// Like [`change`], but keeps only the entries `key` calls relevant to this node: an update that
/// moves the last local endpoint away removes the entry, so memory follows local endpoints only.
fn change_local<S, K: Ord>(map: &mut BTreeMap<K, S>, c: Change<S>, key: impl Fn(&S) -> (K, bool)) {
    match c {
        Change::Apply(s) => match key(&s) {
            (k, true) => {
                map.insert(k, s);
            }
            (k, false) => {
                map.remove(&k);
            }
        },
        Change::Delete(s) => {
            map.remove(&key(&s).0);
        }
        Change::Reset(all) => {
            *map = all
                .into_iter()
                .filter_map(|s| match key(&s) {
                    (k, true) => Some((k, s)),
                    (_, false) => None,
                })
                .collect();
        }
    }
}

#[cfg(test)]
mod incremental_tests;
#[cfg(test)]
mod tests;
