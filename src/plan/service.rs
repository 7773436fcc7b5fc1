//! The validated form of an AnycastService: what the planner and the probe runners trust.
//!
//! Built only by `validate_service`, so every community and AS path in it was parsed by the
//! typed parsers of `exabgp::attrs`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::crd::service::ProbeTarget;
use crate::exabgp::attrs::{AsPath, Community, ExtendedCommunity, LargeCommunity, List};
use crate::exabgp::encode::{NextHop, Target};
use crate::probe::StatusRange;

/// A validated AnycastService.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidService {
    /// The service IPs, sorted, without duplicates.
    pub addresses: Vec<IpAddr>,
    /// Where readiness comes from.
    pub readiness: ReadinessSource,
    /// Ready local endpoints needed for up.
    pub min_ready_endpoints: u32,
    /// The probes, in spec order.
    pub probes: Vec<ValidProbe>,
    /// Score threshold for up, in percent.
    pub up_threshold: u8,
    /// Score threshold for degraded, in percent.
    pub degraded_threshold: u8,
    /// Probe timing.
    pub timings: Timings,
    /// Everything that shapes the routes; two services sharing an IP must agree on it.
    pub route: RouteProfile,
    /// Node labels required to announce from a node.
    pub node_selector: BTreeMap<String, String>,
    /// Maintenance switch.
    pub disabled: bool,
}

impl ValidService {
    /// True when any probe runs a command on the node.
    pub fn has_exec_probe(&self) -> bool {
        self.probes
            .iter()
            .any(|p| matches!(p.check, Check::Exec { .. }))
    }
}

/// Where a node learns its ready local endpoints.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadinessSource {
    /// The EndpointSlices of this Service (same namespace).
    Service(String),
    /// Pods matching this selector (same namespace).
    Pods(k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector),
}

/// Probe timing and dampening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Time between runs.
    pub interval: Duration,
    /// Time between runs while a verdict is about to change.
    pub fast_interval: Duration,
    /// Passes in a row to count as passing.
    pub rise: u32,
    /// Failures in a row to count as failing.
    pub fall: u32,
}

/// A validated probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidProbe {
    /// Its name, unique within the service.
    pub name: String,
    /// What it connects to.
    pub target: ProbeTarget,
    /// `host:port` or `host` when `target` is `Address`.
    pub address: Option<String>,
    /// The check itself.
    pub check: Check,
    /// Time allowed for one attempt.
    pub timeout: Duration,
    /// Share of the score.
    pub weight: u32,
    /// Down whatever the weights while it fails.
    pub critical: bool,
}

/// What a probe does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// HTTP(S) GET.
    Http {
        /// Port.
        port: u16,
        /// Path.
        path: String,
        /// HTTPS when true.
        https: bool,
        /// Accepted status codes.
        expect: StatusRange,
        /// Required body text.
        body_contains: Option<String>,
    },
    /// TCP connect.
    Tcp {
        /// Port.
        port: u16,
    },
    /// ICMP echo.
    Icmp,
    /// gRPC health.
    Grpc {
        /// Port.
        port: u16,
        /// Service name in the request.
        service: String,
    },
    /// A command on the node.
    Exec {
        /// Program and arguments.
        command: Vec<String>,
    },
}

/// What shapes a service's routes, state by state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteProfile {
    /// The neighbors announced to.
    pub target: Target,
    /// Next hop.
    pub next_hop: NextHop,
    /// `LOCAL_PREF`.
    pub local_preference: Option<u32>,
    /// Communities on every announcement.
    pub communities: List<Community>,
    /// Extended communities on every announcement.
    pub extended_communities: List<ExtendedCommunity>,
    /// Large communities on every announcement.
    pub large_communities: List<LargeCommunity>,
    /// AS numbers prepended.
    pub as_path_prepend: Option<AsPath>,
    /// ADD-PATH path id.
    pub path_id: Option<u32>,
    /// Route when up.
    pub up: StateRoute,
    /// Route when degraded.
    pub degraded: StateRoute,
    /// Route when down.
    pub down: StateRoute,
    /// Route when disabled.
    pub disabled: StateRoute,
}

/// The route for one state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateRoute {
    /// Not announced.
    Withdraw,
    /// Announced with this MED (before the node offset) and these extra communities.
    Announce {
        /// The state's MED.
        med: u32,
        /// Communities added in this state.
        communities: List<Community>,
    },
}
