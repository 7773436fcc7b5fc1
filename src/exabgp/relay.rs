//! `kube-anycast exabgp-relay`: what ExaBGP runs in its `process` block. It bridges ExaBGP's
//! stdin/stdout to the agent's unix socket, reconnecting as needed, and keeps track of the routes
//! it passed on. When the agent has been gone longer than the lease it withdraws them all (a dead
//! man's switch), so a dead agent never leaves routes behind; an agent back within the lease
//! causes no flap. "Gone" includes hung: the relay tells the agent its lease on connect, the agent
//! sends a keepalive at a third of it, and a connection that carries nothing (no command, no
//! keepalive) for a whole lease counts as closed since the last line heard on it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::time::Instant;

use super::batch::lease_line;
use super::eor::{EndOfRib, session_up};
use super::parse::{Answer, Control, parse_answer, parse_command, parse_control};

/// A path as the relay tracks it: target, prefix and ADD-PATH path id.
type PathKey = (String, String, Option<String>);

/// The attribute sets kept per route (see [`Tracker`]). A route whose attributes keep changing
/// without a withdraw (a MED that follows a probe weight) would otherwise grow its list without
/// bound; ExaBGP only holds an announce queued until its next UPDATE pass to the peer, so only the
/// sets of one session outage matter.
const MAX_ATTRIBUTE_SETS: usize = 16;

/// Prefixes per withdraw line the relay writes (the driver's default too).
const MAX_PREFIXES_PER_LINE: usize = 500;

/// The routes the relay passed on, keyed by target, prefix and path id, with the attribute sets
/// each was announced with since it was last withdrawn (`next-hop self med 100`, oldest first).
///
/// ExaBGP 5.0.15 queues changes per attribute set, and a withdraw replaces a queued announce of
/// the same route only within the same set; the first UPDATE pass of a new session sends no
/// withdraws at all. So a route announced with one set and then another while the session is
/// down, and then withdrawn, would come back with the session in its older set
/// (docs/reliability.md, "What the suite found", 2). Every withdraw is therefore made in every
/// set the route was announced with since its last withdraw.
#[derive(Debug, Default, Clone)]
pub struct Tracker {
    routes: BTreeMap<PathKey, Vec<String>>,
    unconfirmed: BTreeSet<PathKey>,
}

/// What to do with a line from the agent.
#[derive(Debug, PartialEq, Eq)]
pub enum AgentLine {
    /// Pass it to ExaBGP, after `withdraws_before`: the routes it withdraws, in the other
    /// attribute sets they were announced with since their last withdraw.
    Forward {
        /// Withdraw lines the relay writes first (their answers are the relay's).
        withdraws_before: Vec<String>,
    },
    /// The agent finished its replay: withdraw what it did not re-announce.
    SyncDone,
    /// The agent is alive; nothing to pass on.
    Keepalive,
    /// A line of the relay protocol this relay does not know: dropped, never passed on.
    Drop,
}

impl Tracker {
    /// Records a line the agent sent.
    pub fn on_agent_line(&mut self, line: &str) -> AgentLine {
        match parse_control(line) {
            Some(Control::SyncDone) => return AgentLine::SyncDone,
            Some(Control::Keepalive) => return AgentLine::Keepalive,
            Some(Control::Lease(_) | Control::Unknown) => return AgentLine::Drop,
            None => {}
        }
        let mut other_sets = Vec::new();
        if let Some(cmd) = parse_command(line) {
            for prefix in &cmd.prefixes {
                // With ADD-PATH each path id is its own path.
                let key = (
                    cmd.target.to_owned(),
                    (*prefix).to_owned(),
                    cmd.path_id.map(str::to_owned),
                );
                self.unconfirmed.remove(&key);
                if cmd.announce {
                    let sets = self.routes.entry(key).or_default();
                    sets.retain(|set| *set != cmd.attributes);
                    sets.push(cmd.attributes.clone());
                    if sets.len() > MAX_ATTRIBUTE_SETS {
                        sets.remove(0);
                    }
                } else if let Some(sets) = self.routes.remove(&key) {
                    other_sets.extend(
                        sets.into_iter()
                            .filter(|set| *set != cmd.attributes)
                            .map(|set| (key.clone(), set)),
                    );
                }
            }
        }
        AgentLine::Forward {
            withdraws_before: withdraw_lines(other_sets),
        }
    }

    /// A new agent session: everything held must be re-announced before the sync marker.
    pub fn start_session(&mut self) {
        self.unconfirmed = self.routes.keys().cloned().collect();
    }

    /// The withdraw lines for routes the new session did not re-announce.
    pub fn take_unconfirmed(&mut self) -> Vec<String> {
        let stale = std::mem::take(&mut self.unconfirmed);
        let sets = stale
            .into_iter()
            .filter_map(|key| self.routes.remove(&key).map(|sets| (key, sets)));
        withdraw_lines(flatten(sets))
    }

