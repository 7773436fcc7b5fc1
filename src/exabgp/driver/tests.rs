use super::*;
use crate::exabgp::batch::mk_route;
use crate::exabgp::held::Held;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, DuplexStream};

struct FakeExabgp {
    lines: tokio::io::Lines<BufReader<tokio::io::ReadHalf<DuplexStream>>>,
    answers: tokio::io::WriteHalf<DuplexStream>,
}

impl FakeExabgp {
    async fn expect(&mut self, want: &str) {
        let got = tokio::time::timeout(Duration::from_mins(1), self.lines.next_line())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.as_deref(), Some(want.trim_end()));
    }
    async fn answer(&mut self, a: &str) {
        self.answers
            .write_all(format!("{a}\n").as_bytes())
            .await
            .unwrap();
    }
}

struct Setup {
    fake: FakeExabgp,
    desired_tx: watch::Sender<Option<Desired>>,
    applied_rx: watch::Receiver<Applied>,
    session: tokio::task::JoinHandle<SessionEnd>,
}

fn start(config: DriverConfig, initial: Option<Desired>) -> Setup {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let (our_r, our_w) = tokio::io::split(ours);
    let (their_r, their_w) = tokio::io::split(theirs);
    let (desired_tx, mut desired_rx) = watch::channel(initial);
    let (applied_tx, applied_rx) = watch::channel(Applied::default());
    let session = tokio::spawn(async move {
        let mut held = Held::default();
        run_session(
            our_r,
            our_w,
            &mut desired_rx,
            &applied_tx,
            &mut held,
            config,
        )
        .await
    });
    Setup {
        fake: FakeExabgp {
            lines: BufReader::new(their_r).lines(),
            answers: their_w,
        },
        desired_tx,
        applied_rx,
        session,
    }
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "the driver's channel holds an Option"
)]
fn desired(generation: u64, routes: &[(&str, i64)]) -> Option<Desired> {
    Some(Desired {
        generation,
        rib: Arc::new(routes.iter().map(|(p, m)| mk_route(p, *m)).collect()),
    })
}

