//! The one loop: wait for a changed input (the world, a probe verdict, a drain timer, shutdown),
//! plan, and hand the result to the ExaBGP driver, the loopback VIPs and the probe runners.
//!
//! Fail static lives in the data: a source publishes `None` until its caches are warm and keeps
//! its last world when it loses the API server, so the plan never sees an empty world by
//! accident. On shutdown the node drains (per pool policy) and then withdraws, and the loop ends
//! once ExaBGP acknowledged the empty RIB.

pub mod metrics;
pub mod probes;
pub mod report;
pub mod rollout;
pub mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use self::probes::{ProbeKey, probe_jobs};
use self::world::World;
use crate::exabgp::driver::{Applied, Desired};
use crate::model::{Rib, with_ipv6_next_hop};
use crate::netlink::vips::Vips;
use crate::plan::{Inputs, LocalHealth, Plan, ServiceKey, plan, replan};
use crate::probe::schedule::{ProbeJob, ProbeSet, Verdict};

/// Engine settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// The longest drain at shutdown; after it everything is withdrawn whatever the pools say.
    pub drain_limit: Duration,
    /// How long to wait for ExaBGP to acknowledge the final withdraws.
    pub withdraw_timeout: Duration,
    /// The next hop of IPv6 routes whose service says `self` (see [`with_ipv6_next_hop`]).
    pub ipv6_next_hop: Option<Ipv6Addr>,
}

/// The engine's channels and drivers.
pub struct Engine {
    /// The sources' view of the world (`None` until warm).
    pub world_rx: watch::Receiver<Option<World>>,
    /// Where the desired RIB goes (the ExaBGP driver).
    pub desired_tx: watch::Sender<Option<Desired>>,
    /// What the driver acknowledged.
    pub applied_rx: watch::Receiver<Applied>,
    /// Loopback VIPs, when managed.
    pub vips: Option<Vips>,
    /// Each plan, for status writers and metrics.
    pub plan_tx: watch::Sender<Arc<Plan>>,
    /// Settings.
    pub config: EngineConfig,
}

struct State {
    verdicts: BTreeMap<ProbeKey, bool>,
    /// The probe runs of the last plan, so that a probe of each local pod counts as passing
    /// only when every one of its runs passes.
    jobs: Vec<ProbeKey>,
    /// The last inputs and their plan, to plan the next change incrementally.
    previous: Option<(Inputs, Arc<Plan>)>,
    generation: u64,
    last_rib: Option<Arc<Rib>>,
    drain_started: Option<Instant>,
    shutdown_at: Option<Instant>,
    replan_at: Option<Instant>,
    vips_wanted: Option<BTreeSet<ipnet::IpNet>>,
    started: Instant,
    is_warm: bool,
}

impl State {
    /// True once every probe has given its first verdict (or the warm-up limit passed, or the
    /// agent is stopping). Until then nothing goes to ExaBGP or the loopback: a missing verdict
    /// counts as failing, so an agent restarted within the relay's lease would otherwise replay
    /// an empty RIB, the relay would withdraw what the old agent announced, and the routes and
    /// VIPs would flap until the probes pass again.
    fn update_warm(&mut self, jobs: &[ProbeJob<ProbeKey>], now: Instant) -> bool {
        self.is_warm = self.is_warm
            || self.shutdown_at.is_some()
            || now >= self.started + PROBE_WARM_UP_LIMIT
            || jobs.iter().all(|j| self.verdicts.contains_key(&j.key));
        if !self.is_warm {
            let limit_at = self.started + PROBE_WARM_UP_LIMIT;
            self.replan_at = Some(self.replan_at.map_or(limit_at, |r| r.min(limit_at)));
        }
        self.is_warm
    }
}

/// The longest wait for the first verdicts before planning with what is known: every probe
/// reports within its timeout, so this only guards against a probe task that never reports.
const PROBE_WARM_UP_LIMIT: Duration = Duration::from_secs(30);

