//! `AnycastPool`: the admin's grant of address space to namespaces and nodes.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::DURATION_PATTERN;

/// The Node annotation read for a node's MED offset unless a pool names another.
pub const DEFAULT_MED_OFFSET_ANNOTATION: &str = "kube-anycast.io/med-offset";

/// Address space that `AnycastService` objects may announce, which namespaces may use it, and from which
/// nodes.
#[expect(
    clippy::duplicated_attributes,
    reason = "printer columns repeat `type_ = \"string\"`, one per column"
)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kube-anycast.io",
    version = "v1alpha1",
    kind = "AnycastPool",
    doc = "Address space that AnycastServices may announce, granted to namespaces and nodes.",
    shortname = "apool",
    category = "kube-anycast",
    printcolumn(name = "CIDRs", type_ = "string", json_path = ".spec.cidrs"),
    printcolumn(name = "Exec", type_ = "boolean", json_path = ".spec.allowExec"),
    printcolumn(name = "Drain", type_ = "string", json_path = ".spec.drain.mode"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AnycastPoolSpec {
    /// The prefixes whose host addresses may be announced, e.g. `192.0.2.0/24`.
    #[schemars(
        length(min = 1, max = 256),
        inner(length(min = 4, max = 49)),
        extend("x-kubernetes-list-type" = "set")
    )]
    #[x_kube(validation = kube::core::Rule::new("self.all(c, isCIDR(c) && cidr(c) == cidr(c).masked())")
        .message("every entry must be a CIDR with no host bits set, such as 192.0.2.0/24"))]
    pub cidrs: Vec<String>,

    /// Namespaces whose `AnycastService` objects may use this pool. Absent: every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// Nodes that may announce this pool's addresses (all of these labels). Empty: every node.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,

    /// Standard communities added to every announcement from this pool, e.g. `65000:1`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(min = 1, max = 32), pattern(r"^[0-9A-Za-z:-]+$"))
    )]
    pub communities: Vec<String>,

    /// Extended communities added to every announcement from this pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(min = 1, max = 40), pattern(r"^[0-9A-Za-z:.]+$"))
    )]
    pub extended_communities: Vec<String>,

    /// Large communities added to every announcement from this pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(pattern(r"^[0-9]+:[0-9]+:[0-9]+$")))]
    pub large_communities: Vec<String>,

    /// Let services in this pool run `exec` probes (commands on the node). Off by default:
    /// an exec probe runs with the agent's privileges.
    #[serde(default)]
    pub allow_exec: bool,

    /// The Node annotation holding the node's MED offset (an unsigned integer added to every
    /// state's MED on that node).
    #[serde(default = "default_med_offset_annotation")]
    #[schemars(length(min = 1, max = 317))]
    pub med_offset_annotation: String,

    /// What a draining node (cordoned, excluded or annotated) does with this pool's routes.
    #[serde(default)]
    pub drain: Drain,
}

fn default_med_offset_annotation() -> String {
    DEFAULT_MED_OFFSET_ANNOTATION.to_owned()
}

/// Drain behaviour.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Drain {
    /// `GracefulShutdown`: keep announcing with the `GRACEFUL_SHUTDOWN` community (65535:0,
    /// RFC 8326) for `delay` so peers move traffic away first, then withdraw. `Withdraw`: at once.
    #[serde(default)]
    pub mode: DrainMode,
    /// How long to announce with `GRACEFUL_SHUTDOWN` before withdrawing.
    #[serde(default = "default_drain_delay")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub delay: String,
}

fn default_drain_delay() -> String {
    "30s".to_owned()
}

impl Default for Drain {
    fn default() -> Self {
        Self {
            mode: DrainMode::default(),
            delay: default_drain_delay(),
        }
    }
}

/// How a draining node leaves.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum DrainMode {
    /// Announce with `GRACEFUL_SHUTDOWN` for the delay, then withdraw.
    #[default]
    GracefulShutdown,
    /// Withdraw at once.
    Withdraw,
}
