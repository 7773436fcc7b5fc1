//! Pure conversions from watched objects to the small summaries the index keeps. Converting in
//! the watcher task, before anything is buffered or stored, keeps the agent's memory
//! proportional to what concerns this node rather than to the size of the objects.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use kube::ResourceExt;

use crate::crd::{AnycastPool, AnycastService};
use crate::plan::{InvalidSpec, NodeInfo, ServiceKey, ValidPool, ValidService};
use crate::plan::{validate_pool, validate_service};

/// The label an EndpointSlice carries naming its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// An AnycastService, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSummary {
    /// Namespace and name.
    pub key: ServiceKey,
    /// `metadata.uid`.
    pub uid: String,
    /// The validated spec.
    pub valid: Result<ValidService, InvalidSpec>,
}

/// An AnycastPool, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSummary {
    /// Its name.
    pub name: String,
    /// The validated spec.
    pub valid: Result<ValidPool, InvalidSpec>,
}

/// A namespace's labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceSummary {
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// The endpoints of one EndpointSlice that are on this node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SliceSummary {
    /// Namespace of the slice (and of its Service).
    pub namespace: String,
    /// The slice's name.
    pub name: String,
    /// The Service it belongs to (label `kubernetes.io/service-name`).
    pub service: Option<String>,
    /// Local endpoints that are ready and not terminating.
    pub ready: u32,
    /// All local endpoints.
    pub total: u32,
    /// Addresses of the ready local endpoints.
    pub ready_ips: Vec<IpAddr>,
}

/// A core Service: only its selector matters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackendSummary {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.selector`; `None` when absent or empty (such a Service selects no pod).
    pub selector: Option<BTreeMap<String, String>>,
}

/// Summarizes a core Service.
pub fn summarize_backend(svc: &k8s_openapi::api::core::v1::Service) -> BackendSummary {
    BackendSummary {
        namespace: svc.namespace().unwrap_or_default(),
        name: svc.name_any(),
        selector: svc
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .filter(|s| !s.is_empty()),
    }
}

/// One of this node's Pods.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodSummary {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels, for `readiness.podSelector`.
    pub labels: BTreeMap<String, String>,
    /// On this node (`spec.nodeName`); the field selector should ensure it.
    pub is_local: bool,
    /// Ready condition true and no deletion timestamp.
    pub is_ready: bool,
    /// `status.podIP`.
    pub ip: Option<IpAddr>,
}

/// Summarizes an AnycastService.
pub fn summarize_service(svc: &AnycastService) -> ServiceSummary {
    ServiceSummary {
        key: ServiceKey::new(svc.namespace().unwrap_or_default(), svc.name_any()),
        uid: svc.uid().unwrap_or_default(),
        valid: validate_service(&svc.spec),
    }
}

/// Summarizes an AnycastPool.
pub fn summarize_pool(pool: &AnycastPool) -> PoolSummary {
    PoolSummary {
        name: pool.name_any(),
        valid: validate_pool(&pool.spec),
    }
}

/// Summarizes a Namespace.
pub fn summarize_namespace(ns: &Namespace) -> NamespaceSummary {
    NamespaceSummary {
        name: ns.name_any(),
        labels: ns.labels().clone(),
    }
}

/// What the planner needs of a Node.
pub fn summarize_node(node: &Node) -> NodeInfo {
    NodeInfo {
        name: node.name_any(),
        labels: node.labels().clone(),
        annotations: node.annotations().clone(),
        unschedulable: node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false),
        ..NodeInfo::default()
    }
}

/// An endpoint counts as ready when `conditions.ready` is true and `terminating` is not:
/// kube-anycast withdraws as soon as a pod starts terminating, so traffic leaves the node before
/// the pod stops (MetalLB keeps announcing terminating-but-serving endpoints).
pub fn is_endpoint_ready(ep: &Endpoint) -> bool {
    let c = ep.conditions.as_ref();
    c.and_then(|c| c.ready) == Some(true) && c.and_then(|c| c.terminating) != Some(true)
}

/// Counts the endpoints of `slice` that are on `node`.
pub fn summarize_slice(slice: &EndpointSlice, node: &str) -> SliceSummary {
    let local = slice
        .endpoints
        .iter()
        .flatten()
        .filter(|ep| ep.node_name.as_deref() == Some(node));
    let mut summary = SliceSummary {
        namespace: slice.namespace().unwrap_or_default(),
        name: slice.name_any(),
        service: slice.labels().get(SERVICE_NAME_LABEL).cloned(),
        ..SliceSummary::default()
    };
    for ep in local {
        summary.total += 1;
        if is_endpoint_ready(ep) {
            summary.ready += 1;
            summary
                .ready_ips
                .extend(ep.addresses.iter().filter_map(|a| a.parse::<IpAddr>().ok()));
        }
    }
    summary
}

/// Summarizes a Pod: ready when its `Ready` condition is `True` and it is not terminating.
pub fn summarize_pod(pod: &Pod, node: &str) -> PodSummary {
    let status = pod.status.as_ref();
    let is_ready_condition = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    PodSummary {
        namespace: pod.namespace().unwrap_or_default(),
        name: pod.name_any(),
        labels: pod.labels().clone(),
        is_local: pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node),
        is_ready: is_ready_condition && pod.metadata.deletion_timestamp.is_none(),
        ip: status
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse().ok()),
    }
}
