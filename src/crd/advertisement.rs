//! `AnycastAdvertisement`: what one node announces for one service, and why.
//!
//! Each agent writes only the objects of its own node (server-side apply, one field manager per
//! node), so no two agents ever contend for one object, and only for the services its node
//! matters for ([`crate::plan::keeps_advertisement`]).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// The label naming the AnycastService an advertisement reports on.
pub const SERVICE_LABEL: &str = "kube-anycast.io/service";
/// The label naming the node an advertisement reports on.
pub const NODE_LABEL: &str = "kube-anycast.io/node";

/// One node's announcement of one AnycastService. Written by that node's agent; read it with
/// `kubectl get anycastadvertisements -l kube-anycast.io/service=NAME`.
#[expect(
    clippy::duplicated_attributes,
    reason = "printer columns repeat `type_ = \"string\"`, one per column"
)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kube-anycast.io",
    version = "v1alpha1",
    kind = "AnycastAdvertisement",
    doc = "What one node announces for one AnycastService, and why; written by that node's agent.",
    namespaced,
    shortname = "aadv",
    category = "kube-anycast",
    printcolumn(name = "Node", type_ = "string", json_path = ".spec.node"),
    printcolumn(name = "Service", type_ = "string", json_path = ".spec.service"),
    printcolumn(name = "State", type_ = "string", json_path = ".spec.state"),
    printcolumn(name = "MED", type_ = "integer", json_path = ".spec.med"),
    printcolumn(name = "Prefixes", type_ = "string", json_path = ".spec.prefixes"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".spec.reason"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AnycastAdvertisementSpec {
    /// The node announcing.
    #[schemars(length(min = 1, max = 253))]
    pub node: String,
    /// The AnycastService (same namespace).
    #[schemars(length(min = 1, max = 253))]
    pub service: String,
    /// The service's state on this node.
    pub state: AdvertisedState,
    /// The MED announced (state MED plus the node's offset); absent when nothing is announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub med: Option<u32>,
    /// The prefixes announced from this node.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// The standard communities announced (service, state and pool communities).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
    /// Why the service is in this state, in words a person can act on.
    #[serde(default)]
    pub reason: String,
    /// Ready local endpoints (ready and not terminating).
    #[serde(default)]
    pub ready_endpoints: u32,
    /// All local endpoints.
    #[serde(default)]
    pub total_endpoints: u32,
    /// The latest verdict of each probe, after rise/fall dampening.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeReport>,
    /// When `state` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// A service's state on one node.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdvertisedState {
    /// Healthy: announced with the up MED.
    Up,
    /// Probe score under the up threshold: announced with the degraded MED.
    Degraded,
    /// Unhealthy: withdrawn, or announced with the down MED.
    Down,
    /// `spec.disabled`: per the service's disabled settings.
    Disabled,
    /// The node is draining: announced with `GRACEFUL_SHUTDOWN`, or withdrawn.
    Draining,
    /// Not announced because of policy: an address outside the granted pools, a conflict
    /// with another service, or a probe the pool does not allow.
    Refused,
    /// Not announced because the spec does not validate.
    Invalid,
    /// The service or its pools do not select this node.
    NotSelected,
}

/// One probe's latest verdict.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ProbeReport {
    /// The probe's name.
    pub name: String,
    /// Passing after rise/fall dampening.
    pub passing: bool,
    /// Whether it is a critical probe.
    #[serde(default)]
    pub critical: bool,
    /// Its weight.
    #[serde(default)]
    pub weight: u32,
}
