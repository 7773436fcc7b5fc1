//! `kube-anycast exabgp-relay`: what ExaBGP runs in its `process` block. It bridges ExaBGP's
//! stdin/stdout to the agent's unix socket, reconnecting as needed, and keeps track of the routes
//! it passed on. When the agent has been gone longer than the lease it withdraws them all (a dead
//! man's switch), so a dead agent never leaves routes behind; an agent back within the lease
//! causes no flap. "Gone" includes hung: the relay tells the agent its lease on connect, the agent
//! sends a keepalive at a third of it, and a connection that carries nothing (no command, no
//! keepalive) for a whole lease counts as closed since the last line heard on it. What it passed
//! on survives the relay itself in a journal (`journal.rs`): the relay ExaBGP starts after one
//! was killed holds those routes for the lease, like an agent's that disconnected.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::time::Instant;

use super::batch::lease_line;
use super::eor::{EndOfRib, session_up};
use super::journal::{Journal, Recorded};
use super::parse::{Answer, parse_answer, parse_control};
use super::tracker::{AgentLine, Tracked, Tracker};

/// Relay settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The agent's socket.
    pub socket: PathBuf,
    /// How long the agent may be gone, or connected but silent, before its routes are withdrawn.
    pub lease: Duration,
    /// End-of-RIB per graceful-restart neighbor (ExaBGP's `manual-eor`).
    pub end_of_rib: EndOfRib,
    /// The file the relay journals the routes it passed on in (`None`: not kept).
    pub journal: Option<PathBuf>,
}

/// Who wrote a line ExaBGP will answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Agent,
    Relay,
    /// The agent's sync marker: never written to ExaBGP, answered `done` by the relay once
    /// ExaBGP has answered every line before it. Answered at once, it would overtake the
    /// answers still due to the agent, and the driver, which pairs answers with its lines in
    /// order, would take an `error` for the next line's (so an IPv6 route ExaBGP refused during
    /// a replay counted as announced).
    SyncMarker,
}

/// The lines of a connection that ended: the answers ExaBGP still owes them go nowhere (the next
/// agent, which pairs answers with its own lines in order, would take them for its own), and its
/// sync markers are never answered.
fn orphan_agent_lines(origins: &mut VecDeque<Origin>) {
    origins.retain(|o| *o != Origin::SyncMarker);
    for origin in origins.iter_mut() {
        if *origin == Origin::Agent {
            *origin = Origin::Relay;
        }
    }
}

type AgentConn = (
    tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    tokio::net::unix::OwnedWriteHalf,
);

