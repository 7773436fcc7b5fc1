//! The chaos suite's bookkeeping (tests/chaos.rs): a seeded RNG, the timeline of what the test
//! did (probe flags flipped, fault windows), a sampler that records gobgpd's RIB all along, and
//! the invariants, evaluated over every sample once a scenario ends.
//!
//! Times are recorded on the lenient side of each action: a flag change or a recovery is
//! stamped after it completed, a fault before it was injected, and a sample counts from the
//! moment its query started. So a reported violation is one no scheduling delay of the test
//! itself can explain.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::testbed::{Route, Testbed};

/// How long an unready service may stay announced (and a ready one may wait to be announced):
/// fall (2) x interval (1 s) + 1 s, the bound. Rise is 2 as well, so it bounds both.
pub const BOUND: Duration = Duration::from_secs(3);

/// After a recovery the peer's RIB (and the loopback) must equal the desired state within this.
pub const CONVERGE: Duration = Duration::from_secs(5);

/// The MED every announced service carries (one probe, Up).
pub const MED_UP: u32 = 100;

/// splitmix64: small, seedable and the same everywhere, so a seed replays a run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n).unwrap_or(u64::MAX).max(1);
        usize::try_from(self.next_u64() % n).unwrap_or(0)
    }

    /// A duration uniform in `lo..=hi`, in milliseconds.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next_u64() % (hi - lo + 1))
    }

    /// One of `weights`' indices, each with a chance proportional to its weight.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        let mut pick = self.next_u64() % total.max(1);
        for (i, w) in weights.iter().enumerate() {
            if pick < u64::from(*w) {
                return i;
            }
            pick -= u64::from(*w);
        }
        weights.len() - 1
    }
}

/// `KAT_CHAOS_SEED`, or a fresh seed from the clock.
pub fn seed() -> u64 {
    if let Ok(text) = std::env::var("KAT_CHAOS_SEED") {
        return text
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("KAT_CHAOS_SEED={text:?}: {e}"));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(now.as_nanos() % u128::from(u64::MAX)).unwrap_or(1)
}

/// A whole number from the environment variable `name`, or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={text:?}: {e}")),
        Err(_) => default,
    }
}

/// The kinds of fault the suite injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Readiness flaps only, no fault (a baseline round).
    None,
    /// `kill -9` the agent, start a new one within the relay's lease.
    AgentKill,
    /// `SIGSTOP` the agent, `SIGCONT` it later.
    AgentStop,
    /// `kill -9` the agent and leave it dead past the relay's lease.
    AgentPastLease,
    /// `kill -9` the relay; ExaBGP starts a new one.
    RelayKill,
    /// `kill -9` the agent, then its relay while the relay holds the agent's routes (ExaBGP
    /// starts a new relay), then start a new agent within the lease.
    AgentThenRelayKill,
    /// `kill -9` ExaBGP (its relay goes with it), start it again.
    ExabgpKill,
    /// `kill -9` gobgpd, the peer, start it again.
    GobgpdKill,
    /// `kill -9` the agent and ExaBGP together, start both again (a node's pod replaced), with
    /// BGP graceful restart on.
    NodeRestart,
    /// `SIGSTOP` kube-apiserver, `SIGCONT` it later.
    ApiServerStop,
    /// `SIGSTOP` etcd, `SIGCONT` it later.
    EtcdStop,
    /// `SIGSTOP` kube-apiserver and etcd, `kill -9` the agent during the outage, start a new
    /// one, resume the control plane.
    AgentKillInOutage,
    /// `kill -9` kube-apiserver, start it again (same flags, same etcd) after a pause.
    ApiServerKill,
    /// `kill -9` etcd, start it again on its data dir after a pause.
    EtcdKill,
    /// `kill -9` etcd and kube-apiserver together, start both again after a pause.
    ControlPlaneKill,
}

impl Fault {
    /// How the table names it.
    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none (readiness flaps only)",
            Fault::AgentKill => "kill -9 agent, restart within lease",
            Fault::AgentStop => "SIGSTOP/SIGCONT agent",
            Fault::AgentPastLease => "kill -9 agent, dead past lease",
            Fault::RelayKill => "kill -9 exabgp-relay",
            Fault::AgentThenRelayKill => "kill -9 agent, then its relay",
            Fault::ExabgpKill => "kill -9 ExaBGP, restart",
            Fault::GobgpdKill => "kill -9 gobgpd, restart",
            Fault::NodeRestart => "kill -9 agent + ExaBGP together (GR)",
            Fault::ApiServerStop => "SIGSTOP/SIGCONT kube-apiserver",
            Fault::EtcdStop => "SIGSTOP/SIGCONT etcd",
            Fault::AgentKillInOutage => "kill -9 agent during API outage",
            Fault::ApiServerKill => "kill -9 kube-apiserver, restart",
            Fault::EtcdKill => "kill -9 etcd, restart on its data",
            Fault::ControlPlaneKill => "kill -9 etcd + kube-apiserver, restart",
        }
    }
}