impl Engine {
    /// Runs until `shutdown` resolves and the node has drained and withdrawn.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let (verdict_tx, mut verdict_rx) = mpsc::channel::<Verdict<ProbeKey>>(1024);
        let mut probes = ProbeSet::new(verdict_tx);
        let mut st = State {
            verdicts: BTreeMap::new(),
            jobs: Vec::new(),
            previous: None,
            generation: 0,
            last_rib: None,
            drain_started: None,
            shutdown_at: None,
            replan_at: None,
            vips_wanted: None,
            started: Instant::now(),
            is_warm: false,
        };
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                changed = self.world_rx.changed() => {
                    if changed.is_err() && st.shutdown_at.is_none() {
                        // The source is gone: treat it as a shutdown.
                        st.shutdown_at = Some(Instant::now());
                    }
                }
                Some(v) = verdict_rx.recv() => {
                    if let Some(detail) = &v.detail {
                        tracing::info!(service = %v.key.0, probe = %v.key.1, passing = v.passing, detail = %detail, "probe verdict");
                    } else {
                        tracing::info!(service = %v.key.0, probe = %v.key.1, passing = v.passing, "probe verdict");
                    }
                    st.verdicts.insert(v.key, v.passing);
                }
                () = crate::timer::sleep_until(st.replan_at) => {}
                () = &mut shutdown, if st.shutdown_at.is_none() => {
                    tracing::info!("shutting down: draining, then withdrawing");
                    st.shutdown_at = Some(Instant::now());
                }
            }
            let Some(planned) = self.step(&mut st, &mut probes).await else {
                continue;
            };
            if st.shutdown_at.is_some() && planned.rib.is_empty() {
                break;
            }
        }
        self.finish(&st).await;
    }

    /// Plans once from the current inputs; `None` while the world is not known yet.
    async fn step(&mut self, st: &mut State, probes: &mut ProbeSet<ProbeKey>) -> Option<Arc<Plan>> {
        let world = self.world_rx.borrow_and_update().clone();
        let Some(world) = world else {
            // Not warm yet; at shutdown there is nothing we know to withdraw beyond the RIB.
            if st.shutdown_at.is_some() {
                return Some(Arc::new(Plan::default()));
            }
            return None;
        };
        let now = Instant::now();
        let inputs = self.inputs(&world, st, now);
        // Most changes touch one service: plan only what it is linked to, when that suffices.
        let replanned = st
            .previous
            .as_ref()
            .and_then(|(old, previous)| replan(previous, old, &inputs));
        let planned = Arc::new(replanned.unwrap_or_else(|| plan(&inputs)));
        st.previous = Some((inputs, planned.clone()));
        tracing::trace!(elapsed = ?now.elapsed(), "planned");
        st.replan_at = planned.replan_after.map(|d| now + d);
        let exec_allowed = |key: &ServiceKey| exec_allowed(&world, key);
        let jobs = probe_jobs(&world, &planned, exec_allowed);
        st.jobs = jobs.iter().map(|j| j.key.clone()).collect();
        if !st.update_warm(&jobs, now) {
            let reset = probes.reconcile(jobs);
            for key in reset {
                st.verdicts.remove(&key);
            }
            return None;
        }
        // A new VIP goes on the loopback before its route is announced, and an old one comes off
        // after its withdraw is handed over, so traffic never reaches a node without its address.
        // Many new addresses go on in steps, each step's routes handed over before the next.
        let wanted: BTreeSet<ipnet::IpNet> = planned.rib.keys().map(|k| k.prefix).collect();
        let current = match (&st.vips_wanted, &self.vips) {
            (Some(current), _) => current.clone(),
            (None, Some(vips)) => already_on(vips, &wanted).await,
            (None, None) => BTreeSet::new(),
        };
        let steps = match self.vips {
            Some(_) => rollout::steps(&current, &wanted, rollout::STEP),
            None => Vec::new(),
        };
        for on in &steps {
            self.sync_vips(st, on.clone()).await;
            if st.vips_wanted.as_ref() != Some(on) {
                break; // the kernel refused: the full set below retries and logs it
            }
            let none = Rib::new();
            let announced = st.last_rib.as_deref().unwrap_or(&none);
            let rib = rollout::announceable(&planned.rib, on, announced);
            self.publish(st, Arc::new(rib));
        }
        let mut both = current;
        both.extend(wanted.iter().copied());
        self.sync_vips(st, both).await;
        self.publish(st, planned.rib.clone());
        self.sync_vips(st, wanted).await;
        let reset = probes.reconcile(jobs);
        for key in reset {
            st.verdicts.remove(&key);
        }
        tracing::trace!(elapsed = ?now.elapsed(), "routes and addresses handed over");
        report::log_changes(&self.plan_tx.borrow(), &planned);
        self.plan_tx.send_replace(planned.clone());
        Some(planned)
    }

    fn inputs(&self, world: &World, st: &mut State, now: Instant) -> Inputs {
        let mut node = world.node.clone();
        node.shutting_down = st.shutdown_at.is_some();
        if node.drain_cause().is_some() {
            let started = *st.drain_started.get_or_insert(now);
            node.drain_elapsed = now - started;
            // Past the drain limit at shutdown, every pool's drain is over.
            if st
                .shutdown_at
                .is_some_and(|t| now >= t + self.config.drain_limit)
            {
                node.drain_elapsed = Duration::MAX;
            }
        } else {
            st.drain_started = None;
        }
        if let Some(t) = st.shutdown_at {
            let limit_at = t + self.config.drain_limit;
            st.replan_at = Some(st.replan_at.map_or(limit_at, |r| r.min(limit_at)));
        }
        let mut probes_by_service = probe_verdicts(&st.jobs, &st.verdicts);
        // Both maps ascend by service: a merge join, not a search per service.
        let mut endpoints = crate::sorted::cursor(world.endpoints.as_deref());
        let health = world
            .services
            .iter()
            .map(|(key, svc)| {
                let counts = match (&mut endpoints, &**svc) {
                    (Some(eps), _) => eps.seek(key).copied().unwrap_or_default(),
                    // Standalone: no endpoints to count, the probes alone decide.
                    (None, Ok(s)) => world::EndpointCounts {
                        ready: s.min_ready_endpoints,
                        total: s.min_ready_endpoints,
                    },
                    (None, Err(_)) => world::EndpointCounts::default(),
                };
                let probes = probes_by_service.remove(key).unwrap_or_default();
                (
                    key.clone(),
                    LocalHealth {
                        ready: counts.ready,
                        total: counts.total,
                        probes,
                    },
                )
            })
            .collect();
        Inputs {
            services: world.services.clone(),
            pools: world.pools.clone(),
            namespaces: world.namespaces.clone(),
            node,
            health,
        }
    }

    /// Hands a RIB to the driver unless it is the one it already has; without an IPv6 next hop
    /// to fill in, the plan's own map (no copy).
    fn publish(&self, st: &mut State, rib: Arc<Rib>) {
        let rib = match self.config.ipv6_next_hop {
            Some(address) => Arc::new(with_ipv6_next_hop(Arc::unwrap_or_clone(rib), Some(address))),
            None => rib,
        };
        let same = |last: &Arc<Rib>| Arc::ptr_eq(last, &rib) || **last == *rib;
        if !st.last_rib.as_ref().is_some_and(same) {
            st.generation += 1;
            st.last_rib = Some(rib.clone());
            self.desired_tx.send_replace(Some(Desired {
                generation: st.generation,
                rib,
            }));
        }
    }

    async fn sync_vips(&self, st: &mut State, wanted: BTreeSet<ipnet::IpNet>) {
        let Some(vips) = &self.vips else { return };
        if st.vips_wanted.as_ref() == Some(&wanted) {
            return;
        }
        match vips.reconcile(&wanted).await {
            Ok(changes) if !changes.add.is_empty() || !changes.remove.is_empty() => {
                tracing::info!(
                    added = changes.add.len(),
                    removed = changes.remove.len(),
                    "loopback VIPs updated"
                );
                st.vips_wanted = Some(wanted);
            }
            Ok(_) => st.vips_wanted = Some(wanted),
            Err(e) => {
                tracing::warn!(error = %e, "failed to update the loopback VIPs; retrying at the next change");
            }
        }
    }

    /// Waits for ExaBGP to acknowledge the last RIB, then removes the VIPs.
    async fn finish(&self, st: &State) {
        let mut applied = self.applied_rx.clone();
        let generation = st.generation;
        let acked = tokio::time::timeout(
            self.config.withdraw_timeout,
            applied.wait_for(|a| a.generation >= generation),
        )
        .await;
        match acked {
            Ok(Ok(_)) => tracing::info!("ExaBGP acknowledged the withdraws"),
            _ => {
                tracing::warn!(timeout = ?self.config.withdraw_timeout, "ExaBGP did not acknowledge the withdraws in time; the relay's lease will withdraw them");
            }
        }
        if let Some(vips) = &self.vips
            && let Err(e) = vips.reconcile(&BTreeSet::new()).await
        {
            tracing::warn!(error = %e, "failed to remove the loopback VIPs");
        }
    }
}