/// Runs the relay until ExaBGP closes its stdin. Errors writing to ExaBGP end it too.
pub async fn run<I, O>(config: RelayConfig, exabgp_in: I, exabgp_out: O) -> std::io::Result<()>
where
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let mut from_exabgp = BufReader::new(exabgp_in).lines();
    let mut relay = Relay {
        lease: config.lease,
        end_of_rib: config.end_of_rib.clone(),
        out: exabgp_out,
        tracker: Tracker::default(),
        journal: None,
        origins: VecDeque::new(),
        agent: None,
        heard: Instant::now(),
        lease_deadline: None,
        synced: false,
    };
    let mut journal_retry = None;
    if let Some(path) = &config.journal
        && !relay.adopt_journal(path)
    {
        // A journal beside a socket whose directory the agent has not made yet opens once it has.
        journal_retry = Some(path.clone());
    }
    let mut retry_at = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = relay.agent.is_some();
        let silent_at = connected.then(|| relay.heard + relay.lease);
        tokio::select! {
            // The agent's lines first: after the relay was held up (writing to a slow ExaBGP),
            // the keepalives queued meanwhile count before the silence deadline is looked at.
            biased;
            line = next_agent_line(&mut relay.agent), if connected => {
                if let Some(line) = line {
                    relay.heard = Instant::now();
                    relay.on_agent_line(&line).await?;
                } else {
                    tracing::warn!(lease = ?relay.lease, "agent disconnected; holding its routes for the lease");
                    relay.disconnected();
                    retry_at = Instant::now();
                }
            }
            line = from_exabgp.next_line() => {
                let Some(line) = line? else { return Ok(()) };
                relay.on_exabgp_line(&line).await?;
            }
            () = crate::timer::sleep_until(relay.lease_deadline) => relay.lease_expired().await?,
            () = crate::timer::sleep_until(silent_at) => {
                // Silent for a whole lease: as closed when it last spoke, so the lease is over.
                relay.silent();
                relay.lease_expired().await?;
                retry_at = Instant::now();
            }
            () = tokio::time::sleep_until(retry_at), if !connected => {
                if let Ok(stream) = UnixStream::connect(&config.socket).await {
                    tracing::info!(socket = %config.socket.display(), "connected to the agent");
                    let (r, w) = stream.into_split();
                    relay.agent = Some((BufReader::new(r).lines(), w));
                    relay.heard = Instant::now();
                    if let Some(path) = journal_retry.take() {
                        relay.adopt_journal(&path);
                    }
                    relay.tracker.start_session();
                    // First of all, the lease: the agent's heartbeat follows it.
                    relay.send_to_agent(&lease_line(relay.lease)).await;
                    backoff = Duration::from_millis(100);
                } else {
                    retry_at = Instant::now() + backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// When the lease on an earlier relay's routes runs out: its own deadline when one ran (an agent
/// away when it died), at most a lease from now (a clock set back must not stretch it); a whole
/// lease from now when none ran (it died with the agent connected, which is gone with it).
fn inherited_lease(recorded: &Recorded, lease: Duration, now: SystemTime) -> Option<Instant> {
    if recorded.tracker.is_empty() {
        return None;
    }
    let left = recorded
        .lease_until
        .map_or(lease, |until| until.duration_since(now).unwrap_or_default());
    Some(Instant::now() + left.min(lease))
}

struct Relay<O> {
    lease: Duration,
    end_of_rib: EndOfRib,
    out: O,
    tracker: Tracker,
    journal: Option<Journal>,
    /// Who wrote each line ExaBGP has yet to answer, oldest first.
    origins: VecDeque<Origin>,
    agent: Option<AgentConn>,
    /// When the agent last sent a line (or connected): silence for a lease from here ends the
    /// connection and its lease at once.
    heard: Instant,
    lease_deadline: Option<Instant>,
    /// An agent has finished a replay since the relay started: ExaBGP holds its whole RIB, so
    /// End-of-RIB may be sent.
    synced: bool,
}

impl<O: AsyncWrite + Unpin> Relay<O> {
    /// Answers go to whoever wrote the line; the relay's own are swallowed. A session that
    /// comes up after the agent's replay gets End-of-RIB at once (ExaBGP sends it after the
    /// routes it holds).
    async fn on_exabgp_line(&mut self, line: &str) -> std::io::Result<()> {
        let for_agent = match parse_answer(line) {
            Answer::Done | Answer::Error => self.origins.pop_front() != Some(Origin::Relay),
            // ExaBGP never speaks for the relay: a lease or marker from it goes nowhere.
            Answer::Other if parse_control(line).is_some() => false,
            Answer::Shutdown | Answer::Other => true,
        };
        if for_agent {
            self.send_to_agent(&format!("{line}\n")).await;
        }
        self.answer_sync_markers().await;
        if let Some(addr) = session_up(line)
            && self.synced
        {
            let eor = self.end_of_rib.on_session_up(addr);
            self.write(&eor, Origin::Relay).await?;
        }
        Ok(())
    }

    async fn on_agent_line(&mut self, line: &str) -> std::io::Result<()> {
        match self.tracker.on_agent_line(line) {
            AgentLine::SyncDone => {
                self.origins.push_back(Origin::SyncMarker);
                self.answer_sync_markers().await;
                self.lease_deadline = None;
                self.journal_lease();
                tracing::info!("the agent's replay is complete; a lease still running ends");
                let stale = self.tracker.take_unconfirmed();
                if !stale.is_empty() {
                    tracing::info!(
                        routes = stale.len(),
                        "withdrawing routes the agent no longer announces"
                    );
                }
                self.write(&stale, Origin::Relay).await?;
                if !stale.is_empty() {
                    self.compact_journal();
                }
                // End-of-RIB only now that ExaBGP holds the agent's whole RIB (see eor.rs).
                self.synced = true;
                let eor = self.end_of_rib.after_replay();
                self.write(&eor, Origin::Relay).await?;
            }
            AgentLine::Forward {
                withdraws_before,
                tracked,
            } => {
                // Journaled before ExaBGP may hold the routes, or once it has the withdraw.
                if tracked == Tracked::Announce {
                    self.journal(line);
                }
                self.write(&withdraws_before, Origin::Relay).await?;
                self.write(&[format!("{line}\n")], Origin::Agent).await?;
                if tracked == Tracked::Withdraw {
                    self.journal(line);
                }
            }
            AgentLine::Keepalive => {}
            AgentLine::Drop => {
                tracing::warn!(
                    line,
                    "dropping an unknown relay protocol line from the agent"
                );
            }
        }
        Ok(())
    }

    /// Answers the sync markers that no answer from ExaBGP is due before, in order.
    async fn answer_sync_markers(&mut self) {
        while self.origins.front() == Some(&Origin::SyncMarker) {
            self.origins.pop_front();
            self.send_to_agent("done\n").await;
        }
    }

    /// A write that the agent does not take before its silence deadline (a hung agent with a
    /// full socket) ends the connection like the silence itself.
    async fn send_to_agent(&mut self, text: &str) {
        let silent_at = self.heard + self.lease;
        if let Some((_, w)) = self.agent.as_mut() {
            match tokio::time::timeout_at(silent_at, w.write_all(text.as_bytes())).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => self.disconnected(),
                Err(_) => self.silent(),
            }
        }
    }

    /// The connection closed: the agent's routes are held for the lease from now (unless an
    /// earlier lease still runs).
    fn disconnected(&mut self) {
        self.agent = None;
        orphan_agent_lines(&mut self.origins);
        if self.lease_deadline.is_none() {
            self.lease_deadline = Some(Instant::now() + self.lease);
            self.journal_lease();
        }
    }

    /// Nothing heard from the agent for a whole lease: it is gone as if its connection had
    /// closed when it last spoke, so its lease is over now. The connection is dropped, which
    /// makes a resumed agent start a new session and replay.
    fn silent(&mut self) {
        tracing::warn!(lease = ?self.lease, "no message from the agent for the lease (hung?); dropping its connection");
        self.agent = None;
        orphan_agent_lines(&mut self.origins);
        let over = self.heard + self.lease;
        self.lease_deadline = Some(self.lease_deadline.map_or(over, |d| d.min(over)));
        self.journal_lease();
    }

    async fn lease_expired(&mut self) -> std::io::Result<()> {
        self.lease_deadline = None;
        self.journal_lease();
        let all = self.tracker.take_all();
        tracing::warn!(
            routes = all.len(),
            "agent gone longer than the lease; withdrawing its routes"
        );
        self.write(&all, Origin::Relay).await?;
        self.compact_journal();
        Ok(())
    }

    /// Journals a route line; a journal that fails is given up (the relay carries on).
    fn journal(&mut self, line: &str) {
        if let Some(journal) = self.journal.as_mut()
            && let Err(e) = journal.record(line, &self.tracker)
        {
            self.give_up_journal(&e);
        }
    }

    /// Opens the journal and takes over what it records: an earlier relay's routes and lease.
    /// Only before anything was passed on (at start, or at the first connection when it could
    /// not be opened at start), so what it records is all the relay holds. Without it the relay
    /// runs on and only a restart of its own forgets. True when the journal is open.
    fn adopt_journal(&mut self, path: &std::path::Path) -> bool {
        if !self.tracker.is_empty() {
            return false;
        }
        let recorded = match Journal::open(path) {
            Ok((journal, recorded)) => {
                self.journal = Some(journal);
                recorded
            }
            Err(e) => {
                tracing::error!(error = %e, "running without a journal: a relay started after this one will not know its routes");
                return false;
            }
        };
        if !recorded.tracker.is_empty() {
            tracing::info!(
                routes = recorded.tracker.len(),
                journal = %path.display(),
                "an earlier relay passed routes on; holding them for the lease"
            );
        }
        self.lease_deadline = self
            .lease_deadline
            .or_else(|| inherited_lease(&recorded, self.lease, SystemTime::now()));
        self.tracker = recorded.tracker;
        self.journal_lease();
        true
    }

    /// Journals when the lease runs out (wall-clock: a later relay has its own clock), or that
    /// none runs.
    fn journal_lease(&mut self) {
        let until = self
            .lease_deadline
            .map(|d| SystemTime::now() + d.saturating_duration_since(Instant::now()));
        if let Some(journal) = self.journal.as_mut()
            && let Err(e) = journal.record_lease(until, &self.tracker)
        {
            self.give_up_journal(&e);
        }
    }

    /// Rewrites the journal as what the relay holds now.
    fn compact_journal(&mut self) {
        if let Some(journal) = self.journal.as_mut()
            && let Err(e) = journal.compact(&self.tracker)
        {
            self.give_up_journal(&e);
        }
    }

    fn give_up_journal(&mut self, e: &super::journal::JournalError) {
        // The file stays: what it has is still held, and a later relay withdrawing it once
        // nobody announces it is right; only the routes from here on are unknown to that relay.
        tracing::error!(error = %e, "giving up the journal: a relay started after this one will not know the routes passed on from now");
        self.journal = None;
    }

    async fn write(&mut self, lines: &[String], origin: Origin) -> std::io::Result<()> {
        for line in lines {
            self.out.write_all(line.as_bytes()).await?;
            self.origins.push_back(origin);
        }
        self.out.flush().await
    }
}

async fn next_agent_line(agent: &mut Option<AgentConn>) -> Option<String> {
    match agent {
        Some((lines, _)) => lines.next_line().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holding(lease_until: Option<SystemTime>) -> Recorded {
        let mut tracker = Tracker::default();
        tracker.on_agent_line(
            "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32",
        );
        Recorded {
            tracker,
            lease_until,
        }
    }

    /// Seconds from now until `deadline`, rounded (the test's own time passes meanwhile).
    fn secs_left(deadline: Option<Instant>) -> Option<u64> {
        deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now()) + Duration::from_millis(500);
            left.as_secs()
        })
    }

    #[test]
    fn a_new_relay_keeps_its_predecessors_deadline_within_one_lease() {
        let lease = Duration::from_secs(30);
        let now = SystemTime::now();
        // Nothing held: no lease at all.
        assert_eq!(inherited_lease(&Recorded::default(), lease, now), None);
        // It died with the agent connected: a whole lease from now.
        assert_eq!(
            secs_left(inherited_lease(&holding(None), lease, now)),
            Some(30)
        );
        // It died while the agent was away: what was left of that lease.
        let left = holding(Some(now + Duration::from_secs(10)));
        assert_eq!(secs_left(inherited_lease(&left, lease, now)), Some(10));
        // Already over: at once.
        let over = holding(now.checked_sub(Duration::from_secs(5)));
        assert_eq!(secs_left(inherited_lease(&over, lease, now)), Some(0));
        // The clock was set back meanwhile: never more than one lease.
        let far = holding(Some(now + Duration::from_hours(1)));
        assert_eq!(secs_left(inherited_lease(&far, lease, now)), Some(30));
    }
}
