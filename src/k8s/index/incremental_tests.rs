//! The index keeps its world current event by event; after any sequence of events it must equal
//! the world of an index that received everything as one complete list (which counts every
//! service from scratch).

use std::net::IpAddr;

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::crd::AnycastService;
use crate::k8s::summary::{BackendSummary, PodSummary, SliceSummary, summarize_service};

const NODE: &str = "node-a";
const NAMESPACES: [&str; 2] = ["ns1", "ns2"];
const APPS: [&str; 3] = ["web", "db", "dns"];

/// One watch event.
#[derive(Debug, Clone)]
enum Event {
    Service(usize, usize, Option<Readiness>),
    /// `Some(None)`: a Service without a selector.
    #[allow(
        clippy::option_option,
        reason = "absent object vs object without a selector"
    )]
    Backend(usize, usize, Option<Option<usize>>),
    Pod(usize, usize, Option<(usize, bool, bool, bool)>),
    Slice(usize, usize, Option<(Option<usize>, u8, u8)>),
}

/// Readiness of a generated service: a core Service by app name, or a pod selector by app
/// (with `tier: front` too), or by the tier label's existence alone (no pair required).
#[derive(Debug, Clone)]
enum Readiness {
    Service(usize),
    Pods(usize),
    PodsAndTier(usize),
    PodsWithTier,
}

fn arb_event() -> impl Strategy<Value = Event> {
    let readiness = prop_oneof![
        (0..APPS.len()).prop_map(Readiness::Service),
        (0..APPS.len()).prop_map(Readiness::Pods),
        (0..APPS.len()).prop_map(Readiness::PodsAndTier),
        Just(Readiness::PodsWithTier),
    ];
    let ns = 0..NAMESPACES.len();
    prop_oneof![
        (
            ns.clone(),
            0..4usize,
            prop::option::weighted(0.8, readiness)
        )
            .prop_map(|(n, i, r)| Event::Service(n, i, r)),
        (
            ns.clone(),
            0..APPS.len(),
            prop::option::weighted(0.8, prop::option::weighted(0.8, 0..APPS.len()))
        )
            .prop_map(|(n, i, s)| Event::Backend(n, i, s)),
        (
            ns.clone(),
            0..6usize,
            prop::option::weighted(
                0.85,
                (
                    0..APPS.len(),
                    any::<bool>(),
                    prop::bool::weighted(0.8),
                    any::<bool>()
                )
            )
        )
            .prop_map(|(n, i, p)| Event::Pod(n, i, p)),
        (
            ns,
            0..4usize,
            prop::option::weighted(
                0.85,
                (prop::option::weighted(0.9, 0..APPS.len()), 0..3u8, 0..3u8)
            )
        )
            .prop_map(|(n, i, s)| Event::Slice(n, i, s)),
    ]
}

fn service(ns: usize, i: usize, readiness: &Readiness) -> Box<ServiceSummary> {
    let readiness = match readiness {
        Readiness::Service(app) => json!({"service": APPS[*app]}),
        Readiness::Pods(app) => json!({"podSelector": {"matchLabels": {"app": APPS[*app]}}}),
        Readiness::PodsAndTier(app) => {
            json!({"podSelector": {"matchLabels": {"app": APPS[*app], "tier": "front"}}})
        }
        Readiness::PodsWithTier => json!({"podSelector": {
            "matchExpressions": [{"key": "tier", "operator": "Exists"}],
        }}),
    };
    let spec = json!({"addresses": [format!("192.0.2.{i}")], "readiness": readiness});
    let mut svc = AnycastService::new(&format!("svc{i}"), serde_json::from_value(spec).unwrap());
    svc.metadata.namespace = Some(NAMESPACES[ns].into());
    svc.metadata.uid = Some(format!("uid-{ns}-{i}"));
    Box::new(summarize_service(&svc))
}

fn backend(ns: usize, app: usize, selector: Option<usize>) -> BackendSummary {
    BackendSummary {
        namespace: NAMESPACES[ns].into(),
        name: APPS[app].into(),
        selector: selector.map(|s| [("app".to_owned(), APPS[s].to_owned())].into()),
    }
}

