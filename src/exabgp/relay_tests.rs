//! The relay and the agent's server together, over a real unix socket, with a scripted ExaBGP.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

use super::batch::mk_route;
use super::driver::{Applied, Desired, DriverConfig};
use super::eor::{EndOfRib, parse_neighbor};
use super::relay::{RelayConfig, run};
use super::server::{listen, serve};

struct Exabgp {
    lines: tokio::io::Lines<BufReader<tokio::io::DuplexStream>>,
    answers: tokio::io::DuplexStream,
}

impl Exabgp {
    async fn expect(&mut self, want: &str) {
        let got = tokio::time::timeout(Duration::from_mins(5), self.lines.next_line())
            .await
            .expect("a line in time");
        assert_eq!(got.unwrap().as_deref(), Some(want));
        self.answers.write_all(b"done\n").await.unwrap();
    }

    /// Writes a line as ExaBGP would on its own (a neighbor state change).
    async fn say(&mut self, line: &str) {
        self.answers.write_all(line.as_bytes()).await.unwrap();
    }
}

fn socket_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("kat-{name}-{}.sock", std::process::id()))
}

fn start_relay(socket: &std::path::Path, lease: Duration) -> Exabgp {
    start_relay_with(socket, lease, EndOfRib::default())
}

fn start_relay_with(socket: &std::path::Path, lease: Duration, end_of_rib: EndOfRib) -> Exabgp {
    spawn_relay(RelayConfig {
        socket: socket.to_owned(),
        lease,
        end_of_rib,
        journal: None,
    })
    .0
}

/// A relay on pipes of its own; the task ends (as if killed) when its handle is aborted.
fn spawn_relay(config: RelayConfig) -> (Exabgp, tokio::task::JoinHandle<std::io::Result<()>>) {
    let (relay_in, answers) = tokio::io::duplex(1 << 16);
    let (relay_out, commands) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(async move { run(config, relay_in, relay_out).await });
    let exabgp = Exabgp {
        lines: BufReader::new(commands).lines(),
        answers,
    };
    (exabgp, task)
}

fn start_agent(
    socket: &std::path::Path,
    routes: &[(&str, i64)],
) -> (watch::Sender<Option<Desired>>, tokio::task::JoinHandle<()>) {
    let rib = std::sync::Arc::new(routes.iter().map(|(p, m)| mk_route(p, *m)).collect());
    let (desired_tx, desired_rx) = watch::channel(Some(Desired { generation: 1, rib }));
    let (applied_tx, _) = watch::channel(Applied::default());
    let listener = listen(socket).unwrap();
    let task = tokio::spawn(serve(
        listener,
        desired_rx,
        applied_tx,
        DriverConfig::default(),
    ));
    (desired_tx, task)
}

/// What the driver writes for 192.0.2.1 and .2 at MED 100, the first alone, and the second's
/// withdraw.
const ANNOUNCE_BOTH: &str =
    "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32";
const ANNOUNCE_FIRST: &str =
    "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32";
const WITHDRAW_SECOND: &str =
    "neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.2/32";

#[tokio::test(start_paused = true)]
async fn agent_gone_past_the_lease_withdraws_and_a_restart_within_it_does_not() {
    let socket = socket_path("lease");
    let (desired_tx, agent) = start_agent(&socket, &[("192.0.2.1/32", 100), ("192.0.2.2/32", 100)]);
    let mut exabgp = start_relay(&socket, Duration::from_secs(30));
    exabgp.expect(ANNOUNCE_BOTH).await;

    // The agent dies and a new one comes back within the lease wanting only one route: the relay
    // withdraws the other one after the new agent's replay, and nothing else.
    agent.abort();
    drop(desired_tx);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (desired_tx, agent) = start_agent(&socket, &[("192.0.2.1/32", 100)]);
    exabgp.expect(ANNOUNCE_FIRST).await;
    exabgp.expect(WITHDRAW_SECOND).await;

    // Gone for good: after the lease, everything is withdrawn.
    agent.abort();
    drop(desired_tx);
    exabgp
        .expect("neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.1/32")
        .await;
    let _ = std::fs::remove_file(&socket);
}

