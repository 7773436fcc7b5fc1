//! What the agent's sources (Kubernetes watches or a directory of files) know: the input of the
//! engine, before probe verdicts are added.

use std::collections::BTreeMap;

use crate::plan::{InvalidSpec, NodeInfo, ServiceEntry, ServiceKey, ValidPool};

/// Local endpoint counts of one service on this node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointCounts {
    /// Ready and not terminating.
    pub ready: u32,
    /// All local endpoints.
    pub total: u32,
}

/// Everything a source knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct World {
    /// Every AnycastService, validated.
    pub services: BTreeMap<ServiceKey, ServiceEntry>,
    /// Every AnycastPool, validated.
    pub pools: BTreeMap<String, Result<ValidPool, InvalidSpec>>,
    /// Namespace labels.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// This node.
    pub node: NodeInfo,
    /// Local endpoints per service; `None` without Kubernetes (standalone: probes alone decide).
    pub endpoints: Option<BTreeMap<ServiceKey, EndpointCounts>>,
    /// Local pod IPs per service, for probes that target each local pod.
    pub pod_ips: BTreeMap<ServiceKey, Vec<std::net::IpAddr>>,
    /// The UID of each AnycastService (Kubernetes only), for owner references and Events.
    pub service_uids: BTreeMap<ServiceKey, String>,
}
