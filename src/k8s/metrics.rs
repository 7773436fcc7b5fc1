//! Metrics of the Kubernetes source and status writer. Label values come from closed enums.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::index::Kind;

/// The watched kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// Kubernetes kind.
    pub kind: KindLabel,
}

/// A watched kind as a label value.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types, reason = "lower-case label values")]
pub enum KindLabel {
    /// AnycastService.
    anycastservice,
    /// AnycastPool.
    anycastpool,
    /// Namespace.
    namespace,
    /// Node.
    node,
    /// EndpointSlice.
    endpointslice,
    /// Service.
    service,
    /// Pod.
    pod,
}

impl From<Kind> for KindLabels {
    fn from(kind: Kind) -> Self {
        let kind = match kind {
            Kind::Service => KindLabel::anycastservice,
            Kind::Pool => KindLabel::anycastpool,
            Kind::Namespace => KindLabel::namespace,
            Kind::Node => KindLabel::node,
            Kind::Slice => KindLabel::endpointslice,
            Kind::Backend => KindLabel::service,
            Kind::Pod => KindLabel::pod,
        };
        KindLabels { kind }
    }
}

/// What a status write did and how it ended.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    /// apply, delete or event.
    pub op: OpLabel,
    /// ok or error (a timeout is an error).
    pub outcome: OutcomeLabel,
}

/// A status operation.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types, reason = "lower-case label values")]
pub enum OpLabel {
    /// Server-side apply of an advertisement.
    apply,
    /// Delete of an advertisement.
    delete,
    /// An Event.
    event,
}

/// How it ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types, reason = "lower-case label values")]
pub enum OutcomeLabel {
    /// Accepted.
    ok,
    /// Refused, failed or timed out.
    error,
}

/// The metrics; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct K8sMetrics {
    /// Watch errors per kind.
    pub watch_errors: Family<KindLabels, Counter>,
    /// Completed lists (initial and relists) per kind.
    pub relists: Family<KindLabels, Counter>,
    /// 1 while the API server is considered unreachable.
    pub api_unreachable: Gauge,
    /// 1 while Kubernetes readiness is stale (past `--api-stale-after`).
    pub readiness_stale: Gauge,
    /// Status writes by operation and outcome.
    pub status_writes: Family<WriteLabels, Counter>,
}

impl K8sMetrics {
    /// Registers every metric under `kube_anycast_k8s_`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = K8sMetrics::default();
        let r = registry.sub_registry_with_prefix("kube_anycast_k8s");
        r.register(
            "watch_errors",
            "Watch errors per kind (each is retried with backoff)",
            m.watch_errors.clone(),
        );
        r.register(
            "lists",
            "Completed lists per kind (the first one and every relist)",
            m.relists.clone(),
        );
        r.register(
            "api_unreachable",
            "1 while the API server does not answer",
            m.api_unreachable.clone(),
        );
        r.register(
            "readiness_stale",
            "1 while the API server has been unreachable longer than --api-stale-after",
            m.readiness_stale.clone(),
        );
        r.register(
            "status_writes",
            "AnycastAdvertisement writes and Events by outcome",
            m.status_writes.clone(),
        );
        m
    }

    /// Counts one status write.
    pub fn count_write(&self, op: OpLabel, ok: bool) {
        let outcome = if ok {
            OutcomeLabel::ok
        } else {
            OutcomeLabel::error
        };
        self.status_writes
            .get_or_create(&WriteLabels { op, outcome })
            .inc();
    }
}
