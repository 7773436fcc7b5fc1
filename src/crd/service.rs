//! `AnycastService`: which IPs a namespace wants announced, when they count as healthy, and
//! what to announce in each state.
//!
//! The schema rejects what it can (CEL rules, ranges, patterns) so `kubectl apply` names the
//! field at fault; `plan::validate` parses the rest (communities, AS paths) with the typed
//! parsers before anything reaches ExaBGP.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{BgpAttributes, DURATION_PATTERN};

/// An anycast service: host routes announced over BGP from every node where the service is
/// healthy.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kube-anycast.io",
    version = "v1alpha1",
    kind = "AnycastService",
    doc = "Service IPs announced over BGP from every node where the service is healthy.",
    namespaced,
    shortname = "asvc",
    category = "kube-anycast",
    printcolumn(name = "Addresses", type_ = "string", json_path = ".spec.addresses"),
    printcolumn(name = "Disabled", type_ = "boolean", json_path = ".spec.disabled"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AnycastServiceSpec {
    /// The service IPs (IPv4 or IPv6 host addresses, without a prefix length). Each is announced
    /// as a host route (/32 or /128) and must lie in an AnycastPool granted to this namespace.
    #[schemars(
        length(min = 1, max = 64),
        inner(length(min = 2, max = 45)),
        extend("x-kubernetes-list-type" = "set")
    )]
    #[x_kube(validation = kube::core::Rule::new("self.all(a, isIP(a))")
        .message("every address must be an IPv4 or IPv6 host address such as 192.0.2.10 or 2001:db8::10"))]
    pub addresses: Vec<String>,

    /// Where readiness comes from: exactly one of `service` or `podSelector`.
    pub readiness: Readiness,

    /// The number of ready endpoints on a node below which the service is never up there.
    #[serde(default = "default_min_ready")]
    #[schemars(range(min = 0, max = 100_000))]
    pub min_ready_endpoints: u32,

    /// Extra checks on top of readiness. The weighted share of passing probes decides between
    /// up, degraded and down; a failing `critical` probe means down whatever the weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub probes: Vec<Probe>,

    /// Score thresholds, in percent of the total probe weight.
    #[serde(default)]
    pub thresholds: Thresholds,

    /// Probe timing and rise/fall dampening.
    #[serde(default)]
    pub timings: Timings,

    /// What to announce in each state.
    #[serde(default)]
    pub announce: Announce,

    /// BGP attributes on every announcement of this service.
    #[serde(default, flatten)]
    pub attributes: BgpAttributes,

    /// The next hop: `self` (the BGP session's local address, the default) or an IP address of
    /// the same family as every address (a dual-stack service keeps `self`).
    #[serde(default = "default_next_hop")]
    #[schemars(length(min = 2, max = 45))]
    #[x_kube(validation = kube::core::Rule::new("self == 'self' || isIP(self)")
        .message("nextHop must be 'self' or an IP address"))]
    pub next_hop: String,

    /// Announce only to these BGP neighbors (IP addresses). Empty: every neighbor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(min = 2, max = 45)),
        extend("x-kubernetes-list-type" = "set")
    )]
    #[x_kube(validation = kube::core::Rule::new("self.all(n, isIP(n))")
        .message("every neighbor must be an IP address"))]
    pub neighbors: Vec<String>,

    /// Announce only from nodes with all of these labels. Empty: every node the pool allows.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,

    /// Maintenance switch: every node announces the `disabled` state (withdraw by default).
    #[serde(default)]
    pub disabled: bool,
}

fn default_min_ready() -> u32 {
    1
}

fn default_next_hop() -> String {
    "self".to_owned()
}

/// Where a node learns how many of the service's endpoints are local and ready.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.service) != has(self.podSelector)")
    .message("set exactly one of readiness.service or readiness.podSelector"))]
pub struct Readiness {
    /// A Service in the same namespace: its EndpointSlices give the ready local endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub service: Option<String>,
    /// Pods in the same namespace matching this selector; a pod is a ready endpoint when its
    /// Ready condition is true and it is not terminating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
}

/// One check run by the agent on each node.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new(
        "[has(self.http), has(self.tcp), has(self.icmp), has(self.grpc), has(self.exec)].filter(x, x).size() == 1"
    ).message("set exactly one of http, tcp, icmp, grpc or exec"),
    validation = kube::core::Rule::new("(self.target == 'Address') == has(self.address)")
        .message("address is required when target is Address, and only then"),
    validation = kube::core::Rule::new("!has(self.exec) || self.target == 'ServiceIP'")
        .message("exec probes run on the node and take no target")
)]
pub struct Probe {
    /// A name, unique within the service; it labels results and metrics.
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
    /// What the probe connects to.
    #[serde(default)]
    pub target: ProbeTarget,
    /// `host:port` (or a bare host for ICMP) when `target` is `Address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 261))]
    pub address: Option<String>,
    /// HTTP or HTTPS GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    /// TCP connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<PortCheck>,
    /// ICMP echo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpCheck>,
    /// gRPC health checking protocol (`grpc.health.v1.Health/Check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcCheck>,
    /// A command on the node; exit status 0 passes. Only allowed by a pool with `allowExec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecCheck>,
    /// How long one attempt may take, e.g. `2s`.
    #[serde(default = "default_timeout")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub timeout: String,
    /// The probe's share of the score.
    #[serde(default = "default_weight")]
    #[schemars(range(min = 1, max = 1000))]
    pub weight: u32,
    /// A dependency: while it fails the service is down, whatever the other probes say.
    #[serde(default)]
    pub critical: bool,
}

fn default_timeout() -> String {
    "2s".to_owned()
}

fn default_weight() -> u32 {
    1
}

