//! Prometheus metrics of the healthcheck (`--metrics-listen`), with closed label sets.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::health::State;

/// The state label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// Upper-case state name.
    pub state: StateName,
}

/// A state as a label value.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(
    clippy::upper_case_acronyms,
    non_camel_case_types,
    reason = "label values as ExaBGP prints them"
)]
pub enum StateName {
    /// INIT.
    INIT,
    /// DISABLED.
    DISABLED,
    /// RISING.
    RISING,
    /// FALLING.
    FALLING,
    /// UP.
    UP,
    /// DOWN.
    DOWN,
    /// EXIT.
    EXIT,
}

impl From<State> for StateName {
    fn from(s: State) -> Self {
        match s {
            State::Init => StateName::INIT,
            State::Disabled => StateName::DISABLED,
            State::Rising => StateName::RISING,
            State::Falling => StateName::FALLING,
            State::Up => StateName::UP,
            State::Down => StateName::DOWN,
            State::Exit => StateName::EXIT,
        }
    }
}

const ALL_STATES: [State; 7] = [
    State::Init,
    State::Disabled,
    State::Rising,
    State::Falling,
    State::Up,
    State::Down,
    State::Exit,
];

/// The announce/withdraw label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    /// `announce` or `withdraw`.
    pub action: ActionName,
}

/// Command kind as a label value.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types, reason = "lower-case label values")]
pub enum ActionName {
    /// An announce line.
    announce,
    /// A withdraw line.
    withdraw,
}

/// The healthcheck's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    state: Family<StateLabel, Gauge>,
    transitions: Family<StateLabel, Counter>,
    check_seconds: Histogram,
    last_result: Gauge,
    commands: Family<ActionLabel, Counter>,
}

impl Metrics {
    /// Registers every metric under `healthcheck_`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Metrics {
            state: Family::default(),
            transitions: Family::default(),
            check_seconds: Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0]),
            last_result: Gauge::default(),
            commands: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("healthcheck");
        r.register(
            "state",
            "1 for the current state, 0 for the others",
            m.state.clone(),
        );
        r.register(
            "transitions",
            "State changes, by new state",
            m.transitions.clone(),
        );
        r.register(
            "check_duration_seconds",
            "Duration of each check",
            m.check_seconds.clone(),
        );
        r.register(
            "last_check_success",
            "1 when the last check passed",
            m.last_result.clone(),
        );
        r.register(
            "api_commands",
            "Lines written to ExaBGP, by action",
            m.commands.clone(),
        );
        m.set_state(State::Init);
        m
    }

    /// Records the current state.
    pub fn set_state(&self, current: State) {
        for s in ALL_STATES {
            self.state
                .get_or_create(&StateLabel { state: s.into() })
                .set(i64::from(s == current));
        }
    }

    /// Records a transition to `to`.
    pub fn transition(&self, to: State) {
        self.transitions
            .get_or_create(&StateLabel { state: to.into() })
            .inc();
        self.set_state(to);
    }

    /// Records a check.
    pub fn check(&self, seconds: f64, ok: bool) {
        self.check_seconds.observe(seconds);
        self.last_result.set(i64::from(ok));
    }

    /// Records a written line.
    pub fn command(&self, line: &str) {
        let action = if line.contains(" withdraw ") {
            ActionName::withdraw
        } else {
            ActionName::announce
        };
        self.commands.get_or_create(&ActionLabel { action }).inc();
    }
}