/// The wanted addresses the loopback has already, at the first plan: an agent restarted within
/// the relay's lease finds those of its predecessor there, and their routes go into its first
/// replay at once. Rolled out in steps instead, the replay would hold only the first step, and
/// the relay, syncing after it, would withdraw the rest until the later steps came.
async fn already_on(vips: &Vips, wanted: &BTreeSet<ipnet::IpNet>) -> BTreeSet<ipnet::IpNet> {
    match vips.present().await {
        Ok((present, _ours)) => present.intersection(wanted).copied().collect(),
        Err(e) => {
            tracing::warn!(error = %e, "failed to list the loopback's addresses; adding them all in steps");
            BTreeSet::new()
        }
    }
}

/// Each probe of each service passes when every one of its runs has a passing verdict.
fn probe_verdicts(
    jobs: &[ProbeKey],
    verdicts: &BTreeMap<ProbeKey, bool>,
) -> BTreeMap<ServiceKey, BTreeMap<String, bool>> {
    // One pass over the jobs: per service would cost services x jobs on every plan.
    let mut out: BTreeMap<ServiceKey, BTreeMap<String, bool>> = BTreeMap::new();
    for job in jobs {
        let passing = verdicts.get(job).copied().unwrap_or(false);
        out.entry(job.0.clone())
            .or_default()
            .entry(job.1.clone())
            .and_modify(|p| *p &= passing)
            .or_insert(passing);
    }
    out
}

