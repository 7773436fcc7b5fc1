//! The ExaBGP driver: keeps ExaBGP's RIB equal to the desired one over one connection to the
//! relay, with minimal grouped diffs, pipelined lines and every answer checked.
//!
//! On every (re)connect it replays the whole desired RIB: it cannot tell whether ExaBGP
//! restarted (and forgot) or only the pipe did (and remembered); an identical announce is
//! harmless, a missing one is an outage. Before the replay it withdraws what an earlier session
//! may have left in ExaBGP and is no longer wanted ([`Held`]: a new relay does not know it).
//! After the first complete replay it sends the sync marker, so the relay can withdraw what an
//! earlier agent left and nobody wants any more.
//!
//! Once the relay has told its lease, a task of its own sends a keepalive at a third of it for
//! as long as the session lasts, whatever the session loop is busy with: the relay withdraws
//! everything from a connection silent for a whole lease (a hung agent), never from a live one.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::watch;
use tokio::time::Instant;

use super::batch::{Batch, KEEPALIVE, sync_done};
use super::held::{Held, plan};
use super::parse::{Answer, Control, parse_answer, parse_control};
use crate::model::Rib;

/// Driver settings.
#[derive(Debug, Clone, Copy)]
pub struct DriverConfig {
    /// How long an answer may take before the connection is given up.
    pub ack_timeout: Duration,
    /// Lines written before their answers arrive.
    pub window: usize,
    /// Prefixes per bulk line.
    pub max_prefixes_per_line: usize,
    /// Wait before retrying lines ExaBGP refused.
    pub retry_after: Duration,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            ack_timeout: Duration::from_secs(30),
            window: 64,
            max_prefixes_per_line: 500,
            retry_after: Duration::from_secs(5),
        }
    }
}

/// The desired RIB, numbered so callers can wait until a given version is applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    /// Increases with every change.
    pub generation: u64,
    /// The routes (shared: the engine keeps the same RIB to compare the next one with).
    pub rib: Arc<Rib>,
}

/// Progress reported by the driver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The last generation ExaBGP acknowledged in full (0: none yet).
    pub generation: u64,
    /// True while a relay is connected.
    pub connected: bool,
    /// Lines ExaBGP answered `error` to, in total.
    pub errors: u64,
    /// Sessions started, in total.
    pub sessions: u64,
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionEnd {
    /// The relay closed the connection.
    #[error("the relay closed the connection")]
    Closed,
    /// ExaBGP announced its shutdown.
    #[error("ExaBGP is shutting down")]
    Shutdown,
    /// No answer in time.
    #[error("no answer from ExaBGP within {0:?} for {1:?}")]
    AckTimeout(Duration, String),
    /// Reading or writing failed.
    #[error("failed to talk to the relay: {0}")]
    Io(#[from] std::io::Error),
    /// The desired RIB's sender is gone: the agent is stopping.
    #[error("the agent stopped")]
    Stopped,
}

/// Keepalives per lease: two may be lost or late before the relay gives up on the agent.
const HEARTBEATS_PER_LEASE: u32 = 3;

/// The shortest heartbeat period, whatever lease the relay announces (a zero lease must not
/// make a busy loop).
const MIN_HEARTBEAT: Duration = Duration::from_millis(10);

/// How often the driver sends a keepalive for a relay with this lease.
pub fn heartbeat_period(lease: Duration) -> Duration {
    (lease / HEARTBEATS_PER_LEASE).max(MIN_HEARTBEAT)
}

/// The connection's writer, shared by the session loop and its heartbeat; each holds the lock for
/// whole lines only, so a keepalive never splits a command.
type SharedWriter<W> = Arc<tokio::sync::Mutex<BufWriter<W>>>;

/// The heartbeat task, aborted with its session so that it never keeps a dead session's
/// connection looking alive.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends a keepalive every `period` until a write fails (the session then ends on its own read).
async fn heartbeat<W: AsyncWrite + Unpin>(writer: SharedWriter<W>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut w = writer.lock().await;
        if w.write_all(KEEPALIVE.as_bytes()).await.is_err() || w.flush().await.is_err() {
            return;
        }
    }
}

/// Runs one session until it ends. `desired_rx` holds `None` until the agent knows what it
/// wants (caches warm); nothing, not even a withdraw, is sent before that. `held` is what
/// ExaBGP may hold from earlier sessions; the caller keeps it for the next one (it is kept
/// current line by line, so a session dropped midway leaves it right too).
pub async fn run_session<R, W>(
    reader: R,
    writer: W,
    desired_rx: &mut watch::Receiver<Option<Desired>>,
    applied_tx: &watch::Sender<Applied>,
    held: &mut Held,
    config: DriverConfig,
) -> SessionEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    applied_tx.send_modify(|a| {
        a.connected = true;
        a.sessions += 1;
    });
    let mut session = Session::new(writer, held, config);
    let end = session
        .run(BufReader::new(reader), desired_rx, applied_tx)
        .await;
    applied_tx.send_modify(|a| a.connected = false);
    end
}

struct Session<'h, W> {
    writer: SharedWriter<W>,
    heartbeat: Option<Heartbeat>,
    config: DriverConfig,
    /// What ExaBGP acknowledged in this session.
    announced: Rib,
    /// What ExaBGP may hold, from this session and earlier ones.
    held: &'h mut Held,
    queue: VecDeque<Batch>,
    in_flight: VecDeque<(Batch, Instant)>,
    /// The generation the queued lines lead to.
    target_generation: u64,
    synced: bool,
    retry_at: Option<Instant>,
}