/// One injected fault, from injection to recovery.
#[derive(Debug, Clone)]
pub struct Window {
    /// What was injected.
    pub fault: Fault,
    /// Just before it was injected.
    pub start: Instant,
    /// Once the recovery completed (a new process running, a session Established again).
    pub end: Instant,
    /// From when the fault may legitimately take healthy routes away (a dead session, the
    /// relay's lease running out), until `end` + [`CONVERGE`]; `None`: it may never.
    pub exempt_from: Option<Instant>,
    /// By when every route must be gone (the relay's lease + 1 s), while the window lasts.
    pub withdraw_all_by: Option<Instant>,
}

/// One look at gobgpd's RIB: the query started at `t0` and ended at `t1`; `None` when gobgpd
/// could not be asked (it was down).
#[derive(Debug, Clone)]
pub struct Sample {
    /// When the query started.
    pub t0: Instant,
    /// When it returned.
    pub t1: Instant,
    /// IPv4 routes by prefix.
    pub rib: Option<BTreeMap<String, Route>>,
}

/// Asks gobgpd for its IPv4 RIB once.
pub fn take_sample(bed: &Testbed) -> Sample {
    let t0 = Instant::now();
    let rib = bed
        .gobgp(&["global", "rib", "-a", "ipv4", "-j"])
        .ok()
        .and_then(|text| Route::parse_gobgp(text.as_bytes()).ok())
        .map(|routes| routes.into_iter().map(|r| (r.prefix.clone(), r)).collect());
    Sample {
        t0,
        t1: Instant::now(),
        rib,
    }
}

/// Samples gobgpd's RIB every `every` into `samples` until `stop` is set.
pub fn run_sampler(
    bed: &Testbed,
    samples: &Mutex<Vec<Sample>>,
    stop: &AtomicBool,
    every: Duration,
) {
    while !stop.load(Ordering::Relaxed) {
        let sample = take_sample(bed);
        samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(sample);
        std::thread::sleep(every);
    }
}

/// What the test did: each service's probe flag over time and the fault windows.
#[derive(Debug)]
pub struct Timeline {
    /// When the scenario started; times print relative to it.
    pub t0: Instant,
    /// The services' prefixes (`192.0.2.N/32`), in order.
    pub prefixes: Vec<String>,
    /// Per service, the flag changes `(when, ready)`, in order; the first at `t0`.
    health: Vec<Vec<(Instant, bool)>>,
    /// The faults, in order.
    pub windows: Vec<Window>,
    /// Faults injected, by kind.
    pub counts: BTreeMap<Fault, u32>,
    /// Checks performed, by invariant.
    pub checks: BTreeMap<&'static str, u64>,
    /// What went wrong.
    pub violations: Vec<String>,
    /// When a convergence check saw the peer's RIB equal the desired state (the end of that
    /// sample): from then on every service is settled until its next change.
    converged: Vec<Instant>,
}

impl Timeline {
    /// Every service ready and announced now (the caller has seen them all at the peer), so
    /// settled as of now: ready since [`BOUND`] ago.
    pub fn new(prefixes: Vec<String>) -> Timeline {
        let t0 = Instant::now();
        let settled = t0.checked_sub(BOUND).unwrap_or(t0);
        let health = prefixes.iter().map(|_| vec![(settled, true)]).collect();
        Timeline {
            t0,
            prefixes,
            health,
            windows: Vec::new(),
            counts: BTreeMap::new(),
            checks: BTreeMap::new(),
            violations: Vec::new(),
            converged: Vec::new(),
        }
    }

    /// Seconds since the start, for messages.
    pub fn at(&self, t: Instant) -> String {
        format!(
            "t={:.2}s",
            t.saturating_duration_since(self.t0).as_secs_f64()
        )
    }

    /// Records that service `i` became ready (or not) just now (call after the change).
    pub fn set_ready(&mut self, i: usize, ready: bool) {
        self.health[i].push((Instant::now(), ready));
    }

    /// Whether service `i` is ready now, per the last change.
    pub fn is_ready(&self, i: usize) -> bool {
        self.health[i].last().is_some_and(|(_, r)| *r)
    }

