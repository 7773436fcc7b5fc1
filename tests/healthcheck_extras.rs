//! The healthcheck's additions beyond ExaBGP's: Prometheus metrics on `--metrics-listen`,
//! JSON logs with `--log-format json`, and native `--tcp` checks.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kube-anycast");

/// A running healthcheck, killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> Running {
    let child = Command::new(BIN)
        .arg("healthcheck")
        .args([
            "--no-syslog",
            "--no-ack",
            "--no-ip-setup",
            "--ip",
            "192.0.2.1/32",
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {BIN}: {e}"));
    Running(child)
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    l.local_addr()
        .map_or_else(|e| panic!("addr: {e}"), |a| a.port())
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn wait_for(what: &str, mut f: impl FnMut() -> Option<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_show_state_transitions_checks_and_commands() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _hc = start(&[
        "--metrics-listen",
        &listen,
        "--interval",
        "0.05",
        "--fast-interval",
        "0.05",
        "--rise",
        "2",
        "--cmd",
        "true",
    ]);
    let text = wait_for("UP in the metrics", || {
        get(port, "/metrics").filter(|t| t.contains("healthcheck_state{state=\"UP\"} 1"))
    });
    for needle in [
        "healthcheck_state{state=\"DOWN\"} 0",
        "healthcheck_transitions_total{state=\"RISING\"} 1",
        "healthcheck_transitions_total{state=\"UP\"} 1",
        "healthcheck_last_check_success 1",
        "healthcheck_check_duration_seconds_count",
        "healthcheck_api_commands_total{action=\"announce\"}",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn json_logs_are_one_object_per_line() {
    let mut hc = start(&["--log-format", "json", "--interval", "0", "--rise", "1"]);
    let status = hc.0.wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert!(status.success());
    let mut stderr = String::new();
    hc.0.stderr
        .take()
        .map(|mut e| e.read_to_string(&mut stderr));
    let records: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert!(
        records.iter().any(
            |r| r["level"] == "INFO" && r["message"] == "send announces for UP state to ExaBGP"
        ),
        "{stderr}"
    );
    assert!(
        records
            .iter()
            .all(|r| r["logger"] == "healthcheck" && r["time"].is_f64())
    );
}

#[test]
fn a_native_tcp_check_follows_the_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let target = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut hc = start(&[
        "--tcp",
        &target,
        "--interval",
        "0.05",
        "--fast-interval",
        "0.05",
        "--rise",
        "1",
        "--fall",
        "1",
        "--debounce",
        "--timeout",
        "1",
    ]);
    let mut out = BufReader::new(hc.0.stdout.take().unwrap_or_else(|| panic!("stdout")));
    let mut line = String::new();
    out.read_line(&mut line)
        .unwrap_or_else(|e| panic!("read: {e}"));
    assert_eq!(
        line,
        "neighbor * announce route 192.0.2.1/32 next-hop self med 100\n"
    );
    drop(listener);
    line.clear();
    out.read_line(&mut line)
        .unwrap_or_else(|e| panic!("read: {e}"));
    assert_eq!(
        line,
        "neighbor * announce route 192.0.2.1/32 next-hop self med 1000\n"
    );
}

#[test]
fn privileges_drop_to_the_named_user_and_unknown_names_fail() {
    // The check records who runs it: after --user/--group it must be nobody/nogroup.
    let dir = std::env::temp_dir().join(format!("kat-hc-user-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let out = dir.join("id");
    // nobody must be able to write the file.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .unwrap_or_else(|e| panic!("chmod: {e}"));
    let cmd = format!("id -un > {0}; id -gn >> {0}", out.display());
    let mut hc = start(&[
        "--user",
        "nobody",
        "--group",
        "nogroup",
        "--interval",
        "0",
        "--rise",
        "1",
        "--cmd",
        &cmd,
    ]);
    assert!(
        hc.0.wait()
            .unwrap_or_else(|e| panic!("wait: {e}"))
            .success()
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap_or_default(),
        "nobody\nnogroup\n"
    );
    let mut bad = start(&["--user", "no-such-user-kat", "--interval", "0"]);
    let status = bad.0.wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    bad.0.stderr.take().map(|mut e| e.read_to_string(&mut err));
    assert!(err.contains("no-such-user-kat"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
