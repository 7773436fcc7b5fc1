//! End to end on the BGP test bed: the real `kube-anycast agent --services-dir` runs in the
//! speaker's namespace, a real ExaBGP 5.0.15 runs `kube-anycast exabgp-relay` as its API process,
//! and gobgpd's RIB is the oracle. Exec probes on flag files let each test flip a probe. Needs root.

#[allow(
    dead_code,
    unused_imports,
    reason = "shared by several test crates, each using a part"
)]
mod support;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::agent::{
    Agent, DUAL_STACK_POOL, EXA_ADDR6, POOL, Probe, Workdir, has_vip, lo_addresses,
    our_local_routes, probe, service, tail, wait_log,
};
use support::testbed::{Route, Testbed, wait_until};

const WAIT: Duration = Duration::from_secs(20);

fn med_of(rib: &[Route], prefix: &str) -> Option<u32> {
    rib.iter().find(|r| r.prefix == prefix).and_then(|r| r.med)
}

fn has(rib: &[Route], prefix: &str) -> bool {
    rib.iter().any(|r| r.prefix == prefix)
}

/// A bed, a workdir with the pool and one service `web` on 192.0.2.10 with one passing probe,
/// and a running agent whose route is at gobgpd with MED 100.
fn mk_web(name: &str, lease: &str) -> (Workdir, Testbed, Agent) {
    let work = Workdir::new(name);
    work.write("pool.yaml", POOL);
    work.set_flag("web", true);
    work.write(
        "web.yaml",
        &service(&work, "web", &["192.0.2.10"], &[probe("web")]),
    );
    let bed = work.bed(lease);
    let agent = Agent::start(&bed, &work);
    bed.wait_for("web up with MED 100", WAIT, |rib| {
        med_of(rib, "192.0.2.10/32") == Some(100)
    });
    (work, bed, agent)
}

#[test]
fn each_state_has_its_med_at_the_peer() {
    let work = Workdir::new("states");
    work.write("pool.yaml", POOL);
    for flag in ["up", "main", "extra"] {
        work.set_flag(flag, true);
    }
    work.write(
        "up.yaml",
        &service(&work, "up", &["192.0.2.1"], &[probe("up")]),
    );
    // 8 + 2: the failing non-critical `extra` leaves 80 %, between degraded (70) and up (90).
    let weighted = |name, flag| Probe {
        name,
        weight: if name == "main" { 8 } else { 2 },
        critical: false,
        flag,
    };
    work.write(
        "degraded.yaml",
        &service(
            &work,
            "degraded",
            &["192.0.2.2"],
            &[weighted("main", "main"), weighted("extra", "missing")],
        ),
    );
    let critical = Probe {
        critical: true,
        ..probe("missing")
    };
    work.write(
        "down.yaml",
        &service(&work, "down", &["192.0.2.3"], &[probe("up"), critical]),
    );
    let bed = work.bed("30s");
    let _agent = Agent::start(&bed, &work);
    bed.wait_for("up at MED 100, degraded at MED 150", WAIT, |rib| {
        med_of(rib, "192.0.2.1/32") == Some(100) && med_of(rib, "192.0.2.2/32") == Some(150)
    });
    wait_log(
        &work,
        "down reported",
        WAIT,
        &["default/down", "Down", "missing"],
    );
    assert!(
        !has(&bed.routes().unwrap(), "192.0.2.3/32"),
        "down is never announced"
    );

    work.set_flag("up", false);
    bed.wait_for("up withdrawn when its probe fails", WAIT, |rib| {
        !has(rib, "192.0.2.1/32") && med_of(rib, "192.0.2.2/32") == Some(150)
    });
    work.set_flag("missing", true);
    bed.wait_for(
        "degraded up at MED 100 once every probe passes",
        WAIT,
        |rib| med_of(rib, "192.0.2.2/32") == Some(100),
    );
    assert!(
        !has(&bed.routes().unwrap(), "192.0.2.3/32"),
        "the critical `up` probe still fails"
    );
}