    /// The prefixes that should be announced now.
    pub fn desired(&self) -> Vec<String> {
        (0..self.prefixes.len())
            .filter(|i| self.is_ready(*i))
            .map(|i| self.prefixes[i].clone())
            .collect()
    }

    /// Records a fault window and counts it.
    pub fn add_window(&mut self, window: Window) {
        *self.counts.entry(window.fault).or_default() += 1;
        self.windows.push(window);
    }

    /// Counts one check of `invariant`.
    pub fn count_check(&mut self, invariant: &'static str, n: u64) {
        *self.checks.entry(invariant).or_default() += n;
    }

    /// Service `i`'s readiness throughout `[from, to]` and since when, or `None` when it changed
    /// in between.
    fn steady(&self, i: usize, from: Instant, to: Instant) -> Option<(bool, Instant)> {
        let changes = &self.health[i];
        let last = changes.iter().rev().find(|(t, _)| *t <= to)?;
        (last.0 <= from).then_some((last.1, last.0))
    }

    /// The last moment by which a readiness change at `since` must show at the peer: `since` +
    /// [`BOUND`], moved to a fault's recovery + [`BOUND`] when a fault overlaps that span (the
    /// node cannot act on a change while its agent, relay, ExaBGP or peer is down).
    pub fn deadline(&self, since: Instant) -> Instant {
        let mut deadline = since + BOUND;
        loop {
            let moved = self
                .windows
                .iter()
                .filter(|w| w.start < deadline && w.end > since && w.end + BOUND > deadline)
                .map(|w| w.end + BOUND)
                .max();
            match moved {
                Some(later) => deadline = later,
                None => return deadline,
            }
        }
    }

    /// When a readiness change at `since` must show at the peer, for a sample at `at`: its
    /// [`Timeline::deadline`], or earlier if a convergence check saw the RIB equal the desired
    /// state between the change and the sample (the node had already acted on it).
    fn settled_by(&self, since: Instant, at: Instant) -> Instant {
        let seen = self
            .converged
            .iter()
            .copied()
            .filter(|c| *c >= since && *c <= at)
            .min();
        seen.map_or_else(|| self.deadline(since), |c| c.min(self.deadline(since)))
    }

    /// The fault windows overlapping `[from, to]`, for messages.
    fn windows_near(&self, from: Instant, to: Instant) -> String {
        let near: Vec<String> = self
            .windows
            .iter()
            .filter(|w| w.start <= to && w.end + CONVERGE >= from)
            .map(|w| {
                format!(
                    "{} [{} .. {}]",
                    w.fault.name(),
                    self.at(w.start),
                    self.at(w.end)
                )
            })
            .collect();
        if near.is_empty() {
            "no fault window".to_owned()
        } else {
            near.join("; ")
        }
    }

    /// Whether a fault may take healthy routes away somewhere in `[from, to]`.
    fn is_exempt(&self, from: Instant, to: Instant) -> bool {
        self.windows.iter().any(|w| {
            w.exempt_from
                .is_some_and(|e| e <= to && w.end + CONVERGE >= from)
        })
    }

    /// Checks invariants (a) and (b), the MED, and the lease bound over every sample.
    pub fn check_samples(&mut self, samples: &[Sample]) {
        for sample in samples {
            let Some(rib) = &sample.rib else { continue };
            for i in 0..self.prefixes.len() {
                self.check_one(sample, rib, i);
            }
            self.check_lease(sample, rib);
        }
    }

    fn check_one(&mut self, sample: &Sample, rib: &BTreeMap<String, Route>, i: usize) {
        let prefix = self.prefixes[i].clone();
        let route = rib.get(&prefix);
        if let Some(r) = route
            && r.med != Some(MED_UP)
        {
            let msg = format!(
                "{prefix} at {} with MED {:?}, expected {MED_UP}",
                self.at(sample.t0),
                r.med
            );
            self.violations.push(msg);
        }
        let Some((ready, since)) = self.steady(i, sample.t0, sample.t1) else {
            return;
        };
        let deadline = self.settled_by(since, sample.t0);
        if sample.t0 < deadline {
            return;
        }
        if ready {
            self.count_check("(b) ready service keeps its route", 1);
            if route.is_none() && !self.is_exempt(sample.t0, sample.t1) {
                let msg = format!(
                    "(b) {prefix} missing at {} although ready since {} (settled by {}); {}",
                    self.at(sample.t0),
                    self.at(since),
                    self.at(deadline),
                    self.windows_near(since, sample.t1)
                );
                self.violations.push(msg);
            }
        } else {
            self.count_check("(a) unready service withdrawn in bound", 1);
            if route.is_some() {
                let msg = format!(
                    "(a) {prefix} still announced at {} although unready since {} (due by {}); {}",
                    self.at(sample.t0),
                    self.at(since),
                    self.at(deadline),
                    self.windows_near(since, sample.t1)
                );
                self.violations.push(msg);
            }
        }
    }

