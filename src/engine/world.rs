//! What the agent's sources (Kubernetes watches or a directory of files) know: the input of the
//! engine, before probe verdicts are added.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::plan::{InvalidSpec, NodeInfo, ServiceEntry, ServiceKey, ValidPool};

/// Local endpoint counts of one service on this node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointCounts {
    /// Ready and not terminating.
    pub ready: u32,
    /// All local endpoints.
    pub total: u32,
}

/// Each validated `AnycastService`, by key.
pub type Services = BTreeMap<ServiceKey, ServiceEntry>;
/// Each validated `AnycastPool`, by name.
pub type Pools = BTreeMap<String, Result<ValidPool, InvalidSpec>>;
/// Labels by namespace name.
pub type NamespaceLabels = BTreeMap<String, BTreeMap<String, String>>;

/// Everything a source knows. Each collection is shared (`Arc`): a source changes only the ones
/// an event touches (copy on write), so publishing a world and cloning it are cheap whatever
/// the number of services.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct World {
    /// Every AnycastService, validated.
    pub services: Arc<Services>,
    /// Every AnycastPool, validated.
    pub pools: Arc<Pools>,
    /// Namespace labels.
    pub namespaces: Arc<NamespaceLabels>,
    /// This node.
    pub node: NodeInfo,
    /// Local endpoints per service; `None` without Kubernetes (standalone: probes alone decide).
    pub endpoints: Option<Arc<BTreeMap<ServiceKey, EndpointCounts>>>,
    /// Local pod IPs per service, for probes that target each local pod.
    pub pod_ips: Arc<BTreeMap<ServiceKey, Vec<std::net::IpAddr>>>,
    /// The UID of each AnycastService (Kubernetes only), for owner references and Events.
    pub service_uids: Arc<BTreeMap<ServiceKey, String>>,
}