#[test]
fn a_node_med_offset_changes_the_med() {
    let (work, bed, _agent) = mk_web("offset", "30s");
    work.write(
        "node.yaml",
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: edge-1\n  \
         annotations: {kube-anycast.io/med-offset: \"20\"}\n",
    );
    bed.wait_for("MED 100 + offset 20", WAIT, |rib| {
        med_of(rib, "192.0.2.10/32") == Some(120)
    });
}

#[test]
fn kill_9_and_a_new_agent_within_the_lease_do_not_flap() {
    let (work, bed, agent) = mk_web("nofla", "30s");
    assert_eq!(bed.withdrawn_prefixes(), Ok(0));
    kill9_and_wait_for_the_relay_to_hold(&bed, agent);
    let rib = bed.routes().unwrap();
    assert_eq!(
        med_of(&rib, "192.0.2.10/32"),
        Some(100),
        "held while the agent is gone"
    );
    assert!(has_vip(&bed, "192.0.2.10"), "the VIP stays on lo");

    let log_before = work.log().len();
    let _agent = Agent::start(&bed, &work);
    // Positive marker: the new agent's replay is complete once it reports the service up and
    // the relay answered its sync marker (the relay logs nothing for an empty withdraw set).
    wait_until(
        "the new agent has a relay session and the service is up",
        WAIT,
        || {
            let new = &work.log()[log_before..];
            (new.contains("relay connected") && new.contains("\"med\":100")).then_some(())
        },
        || tail(&work.log(), 20),
    );
    wait_until(
        "the new agent ready (first plan acknowledged)",
        WAIT,
        || is_ready(&bed).then_some(()),
        || tail(&work.log(), 20),
    );
    let rib = bed.routes().unwrap();
    assert_eq!(med_of(&rib, "192.0.2.10/32"), Some(100));
    let new_log = work.log()[log_before..].to_owned();
    assert!(
        new_log
            .lines()
            .filter(|l| l.contains("loopback VIPs updated"))
            .all(|l| l.contains("\"removed\":0")),
        "the new agent adopts the VIP without removing it first:\n{new_log}"
    );
    assert_eq!(
        bed.withdrawn_prefixes(),
        Ok(0),
        "no withdraw reached gobgpd across the restart; relay log:\n{}\nagent log:\n{}",
        tail(&bed.log("api"), 20),
        tail(&work.log(), 30)
    );
}

/// More routes than one step of the VIP rollout (1,024): a new agent finds their addresses on lo
/// already, so its first replay must hold them all. A replay of the first step alone would end
/// with the relay's sync and withdraw the rest until the next steps brought them back.
#[test]
fn a_new_agent_within_the_lease_does_not_flap_thousands_of_routes() {
    const ROUTES: usize = 2_500;
    let (work, bed, agent) = many_routes_up("nofl2k", ROUTES, &[], WAIT);
    assert_eq!(bed.withdrawn_prefixes(), Ok(0));
    kill9_and_wait_for_the_relay_to_hold(&bed, agent);
    let log_before = work.log().len();
    let _agent = Agent::start(&bed, &work);
    wait_until(
        "the new agent ready (first plan acknowledged)",
        WAIT,
        || (is_ready(&bed) && work.log()[log_before..].contains("relay connected")).then_some(()),
        || tail(&work.log(), 20),
    );
    wait_for_paths(&bed, &work, ROUTES, WAIT);
    assert_eq!(
        bed.withdrawn_prefixes(),
        Ok(0),
        "no withdraw reached gobgpd across the restart; relay log:\n{}\nagent log:\n{}",
        tail(&bed.log("api"), 20),
        tail(&work.log()[log_before..], 30)
    );
}

/// Waits until gobgpd has at least `routes` IPv4 paths; returns how many it has.
fn wait_for_paths(bed: &Testbed, work: &Workdir, routes: usize, timeout: Duration) -> usize {
    wait_until(
        &format!("{routes} routes at gobgpd"),
        timeout,
        || bed.ipv4_paths().ok().filter(|&n| n >= routes),
        || format!("{:?} paths; {}", bed.ipv4_paths(), tail(&work.log(), 10)),
    )
}

/// Kills the agent with SIGKILL and waits until the relay says it holds the agent's routes.
fn kill9_and_wait_for_the_relay_to_hold(bed: &Testbed, agent: Agent) {
    agent.kill9();
    wait_until(
        "the relay noticed the agent is gone",
        WAIT,
        || bed.log("api").contains("holding its routes").then_some(()),
        || bed.log_tails(),
    );
}

/// `/readyz` of the agent in the speaker's namespace answers 200.
fn is_ready(bed: &Testbed) -> bool {
    let out = bed
        .in_exa("curl")
        .args(["-sf", "-o", "/dev/null", "http://127.0.0.1:9180/readyz"])
        .status();
    out.is_ok_and(|s| s.success())
}

#[test]
fn kill_9_without_a_new_agent_withdraws_after_the_lease() {
    let lease = Duration::from_secs(3);
    let (_work, bed, agent) = mk_web("lease", "3s");
    let killed = Instant::now();
    agent.kill9();
    bed.wait_for("withdrawn once the lease ran out", WAIT, |rib| {
        !has(rib, "192.0.2.10/32")
    });
    // A lower bound only: the relay cannot withdraw before the lease has run out.
    assert!(
        killed.elapsed() >= lease,
        "withdrawn {:?} after the kill, before the {lease:?} lease",
        killed.elapsed()
    );
    assert!(
        bed.log("api").contains("longer than the lease"),
        "{}",
        bed.log_tails()
    );
}

/// Regression (docs/reliability.md, finding 3): a hung agent keeps its relay connection open,
/// and its routes used to stay until it ran again. Its keepalives stop, so the relay withdraws
/// them a lease after it last heard from it; on `SIGCONT` it replays and they come back. A stop
/// shorter than the lease changes nothing.
#[test]
fn a_stopped_agent_is_withdrawn_after_the_lease_and_back_on_sigcont() {
    let lease = Duration::from_secs(3);
    let (work, bed, agent) = mk_web("sigstop", "3s");

    // Short: keepalives (every lease / 3) resume long before the lease runs out.
    agent.signal(Signal::SIGSTOP);
    std::thread::sleep(Duration::from_millis(300));
    agent.signal(Signal::SIGCONT);
    std::thread::sleep(lease + Duration::from_secs(1));
    assert_eq!(
        bed.withdrawn_prefixes(),
        Ok(0),
        "a 300 ms stop withdrew a route; relay log:\n{}",
        tail(&bed.log("api"), 20)
    );

    // Longer than the lease: withdrawn by the lease after the stop (the last keepalive came
    // before it), with 2 s for ExaBGP, gobgpd and the RIB polling on a loaded machine.
    let log_before = work.log().len();
    let stopped = Instant::now();
    agent.signal(Signal::SIGSTOP);
    bed.wait_for(
        "withdrawn once the stopped agent's lease ran out",
        WAIT,
        |rib| !has(rib, "192.0.2.10/32"),
    );
    let after = stopped.elapsed();
    assert!(
        after <= lease + Duration::from_secs(2),
        "withdrawn {after:?} after SIGSTOP, lease {lease:?}"
    );
    assert!(
        bed.log("api")
            .contains("no message from the agent for the lease"),
        "{}",
        bed.log_tails()
    );

    let resumed = Instant::now();
    agent.signal(Signal::SIGCONT);
    bed.wait_for("back at MED 100 after SIGCONT", WAIT, |rib| {
        med_of(rib, "192.0.2.10/32") == Some(100)
    });
    eprintln!(
        "withdrawn {after:?} after SIGSTOP (lease {lease:?}); back {:?} after SIGCONT",
        resumed.elapsed()
    );
    assert!(
        work.log()[log_before..].contains("relay connected"),
        "the resumed agent replayed on a new relay session:\n{}",
        tail(&work.log(), 20)
    );
}

/// Regression (docs/reliability.md, finding 6): a route withdrawn while ExaBGP had no relay is
/// withdrawn when the next relay connects, although that relay knows nothing of it. ExaBGP is
/// stopped meanwhile so that it cannot start the new relay before the agent decided.
#[test]
fn a_route_withdrawn_while_no_relay_was_there_is_withdrawn_by_the_next_one() {
    let (work, bed, _agent) = mk_web("relaygone", "30s");
    bed.signal_exabgp(Signal::SIGSTOP);
    bed.signal_api(Signal::SIGKILL);
    wait_log(
        &work,
        "the agent saw the relay go",
        WAIT,
        &["relay session ended"],
    );
    work.set_flag("web", false);
    wait_log(&work, "web down", WAIT, &["service state", "web", "Down"]);
    let log_before = work.log().len();
    bed.signal_exabgp(Signal::SIGCONT);
    wait_until(
        "a new relay session",
        WAIT,
        || {
            work.log()[log_before..]
                .contains("relay connected")
                .then_some(())
        },
        || tail(&work.log(), 20),
    );
    bed.wait_for("web withdrawn by the new session", WAIT, |rib| {
        !has(rib, "192.0.2.10/32")
    });
}

/// Regression (docs/reliability.md, finding 8): the agent dies holding a route, the service
/// fails meanwhile, and the relay that held the route for the lease is killed too. The next
/// agent never announces the route, and the relay ExaBGP starts next learns of it from its
/// predecessor's journal only: it withdraws the route after the new agent's replay, well within
/// the lease. Without the journal the route stays at gobgpd.
#[test]
fn a_dead_agents_route_is_withdrawn_after_its_relay_dies_too() {
    let (work, bed, agent) = mk_web("relaydies", "30s");
    kill9_and_wait_for_the_relay_to_hold(&bed, agent);
    work.set_flag("web", false);
    let old_relay = bed.api_pid();
    bed.signal_api(Signal::SIGKILL);
    wait_until(
        "ExaBGP started a new relay",
        WAIT,
        || bed.api_pid().filter(|p| Some(*p) != old_relay),
        || bed.log_tails(),
    );
    let log_before = work.log().len();
    let _agent = Agent::start(&bed, &work);
    wait_log(
        &work,
        "the new agent sees web down",
        WAIT,
        &["service state", "web", "Down"],
    );
    assert!(
        !work.log()[log_before..].contains("\"med\":100"),
        "the new agent never announced web:\n{}",
        &work.log()[log_before..]
    );
    let started = Instant::now();
    bed.wait_for("web withdrawn by the new relay", WAIT, |rib| {
        !has(rib, "192.0.2.10/32")
    });
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "withdrawn after the replay, not by the 30 s lease: {:?}",
        started.elapsed()
    );
    assert!(
        bed.log("api").contains("an earlier relay passed routes on"),
        "the new relay read the journal:\n{}",
        tail(&bed.log("api"), 20)
    );
}