    fn check_lease(&mut self, sample: &Sample, rib: &BTreeMap<String, Route>) {
        let due: Vec<(Instant, Instant)> = self
            .windows
            .iter()
            .filter_map(|w| w.withdraw_all_by.map(|by| (by, w.end)))
            .filter(|(by, end)| sample.t0 >= *by && sample.t1 <= *end)
            .collect();
        for (by, _) in due {
            self.count_check("(a') dead agent's routes gone by lease + 1 s", 1);
            let ours: Vec<&String> = rib.keys().filter(|p| self.prefixes.contains(p)).collect();
            if !ours.is_empty() {
                let msg = format!(
                    "(a') {ours:?} still announced at {}, past the lease + 1 s ({}) of a dead agent",
                    self.at(sample.t0),
                    self.at(by)
                );
                self.violations.push(msg);
            }
        }
    }

    /// Invariant (c): within [`CONVERGE`] of `since`, gobgpd's RIB holds exactly the ready
    /// services (MED 100, none stale) and, when `lo` gives a set, the loopback exactly their
    /// IPs. Blocks until then (or a second past the bound); records a violation otherwise.
    pub fn converge(
        &mut self,
        samples: &Mutex<Vec<Sample>>,
        since: Instant,
        fault: Fault,
        lo: &dyn Fn() -> Option<BTreeSet<String>>,
    ) {
        let desired: BTreeSet<String> = self.desired().into_iter().collect();
        let deadline = since + CONVERGE;
        let (mut rib_ok, mut lo_ok) = (false, false);
        let mut seen = 0;
        let (mut last_rib, mut last_lo) = (String::from("no sample yet"), None);
        loop {
            {
                let samples = samples
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for s in &samples[seen..] {
                    let Some(rib) = s.rib.as_ref().filter(|_| s.t0 >= since && s.t0 <= deadline)
                    else {
                        continue;
                    };
                    let ours: BTreeSet<String> = rib
                        .keys()
                        .filter(|p| self.prefixes.contains(p))
                        .cloned()
                        .collect();
                    let stale: Vec<&String> = rib
                        .values()
                        .filter(|r| r.stale)
                        .map(|r| &r.prefix)
                        .collect();
                    if !rib_ok
                        && ours == desired
                        && stale.is_empty()
                        && rib.values().all(|r| r.med == Some(MED_UP))
                    {
                        rib_ok = true;
                        self.converged.push(s.t1);
                    }
                    last_rib = format!("{ours:?} (stale: {stale:?})");
                }
                seen = samples.len();
            }
            let now = Instant::now();
            if !lo_ok && now <= deadline {
                last_lo = lo();
                lo_ok = last_lo.as_ref().is_none_or(|l| *l == desired);
            }
            if rib_ok && lo_ok {
                self.count_check(
                    "(c) peer's RIB (and lo) = desired within 5 s of recovery",
                    1,
                );
                return;
            }
            if now > deadline + Duration::from_secs(1) {
                let msg = format!(
                    "(c) after {} recovered at {}: not converged by {}; desired {desired:?}, \
                     last RIB {last_rib}, last lo {last_lo:?}",
                    fault.name(),
                    self.at(since),
                    self.at(deadline)
                );
                self.violations.push(msg);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The table: faults by kind, checks by invariant, violations.
    pub fn table(&self, title: &str, seed: u64, elapsed: Duration) -> String {
        let mut text = format!(
            "\n[chaos] {title}: seed {seed}, {:.1} s (replay: KAT_CHAOS_SEED={seed})\n",
            elapsed.as_secs_f64()
        );
        let _ = writeln!(text, "| fault | injected |\n|---|---|");
        for (fault, n) in &self.counts {
            let _ = writeln!(text, "| {} | {n} |", fault.name());
        }
        let total: u32 = self
            .counts
            .iter()
            .filter(|(f, _)| **f != Fault::None)
            .map(|(_, n)| n)
            .sum();
        let _ = writeln!(text, "| **faults in total** | **{total}** |");
        let _ = writeln!(text, "\n| invariant | checks |\n|---|---|");
        for (name, n) in &self.checks {
            let _ = writeln!(text, "| {name} | {n} |");
        }
        let _ = writeln!(text, "\nviolations: {}", self.violations.len());
        for v in self.violations.iter().take(30) {
            let _ = writeln!(text, "  - {v}");
        }
        text
    }
}
