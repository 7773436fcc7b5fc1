//! `AnycastPool`: the admin's grant of address space to namespaces and nodes.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{Communities, DURATION_PATTERN};

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

    /// Communities added to every announcement from this pool.
    #[serde(default, flatten)]
    pub added: Communities,

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

    /// Limits on the BGP attributes an AnycastService may set on routes from this pool. A
    /// service that sets an attribute outside them gets the addresses this pool grants it
    /// refused (never announced), with the field at fault in its reason. Absent: any
    /// attribute is allowed except standard communities in the reserved range `65535:*`
    /// (`no-export`, `blackhole`, `graceful-shutdown`, ...). The pool's own communities are
    /// never limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_attributes: Option<AllowedAttributes>,
}

/// What a tenant may set on routes from a pool. Each limit left out allows anything (except
/// reserved standard communities); an empty list allows nothing.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AllowedAttributes {
    /// Standard communities a service may set (`spec.communities`, `spec.announce.*.communities`):
    /// `ASN:VALUE` where either part may be `*`, e.g. `65000:*`, or a well-known name such as
    /// `no-export`. A reserved community (`65535:*`, which holds every well-known name, e.g.
    /// `blackhole` = 65535:666) is matched only by an entry that writes 65535 or the name out:
    /// `*:*` does not match it. Absent: any community outside `65535:*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 64),
        inner(
            length(min = 1, max = 32),
            pattern(r"^(([0-9]+|\*):([0-9]+|\*)|[a-z-]+)$")
        )
    )]
    pub communities: Option<Vec<String>>,

    /// Large communities a service may set: `GLOBAL:LOCAL1:LOCAL2`, any part may be `*`, e.g.
    /// `65000:1:*`. Absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 64),
        inner(
            length(min = 5, max = 40),
            pattern(r"^([0-9]+|\*):([0-9]+|\*):([0-9]+|\*)$")
        )
    )]
    pub large_communities: Option<Vec<String>>,

    /// Extended communities a service may set: `KIND:ADMIN:N` where any part may be `*`, e.g.
    /// `target:65000:*`, or one exact `0x` value with 16 hex digits. Absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 64),
        inner(
            length(min = 5, max = 40),
            pattern(r"^(0x[0-9A-Fa-f]{16}|(target|origin|redirect|\*):([0-9.]+|\*):([0-9]+|\*))$")
        )
    )]
    pub extended_communities: Option<Vec<String>>,

    /// How long an AS-path prepend may be and which ASNs it may hold. Absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_path_prepend: Option<AsPathPrependLimit>,

    /// The `LOCAL_PREF` values a service may set (inclusive). Absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_preference: Option<ValueRange>,

    /// The MEDs a service may give each announcing state (`spec.announce.*.med`, before the
    /// node's offset), so a tenant cannot undercut the MEDs the network plans with. Absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub med: Option<ValueRange>,

    /// Prefixes an explicit `spec.nextHop` must lie in; `self` is always allowed. Empty: only
    /// `self`. Absent: any next hop.
    #[serde(
        default,
        rename = "nextHopCIDRs",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(
        length(max = 64),
        inner(length(min = 4, max = 49)),
        extend("x-kubernetes-list-type" = "set")
    )]
    #[x_kube(validation = kube::core::Rule::new("self.all(c, isCIDR(c) && cidr(c) == cidr(c).masked())")
        .message("every entry must be a CIDR with no host bits set, such as 10.0.0.0/24"))]
    pub next_hop_cidrs: Option<Vec<String>>,

    /// Prefixes every address in `spec.neighbors` must lie in. Empty: a service may not name
    /// neighbors (it announces to every neighbor). Absent: any neighbor.
    #[serde(
        default,
        rename = "neighborCIDRs",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(
        length(max = 64),
        inner(length(min = 4, max = 49)),
        extend("x-kubernetes-list-type" = "set")
    )]
    #[x_kube(validation = kube::core::Rule::new("self.all(c, isCIDR(c) && cidr(c) == cidr(c).masked())")
        .message("every entry must be a CIDR with no host bits set, such as 10.0.0.0/24"))]
    pub neighbor_cidrs: Option<Vec<String>>,
}

/// Limits on `spec.asPathPrepend`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AsPathPrependLimit {
    /// The most ASNs a prepend may hold; 0 forbids prepending. Absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 64))]
    pub max_length: Option<u32>,
    /// The only ASNs a prepend may hold, usually the cluster's own (prepending another
    /// network's ASN makes that network drop the route). Absent: any ASN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), inner(range(max = 4_294_967_295_u32)))]
    pub asns: Option<Vec<u32>>,
}

/// An inclusive range of unsigned 32-bit values; a bound left out is open.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[x_kube(validation = kube::core::Rule::new("!has(self.min) || !has(self.max) || self.min <= self.max")
    .message("min must not exceed max"))]
pub struct ValueRange {
    /// The smallest value allowed. Absent: 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 4_294_967_295_u32))]
    pub min: Option<u32>,
    /// The largest value allowed. Absent: 4294967295.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 4_294_967_295_u32))]
    pub max: Option<u32>,
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