#[test]
fn every_route_comes_back_after_exabgp_is_killed_and_restarted() {
    let work = Workdir::new("exarestart");
    work.write("pool.yaml", POOL);
    work.set_flag("a", true);
    let addresses: Vec<String> = (20..30).map(|i| format!("192.0.2.{i}")).collect();
    let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
    work.write("a.yaml", &service(&work, "a", &addresses, &[probe("a")]));
    let bed = work.bed("30s");
    let _agent = Agent::start(&bed, &work);
    let all = |rib: &[Route]| {
        addresses
            .iter()
            .all(|a| med_of(rib, &format!("{a}/32")) == Some(100))
    };
    bed.wait_for("all ten up", WAIT, all);
    bed.kill_exabgp();
    bed.wait_for("gone with the session", WAIT, <[Route]>::is_empty);
    bed.start_exabgp();
    bed.wait_for("all ten back after the crash", WAIT, all);
    bed.restart_exabgp();
    bed.wait_for("all ten back after a clean restart", WAIT, all);
}

#[test]
fn sigterm_drains_with_graceful_shutdown_then_withdraws_and_exits_0() {
    let (work, bed, mut agent) = mk_web("sigterm", "30s");
    assert!(has_vip(&bed, "192.0.2.10"), "VIP on lo while announced");
    agent.signal(Signal::SIGTERM);
    let rib = bed.wait_for("GRACEFUL_SHUTDOWN community", WAIT, |rib| {
        rib.iter()
            .any(|r| r.prefix == "192.0.2.10/32" && r.communities.iter().any(|c| c == "65535:0"))
    });
    assert_eq!(
        med_of(&rib, "192.0.2.10/32"),
        Some(100),
        "same MED while draining"
    );
    bed.wait_for("withdrawn after the drain", WAIT, |rib| {
        !has(rib, "192.0.2.10/32")
    });
    let status = agent.wait_exit(WAIT, &work);
    assert!(
        status.success(),
        "exit status {status:?}; {}",
        tail(&work.log(), 20)
    );
    assert!(!has_vip(&bed, "192.0.2.10"), "VIP removed from lo");
}