fn pod(ns: usize, i: usize, (app, ready, local, front): (usize, bool, bool, bool)) -> PodSummary {
    let mut labels = BTreeMap::from([("app".to_owned(), APPS[app].to_owned())]);
    if front {
        labels.insert("tier".to_owned(), "front".to_owned());
    }
    PodSummary {
        namespace: NAMESPACES[ns].into(),
        name: format!("pod{i}"),
        labels,
        is_local: local,
        is_ready: ready,
        ip: Some(IpAddr::from([
            10,
            0,
            u8::try_from(ns).unwrap(),
            u8::try_from(i).unwrap(),
        ])),
    }
}

fn slice(ns: usize, i: usize, (service, ready, extra): (Option<usize>, u8, u8)) -> SliceSummary {
    SliceSummary {
        namespace: NAMESPACES[ns].into(),
        name: format!("slice{i}"),
        service: service.map(|s| APPS[s].to_owned()),
        ready: ready.into(),
        total: u32::from(ready + extra),
        ready_ips: (0..ready)
            .map(|r| IpAddr::from([10, 1, u8::try_from(i).unwrap(), r]))
            .collect(),
    }
}

/// What the API server holds, by kind and (namespace, name).
#[derive(Default)]
struct Cluster {
    services: BTreeMap<(usize, usize), Box<ServiceSummary>>,
    backends: BTreeMap<(usize, usize), BackendSummary>,
    pods: BTreeMap<(usize, usize), PodSummary>,
    slices: BTreeMap<(usize, usize), SliceSummary>,
}

impl Cluster {
    /// Applies an event; returns the watch update it makes.
    fn apply(&mut self, event: &Event) -> Update {
        fn step<T: Clone>(
            map: &mut BTreeMap<(usize, usize), T>,
            key: (usize, usize),
            new: Option<T>,
            old: impl Fn() -> T,
        ) -> Change<T> {
            match new {
                Some(v) => {
                    map.insert(key, v.clone());
                    Change::Apply(v)
                }
                None => Change::Delete(map.remove(&key).unwrap_or_else(old)),
            }
        }
        match event {
            Event::Service(n, i, r) => Update::Service(step(
                &mut self.services,
                (*n, *i),
                r.as_ref().map(|r| service(*n, *i, r)),
                || service(*n, *i, &Readiness::Pods(0)),
            )),
            Event::Backend(n, i, s) => Update::Backend(step(
                &mut self.backends,
                (*n, *i),
                s.map(|s| backend(*n, *i, s)),
                || backend(*n, *i, None),
            )),
            Event::Pod(n, i, p) => Update::Pod(step(
                &mut self.pods,
                (*n, *i),
                p.map(|p| pod(*n, *i, p)),
                || pod(*n, *i, (0, false, true, false)),
            )),
            Event::Slice(n, i, s) => Update::Slice(step(
                &mut self.slices,
                (*n, *i),
                s.map(|s| slice(*n, *i, s)),
                || slice(*n, *i, (None, 0, 0)),
            )),
        }
    }

    /// An index that got everything as complete lists.
    fn listed(&self, source: EndpointSource) -> Index {
        let mut index = Index::new(NODE, source);
        for u in [
            Update::Service(Change::Reset(self.services.values().cloned().collect())),
            Update::Pool(Change::Reset(vec![])),
            Update::Namespace(Change::Reset(vec![])),
            Update::Node(Change::Reset(vec![])),
            Update::Slice(Change::Reset(self.slices.values().cloned().collect())),
            Update::Backend(Change::Reset(self.backends.values().cloned().collect())),
            Update::Pod(Change::Reset(self.pods.values().cloned().collect())),
        ] {
            index.update(u);
        }
        index
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_world_kept_event_by_event_equals_one_counted_from_scratch(
        events in prop::collection::vec(arb_event(), 1..40),
        from_pods: bool,
    ) {
        let source = if from_pods { EndpointSource::Pods } else { EndpointSource::EndpointSlices };
        let mut cluster = Cluster::default();
        let mut index = cluster.listed(source);
        for event in &events {
            index.update(cluster.apply(event));
            let kept = index.world().expect("listed");
            let counted = cluster.listed(source).world().expect("listed");
            prop_assert_eq!(&kept.endpoints, &counted.endpoints, "after {:?}", event);
            prop_assert_eq!(&kept.pod_ips, &counted.pod_ips, "after {:?}", event);
            prop_assert_eq!(&kept.service_uids, &counted.service_uids);
            prop_assert_eq!(kept, counted);
        }
    }
}
