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
    let (relay_in, answers) = tokio::io::duplex(1 << 16);
    let (relay_out, commands) = tokio::io::duplex(1 << 16);
    let config = RelayConfig {
        socket: socket.to_owned(),
        lease,
        end_of_rib,
    };
    tokio::spawn(async move { run(config, relay_in, relay_out).await });
    Exabgp {
        lines: BufReader::new(commands).lines(),
        answers,
    }
}

fn start_agent(
    socket: &std::path::Path,
    routes: &[(&str, i64)],
) -> (watch::Sender<Option<Desired>>, tokio::task::JoinHandle<()>) {
    let rib = routes.iter().map(|(p, m)| mk_route(p, *m)).collect();
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

#[tokio::test(start_paused = true)]
async fn agent_gone_past_the_lease_withdraws_and_a_restart_within_it_does_not() {
    let socket = socket_path("lease");
    let (desired_tx, agent) = start_agent(&socket, &[("192.0.2.1/32", 100), ("192.0.2.2/32", 100)]);
    let mut exabgp = start_relay(&socket, Duration::from_secs(30));
    exabgp
        .expect(
            "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32",
        )
        .await;

    // The agent dies and a new one comes back within the lease wanting only one route: the relay
    // withdraws the other one after the new agent's replay, and nothing else.
    agent.abort();
    drop(desired_tx);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (desired_tx, agent) = start_agent(&socket, &[("192.0.2.1/32", 100)]);
    exabgp
        .expect("neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32")
        .await;
    exabgp
        .expect("neighbor * withdraw route 192.0.2.2/32 next-hop self")
        .await;

    // Gone for good: after the lease, everything is withdrawn.
    agent.abort();
    drop(desired_tx);
    exabgp
        .expect("neighbor * withdraw route 192.0.2.1/32 next-hop self")
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
    exabgp
        .expect("neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32")
        .await;
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
