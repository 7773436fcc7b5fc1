//! `--api-stale-after`: how long the agent trusts Kubernetes readiness it can no longer refresh.
//!
//! While the API server is unreachable the index keeps its last state (fail static) and the
//! probes keep running, so a failing probe still withdraws. Past the limit, a service that
//! only Kubernetes readiness backs (no probe of its own) is withdrawn: its last known ready
//! endpoints may be long gone. Pure: the caller passes the times.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::world::World;

/// How long Kubernetes readiness stays trusted without the API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleAfter {
    /// Forever: keep the last known state for as long as the outage lasts.
    Never,
    /// This long after the API server became unreachable.
    After(Duration),
}

/// A `--api-stale-after` value that is neither `never` nor a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid --api-stale-after {value:?}: {message} (expected `never` or a duration such as 10m)"
)]
pub struct StaleAfterError {
    /// What was given.
    pub value: String,
    /// Why it is not a duration.
    pub message: String,
}

impl FromStr for StaleAfter {
    type Err = StaleAfterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "never" {
            return Ok(StaleAfter::Never);
        }
        crate::cli::parse_duration(s)
            .map(StaleAfter::After)
            .map_err(|message| StaleAfterError {
                value: s.to_owned(),
                message,
            })
    }
}

impl fmt::Display for StaleAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StaleAfter::Never => f.write_str("never"),
            StaleAfter::After(d) => write!(f, "{d:?}"),
        }
    }
}

/// When Kubernetes readiness turns stale, given since when the API server has been
/// unreachable (`None`: it is reachable).
pub fn stale_at(unreachable_since: Option<Instant>, after: StaleAfter) -> Option<Instant> {
    match (unreachable_since, after) {
        (Some(since), StaleAfter::After(d)) => since.checked_add(d),
        _ => None,
    }
}

/// True when, at `now`, Kubernetes readiness is stale.
pub fn is_stale(unreachable_since: Option<Instant>, after: StaleAfter, now: Instant) -> bool {
    stale_at(unreachable_since, after).is_some_and(|t| now >= t)
}

/// Withdraws what only Kubernetes readiness backs: services without probes get zero ready
/// endpoints, so they plan down. Services with probes keep their last counts and let their
/// probes decide. Returns the services affected.
pub fn withdraw_unprobed(world: &mut World) -> Vec<crate::plan::ServiceKey> {
    let mut affected = Vec::new();
    let Some(endpoints) = world.endpoints.as_mut().map(Arc::make_mut) else {
        return affected;
    };
    for (key, svc) in world.services.iter() {
        let has_probes = svc.as_ref().as_ref().is_ok_and(|s| !s.probes.is_empty());
        if has_probes {
            continue;
        }
        if let Some(counts) = endpoints.get_mut(key)
            && counts.ready > 0
        {
            counts.ready = 0;
            affected.push(key.clone());
        }
    }
    Arc::make_mut(&mut world.pod_ips).retain(|k, _| !affected.contains(k));
    affected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_never_and_durations_and_names_the_bad_value() {
        assert_eq!("never".parse(), Ok(StaleAfter::Never));
        assert_eq!(
            "10m".parse(),
            Ok(StaleAfter::After(Duration::from_mins(10)))
        );
        let err = "soon".parse::<StaleAfter>().unwrap_err();
        assert_eq!(err.value, "soon");
        assert!(err.to_string().contains("--api-stale-after \"soon\""));
    }

    #[tokio::test(start_paused = true)]
    async fn stale_only_after_the_limit_and_never_with_never() {
        let t0 = Instant::now();
        let ten = StaleAfter::After(Duration::from_mins(10));
        let cases = [
            (None, ten, 10_000, false),
            (Some(t0), ten, 599, false),
            (Some(t0), ten, 600, true),
            (Some(t0), StaleAfter::Never, 1_000_000, false),
        ];
        for (since, after, secs, want) in cases {
            let now = t0 + Duration::from_secs(secs);
            assert_eq!(
                is_stale(since, after, now),
                want,
                "{since:?} {after} +{secs}s"
            );
        }
        assert_eq!(stale_at(Some(t0), ten), Some(t0 + Duration::from_mins(10)));
        assert_eq!(stale_at(None, ten), None);
    }
}
