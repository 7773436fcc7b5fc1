//! A service's health on this node: ready endpoints, critical probes, then the weighted score
//! (the seed's graceful degradation: at or above `up` up, at or above `degraded` degraded, below
//! it down).

use std::fmt::Write as _;

use super::service::ValidService;
use super::{LocalHealth, State};

/// A health verdict with the reason behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `Up`, `Degraded` or `Down`.
    pub state: State,
    /// The weighted probe score in percent (100 without probes).
    pub score: u8,
    /// Why, for a person.
    pub reason: String,
}

/// Judges a service from its local health. Gates come before the score: too few ready
/// endpoints, or a failing critical probe, is down whatever the weights.
pub fn evaluate(svc: &ValidService, health: &LocalHealth) -> Verdict {
    let endpoints = format!(
        "{} of {} local endpoints ready (need {})",
        health.ready, health.total, svc.min_ready_endpoints
    );
    let passing = |name: &str| health.probes.get(name).copied().unwrap_or(false);
    let score = weighted_score(svc, health);
    if health.ready < svc.min_ready_endpoints {
        return Verdict {
            state: State::Down,
            score,
            reason: endpoints,
        };
    }
    if let Some(p) = svc.probes.iter().find(|p| p.critical && !passing(&p.name)) {
        let what = if health.probes.contains_key(&p.name) {
            "is failing"
        } else {
            "has no result yet"
        };
        return Verdict {
            state: State::Down,
            score,
            reason: format!("critical probe {} {what}; {endpoints}", p.name),
        };
    }
    let state = if score >= svc.up_threshold {
        State::Up
    } else if score >= svc.degraded_threshold {
        State::Degraded
    } else {
        State::Down
    };
    let mut reason = endpoints;
    if !svc.probes.is_empty() {
        // Writing to a String cannot fail.
        let _ = write!(
            reason,
            "; probe score {score}% (up at {}%, degraded at {}%)",
            svc.up_threshold, svc.degraded_threshold
        );
        let failing: Vec<&str> = svc
            .probes
            .iter()
            .filter(|p| !passing(&p.name))
            .map(|p| p.name.as_str())
            .collect();
        if !failing.is_empty() {
            let _ = write!(reason, "; failing: {}", failing.join(", "));
        }
    }
    Verdict {
        state,
        score,
        reason,
    }
}

/// Passing weight over total weight, in whole percent rounded down (so `score >= threshold`
/// holds exactly when the true ratio reaches the threshold). 100 without probes.
pub fn weighted_score(svc: &ValidService, health: &LocalHealth) -> u8 {
    let total: u64 = svc.probes.iter().map(|p| u64::from(p.weight)).sum();
    if total == 0 {
        return 100;
    }
    let passing: u64 = svc
        .probes
        .iter()
        .filter(|p| health.probes.get(&p.name).copied().unwrap_or(false))
        .map(|p| u64::from(p.weight))
        .sum();
    u8::try_from(passing * 100 / total).unwrap_or(100)
}