/// Regression (found by the chaos suite, docs/reliability.md): with graceful restart, ExaBGP sent
/// End-of-RIB as soon as a new session came up, before the agent had replayed its routes, so the
/// peer flushed every stale route and a node restart dropped each ready service's route. With
/// `manual-eor`, the relay sends End-of-RIB for a configured neighbor's families once the
/// agent's replay is complete, and again when its session comes up after that.
#[tokio::test(start_paused = true)]
async fn end_of_rib_follows_the_agents_replay_and_each_new_session() {
    let socket = socket_path("eor");
    let eor = EndOfRib::new([parse_neighbor("10.0.0.1=ipv4-unicast,ipv6-unicast").unwrap()]);
    let mut exabgp = start_relay_with(&socket, Duration::from_secs(30), eor);
    // A session up before any agent replayed: no End-of-RIB, the peer keeps its stale routes.
    exabgp.say("neighbor 10.0.0.1 up\n").await;
    let (_desired_tx, _agent) = start_agent(&socket, &[("192.0.2.1/32", 100)]);
    exabgp.expect(ANNOUNCE_FIRST).await;
    exabgp
        .expect("neighbor 10.0.0.1 announce eor ipv4 unicast")
        .await;
    exabgp
        .expect("neighbor 10.0.0.1 announce eor ipv6 unicast")
        .await;
    // The session comes up again (the peer restarted): ExaBGP resends what it holds, then this.
    exabgp.say("neighbor 10.0.0.1 up\n").await;
    exabgp
        .expect("neighbor 10.0.0.1 announce eor ipv4 unicast")
        .await;
    exabgp
        .expect("neighbor 10.0.0.1 announce eor ipv6 unicast")
        .await;
    let _ = std::fs::remove_file(&socket);
}

impl Exabgp {
    /// Asserts that the relay writes nothing to ExaBGP for `d`.
    async fn quiet_for(&mut self, d: Duration) {
        if let Ok(line) = tokio::time::timeout(d, self.lines.next_line()).await {
            panic!("expected nothing for {d:?}, got {line:?}");
        }
    }
}

/// A hand-driven agent end: the test decides what the agent sends and when.
struct FakeAgent {
    listener: tokio::net::UnixListener,
}

struct FakeConn {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    w: tokio::net::unix::OwnedWriteHalf,
}

impl FakeAgent {
    fn listen(socket: &std::path::Path) -> FakeAgent {
        FakeAgent {
            listener: listen(socket).unwrap(),
        }
    }

    /// The relay's next connection; its first line must be the lease.
    async fn accept(&self, lease: Duration) -> FakeConn {
        let (stream, _) = tokio::time::timeout(Duration::from_mins(5), self.listener.accept())
            .await
            .expect("a connection in time")
            .unwrap();
        let (r, w) = stream.into_split();
        let mut conn = FakeConn {
            lines: BufReader::new(r).lines(),
            w,
        };
        let first = conn.lines.next_line().await.unwrap();
        assert_eq!(
            first.as_deref(),
            Some(super::batch::lease_line(lease).trim_end())
        );
        conn
    }
}