    /// The withdraw lines for every route held (the lease ran out).
    pub fn take_all(&mut self) -> Vec<String> {
        self.unconfirmed.clear();
        withdraw_lines(flatten(std::mem::take(&mut self.routes)))
    }

    /// How many routes are held.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when no route is held.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

fn flatten(
    routes: impl IntoIterator<Item = (PathKey, Vec<String>)>,
) -> impl Iterator<Item = (PathKey, String)> {
    routes
        .into_iter()
        .flat_map(|(key, sets)| sets.into_iter().map(move |set| (key.clone(), set)))
}

/// Withdraw lines in ExaBGP's bulk form, one per target, attribute set and address family (at
/// most [`MAX_PREFIXES_PER_LINE`] prefixes each), in a fixed order.
fn withdraw_lines(paths: impl IntoIterator<Item = (PathKey, String)>) -> Vec<String> {
    let mut groups: BTreeMap<(String, String, bool), Vec<String>> = BTreeMap::new();
    for ((target, prefix, _), attributes) in paths {
        let ipv6 = prefix.contains(':');
        groups
            .entry((target, attributes, ipv6))
            .or_default()
            .push(prefix);
    }
    let mut lines = Vec::new();
    for ((target, attributes, _), prefixes) in groups {
        for chunk in prefixes.chunks(MAX_PREFIXES_PER_LINE) {
            lines.push(format!(
                "{target} withdraw attributes {attributes} nlri {}\n",
                chunk.join(" ")
            ));
        }
    }
    lines
}

/// Relay settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The agent's socket.
    pub socket: PathBuf,
    /// How long the agent may be gone, or connected but silent, before its routes are withdrawn.
    pub lease: Duration,
    /// End-of-RIB per graceful-restart neighbor (ExaBGP's `manual-eor`).
    pub end_of_rib: EndOfRib,
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
        origins: VecDeque::new(),
        agent: None,
        heard: Instant::now(),
        lease_deadline: None,
        synced: false,
    };
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

