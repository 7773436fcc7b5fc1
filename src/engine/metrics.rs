//! The agent's Prometheus metrics, fed from the plans and the driver's progress (a consumer of
//! the engine's output, so the loop itself does no bookkeeping).

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::exabgp::driver::Applied;
use crate::plan::{Plan, ServiceKey, State};
use crate::sorted::{self, Cursor};

/// Service labels: configured names only.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    /// Namespace.
    pub namespace: String,
    /// AnycastService name.
    pub service: String,
    /// State.
    pub state: StateLabel,
}

/// A state as a label value (closed set).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types, reason = "lower-case label values")]
pub enum StateLabel {
    /// Announced as up.
    up,
    /// Announced as degraded.
    degraded,
    /// Down.
    down,
    /// Disabled.
    disabled,
    /// Draining.
    draining,
    /// Refused by policy.
    refused,
    /// Invalid spec.
    invalid,
    /// Not selected on this node.
    not_selected,
}

const ALL: [StateLabel; 8] = [
    StateLabel::up,
    StateLabel::degraded,
    StateLabel::down,
    StateLabel::disabled,
    StateLabel::draining,
    StateLabel::refused,
    StateLabel::invalid,
    StateLabel::not_selected,
];

fn label(state: State) -> StateLabel {
    match state {
        State::Up => StateLabel::up,
        State::Degraded => StateLabel::degraded,
        State::Down => StateLabel::down,
        State::Disabled => StateLabel::disabled,
        State::Draining => StateLabel::draining,
        State::Refused => StateLabel::refused,
        State::Invalid => StateLabel::invalid,
        State::NotSelected => StateLabel::not_selected,
    }
}

/// The agent's metrics.
#[derive(Debug, Clone, Default)]
pub struct AgentMetrics {
    state: Family<ServiceLabels, Gauge>,
    transitions: Family<ServiceLabels, Counter>,
    routes: Gauge,
    exabgp_connected: Gauge,
    exabgp_errors: Gauge,
    exabgp_sessions: Gauge,
    applied_generation: Gauge,
}

impl AgentMetrics {
    /// Registers every metric under `kube_anycast_`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = AgentMetrics::default();
        let r = registry.sub_registry_with_prefix("kube_anycast");
        r.register(
            "service_state",
            "1 for each service's current state on this node",
            m.state.clone(),
        );
        r.register(
            "service_transitions",
            "State changes per service, by new state",
            m.transitions.clone(),
        );
        r.register(
            "routes_desired",
            "Routes the agent wants announced",
            m.routes.clone(),
        );
        r.register(
            "exabgp_connected",
            "1 while a relay (and so ExaBGP) is connected",
            m.exabgp_connected.clone(),
        );
        r.register(
            "exabgp_command_errors",
            "Commands ExaBGP answered with error, in total",
            m.exabgp_errors.clone(),
        );
        r.register(
            "exabgp_sessions",
            "Relay sessions started (ExaBGP or relay restarts), in total",
            m.exabgp_sessions.clone(),
        );
        r.register(
            "applied_generation",
            "The last plan ExaBGP acknowledged in full",
            m.applied_generation.clone(),
        );
        m
    }

    /// Records a new plan against the previous one.
    pub fn record_plan(&self, old: &Plan, new: &Plan) {
        let routes = i64::try_from(new.rib.len()).unwrap_or(i64::MAX);
        self.routes.set(routes);
        // Only services whose state changed: a plan of thousands of services usually changes one.
        let mut before = Cursor::new(&old.reports);
        for (key, report) in &new.reports {
            let now = label(report.state);
            if before.seek(key).map(|r| label(r.state)) == Some(now) {
                continue;
            }
            self.transitions.get_or_create(&labels(key, now)).inc();
            for s in ALL {
                self.state
                    .get_or_create(&labels(key, s))
                    .set(i64::from(s == now));
            }
        }
        for key in sorted::missing_from(&old.reports, &new.reports) {
            for s in ALL {
                self.state.remove(&labels(key, s));
            }
        }
    }

    /// Records the driver's progress.
    pub fn record_applied(&self, a: &Applied) {
        self.exabgp_connected.set(i64::from(a.connected));
        self.exabgp_errors
            .set(i64::try_from(a.errors).unwrap_or(i64::MAX));
        self.exabgp_sessions
            .set(i64::try_from(a.sessions).unwrap_or(i64::MAX));
        self.applied_generation
            .set(i64::try_from(a.generation).unwrap_or(i64::MAX));
    }
}

fn labels(key: &ServiceKey, state: StateLabel) -> ServiceLabels {
    ServiceLabels {
        namespace: key.namespace.to_string(),
        service: key.name.to_string(),
        state,
    }
}

/// Keeps the metrics current until both channels close.
pub async fn run(
    metrics: AgentMetrics,
    mut plan_rx: watch::Receiver<Arc<Plan>>,
    mut applied_rx: watch::Receiver<Applied>,
) {
    let mut last: Arc<Plan> = Arc::new(Plan {
        reports: BTreeMap::new(),
        ..Plan::default()
    });
    loop {
        tokio::select! {
            r = plan_rx.changed() => {
                if r.is_err() { return; }
                let new = plan_rx.borrow_and_update().clone();
                metrics.record_plan(&last, &new);
                last = new;
            }
            r = applied_rx.changed() => {
                if r.is_err() { return; }
                metrics.record_applied(&applied_rx.borrow_and_update());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Report;

    fn plan_of(states: &[(&str, State)]) -> Plan {
        let reports = states
            .iter()
            .map(|(name, state)| {
                let report = Report {
                    state: *state,
                    med: None,
                    prefixes: vec![],
                    communities: vec![],
                    refused: vec![],
                    reason: String::new(),
                    probes: BTreeMap::new(),
                };
                (ServiceKey::new("ns", *name), Arc::new(report))
            })
            .collect();
        Plan {
            reports,
            ..Plan::default()
        }
    }

    fn exposition(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    fn has(text: &str, service: &str, state: &str, value: u32) -> bool {
        text.lines().any(|l| {
            l.starts_with("kube_anycast_service_state{")
                && l.contains(&format!("service=\"{service}\""))
                && l.contains(&format!("state=\"{state}\""))
                && l.ends_with(&format!(" {value}"))
        })
    }

    #[test]
    fn state_gauges_follow_each_plan_and_go_with_the_service() {
        let mut registry = Registry::default();
        let m = AgentMetrics::register(&mut registry);
        let first = plan_of(&[("web", State::Up), ("dns", State::Down)]);
        m.record_plan(&Plan::default(), &first);
        let text = exposition(&registry);
        assert!(has(&text, "web", "up", 1) && has(&text, "web", "down", 0));
        assert!(has(&text, "dns", "down", 1) && has(&text, "dns", "up", 0));
        // Only dns changes; web keeps its gauges.
        let second = plan_of(&[("web", State::Up), ("dns", State::Up)]);
        m.record_plan(&first, &second);
        let text = exposition(&registry);
        assert!(has(&text, "web", "up", 1));
        assert!(has(&text, "dns", "up", 1) && has(&text, "dns", "down", 0));
        assert!(text.contains(
            "kube_anycast_service_transitions_total{namespace=\"ns\",service=\"dns\",state=\"up\"} 1"
        ));
        let third = plan_of(&[("web", State::Up)]);
        m.record_plan(&second, &third);
        let text = exposition(&registry);
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("kube_anycast_service_state{") && l.contains("dns")),
            "a deleted service's gauges are removed"
        );
    }
}