impl FakeConn {
    async fn send(&mut self, line: &str) {
        self.w
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    /// Reads what the relay passes on until it closes the connection.
    async fn closed(&mut self) {
        while let Some(_line) = self.lines.next_line().await.unwrap() {}
    }
}

const ANNOUNCE: &str = "neighbor * announce route 192.0.2.1/32 next-hop self med 100";
const WITHDRAW: &str = "neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.1/32";

/// Regression (docs/reliability.md, finding 3): a hung agent keeps its connection open. A
/// connection silent for a whole lease counts as closed when the agent last spoke: everything is
/// withdrawn then, the connection dropped, and the relay connects again.
#[tokio::test(start_paused = true)]
async fn a_connection_silent_for_the_lease_withdraws_everything_and_is_dropped() {
    let lease = Duration::from_secs(30);
    let socket = socket_path("silent");
    let agent = FakeAgent::listen(&socket);
    let mut exabgp = start_relay(&socket, lease);
    let mut conn = agent.accept(lease).await;
    conn.send(ANNOUNCE).await;
    conn.send("kube-anycast sync-done").await;
    exabgp.expect(ANNOUNCE).await;
    let last_word = tokio::time::Instant::now();

    // The agent hangs: no more lines, the connection stays open.
    exabgp.quiet_for(lease * 29 / 30).await;
    exabgp.expect(WITHDRAW).await;
    let after = last_word.elapsed();
    assert!(
        after >= lease && after < lease + Duration::from_secs(1),
        "withdrawn {after:?} after the agent's last line, lease {lease:?}"
    );
    conn.closed().await;
    // The relay connects again (to an agent that may resume) and tells its lease again.
    let mut again = agent.accept(lease).await;
    again.send("kube-anycast sync-done").await;
    exabgp.quiet_for(lease / 2).await;
    let _ = std::fs::remove_file(&socket);
}

/// Keepalives keep a quiet agent's routes for as long as they come, and are never passed on to
/// ExaBGP; a route command is activity too. Once both stop, the lease runs out.
#[tokio::test(start_paused = true)]
async fn keepalives_and_commands_keep_the_routes() {
    let lease = Duration::from_secs(30);
    let socket = socket_path("keepalive");
    let agent = FakeAgent::listen(&socket);
    let mut exabgp = start_relay(&socket, lease);
    let mut conn = agent.accept(lease).await;
    conn.send(ANNOUNCE).await;
    conn.send("kube-anycast sync-done").await;
    exabgp.expect(ANNOUNCE).await;

    // Five leases of keepalives at a third of the lease: nothing reaches ExaBGP.
    let keepalives = tokio::spawn(async move {
        for _ in 0..15 {
            tokio::time::sleep(lease / 3).await;
            conn.send("kube-anycast keepalive").await;
        }
        conn
    });
    exabgp.quiet_for(lease * 5).await;
    let mut conn = keepalives.await.unwrap();

    // Commands alone, 0.8 lease apart, count as activity as well.
    let second = "neighbor * announce route 192.0.2.2/32 next-hop self med 100";
    for _ in 0..4 {
        tokio::time::sleep(lease * 4 / 5).await;
        conn.send(second).await;
        exabgp.expect(second).await;
    }
    let last_word = tokio::time::Instant::now();

    // Silence: both routes go once a whole lease has passed since the last command.
    let line = tokio::time::timeout(lease * 2, exabgp.lines.next_line())
        .await
        .expect("a withdraw within two leases")
        .unwrap();
    assert!(last_word.elapsed() >= lease, "{:?}", last_word.elapsed());
    assert_eq!(
        line.as_deref(),
        Some("neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32")
    );
    let _ = std::fs::remove_file(&socket);
}

/// With the real driver: a live agent whose desired RIB never changes sends nothing but
/// keepalives, and the relay keeps its routes for many leases.
#[tokio::test(start_paused = true)]
async fn a_live_but_idle_agent_keeps_its_routes() {
    let lease = Duration::from_secs(3);
    let socket = socket_path("idle");
    let (_desired_tx, _agent) = start_agent(&socket, &[("192.0.2.1/32", 100)]);
    let mut exabgp = start_relay(&socket, lease);
    exabgp.expect(ANNOUNCE_FIRST).await;
    exabgp.quiet_for(lease * 20).await;
    let _ = std::fs::remove_file(&socket);
}

/// ExaBGP never speaks for the relay: a relay protocol line from it is not passed to the agent.
#[tokio::test(start_paused = true)]
async fn relay_protocol_lines_from_exabgp_do_not_reach_the_agent() {
    let lease = Duration::from_secs(30);
    let socket = socket_path("spoof");
    let agent = FakeAgent::listen(&socket);
    let mut exabgp = start_relay(&socket, lease);
    let mut conn = agent.accept(lease).await;
    exabgp.say("kube-anycast lease-ms 1\n").await;
    exabgp.say("neighbor 10.0.0.1 up\n").await;
    let next = tokio::time::timeout(Duration::from_secs(5), conn.lines.next_line())
        .await
        .expect("a line in time")
        .unwrap();
    assert_eq!(next.as_deref(), Some("neighbor 10.0.0.1 up"));
    let _ = std::fs::remove_file(&socket);
}

/// Regression (docs/reliability.md, finding 2): the agent's withdraw goes out after the relay's
/// withdraws in the route's other attribute sets since its last withdraw (ExaBGP may still hold
/// an announce queued in each), and only the agent's own lines are answered to the agent.
#[tokio::test(start_paused = true)]
async fn a_withdraw_goes_out_in_every_set_and_only_the_agents_lines_are_answered() {
    let lease = Duration::from_secs(30);
    let socket = socket_path("sets");
    let agent = FakeAgent::listen(&socket);
    let mut exabgp = start_relay(&socket, lease);
    let mut conn = agent.accept(lease).await;
    let up = "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32";
    let degraded = "neighbor * announce attributes next-hop self med 150 nlri 192.0.2.1/32";
    let down = "neighbor * withdraw attributes next-hop self med 150 nlri 192.0.2.1/32";
    for line in [up, degraded, down] {
        conn.send(line).await;
    }
    exabgp.expect(up).await;
    exabgp.expect(degraded).await;
    exabgp
        .expect("neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.1/32")
        .await;
    exabgp.expect(down).await;
    for _ in 0..3 {
        let answer = conn.lines.next_line().await.unwrap();
        assert_eq!(answer.as_deref(), Some("done"));
    }
    let extra = tokio::time::timeout(Duration::from_secs(5), conn.lines.next_line()).await;
    assert!(
        extra.is_err(),
        "the relay's own answer reached the agent: {extra:?}"
    );
    let _ = std::fs::remove_file(&socket);
}

/// Regression: the relay answered the agent's sync marker at once, before ExaBGP answered the
/// lines sent before it, so the driver paired ExaBGP's `error` for a refused line with the next
/// line (an IPv6 route refused for `next-hop self` on an IPv4 session counted as announced, and
/// the IPv4 route after it as refused). Answers reach the agent in the order of its lines.
#[tokio::test(start_paused = true)]
async fn the_sync_marker_is_answered_after_the_lines_before_it() {
    let lease = Duration::from_secs(30);
    let socket = socket_path("syncorder");
    let agent = FakeAgent::listen(&socket);
    let mut exabgp = start_relay(&socket, lease);
    let mut conn = agent.accept(lease).await;
    let refused = "neighbor * announce attributes next-hop self med 100 nlri 2001:db8::1/128";
    conn.send(refused).await;
    conn.send(ANNOUNCE).await;
    conn.send("kube-anycast sync-done").await;
    for want in [refused, ANNOUNCE] {
        let got = tokio::time::timeout(Duration::from_secs(5), exabgp.lines.next_line())
            .await
            .expect("a line in time")
            .unwrap();
        assert_eq!(got.as_deref(), Some(want));
    }
    let early = tokio::time::timeout(Duration::from_secs(1), conn.lines.next_line()).await;
    assert!(
        early.is_err(),
        "answered before ExaBGP answered anything: {early:?}"
    );
    exabgp.say("error\ndone\n").await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        let answer = tokio::time::timeout(Duration::from_secs(5), conn.lines.next_line())
            .await
            .expect("an answer in time")
            .unwrap();
        answers.push(answer.unwrap_or_default());
    }
    assert_eq!(answers, ["error", "done", "done"]);
    let _ = std::fs::remove_file(&socket);
}