#[test]
fn an_invalid_service_is_reported_and_the_others_carry_on() {
    let work = Workdir::new("invalid");
    work.write("pool.yaml", POOL);
    work.set_flag("ok", true);
    let good = service(&work, "good", &["192.0.2.40"], &[probe("ok")]);
    work.write("good.yaml", &good);
    let bad = service(&work, "bad", &["192.0.2.41"], &[probe("ok")]);
    work.write(
        "bad.yaml",
        &format!("{bad}  communities: [\"65000:1 ] med 1 [\"]\n"),
    );
    let bed = work.bed("30s");
    let _agent = Agent::start(&bed, &work);
    bed.wait_for("the good service up", WAIT, |rib| {
        med_of(rib, "192.0.2.40/32") == Some(100)
    });
    let line = wait_log(
        &work,
        "the bad file reported",
        WAIT,
        &["bad.yaml", "spec.communities[0]"],
    );
    assert!(line.contains("ERROR"), "reported as an error: {line}");
    assert!(
        !has(&bed.routes().unwrap(), "192.0.2.41/32"),
        "the bad service is not announced"
    );

    work.write("bad.yaml", &format!("{bad}  communities: [\"65000:1\"]\n"));
    let rib = bed.wait_for("the fixed service up", WAIT, |rib| {
        has(rib, "192.0.2.41/32")
    });
    let fixed = rib.iter().find(|r| r.prefix == "192.0.2.41/32").unwrap();
    assert_eq!(fixed.communities, ["65000:1"]);
    assert_eq!(med_of(&rib, "192.0.2.40/32"), Some(100));
}