struct Relay<O> {
    lease: Duration,
    end_of_rib: EndOfRib,
    out: O,
    tracker: Tracker,
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
                tracing::info!("the agent's replay is complete; a lease still running ends");
                let stale = self.tracker.take_unconfirmed();
                if !stale.is_empty() {
                    tracing::info!(
                        routes = stale.len(),
                        "withdrawing routes the agent no longer announces"
                    );
                }
                self.write(&stale, Origin::Relay).await?;
                // End-of-RIB only now that ExaBGP holds the agent's whole RIB (see eor.rs).
                self.synced = true;
                let eor = self.end_of_rib.after_replay();
                self.write(&eor, Origin::Relay).await?;
            }
            AgentLine::Forward { withdraws_before } => {
                self.write(&withdraws_before, Origin::Relay).await?;
                self.write(&[format!("{line}\n")], Origin::Agent).await?;
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
        self.lease_deadline
            .get_or_insert(Instant::now() + self.lease);
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
    }

    async fn lease_expired(&mut self) -> std::io::Result<()> {
        self.lease_deadline = None;
        let all = self.tracker.take_all();
        tracing::warn!(
            routes = all.len(),
            "agent gone longer than the lease; withdrawing its routes"
        );
        self.write(&all, Origin::Relay).await
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

    fn forward(withdraws_before: &[&str]) -> AgentLine {
        AgentLine::Forward {
            withdraws_before: withdraws_before.iter().map(|l| format!("{l}\n")).collect(),
        }
    }

    #[test]
    fn tracker_follows_announces_and_withdraws() {
        let mut t = Tracker::default();
        t.on_agent_line(
            "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32",
        );
        t.on_agent_line("neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.2/32");
        assert_eq!(t.len(), 1);
        t.start_session();
        t.on_agent_line("neighbor * announce attributes next-hop self med 150 nlri 192.0.2.3/32");
        assert_eq!(
            t.on_agent_line("kube-anycast sync-done"),
            AgentLine::SyncDone
        );
        assert_eq!(
            t.take_unconfirmed(),
            ["neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.1/32\n"]
        );
        assert_eq!(
            t.take_all(),
            ["neighbor * withdraw attributes next-hop self med 150 nlri 192.0.2.3/32\n"]
        );
        assert!(t.is_empty());
    }

    #[test]
    fn paths_with_other_ids_are_tracked_apart() {
        let mut t = Tracker::default();
        t.on_agent_line("neighbor * announce attributes next-hop self med 100 path-information 2 nlri 192.0.2.1/32");
        t.on_agent_line(
            "neighbor * withdraw attributes next-hop self med 100 path-information 1 nlri 192.0.2.1/32",
        );
        assert_eq!(
            t.take_all(),
            [
                "neighbor * withdraw attributes next-hop self med 100 path-information 2 nlri 192.0.2.1/32\n"
            ]
        );
    }

    #[test]
    fn a_reannounced_route_is_kept() {
        let mut t = Tracker::default();
        t.on_agent_line("neighbor * announce route 192.0.2.1/32 next-hop self med 100");
        t.start_session();
        t.on_agent_line("neighbor * announce route 192.0.2.1/32 next-hop self med 100");
        assert!(t.take_unconfirmed().is_empty());
        assert_eq!(t.len(), 1);
    }

    /// Regression (docs/reliability.md, finding 2): ExaBGP may still hold a route's announce in
    /// every attribute set it had since its last withdraw (while the session is down, all of
    /// them), and only a withdraw in the same set replaces it.
    #[test]
    fn a_withdraw_is_made_in_every_set_announced_since_the_last_one() {
        let mut t = Tracker::default();
        let up =
            "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32";
        assert_eq!(t.on_agent_line(up), forward(&[]));
        // A drain: the same routes with GRACEFUL_SHUTDOWN, then a withdraw in that set.
        t.on_agent_line("neighbor * announce attributes next-hop self med 100 community [ 65535:0 ] nlri 192.0.2.1/32 192.0.2.2/32");
        assert_eq!(
            t.on_agent_line("neighbor * withdraw attributes next-hop self med 100 community [ 65535:0 ] nlri 192.0.2.1/32"),
            forward(&["neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.1/32"])
        );
        // A withdraw in a set it was never announced with (an older agent's, without
        // attributes) is made in all of them.
        assert_eq!(
            t.on_agent_line("neighbor * withdraw attributes next-hop self nlri 192.0.2.2/32"),
            forward(&[
                "neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.2/32",
                "neighbor * withdraw attributes next-hop self med 100 community [ 65535:0 ] nlri 192.0.2.2/32",
            ])
        );
        assert!(t.is_empty());
        // Once withdrawn, the old sets are forgotten: a new announce starts over.
        t.on_agent_line("neighbor * announce attributes next-hop self med 150 nlri 192.0.2.1/32");
        assert_eq!(
            t.on_agent_line(
                "neighbor * withdraw attributes next-hop self med 150 nlri 192.0.2.1/32"
            ),
            forward(&[])
        );
    }

    #[test]
    fn the_relays_own_withdraws_cover_every_set_grouped_per_family() {
        let mut t = Tracker::default();
        t.on_agent_line(
            "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32",
        );
        t.on_agent_line("neighbor * announce attributes next-hop self med 150 nlri 192.0.2.2/32");
        t.on_agent_line(
            "neighbor * announce attributes next-hop self med 100 nlri 2001:db8::1/128",
        );
        t.on_agent_line("neighbor 10.0.0.1 announce route 192.0.2.9/32 next-hop 10.0.0.254 med 5");
        // Announced again in its first set: that set is current again, and kept once.
        t.on_agent_line("neighbor * announce attributes next-hop self med 100 nlri 192.0.2.2/32");
        assert_eq!(t.len(), 4);
        assert_eq!(
            t.take_all(),
            [
                "neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32\n",
                "neighbor * withdraw attributes next-hop self med 100 nlri 2001:db8::1/128\n",
                "neighbor * withdraw attributes next-hop self med 150 nlri 192.0.2.2/32\n",
                "neighbor 10.0.0.1 withdraw attributes next-hop 10.0.0.254 med 5 nlri 192.0.2.9/32\n",
            ]
        );
    }

    #[test]
    fn sets_and_lines_are_bounded() {
        let mut t = Tracker::default();
        for med in 0..40 {
            t.on_agent_line(&format!(
                "neighbor * announce attributes next-hop self med {med} nlri 192.0.2.1/32"
            ));
        }
        let lines = t.take_all();
        assert_eq!(lines.len(), MAX_ATTRIBUTE_SETS);
        assert!(lines.iter().any(|l| l.contains(" med 39 ")), "{lines:?}");
        let many: Vec<String> = (0..1200)
            .map(|i| format!("100.64.{}.{}/32", i / 256, i % 256))
            .collect();
        t.on_agent_line(&format!(
            "neighbor * announce attributes next-hop self nlri {}",
            many.join(" ")
        ));
        let per_line: Vec<usize> = t
            .take_all()
            .iter()
            .map(|l| l.split(" nlri ").nth(1).map_or(0, |p| p.split(' ').count()))
            .collect();
        assert_eq!(per_line, [500, 500, 200]);
    }
}