async fn wait_generation(rx: &mut watch::Receiver<Applied>, g: u64) {
    tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|a| a.generation >= g))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn nothing_is_sent_before_the_agent_knows_what_it_wants() {
    let mut s = start(DriverConfig::default(), None);
    s.desired_tx
        .send_replace(desired(1, &[("192.0.2.1/32", 100)]));
    s.fake
        .expect("neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32")
        .await;
    s.fake.answer("done").await;
    s.fake.expect("kube-anycast sync-done").await;
    s.fake.answer("done").await;
    wait_generation(&mut s.applied_rx, 1).await;
    // A change sends only the difference.
    s.desired_tx
        .send_replace(desired(2, &[("192.0.2.1/32", 150)]));
    s.fake
        .expect("neighbor * announce attributes next-hop self med 150 nlri 192.0.2.1/32")
        .await;
    s.fake.answer("done").await;
    wait_generation(&mut s.applied_rx, 2).await;
    s.desired_tx.send_replace(desired(3, &[]));
    s.fake
        .expect("neighbor * withdraw attributes next-hop self med 150 nlri 192.0.2.1/32")
        .await;
    s.fake.answer("done").await;
    wait_generation(&mut s.applied_rx, 3).await;
    drop(s.fake);
    assert!(matches!(
        s.session.await.unwrap(),
        SessionEnd::Closed | SessionEnd::Io(_)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_refused_line_is_counted_and_retried() {
    let config = DriverConfig {
        retry_after: Duration::from_secs(5),
        ..DriverConfig::default()
    };
    let mut s = start(config, desired(1, &[("192.0.2.1/32", 100)]));
    let line = "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32";
    s.fake.expect(line).await;
    s.fake.answer("error").await;
    s.fake.expect("kube-anycast sync-done").await;
    s.fake.answer("done").await;
    tokio::time::timeout(
        Duration::from_secs(1),
        s.applied_rx.wait_for(|a| a.errors == 1),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(s.applied_rx.borrow().generation, 0);
    // After the retry delay the same line goes again.
    s.fake.expect(line).await;
    s.fake.answer("done").await;
    wait_generation(&mut s.applied_rx, 1).await;
}

#[tokio::test(start_paused = true)]
async fn a_missing_answer_ends_the_session() {
    let config = DriverConfig {
        ack_timeout: Duration::from_secs(3),
        ..DriverConfig::default()
    };
    let mut s = start(config, desired(1, &[("192.0.2.1/32", 100)]));
    s.fake
        .expect("neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32")
        .await;
    let end = s.session.await.unwrap();
    assert!(
        matches!(end, SessionEnd::AckTimeout(_, ref l) if l.contains("192.0.2.1/32")),
        "{end}"
    );
}

#[tokio::test]
async fn shutdown_and_other_lines() {
    let mut s = start(
        DriverConfig::default(),
        desired(1, &[("192.0.2.1/32", 100)]),
    );
    s.fake
        .expect("neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32")
        .await;
    // Neighbor events and the like are not answers.
    s.fake.answer("neighbor 10.0.0.1 up").await;
    s.fake.answer("done").await;
    s.fake.expect("kube-anycast sync-done").await;
    s.fake.answer("shutdown 1 2").await;
    assert!(matches!(s.session.await.unwrap(), SessionEnd::Shutdown));
}

#[tokio::test]
async fn pipelines_up_to_the_window() {
    let config = DriverConfig {
        window: 3,
        max_prefixes_per_line: 1,
        ..DriverConfig::default()
    };
    let routes: Vec<(String, i64)> = (0..5).map(|i| (format!("192.0.2.{i}/32"), 100)).collect();
    let refs: Vec<(&str, i64)> = routes.iter().map(|(p, m)| (p.as_str(), *m)).collect();
    let mut s = start(config, desired(1, &refs));
    for i in 0..3 {
        s.fake
            .expect(&format!(
                "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.{i}/32"
            ))
            .await;
    }
    // The fourth line waits for an answer.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), s.fake.lines.next_line())
            .await
            .is_err()
    );
    s.fake.answer("done").await;
    s.fake
        .expect("neighbor * announce attributes next-hop self med 100 nlri 192.0.2.3/32")
        .await;
}

/// The relay's lease line starts keepalives at a third of it, never matched to an answer; when
/// the session ends they stop and the connection closes (a dead session never looks alive).
#[tokio::test(start_paused = true)]
async fn keepalives_follow_the_relays_lease_and_end_with_the_session() {
    let mut s = start(DriverConfig::default(), desired(1, &[]));
    s.fake.expect("kube-anycast sync-done").await;
    s.fake.answer("done").await;
    wait_generation(&mut s.applied_rx, 1).await;
    let start = tokio::time::Instant::now();
    s.fake.answer("kube-anycast lease-ms 3000").await;
    for n in 0..4 {
        s.fake.expect("kube-anycast keepalive").await;
        let at = start.elapsed();
        assert!(
            at >= Duration::from_secs(n)
                && at < Duration::from_secs(n) + Duration::from_millis(100),
            "keepalive {n} at {at:?}"
        );
    }
    // A route command still gets its answer matched to it, keepalives in between.
    s.desired_tx
        .send_replace(desired(2, &[("192.0.2.1/32", 100)]));
    let line = loop {
        let line = s.fake.lines.next_line().await.unwrap().unwrap();
        if line != "kube-anycast keepalive" {
            break line;
        }
    };
    assert!(line.contains("nlri 192.0.2.1/32"), "{line}");
    s.fake.answer("done").await;
    wait_generation(&mut s.applied_rx, 2).await;

    drop(s.desired_tx);
    assert!(matches!(s.session.await.unwrap(), SessionEnd::Stopped));
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        let mut rest = Vec::new();
        while let Some(line) = s.fake.lines.next_line().await.unwrap() {
            rest.push(line);
        }
        rest
    })
    .await
    .expect("the connection closes with the session");
    assert!(
        rest.len() <= 1,
        "keepalives after the session ended: {rest:?}"
    );
}

/// Regression (docs/reliability.md, finding 6): a route withdrawn while no relay was connected
/// is withdrawn by the next session, although the new relay knows nothing of it.
#[tokio::test]
async fn the_next_session_withdraws_what_was_withdrawn_while_no_relay_was_there() {
    let (desired_tx, mut desired_rx) =
        watch::channel(desired(1, &[("192.0.2.1/32", 100), ("192.0.2.2/32", 100)]));
    let (applied_tx, mut applied_rx) = watch::channel(Applied::default());
    // Relay connections, handed to the driver one after the other.
    let (connect_tx, mut connect_rx) = tokio::sync::mpsc::channel::<DuplexStream>(1);
    let driver = tokio::spawn(async move {
        let mut held = Held::default();
        while let Some(ours) = connect_rx.recv().await {
            let (r, w) = tokio::io::split(ours);
            run_session(
                r,
                w,
                &mut desired_rx,
                &applied_tx,
                &mut held,
                DriverConfig::default(),
            )
            .await;
        }
    });
    let connect = async |connect_tx: &tokio::sync::mpsc::Sender<DuplexStream>| {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        connect_tx.send(ours).await.unwrap();
        let (r, w) = tokio::io::split(theirs);
        FakeExabgp {
            lines: BufReader::new(r).lines(),
            answers: w,
        }
    };
    let mut first = connect(&connect_tx).await;
    first
        .expect(
            "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32",
        )
        .await;
    first.answer("done").await;
    first.expect("kube-anycast sync-done").await;
    first.answer("done").await;
    wait_generation(&mut applied_rx, 1).await;
    // The relay dies; 192.0.2.2 turns unready before a new one connects.
    drop(first);
    applied_rx.wait_for(|a| !a.connected).await.unwrap();
    desired_tx.send_replace(desired(2, &[("192.0.2.1/32", 100)]));
    let mut second = connect(&connect_tx).await;
    second
        .expect("neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.2/32")
        .await;
    second.answer("done").await;
    second
        .expect("neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32")
        .await;
    second.answer("done").await;
    second.expect("kube-anycast sync-done").await;
    second.answer("done").await;
    wait_generation(&mut applied_rx, 2).await;
    drop((second, connect_tx));
    driver.await.unwrap();
}