/// With nothing due from ExaBGP, the sync marker is answered at once.
#[tokio::test(start_paused = true)]
async fn a_sync_marker_with_nothing_pending_is_answered_at_once() {
    let lease = Duration::from_secs(30);
    let socket = socket_path("syncnow");
    let agent = FakeAgent::listen(&socket);
    let _exabgp = start_relay(&socket, lease);
    let mut conn = agent.accept(lease).await;
    conn.send("kube-anycast sync-done").await;
    let answer = tokio::time::timeout(Duration::from_secs(5), conn.lines.next_line())
        .await
        .expect("an answer in time")
        .unwrap();
    assert_eq!(answer.as_deref(), Some("done"));
    let _ = std::fs::remove_file(&socket);
}

#[tokio::test(start_paused = true)]
async fn answers_owed_to_a_closed_connection_never_reach_the_next_agent() {
    let lease = Duration::from_secs(30);
    let socket = socket_path("orphans");
    let agent = FakeAgent::listen(&socket);
    let mut exabgp = start_relay(&socket, lease);
    let first = "neighbor * announce route 192.0.2.1/32 next-hop self med 100";
    let second = "neighbor * announce route 192.0.2.2/32 next-hop self med 100";
    // The first agent writes a line and is gone before ExaBGP answers it.
    let mut conn = agent.accept(lease).await;
    conn.send(first).await;
    let got = exabgp.lines.next_line().await.unwrap();
    assert_eq!(got.as_deref(), Some(first));
    drop(conn);
    // The next agent writes its own line; ExaBGP then refuses the first and takes the second.
    let mut conn = agent.accept(lease).await;
    conn.send(second).await;
    let got = exabgp.lines.next_line().await.unwrap();
    assert_eq!(got.as_deref(), Some(second));
    exabgp.say("error\n").await;
    exabgp.say("done\n").await;
    let answer = tokio::time::timeout(Duration::from_secs(5), conn.lines.next_line())
        .await
        .expect("an answer in time")
        .unwrap();
    assert_eq!(
        answer.as_deref(),
        Some("done"),
        "the second agent gets the answer to its own line, not the first agent's error"
    );
    let _ = std::fs::remove_file(&socket);
}

