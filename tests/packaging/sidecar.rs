//! The ExaBGP sidecar started the way the pod starts it: the chart's command, its
//! environment and its rendered config, with real ExaBGP 5.0.15 and the real relay.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::time::timeout;

use crate::support::chart::only;

/// The sidecar's literal environment variables (those not from the downward API or Secrets).
fn literal_env(container: &Value) -> Vec<(String, String)> {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_owned(),
                e["value"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

#[tokio::test]
async fn sidecar_runs_the_relay_into_the_agent_socket_with_acks_on() {
    let docs = crate::render_with(None);
    let pod = &only(&docs, "DaemonSet")["spec"]["template"]["spec"];
    let exabgp = crate::container(pod, "initContainers", "exabgp");
    let agent = crate::container(pod, "containers", "agent");
    let config_dir = crate::mount_path(exabgp, "exabgp-config");
    assert_eq!(
        exabgp["command"],
        serde_json::json!(["python3", format!("{config_dir}/start.py")]),
        "the sidecar runs the start script from its ConfigMap"
    );

    let dir = crate::scratch_dir("sidecar");
    let socket = dir.join("agent.sock");
    let _ = std::fs::remove_file(&socket);
    let listener =
        UnixListener::bind(&socket).unwrap_or_else(|e| panic!("binding {}: {e}", socket.display()));
    // The pod's socket path, moved into the scratch directory.
    let pod_socket = crate::arg_value(agent, "--socket");
    let data = &only(&docs, "ConfigMap")["data"];
    let template = data["exabgp.conf.in"]
        .as_str()
        .unwrap_or_default()
        .replace(pod_socket, &socket.display().to_string());
    std::fs::write(dir.join("exabgp.conf.in"), template).unwrap_or_else(|e| panic!("{e}"));
    let start = data["start.py"].as_str().unwrap_or_default();
    std::fs::write(dir.join("start.py"), start).unwrap_or_else(|e| panic!("{e}"));

    let python = crate::exabgp_python();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_kube-anycast"))
        .parent()
        .unwrap_or_else(|| panic!("the binary has no directory"));
    let venv_bin = python.parent().unwrap_or_else(|| panic!("no venv bin"));
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(dir.join("start.py"))
        .envs(literal_env(exabgp))
        .env("HOST_IPS", "127.0.0.1")
        .env("EXABGP_TEMPLATE", dir.join("exabgp.conf.in"))
        .env("EXABGP_CONFIG", dir.join("exabgp.conf"))
        .env("EXABGP_BIN", venv_bin.join("exabgp"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .kill_on_drop(true);
    let log_path = dir.join("exabgp.log");
    let log_file = std::fs::File::create(&log_path).unwrap_or_else(|e| panic!("{e}"));
    let log_err = log_file.try_clone().unwrap_or_else(|e| panic!("{e}"));
    cmd.stdout(log_file).stderr(log_err);
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting ExaBGP: {e}"));

    let (stream, _) = timeout(Duration::from_secs(30), listener.accept())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the relay did not connect to {}:\n{}",
                socket.display(),
                log()
            )
        })
        .unwrap_or_else(|e| panic!("accept: {e}"));
    let (read, mut write) = stream.into_split();
    write
        .write_all(b"announce route 192.0.2.10/32 next-hop 127.0.0.1\n")
        .await
        .unwrap_or_else(|e| panic!("writing to the relay: {e}"));
    // The relay first tells the agent its lease; then ExaBGP answers, only with exabgp.api.ack
    // on (with no neighbor the answer is `error`).
    let mut lines = BufReader::new(read);
    let mut read_line = async || {
        let mut line = String::new();
        timeout(Duration::from_secs(10), lines.read_line(&mut line))
            .await
            .unwrap_or_else(|_| panic!("no line from the relay: is exabgp_api_ack set?\n{}", log()))
            .unwrap_or_else(|e| panic!("reading from the relay: {e}"));
        line
    };
    let lease = read_line().await;
    assert!(
        lease.starts_with("kube-anycast lease-ms "),
        "the relay did not start with its lease: {lease:?}\n{}",
        log()
    );
    let answer = read_line().await;
    assert!(
        matches!(answer.trim(), "done" | "error"),
        "unexpected answer {answer:?}:\n{}",
        log()
    );

    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .unwrap_or_else(|| panic!("ExaBGP has no pid"));
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap_or_else(|e| panic!("SIGTERM: {e}"));
    let status = timeout(Duration::from_secs(15), child.wait())
        .await
        .unwrap_or_else(|_| panic!("ExaBGP ignored SIGTERM:\n{}", log()))
        .unwrap_or_else(|e| panic!("wait: {e}"));
    assert!(status.code().is_some(), "ExaBGP exited by itself: {status}");
}
