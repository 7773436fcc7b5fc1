//! Running probes on their timers: each probe is a task that checks, steps its own rise/fall
//! machine and reports the dampened verdict only when it changes. A [`ProbeSet`] starts, restarts
//! and stops the tasks to match the wanted set.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::exec::{self, ExecOutcome};
use super::{HttpProbe, TcpProbe};
use crate::health::{Machine, Observation, State, next_pause};

/// What one probe run does.
#[derive(Debug, Clone)]
pub enum ProbeAction {
    /// HTTP(S) GET.
    Http(Box<HttpProbe>),
    /// TCP connect.
    Tcp(TcpProbe),
    /// A program and its arguments, no shell.
    Exec(Vec<String>),
    /// A probe this agent cannot run (yet): it always fails, with this reason.
    Unsupported(String),
}

impl ProbeAction {
    /// Runs the probe once.
    pub async fn run_once(&self, timeout: Duration) -> Result<(), String> {
        match self {
            ProbeAction::Http(p) => p.run(Some(timeout)).await,
            ProbeAction::Tcp(p) => p.run(Some(timeout)).await,
            ProbeAction::Exec(command) => {
                let Some((program, args)) = command.split_first() else {
                    return Err("empty command".into());
                };
                match exec::run(program, args, Some(timeout)).await {
                    ExecOutcome::Exited { status: 0, .. } => Ok(()),
                    ExecOutcome::Exited { status, .. } => {
                        Err(format!("{program} exited with {status}"))
                    }
                    ExecOutcome::TimedOut => Err(format!("{program} timed out after {timeout:?}")),
                    ExecOutcome::NotStarted(why) => Err(why),
                }
            }
            ProbeAction::Unsupported(why) => Err(why.clone()),
        }
    }
}

/// Timing and dampening of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTiming {
    /// Time between runs in a stable state.
    pub interval: Duration,
    /// Time between runs while rising or falling.
    pub fast_interval: Duration,
    /// Time allowed for one run.
    pub timeout: Duration,
    /// Passes in a row to pass.
    pub rise: u32,
    /// Failures in a row to fail.
    pub fall: u32,
}

/// A probe to run. `fingerprint` changes whenever the definition does, so that a changed probe
/// is restarted and an unchanged one keeps its state.
#[derive(Debug, Clone)]
pub struct ProbeJob<K> {
    /// Who the verdict is for (service and probe name).
    pub key: K,
    /// A stable text of the definition.
    pub fingerprint: String,
    /// What to run.
    pub action: ProbeAction,
    /// When.
    pub timing: ProbeTiming,
}

/// A dampened probe verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<K> {
    /// The probe.
    pub key: K,
    /// Passing after rise/fall: true from the `rise`-th pass in a row until the `fall`-th
    /// failure in a row.
    pub passing: bool,
    /// The last failure, when failing.
    pub detail: Option<String>,
}

/// True when the dampened state counts as passing: UP, and FALLING (not yet `fall` failures).
pub fn is_passing(state: State) -> bool {
    matches!(state, State::Up | State::Falling)
}

async fn run_probe<K: Clone>(job: ProbeJob<K>, tx: mpsc::Sender<Verdict<K>>) {
    let t = job.timing;
    let mut machine = Machine::new(i64::from(t.rise), i64::from(t.fall));
    let mut reported: Option<bool> = None;
    loop {
        // Start to start, so a probe's own run time does not stretch the interval (and the
        // configured rise/fall times).
        let started = tokio::time::Instant::now();
        let result = job.action.run_once(t.timeout).await;
        let step = machine.observe(Observation {
            disabled: false,
            ok: result.is_ok(),
        });
        let passing = is_passing(step.to);
        // Report the first verdict once known (UP or DOWN) and every change after it.
        let settled = !step.to.is_transitional() || reported.is_some();
        if settled && reported != Some(passing) {
            reported = Some(passing);
            let verdict = Verdict {
                key: job.key.clone(),
                passing,
                detail: result.err(),
            };
            if tx.send(verdict).await.is_err() {
                return;
            }
        }
        let pause = next_pause(step.to, t.interval, t.fast_interval).unwrap_or(t.interval);
        tokio::time::sleep_until(started + pause).await;
    }
}