fn journaled(socket: &std::path::Path, lease: Duration, journal: &std::path::Path) -> RelayConfig {
    RelayConfig {
        socket: socket.to_owned(),
        lease,
        end_of_rib: EndOfRib::default(),
        journal: Some(journal.to_owned()),
    }
}

/// Regression (the chaos suite, docs/reliability.md, finding 9): an agent announced a route and
/// died; its relay, holding the route for the lease, was killed too. The relay ExaBGP started
/// next, and the next agent, which never wanted the route, knew nothing of it, and it stayed
/// announced. The relay's journal tells the next relay what ExaBGP holds.
#[tokio::test(start_paused = true)]
async fn a_relay_started_after_one_died_withdraws_what_no_agent_announces() {
    let lease = Duration::from_secs(30);
    let socket = socket_path("journal");
    let journal = socket.with_extension("journal");
    let _ = std::fs::remove_file(&journal);
    let (desired_tx, agent) = start_agent(&socket, &[("192.0.2.1/32", 100), ("192.0.2.2/32", 100)]);
    let (mut exabgp, relay) = spawn_relay(journaled(&socket, lease, &journal));
    exabgp.expect(ANNOUNCE_BOTH).await;
    // The agent dies, then its relay; ExaBGP starts a new relay, then a new agent comes that
    // wants only the first route.
    agent.abort();
    drop(desired_tx);
    tokio::time::sleep(Duration::from_secs(1)).await;
    relay.abort();
    let (mut exabgp, _relay) = spawn_relay(journaled(&socket, lease, &journal));
    let (_desired_tx, _agent) = start_agent(&socket, &[("192.0.2.1/32", 100)]);
    exabgp.expect(ANNOUNCE_FIRST).await;
    exabgp.expect(WITHDRAW_SECOND).await;
    exabgp.quiet_for(lease * 2).await;
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(&journal);
}

/// A relay with a fresh journal and a hand-driven agent that announced [`ANNOUNCE`] through it.
/// The relay's ExaBGP end is returned too: dropped, it would end the relay.
async fn journaled_relay_with_a_route(
    socket: &std::path::Path,
    lease: Duration,
    journal: &std::path::Path,
) -> (
    FakeAgent,
    FakeConn,
    Exabgp,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let _ = std::fs::remove_file(journal);
    let agent = FakeAgent::listen(socket);
    let (mut exabgp, relay) = spawn_relay(journaled(socket, lease, journal));
    let mut conn = agent.accept(lease).await;
    conn.send(ANNOUNCE).await;
    exabgp.expect(ANNOUNCE).await;
    (agent, conn, exabgp, relay)
}