/// True when a pool that grants the service's namespace allows exec probes.
fn exec_allowed(world: &World, key: &ServiceKey) -> bool {
    let labels = world
        .namespaces
        .get(&*key.namespace)
        .cloned()
        .unwrap_or_default();
    world
        .pools
        .values()
        .filter_map(|p| p.as_ref().ok())
        .any(|p| p.allow_exec && p.grants_namespace(&labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_of_each_pod_passes_only_when_all_pass() {
        let svc = ServiceKey::new("ns", "web");
        let other = ServiceKey::new("ns", "dns");
        let pod = |i: u8| Some(std::net::IpAddr::from([10, 0, 0, i]));
        let jobs = vec![
            (svc.clone(), "http".to_owned(), pod(1)),
            (svc.clone(), "http".to_owned(), pod(2)),
            (svc.clone(), "tcp".to_owned(), None),
            (other.clone(), "tcp".to_owned(), None),
        ];
        let mut verdicts = BTreeMap::from([
            (jobs[0].clone(), true),
            (jobs[2].clone(), true),
            (jobs[3].clone(), false),
        ]);
        // The second pod has no verdict yet: failing.
        let got = probe_verdicts(&jobs, &verdicts)[&svc].clone();
        assert_eq!(
            got,
            BTreeMap::from([("http".to_owned(), false), ("tcp".to_owned(), true)])
        );
        verdicts.insert(jobs[1].clone(), true);
        assert!(probe_verdicts(&jobs, &verdicts)[&svc]["http"]);
        verdicts.insert(jobs[0].clone(), false);
        assert!(!probe_verdicts(&jobs, &verdicts)[&svc]["http"]);
        assert_eq!(
            probe_verdicts(&jobs, &verdicts)[&other],
            BTreeMap::from([("tcp".to_owned(), false)])
        );
    }
}