/// The running probes.
#[derive(Debug)]
pub struct ProbeSet<K> {
    running: HashMap<K, (String, JoinHandle<()>)>,
    tx: mpsc::Sender<Verdict<K>>,
}

impl<K: Clone + Eq + std::hash::Hash + Send + 'static> ProbeSet<K> {
    /// Verdicts go to `tx`.
    pub fn new(tx: mpsc::Sender<Verdict<K>>) -> Self {
        ProbeSet {
            running: HashMap::new(),
            tx,
        }
    }

    /// Starts new and changed probes and stops the others; returns the keys that were stopped
    /// or restarted, whose earlier verdicts no longer hold.
    pub fn reconcile(&mut self, jobs: Vec<ProbeJob<K>>) -> Vec<K> {
        let mut wanted: HashMap<K, ProbeJob<K>> =
            jobs.into_iter().map(|j| (j.key.clone(), j)).collect();
        let mut reset = Vec::new();
        self.running.retain(|key, (fingerprint, handle)| {
            let keep = wanted
                .get(key)
                .is_some_and(|j| j.fingerprint == *fingerprint);
            if keep {
                wanted.remove(key);
            } else {
                handle.abort();
                reset.push(key.clone());
            }
            keep
        });
        for (key, job) in wanted {
            let fingerprint = job.fingerprint.clone();
            let handle = tokio::spawn(run_probe(job, self.tx.clone()));
            self.running.insert(key, (fingerprint, handle));
        }
        reset
    }

    /// How many probes run.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// True when none runs.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

impl<K> Drop for ProbeSet<K> {
    fn drop(&mut self) {
        for (_, handle) in self.running.values() {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(key: &str, action: ProbeAction, rise: u32, fall: u32) -> ProbeJob<String> {
        ProbeJob {
            key: key.into(),
            fingerprint: format!("{action:?}"),
            action,
            timing: ProbeTiming {
                interval: Duration::from_millis(20),
                fast_interval: Duration::from_millis(10),
                timeout: Duration::from_secs(10),
                rise,
                fall,
            },
        }
    }

    // Real time (short intervals): a paused clock would jump past the timeout while the real
    // child process runs.
    #[tokio::test]
    async fn verdicts_are_dampened_and_reported_on_change() {
        let dir = std::env::temp_dir().join(format!("kat-sched-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let flag = dir.join("ok");
        std::fs::write(&flag, "").unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let mut set = ProbeSet::new(tx);
        let argv = vec!["test".into(), "-f".into(), flag.display().to_string()];
        set.reconcile(vec![job("web/http", ProbeAction::Exec(argv.clone()), 3, 2)]);
        // UP after three passes in a row.
        let v = rx.recv().await.unwrap();
        assert!(v.passing);
        std::fs::remove_file(&flag).unwrap();
        // Two failures in a row to fail.
        let v = rx.recv().await.unwrap();
        assert!(!v.passing);
        assert!(v.detail.unwrap().contains("test exited with 1"));
        // An unchanged job keeps running; a changed one restarts.
        assert!(
            set.reconcile(vec![job("web/http", ProbeAction::Exec(argv), 3, 2)])
                .is_empty()
        );
        let reset = set.reconcile(vec![job(
            "web/http",
            ProbeAction::Unsupported("icmp".into()),
            1,
            1,
        )]);
        assert_eq!(reset, ["web/http".to_string()]);
        let v = rx.recv().await.unwrap();
        assert_eq!((v.passing, v.detail.as_deref()), (false, Some("icmp")));
        assert_eq!(set.reconcile(vec![]), ["web/http".to_string()]);
        assert!(set.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