impl<'h, W: AsyncWrite + Unpin + Send + 'static> Session<'h, W> {
    fn new(writer: W, held: &'h mut Held, config: DriverConfig) -> Self {
        Session {
            writer: Arc::new(tokio::sync::Mutex::new(BufWriter::new(writer))),
            heartbeat: None,
            config,
            announced: Rib::new(),
            held,
            queue: VecDeque::new(),
            in_flight: VecDeque::new(),
            target_generation: 0,
            synced: false,
            retry_at: None,
        }
    }

    async fn run<R: AsyncRead + Unpin>(
        &mut self,
        mut reader: BufReader<R>,
        desired_rx: &mut watch::Receiver<Option<Desired>>,
        applied_tx: &watch::Sender<Applied>,
    ) -> SessionEnd {
        // A new session starts from nothing announced: replay everything.
        desired_rx.mark_changed();
        let mut line = String::new();
        loop {
            if let Err(e) = self.fill_window().await {
                return e.into();
            }
            let idle = self.queue.is_empty() && self.in_flight.is_empty();
            let ack_deadline = self
                .in_flight
                .front()
                .map(|(_, sent)| *sent + self.config.ack_timeout);
            tokio::select! {
                read = reader.read_line(&mut line) => {
                    match read {
                        Ok(0) => return SessionEnd::Closed,
                        Ok(_) => {}
                        Err(e) => return e.into(),
                    }
                    if let Some(Control::Lease(lease)) = parse_control(&line) {
                        line.clear();
                        self.start_heartbeat(lease);
                        continue;
                    }
                    let answer = parse_answer(&line);
                    line.clear();
                    if let Some(end) = self.on_answer(&answer, applied_tx) {
                        return end;
                    }
                }
                changed = desired_rx.changed(), if idle => {
                    if changed.is_err() {
                        return SessionEnd::Stopped;
                    }
                    self.plan(desired_rx);
                }
                () = crate::timer::sleep_until(self.retry_at), if idle => {
                    self.plan(desired_rx);
                }
                () = crate::timer::sleep_until(ack_deadline) => {
                    let line = self.in_flight.front().map(|(b, _)| b.line.trim_end().to_owned()).unwrap_or_default();
                    return SessionEnd::AckTimeout(self.config.ack_timeout, line);
                }
            }
        }
    }

    fn plan(&mut self, desired_rx: &mut watch::Receiver<Option<Desired>>) {
        self.retry_at = None;
        let Some(desired) = desired_rx.borrow_and_update().clone() else {
            return;
        };
        self.queue.extend(plan(
            self.held,
            &self.announced,
            &desired.rib,
            self.config.max_prefixes_per_line,
        ));
        if !self.synced {
            self.queue.push_back(sync_done());
        }
        tracing::trace!(queued = self.queue.len(), "commands planned");
        self.target_generation = desired.generation;
    }

    /// (Re)starts the heartbeat for the relay's lease.
    fn start_heartbeat(&mut self, lease: Duration) {
        let period = heartbeat_period(lease);
        tracing::debug!(
            ?lease,
            ?period,
            "the relay's lease is known; sending keepalives"
        );
        let task = tokio::spawn(heartbeat(self.writer.clone(), period));
        self.heartbeat = Some(Heartbeat(task));
    }

    async fn fill_window(&mut self) -> std::io::Result<()> {
        if self.in_flight.len() >= self.config.window || self.queue.is_empty() {
            return Ok(());
        }
        let mut writer = self.writer.lock().await;
        while self.in_flight.len() < self.config.window {
            let Some(batch) = self.queue.pop_front() else {
                break;
            };
            // Counted as held before the write: a write cut short may still have reached ExaBGP.
            self.held.on_written(&batch.effect);
            writer.write_all(batch.line.as_bytes()).await?;
            self.in_flight.push_back((batch, Instant::now()));
        }
        writer.flush().await?;
        tracing::trace!(
            in_flight = self.in_flight.len(),
            "commands written to ExaBGP"
        );
        Ok(())
    }

    fn on_answer(
        &mut self,
        answer: &Answer,
        applied_tx: &watch::Sender<Applied>,
    ) -> Option<SessionEnd> {
        match answer {
            Answer::Shutdown => return Some(SessionEnd::Shutdown),
            Answer::Other => return None,
            Answer::Done | Answer::Error => {}
        }
        let (batch, _) = self.in_flight.pop_front()?;
        if *answer == Answer::Done {
            batch.effect.apply(&mut self.announced);
            self.held.on_done(&batch.effect);
            if batch.line == super::batch::SYNC_DONE {
                self.synced = true;
            }
        } else {
            tracing::warn!(
                command = batch.line.trim_end(),
                "ExaBGP refused a command; retrying later"
            );
            applied_tx.send_modify(|a| a.errors += 1);
            self.retry_at = Some(Instant::now() + self.config.retry_after);
        }
        if self.queue.is_empty() && self.in_flight.is_empty() && self.retry_at.is_none() {
            let generation = self.target_generation;
            applied_tx.send_modify(|a| a.generation = a.generation.max(generation));
        }
        None
    }
}

#[cfg(test)]
mod tests;