#[test]
fn ten_thousand_routes_all_reach_the_peer() {
    let (_work, bed, _agent) = many_routes_up("10k", 10_000, &[], Duration::from_mins(3));
    let rib = bed.routes().unwrap();
    assert!(
        rib.iter().all(|r| r.med == Some(100)),
        "every route up at MED 100"
    );
    assert_eq!(
        rib.first().map(|r| r.prefix.as_str()),
        Some("100.64.0.0/32")
    );
}

#[test]
fn ten_thousand_routes_with_local_route_vips_reach_the_peer_and_leave_with_their_routes() {
    const ROUTES: usize = 10_000;
    let local_route = ["--vip-mode", "local-route"];
    let (work, bed, _agent) =
        many_routes_up("10k-lr", ROUTES, &local_route, Duration::from_mins(3));
    let local = our_local_routes(&bed);
    assert_eq!(local.len(), ROUTES, "one local route per VIP");
    assert!(
        local
            .iter()
            .all(|r| r.starts_with("local 100.64.") && r.contains("dev lo")),
        "{:?}",
        local.first()
    );
    assert!(
        !has_vip(&bed, "100.64.0.0"),
        "local routes, not addresses: {}",
        tail(&lo_addresses(&bed), 3)
    );
    // Every service deleted: the routes go from the peer, then the local routes from lo.
    std::fs::remove_file(work.services().join("services.yaml")).unwrap();
    bed.wait_for(
        "every route withdrawn",
        Duration::from_mins(1),
        <[Route]>::is_empty,
    );
    wait_until(
        "the local routes removed",
        WAIT,
        || our_local_routes(&bed).is_empty().then_some(()),
        || tail(&work.log(), 10),
    );
}

/// A bed, `routes` generated addresses (see [`many_routes`]) and an agent started with `extra`
/// options that has every one of them at gobgpd within `timeout`.
fn many_routes_up(
    name: &str,
    routes: usize,
    extra: &[&str],
    timeout: Duration,
) -> (Workdir, Testbed, Agent) {
    let work = Workdir::new(name);
    work.write("services.yaml", &many_routes(routes));
    let bed = work.bed("30s");
    let agent = Agent::start_with(&bed, &work, extra);
    let count = wait_for_paths(&bed, &work, routes, timeout);
    assert_eq!(count, routes, "exactly the generated routes");
    (work, bed, agent)
}

