//! The source task: owns the [`Index`], feeds it from the watches and publishes the world.
//!
//! It also tracks since when the API server has been unreachable (the first watch error not
//! followed by any watch event or successful reachability check) and, past `--api-stale-after`,
//! withdraws what only Kubernetes readiness backs (see [`super::stale`]).

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::index::{EndpointSource, Index};
use super::metrics::K8sMetrics;
use super::stale::{StaleAfter, is_stale, stale_at, withdraw_unprobed};
use super::watch::Signal;
use crate::engine::world::World;

/// The index plus the outage clock; every method is synchronous and takes the time.
#[derive(Debug)]
pub struct Source {
    /// The index.
    pub index: Index,
    /// Since when the API server has been unreachable.
    pub unreachable_since: Option<Instant>,
    /// The limit.
    pub stale_after: StaleAfter,
}

impl Source {
    /// A source for `node_name`.
    pub fn new(node_name: &str, endpoints: EndpointSource, stale_after: StaleAfter) -> Self {
        Self {
            index: Index::new(node_name, endpoints),
            unreachable_since: None,
            stale_after,
        }
    }

    /// Handles one signal at `now`; true when it ends an outage (the API server answers again
    /// after an error or a failed check): then the watches start again with a full list.
    pub fn handle(&mut self, signal: Signal, now: Instant) -> bool {
        let was_unreachable = self.unreachable_since.is_some();
        match signal {
            Signal::Update(u) => {
                self.unreachable_since = None;
                self.index.update(u);
            }
            Signal::Reachable => self.unreachable_since = None,
            Signal::WatchError(_) => {
                self.unreachable_since.get_or_insert(now);
            }
            Signal::Unreachable(since) => {
                self.unreachable_since.get_or_insert(since.min(now));
            }
        }
        was_unreachable && self.unreachable_since.is_none()
    }

    /// The world to publish at `now`, `None` until every watch has listed.
    pub fn world(&self, now: Instant) -> Option<World> {
        let mut world = self.index.world()?;
        if is_stale(self.unreachable_since, self.stale_after, now) {
            withdraw_unprobed(&mut world);
        }
        Some(world)
    }

    /// When to look again because readiness may turn stale.
    pub fn wake_at(&self, now: Instant) -> Option<Instant> {
        stale_at(self.unreachable_since, self.stale_after).filter(|t| *t > now)
    }
}

/// Runs the source until every watch is gone or the engine stopped listening.
pub async fn run(
    mut source: Source,
    mut signal_rx: mpsc::Receiver<Signal>,
    world_tx: watch::Sender<Option<World>>,
    restart_tx: watch::Sender<u64>,
    metrics: K8sMetrics,
) {
    let mut was_stale = false;
    // A world is published after updates (or a change of staleness) only: comparing worlds
    // would cost as much as the thousands of services they hold.
    let mut updated = true;
    loop {
        let now = Instant::now();
        let stale = is_stale(source.unreachable_since, source.stale_after, now);
        let publish = updated || stale != was_stale;
        if stale != was_stale {
            if stale {
                tracing::warn!(after = %source.stale_after, "the API server has been unreachable too long: withdrawing services that only Kubernetes readiness backs");
            } else {
                tracing::info!("the API server is back: Kubernetes readiness counts again");
            }
            was_stale = stale;
        }
        metrics.readiness_stale.set(i64::from(stale));
        metrics
            .api_unreachable
            .set(i64::from(source.unreachable_since.is_some()));
        if publish && let Some(world) = source.world(now) {
            world_tx.send_replace(Some(world));
            tracing::trace!("world published");
        }
        updated = false;
        let wake = source.wake_at(now);
        tokio::select! {
            signal = signal_rx.recv() => match signal {
                Some(s) => {
                    let mut outage_ended = false;
                    updated |= matches!(s, Signal::Update(_));
                    count(&metrics, &s);
                    outage_ended |= source.handle(s, Instant::now());
                    // Publish once per burst (a relist of every kind at start, a busy
                    // namespace): the engine plans from the latest world anyway.
                    while let Ok(s) = signal_rx.try_recv() {
                        updated |= matches!(s, Signal::Update(_));
                        count(&metrics, &s);
                        outage_ended |= source.handle(s, Instant::now());
                    }
                    if outage_ended {
                        restart_tx.send_modify(|epoch| *epoch += 1);
                    }
                }
                None => return,
            },
            () = crate::timer::sleep_until(wake) => {}
            () = world_tx.closed() => return,
        }
    }
}

