//! End to end on the BGP test bed: a real ExaBGP 5.0.15 runs `kube-anycast
//! healthcheck` as its API process and a real gobgpd receives the routes. A
//! check command that tests for a file lets each test flip the result. Needs root.

#[allow(
    dead_code,
    unused_imports,
    reason = "shared by several test crates, each using a part"
)]
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use support::testbed::{Options, Route, Testbed, wait_until};

const WAIT: Duration = Duration::from_secs(15);
const VIP: &str = "192.0.2.10/32";

/// A directory for the check's `ok` file, removed when dropped.
struct CheckFile(PathBuf);

impl CheckFile {
    fn new(name: &str) -> CheckFile {
        let dir = std::env::temp_dir().join(format!("kat-hc-bgp-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let file = CheckFile(dir.join("ok"));
        file.pass(true);
        file
    }

    /// Makes the check pass (the file exists) or fail.
    fn pass(&self, ok: bool) {
        let done = if ok {
            std::fs::write(&self.0, "")
        } else {
            std::fs::remove_file(&self.0)
        };
        done.unwrap_or_else(|e| {
            panic!(
                "{} {}: {e}",
                if ok { "create" } else { "remove" },
                self.0.display()
            )
        });
    }

    fn command(&self) -> String {
        format!("test -f {}", self.0.display())
    }
}

impl Drop for CheckFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap_or(Path::new("/nonexistent")));
    }
}

/// The healthcheck under test: `kube-anycast healthcheck`, or ExaBGP's own with
/// `KAT_HC_REFERENCE=1` (which shows that the tests themselves are right).
fn program() -> Vec<String> {
    if std::env::var_os("KAT_HC_REFERENCE").is_some_and(|v| v == "1") {
        let python = support::testbed::exabgp_venv().join("bin/python");
        let python = python.to_string_lossy().into_owned();
        return vec![python, "-m".into(), "exabgp".into(), "healthcheck".into()];
    }
    vec![
        env!("CARGO_BIN_EXE_kube-anycast").into(),
        "healthcheck".into(),
    ]
}

/// The healthcheck with fast, single-step rise and fall, then `extra`.
fn healthcheck(check: &CheckFile, extra: &[&str]) -> Vec<String> {
    let mut args = program();
    args.extend(
        [
            "--no-syslog",
            "--rise",
            "1",
            "--fall",
            "1",
            "--interval",
            "0.2",
            "--fast-interval",
            "0.2",
            "--timeout",
            "2",
        ]
        .iter()
        .map(|&s| s.to_owned()),
    );
    args.extend(["--cmd".to_owned(), check.command()]);
    args.extend(extra.iter().map(|&s| s.to_owned()));
    args
}

fn up(options: &Options, args: &[String]) -> Testbed {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Testbed::up_with(options, &args)
}

fn med_of(rib: &[Route], prefix: &str) -> Option<u32> {
    rib.iter().find(|r| r.prefix == prefix).and_then(|r| r.med)
}

/// The addresses on lo in the speaker's namespace.
fn lo_addresses(bed: &Testbed) -> String {
    let out = bed
        .in_exa("ip")
        .args(["-o", "address", "show", "dev", "lo"])
        .output();
    let out = out.unwrap_or_else(|e| panic!("run ip in the speaker's namespace: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn failing_check_changes_the_med_at_the_peer() {
    let check = CheckFile::new("med");
    let args = healthcheck(
        &check,
        &["--ip", VIP, "--no-ip-setup", "--down-metric", "1000"],
    );
    let bed = up(&Options::default(), &args);
    let rib = bed.wait_for("UP with MED 100", WAIT, |rib| med_of(rib, VIP) == Some(100));
    let route = rib.iter().find(|r| r.prefix == VIP).expect("the VIP");
    assert_eq!(
        route.next_hop,
        Some("10.255.0.1".parse().expect("an address")),
        "next-hop self"
    );
    check.pass(false);
    bed.wait_for("DOWN with MED 1000", WAIT, |rib| {
        med_of(rib, VIP) == Some(1000)
    });
    check.pass(true);
    bed.wait_for("UP again with MED 100", WAIT, |rib| {
        med_of(rib, VIP) == Some(100)
    });
}

#[test]
fn withdraw_on_down_withdraws_at_the_peer() {
    let check = CheckFile::new("withdraw");
    let args = healthcheck(
        &check,
        &["--ip", VIP, "--no-ip-setup", "--withdraw-on-down"],
    );
    let bed = up(&Options::default(), &args);
    bed.wait_for("announced", WAIT, |rib| med_of(rib, VIP) == Some(100));
    check.pass(false);
    bed.wait_for("withdrawn", WAIT, |rib| rib.iter().all(|r| r.prefix != VIP));
    check.pass(true);
    bed.wait_for("announced again", WAIT, |rib| med_of(rib, VIP) == Some(100));
}

#[test]
fn sigterm_withdraws_at_the_peer_and_removes_the_vip() {
    let check = CheckFile::new("sigterm");
    // IP setup on: the VIP goes on lo of the speaker's namespace. `api_once`
    // keeps ExaBGP from respawning the process, so its withdraw stays visible.
    let args = healthcheck(&check, &["--ip", VIP, "--ip", "192.0.2.11/32"]);
    let bed = up(
        &Options {
            api_once: true,
            ..Options::default()
        },
        &args,
    );
    bed.wait_for("both announced", WAIT, |rib| {
        med_of(rib, VIP) == Some(100) && med_of(rib, "192.0.2.11/32") == Some(101)
    });
    assert!(
        lo_addresses(&bed).contains("192.0.2.10/32"),
        "VIP on lo: {}",
        lo_addresses(&bed)
    );
    bed.signal_api(Signal::SIGTERM);
    bed.wait_for("both withdrawn", WAIT, <[Route]>::is_empty);
    let code = wait_until(
        "healthcheck exited",
        WAIT,
        || bed.api_exit(),
        || bed.log_tails(),
    );
    assert_eq!(code, 0, "exit status after SIGTERM; {}", bed.log_tails());
    assert!(
        !lo_addresses(&bed).contains("192.0.2.10/32"),
        "VIP removed: {}",
        lo_addresses(&bed)
    );
}

#[test]
fn ipv6_route_with_explicit_next_hop_and_attributes() {
    let check = CheckFile::new("ipv6");
    let args = healthcheck(
        &check,
        &[
            "--ip",
            "2001:db8::10/128",
            "--no-ip-setup",
            "--next-hop",
            "fd00:255::1",
            "--up-metric",
            "42",
            "--community",
            "65000:1",
            "--large-community",
            "65000:1:2",
            "--as-path",
            "64999",
        ],
    );
    let bed = up(&Options::default(), &args);
    let rib = bed.wait_for("IPv6 route", WAIT, |rib| {
        med_of(rib, "2001:db8::10/128") == Some(42)
    });
    let route = rib
        .iter()
        .find(|r| r.prefix == "2001:db8::10/128")
        .expect("the IPv6 VIP");
    assert_eq!(
        route.next_hop,
        Some("fd00:255::1".parse().expect("an address"))
    );
    assert_eq!(route.communities, ["65000:1"]);
    assert_eq!(route.large_communities, ["65000:1:2"]);
    assert_eq!(route.as_path, [64999]);
    check.pass(false);
    bed.wait_for("IPv6 DOWN metric", WAIT, |rib| {
        med_of(rib, "2001:db8::10/128") == Some(1000)
    });
}