/// What a probe connects to.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum ProbeTarget {
    /// The service IP (on this node's loopback).
    #[default]
    ServiceIP,
    /// Each ready local endpoint (pod IP); the probe passes when all of them pass.
    LocalPods,
    /// The fixed `address`.
    Address,
}

/// The scheme of an HTTP probe.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum HttpScheme {
    /// Plain HTTP.
    #[default]
    HTTP,
    /// HTTPS (the certificate is not verified: the probe checks the service, not its PKI).
    HTTPS,
}

/// An HTTP(S) GET.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct HttpCheck {
    /// The port (ignored when `target` is `Address` with a port).
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// The request path.
    #[serde(default = "default_path")]
    #[schemars(length(min = 1, max = 2048), pattern(r"^/[^\s]*$"))]
    pub path: String,
    /// HTTP or HTTPS.
    #[serde(default)]
    pub scheme: HttpScheme,
    /// Accepted status codes: one code (`200`) or an inclusive range (`200-399`).
    #[serde(default = "default_status")]
    #[schemars(pattern(r"^[1-5][0-9][0-9](-[1-5][0-9][0-9])?$"))]
    pub expected_status: String,
    /// When set, the response body must contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub body_contains: Option<String>,
}

fn default_path() -> String {
    "/".to_owned()
}

fn default_status() -> String {
    "200-399".to_owned()
}

/// A TCP connect to a port.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct PortCheck {
    /// The port (ignored when `target` is `Address` with a port).
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
}

/// An ICMP echo request.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct IcmpCheck {}

/// A gRPC health check.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct GrpcCheck {
    /// The port.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// The service name sent in the request; empty asks about the server as a whole.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 253))]
    pub service: String,
}

/// A command run on the node.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct ExecCheck {
    /// The program and its arguments (no shell).
    #[schemars(length(min = 1, max = 64))]
    pub command: Vec<String>,
}

/// Score thresholds in percent of the total probe weight.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[x_kube(validation = kube::core::Rule::new("self.degraded <= self.up")
    .message("thresholds.degraded must not exceed thresholds.up"))]
pub struct Thresholds {
    /// At or above this score the service is up.
    #[serde(default = "default_up")]
    #[schemars(range(min = 0, max = 100))]
    pub up: u8,
    /// At or above this score (and below `up`) the service is degraded; below it, down.
    #[serde(default = "default_degraded")]
    #[schemars(range(min = 0, max = 100))]
    pub degraded: u8,
}

fn default_up() -> u8 {
    90
}

fn default_degraded() -> u8 {
    70
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            up: default_up(),
            degraded: default_degraded(),
        }
    }
}

/// When probes run and how many results in a row change their verdict.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// Time between probe runs, e.g. `5s`.
    #[serde(default = "default_interval")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub interval: String,
    /// Time between probe runs while a verdict is about to change.
    #[serde(default = "default_fast_interval")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub fast_interval: String,
    /// Passes in a row before a failing probe counts as passing.
    #[serde(default = "default_rise")]
    #[schemars(range(min = 1, max = 100))]
    pub rise: u32,
    /// Failures in a row before a passing probe counts as failing.
    #[serde(default = "default_fall")]
    #[schemars(range(min = 1, max = 100))]
    pub fall: u32,
}

fn default_interval() -> String {
    "5s".to_owned()
}

fn default_fast_interval() -> String {
    "1s".to_owned()
}

fn default_rise() -> u32 {
    3
}

fn default_fall() -> u32 {
    2
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            interval: default_interval(),
            fast_interval: default_fast_interval(),
            rise: default_rise(),
            fall: default_fall(),
        }
    }
}

/// What to announce in each state.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    /// Healthy: announce with MED 100 by default.
    #[serde(default = "default_up_state")]
    pub up: StateAnnounce,
    /// Score under the up threshold: announce with MED 150 by default, so peers prefer healthy
    /// nodes but still use this one.
    #[serde(default = "default_degraded_state")]
    pub degraded: StateAnnounce,
    /// Unhealthy: withdraw by default.
    #[serde(default = "withdraw_state")]
    pub down: StateAnnounce,
    /// `spec.disabled` is set: withdraw by default.
    #[serde(default = "withdraw_state")]
    pub disabled: StateAnnounce,
}

impl Default for Announce {
    fn default() -> Self {
        Self {
            up: default_up_state(),
            degraded: default_degraded_state(),
            down: withdraw_state(),
            disabled: withdraw_state(),
        }
    }
}

fn default_up_state() -> StateAnnounce {
    StateAnnounce::announce(100)
}

fn default_degraded_state() -> StateAnnounce {
    StateAnnounce::announce(150)
}

fn withdraw_state() -> StateAnnounce {
    StateAnnounce {
        withdraw: true,
        med: None,
        communities: Vec::new(),
    }
}

/// The announcement for one state.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[x_kube(validation = kube::core::Rule::new("self.withdraw || has(self.med)")
    .message("a state that announces needs a med"))]
pub struct StateAnnounce {
    /// Withdraw the routes in this state instead of announcing them.
    #[serde(default)]
    pub withdraw: bool,
    /// The MED (before the node's offset is added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 4_294_967_295_u32))]
    pub med: Option<u32>,
    /// Standard communities added in this state only, e.g. `65000:150`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(min = 1, max = 32), pattern(r"^[0-9A-Za-z:-]+$"))
    )]
    pub communities: Vec<String>,
}

impl StateAnnounce {
    /// Announce with this MED and no extra community.
    pub fn announce(med: u32) -> Self {
        Self {
            withdraw: false,
            med: Some(med),
            communities: Vec::new(),
        }
    }
}