fn count(metrics: &K8sMetrics, signal: &Signal) {
    match signal {
        Signal::WatchError(kind) => {
            metrics.watch_errors.get_or_create(&(*kind).into()).inc();
        }
        Signal::Update(u) if u.is_reset() => {
            metrics.relists.get_or_create(&u.kind().into()).inc();
        }
        _ => {}
    }
}

/// Checks every `interval` that the API server answers within `interval`. Watches alone cannot
/// tell: a hung API server keeps their connections open and silent for minutes, and a server
/// that is back sends nothing on a quiet cluster.
pub async fn check_reachability(
    client: kube::Client,
    interval: Duration,
    signal_tx: mpsc::Sender<Signal>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let started = Instant::now();
        let answered = tokio::time::timeout(interval, client.apiserver_version()).await;
        let signal = match answered {
            Ok(Ok(_)) => Signal::Reachable,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "the API server did not answer");
                Signal::Unreachable(started)
            }
            Err(_) => Signal::Unreachable(started),
        };
        if signal_tx.send(signal).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::index::{Change, EndpointSource, Kind, Update};

    fn mk_listed_source(stale_after: StaleAfter) -> Source {
        let mut source = Source::new("n1", EndpointSource::Pods, stale_after);
        let now = Instant::now();
        for u in [
            Update::Service(Change::Reset(vec![])),
            Update::Pool(Change::Reset(vec![])),
            Update::Namespace(Change::Reset(vec![])),
            Update::Node(Change::Reset(vec![])),
            Update::Backend(Change::Reset(vec![])),
            Update::Pod(Change::Reset(vec![])),
        ] {
            source.handle(Signal::Update(u), now);
        }
        source
    }

    #[tokio::test(start_paused = true)]
    async fn the_outage_clock_starts_at_the_first_error_and_stops_at_any_answer() {
        let after = StaleAfter::After(Duration::from_mins(10));
        let mut source = mk_listed_source(after);
        let t0 = Instant::now();
        assert_eq!(source.wake_at(t0), None);
        source.handle(Signal::WatchError(Kind::Pod), t0);
        source.handle(Signal::WatchError(Kind::Node), t0 + Duration::from_mins(5));
        assert_eq!(source.unreachable_since, Some(t0), "the first error counts");
        assert_eq!(source.wake_at(t0), Some(t0 + Duration::from_mins(10)));
        assert!(source.world(t0).is_some(), "fail static: the world stays");
        assert!(
            source.handle(Signal::Reachable, t0 + Duration::from_mins(6)),
            "an answer after errors ends the outage: the watches list again"
        );
        assert_eq!(source.unreachable_since, None);
        assert!(
            !source.handle(Signal::Reachable, t0 + Duration::from_mins(6)),
            "an answer without an outage restarts nothing"
        );
        // A check that started earlier and timed out dates the outage from its start.
        let t1 = t0 + Duration::from_mins(7);
        source.handle(Signal::Unreachable(t1 - Duration::from_secs(5)), t1);
        assert_eq!(source.unreachable_since, Some(t1 - Duration::from_secs(5)));
        source.handle(Signal::Reachable, t1);
        source.handle(Signal::WatchError(Kind::Pod), t0 + Duration::from_mins(7));
        source.handle(
            Signal::Update(Update::Pod(Change::Reset(vec![]))),
            t0 + Duration::from_mins(8),
        );
        assert_eq!(source.unreachable_since, None, "a relist is an answer");
    }
}