/// A pool for 100.64.0.0/16 and `routes` addresses from it, 64 per service (the schema's
/// maximum), without probes: standalone, they are up at once.
fn many_routes(routes: usize) -> String {
    let mut text = String::from(
        "apiVersion: kube-anycast.io/v1alpha1\nkind: AnycastPool\nmetadata: {name: bulk}\n\
         spec: {cidrs: [100.64.0.0/16]}\n",
    );
    let ips: Vec<String> = (0..routes)
        .map(|i| format!("100.64.{}.{}", i / 256, i % 256))
        .collect();
    for (n, chunk) in ips.chunks(64).enumerate() {
        let _ = write!(
            text,
            "---\napiVersion: kube-anycast.io/v1alpha1\nkind: AnycastService\n\
             metadata: {{name: bulk-{n}}}\nspec:\n  addresses: [{}]\n",
            chunk.join(", ")
        );
    }
    text
}

/// The index just past the last line of `log` that contains every one of `needles`.
fn after_line(log: &str, needles: &[&str]) -> Option<usize> {
    let mut at = 0;
    let mut found = None;
    for line in log.split_inclusive('\n') {
        at += line.len();
        if needles.iter().all(|n| line.contains(n)) {
            found = Some(at);
        }
    }
    found
}

/// Regression (docs/reliability.md, finding 2): a service that became ready and unready again
/// while the BGP session was down came back with the session, announced with no passing check.
/// ExaBGP 5.0.15 queues changes per attribute set; a withdraw in another set than a queued
/// announce's (the driver's carried only the next hop) leaves that announce queued, and the first
/// UPDATE pass of a new session sends no withdraws. `flap` goes up and down; `shift` goes up,
/// degraded (another MED, so another set) and down. ExaBGP drops its queue when a connection
/// attempt fails, so the attempts are made to hang here (`blackhole_peer`): the changes then
/// stay queued until the session comes up, as when they arrive during the attempt that succeeds.
#[test]
fn routes_withdrawn_while_the_session_is_down_stay_withdrawn_when_it_comes_back() {
    const KEEP: &str = "192.0.2.1/32";
    const FLAP: &str = "192.0.2.5/32";
    const SHIFT: &str = "192.0.2.6/32";
    let work = Workdir::new("sessiondown");
    work.write("pool.yaml", POOL);
    work.set_flag("keep", true);
    work.write(
        "keep.yaml",
        &service(&work, "keep", &["192.0.2.1"], &[probe("keep")]),
    );
    work.write(
        "flap.yaml",
        &service(&work, "flap", &["192.0.2.5"], &[probe("flap")]),
    );
    // 8 + 2: without `extra` the score is 80 %, degraded (MED 150).
    let weighted = |name, weight| Probe {
        weight,
        ..probe(name)
    };
    work.write(
        "shift.yaml",
        &service(
            &work,
            "shift",
            &["192.0.2.6"],
            &[weighted("main", 8), weighted("extra", 2)],
        ),
    );
    let bed = work.bed("30s");
    let _agent = Agent::start(&bed, &work);
    bed.wait_for("keep up with MED 100", WAIT, |rib| {
        med_of(rib, KEEP) == Some(100) && !has(rib, FLAP) && !has(rib, SHIFT)
    });

    let closed = |log: &str| log.matches("closing connection").count();
    let closed_before = closed(&bed.log("exabgp"));
    bed.blackhole_peer(true);
    bed.kill_gobgpd();
    bed.start_gobgpd_listening();
    wait_until(
        "ExaBGP closed the session and tries again",
        WAIT,
        || (closed(&bed.log("exabgp")) > closed_before).then_some(()),
        || bed.log_tails(),
    );

    // While ExaBGP's connection attempt hangs: both up, then `flap` down and `shift` degraded,
    // then `shift` down.
    let exabgp_took = |what: &str, needles: &[&str]| {
        wait_until(
            &format!("ExaBGP took {what}"),
            WAIT,
            || after_line(&bed.log("exabgp"), needles),
            || bed.log_tails(),
        )
    };
    for flag in ["flap", "main", "extra"] {
        work.set_flag(flag, true);
    }
    let queued_from = exabgp_took("flap's announce", &["route added", FLAP]);
    exabgp_took("shift's announce", &["route added", SHIFT, "med 100"]);
    work.set_flag("flap", false);
    work.set_flag("extra", false);
    exabgp_took("flap's withdraw", &["route removed", FLAP]);
    exabgp_took("shift's new MED", &["route added", SHIFT, "med 150"]);
    work.set_flag("main", false);
    exabgp_took("shift's withdraw", &["route removed", SHIFT]);

    bed.blackhole_peer(false);
    // The attempt completes at its next SYN retransmit: up to 15 s later.
    bed.wait_for(
        "keep back with the session",
        Duration::from_secs(40),
        |rib| med_of(rib, KEEP) == Some(100),
    );
    let log = bed.log("exabgp");
    let since = &log[queued_from.min(log.len())..];
    let up = since.find("connected to").unwrap_or(since.len());
    assert!(
        !since[..up].contains("closing connection"),
        "ExaBGP dropped its queue before the session came up, so this run did not test the \
         case:\n{}",
        bed.log_tails()
    );
    // Everything queued goes out in the session's first UPDATE pass, with `keep`.
    for _ in 0..10 {
        let rib = bed.routes().unwrap_or_default();
        assert!(
            !has(&rib, FLAP) && !has(&rib, SHIFT),
            "announced by the new session although unready: {rib:#?}\n{}",
            bed.log_tails()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// IPv6 through the whole chain: an IPv6-only and a dual-stack service from one pool reach
/// gobgpd as /128s at their MED with the agent's `--ipv6-next-hop` (the bed's one session is
/// IPv4, where ExaBGP refuses `next-hop self` for IPv6), their VIPs go on lo, a failing probe
/// withdraws the IPv6-only route, and SIGTERM drains and withdraws everything.
#[test]
fn ipv6_and_dual_stack_services_are_announced_withdrawn_and_drained() {
    const V6: &str = "2001:db8::10/128";
    const DUAL_V4: &str = "192.0.2.11/32";
    const DUAL_V6: &str = "2001:db8::11/128";
    let work = Workdir::new("ipv6");
    work.write("pool.yaml", DUAL_STACK_POOL);
    work.set_flag("v6", true);
    work.set_flag("dual", true);
    work.write(
        "v6.yaml",
        &service(&work, "v6", &["2001:db8::10"], &[probe("v6")]),
    );
    work.write(
        "dual.yaml",
        &service(
            &work,
            "dual",
            &["192.0.2.11", "2001:db8::11"],
            &[probe("dual")],
        ),
    );
    let bed = work.bed("30s");
    let mut agent = Agent::start(&bed, &work);
    let rib = bed.wait_for("all three up at MED 100", WAIT, |rib| {
        [V6, DUAL_V4, DUAL_V6]
            .iter()
            .all(|p| med_of(rib, p) == Some(100))
    });
    let next_hop = |prefix: &str| {
        rib.iter()
            .find(|r| r.prefix == prefix)
            .and_then(|r| r.next_hop)
            .map(|ip| ip.to_string())
    };
    assert_eq!(next_hop(V6).as_deref(), Some(EXA_ADDR6));
    assert_eq!(next_hop(DUAL_V6).as_deref(), Some(EXA_ADDR6));
    assert_eq!(
        next_hop(DUAL_V4).as_deref(),
        Some("10.255.0.1"),
        "IPv4 keeps next-hop self"
    );
    for vip in ["2001:db8::10", "2001:db8::11", "192.0.2.11"] {
        assert!(has_vip(&bed, vip), "{vip} on lo while announced");
    }

    work.set_flag("v6", false);
    bed.wait_for("v6 withdrawn when its probe fails", WAIT, |rib| {
        !has(rib, V6) && med_of(rib, DUAL_V6) == Some(100) && med_of(rib, DUAL_V4) == Some(100)
    });
    wait_until(
        "the withdrawn VIP off lo",
        WAIT,
        || (!has_vip(&bed, "2001:db8::10")).then_some(()),
        || tail(&work.log(), 20),
    );

    agent.signal(Signal::SIGTERM);
    bed.wait_for(
        "the IPv6 route drains with GRACEFUL_SHUTDOWN",
        WAIT,
        |rib| {
            rib.iter()
                .any(|r| r.prefix == DUAL_V6 && r.communities.iter().any(|c| c == "65535:0"))
        },
    );
    bed.wait_for(
        "everything withdrawn after the drain",
        WAIT,
        <[Route]>::is_empty,
    );
    let status = agent.wait_exit(WAIT, &work);
    assert!(
        status.success(),
        "exit status {status:?}; {}",
        tail(&work.log(), 20)
    );
    for vip in ["2001:db8::11", "192.0.2.11"] {
        assert!(!has_vip(&bed, vip), "{vip} removed from lo");
    }
}
