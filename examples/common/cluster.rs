//! The cluster the agent's benchmarks index: N AnycastServices with readiness from a core
//! Service of the same name, each selecting one local Pod, spread over 20 namespaces or over
//! `BENCH_NAMESPACES` (1: all in one, as scripts/bench/k8s.sh puts them).

use std::collections::BTreeMap;

use kube_anycast::crd::{AnycastPoolSpec, AnycastServiceSpec};
use kube_anycast::k8s::index::{Change, EndpointSource, Index, Update};
use kube_anycast::k8s::summary::{BackendSummary, PodSummary, PoolSummary, ServiceSummary};
use kube_anycast::plan::{NodeInfo, ServiceKey, validate_pool, validate_service};

/// The namespaces the services are spread over.
fn namespaces() -> u32 {
    std::env::var("BENCH_NAMESPACES")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(20)
}

/// The Pod of service `i`.
pub fn pod(i: u32, ready: bool) -> PodSummary {
    PodSummary {
        namespace: format!("ns{}", i % namespaces()),
        name: format!("pod{i}"),
        labels: BTreeMap::from([("app".to_owned(), format!("svc{i}"))]),
        is_local: true,
        is_ready: ready,
        ip: Some(std::net::IpAddr::from((0x0ac8_0000 + i).to_be_bytes())),
    }
}

/// An index that has listed `n` services, their core Services and Pods.
pub fn mk_index(n: u32) -> Result<Index, Box<dyn std::error::Error>> {
    let mut index = Index::new("node-a", EndpointSource::Pods);
    let pool: AnycastPoolSpec = serde_json::from_value(serde_json::json!({
        "cidrs": ["100.64.0.0/10"],
        "namespaceSelector": {},
    }))?;
    let mut services = Vec::new();
    let mut backends = Vec::new();
    let mut pods = Vec::new();
    for i in 0..n {
        let [_, b, c, d] = (i + 1).to_be_bytes();
        let spec: AnycastServiceSpec = serde_json::from_value(serde_json::json!({
            "addresses": [format!("100.{}.{c}.{d}", 64 + b)],
            "readiness": {"service": format!("svc{i}")},
        }))?;
        let key = ServiceKey::new(format!("ns{}", i % namespaces()), format!("svc{i}"));
        services.push(Box::new(ServiceSummary {
            key: key.clone(),
            uid: format!("uid-{i}"),
            valid: validate_service(&spec),
        }));
        backends.push(BackendSummary {
            namespace: key.namespace.to_string(),
            name: key.name.to_string(),
            selector: Some(BTreeMap::from([("app".to_owned(), format!("svc{i}"))])),
        });
        pods.push(pod(i, true));
    }
    for u in [
        Update::Service(Change::Reset(services)),
        Update::Pool(Change::Reset(vec![PoolSummary {
            name: "pool".to_owned(),
            valid: validate_pool(&pool),
        }])),
        Update::Namespace(Change::Reset(vec![])),
        Update::Node(Change::Reset(vec![NodeInfo {
            name: "node-a".to_owned(),
            ..NodeInfo::default()
        }])),
        Update::Backend(Change::Reset(backends)),
        Update::Pod(Change::Reset(pods)),
    ] {
        index.update(u);
    }
    Ok(index)
}