/// With no agent back, the routes an earlier relay passed on go when the lease runs out, counted
/// from the new relay's start; a relay with an empty journal withdraws nothing.
#[tokio::test(start_paused = true)]
async fn a_relay_started_after_one_died_holds_its_routes_for_the_lease() {
    let lease = Duration::from_secs(30);
    let socket = socket_path("journal-lease");
    let journal = socket.with_extension("journal");
    let (agent, conn, _old_exabgp, relay) =
        journaled_relay_with_a_route(&socket, lease, &journal).await;
    relay.abort();
    drop(conn);
    drop(agent);
    let _ = std::fs::remove_file(&socket);

    let started = tokio::time::Instant::now();
    let (mut exabgp, relay) = spawn_relay(journaled(&socket, lease, &journal));
    exabgp.quiet_for(lease * 29 / 30).await;
    exabgp.expect(WITHDRAW).await;
    let after = started.elapsed();
    assert!(
        after >= lease && after < lease + Duration::from_secs(1),
        "withdrawn {after:?} after the relay started, lease {lease:?}"
    );
    // Withdrawn for good: the relay after that one finds nothing to hold.
    relay.abort();
    let (mut exabgp, _relay) = spawn_relay(journaled(&socket, lease, &journal));
    exabgp.quiet_for(lease * 2).await;
    let _ = std::fs::remove_file(&journal);
}

/// A journal that cannot be written costs only the memory across relay restarts: the relay
/// still passes every line on and answers the agent.
#[tokio::test(start_paused = true)]
async fn a_relay_whose_journal_cannot_be_written_relays_all_the_same() {
    let lease = Duration::from_secs(30);
    let socket = socket_path("journal-bad");
    let journal = std::env::temp_dir()
        .join(format!("kat-no-such-dir-{}", std::process::id()))
        .join("journal");
    let (_desired_tx, _agent) = start_agent(&socket, &[("192.0.2.1/32", 100)]);
    let (mut exabgp, _relay) = spawn_relay(journaled(&socket, lease, &journal));
    exabgp.expect(ANNOUNCE_FIRST).await;
    assert!(!journal.exists());
    let _ = std::fs::remove_file(&socket);
}

/// A relay killed while the agent is away does not give the agent's routes a new lease: the one
/// started from the journal withdraws them when the dead relay would have. Real time, as the
/// journal records wall-clock deadlines.
#[tokio::test]
async fn a_relay_started_while_the_agent_is_away_keeps_the_running_lease() {
    let lease = Duration::from_secs(4);
    let socket = socket_path("journal-running-lease");
    let journal = socket.with_extension("journal");
    let (agent, conn, _old_exabgp, relay) =
        journaled_relay_with_a_route(&socket, lease, &journal).await;
    drop(conn);
    drop(agent);
    let away = tokio::time::Instant::now();
    tokio::time::sleep(lease * 5 / 8).await;
    relay.abort();
    let _ = std::fs::remove_file(&socket);
    let (mut exabgp, _relay) = spawn_relay(journaled(&socket, lease, &journal));
    exabgp.expect(WITHDRAW).await;
    let after = away.elapsed();
    // A new lease would have ended 1.625 leases after the agent left.
    assert!(
        after >= lease * 39 / 40 && after < lease * 3 / 2,
        "withdrawn {after:?} after the agent left, lease {lease:?}"
    );
    let _ = std::fs::remove_file(&journal);
}

/// A relay started before the agent made the socket's directory cannot open its journal beside
/// the socket; it opens it once it reaches the agent there, and a relay after it finds the route.
#[tokio::test(start_paused = true)]
async fn a_journal_beside_a_socket_made_later_opens_once_the_agent_is_there() {
    let lease = Duration::from_secs(30);
    let dir = std::env::temp_dir().join(format!("kat-late-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let socket = dir.join("agent.sock");
    let journal = dir.join("agent.sock.journal");
    let (mut exabgp, relay) = spawn_relay(journaled(&socket, lease, &journal));
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::create_dir_all(&dir).unwrap();
    let agent = FakeAgent::listen(&socket);
    let mut conn = agent.accept(lease).await;
    conn.send(ANNOUNCE).await;
    exabgp.expect(ANNOUNCE).await;
    relay.abort();
    drop((conn, agent, exabgp));
    let _ = std::fs::remove_file(&socket);
    let (mut exabgp, _relay) = spawn_relay(journaled(&socket, lease, &journal));
    exabgp.expect(WITHDRAW).await;
    let _ = std::fs::remove_dir_all(&dir);
}
