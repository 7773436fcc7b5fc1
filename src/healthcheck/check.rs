//! Running the check: a shell command in its own process group (killed as a group on timeout),
//! or a native probe. Hooks (`--execute`) run here too.

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;

use super::log::{Logger, py_repr_bytes, py_repr_str};
use crate::health::State;
use crate::probe::{HttpProbe, TcpProbe};

/// What decides whether the service is healthy.
#[derive(Debug, Clone)]
pub enum Check {
    /// No check: always healthy.
    Always,
    /// `/bin/sh -c COMMAND`; exit status 0 passes.
    Command(String),
    /// A native HTTP(S) GET.
    Http(Box<HttpProbe>),
    /// A native TCP connect.
    Tcp(TcpProbe),
}

impl Check {
    /// Runs the check once. `timeout` of `None` waits forever.
    pub async fn run(&self, timeout: Option<Duration>, log: &Logger) -> bool {
        match self {
            Check::Always => true,
            Check::Command(cmd) => run_command(cmd, timeout, log).await,
            Check::Http(p) => report(p.run(timeout).await, log),
            Check::Tcp(p) => report(p.run(timeout).await, log),
        }
    }
}

fn report(result: Result<(), String>, log: &Logger) -> bool {
    match result {
        Ok(()) => true,
        Err(why) => {
            log.warning(format!("Check was unsuccessful: {why}"));
            false
        }
    }
}

async fn run_command(cmd: &str, timeout: Option<Duration>, log: &Logger) -> bool {
    log.debug(format!("Checking command {}", py_repr_str(cmd)));
    let mut child = match spawn_captured(cmd) {
        Ok(c) => c,
        Err(e) => {
            log.warning(format!("Check command could not be started: {e}"));
            return false;
        }
    };
    let run = async {
        let mut output = Vec::new();
        // The deadline covers both the exit and the closing of the output pipe, as in ExaBGP.
        let _ = child.output.read_to_end(&mut output).await;
        let status = child.process.wait().await;
        (status, output)
    };
    let outcome = match timeout {
        Some(t) => tokio::time::timeout(t, run).await.ok(),
        None => Some(run.await),
    };
    let Some((status, output)) = outcome else {
        log.warning(format!(
            "Timeout ({}) while running check command {cmd}",
            timeout.map_or(0, |t| t.as_secs())
        ));
        if let Some(pid) = child.pgid {
            let _ = killpg(pid, Signal::SIGKILL);
        }
        let _ = child.process.wait().await;
        return false;
    };
    let code = match status {
        Ok(s) => s.code().or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            s.signal().map(|sig| -sig)
        }),
        Err(_) => None,
    };
    if code == Some(0) {
        log.debug(format!(
            "Command was executed successfully 0 {}",
            py_repr_bytes(&output)
        ));
        return true;
    }
    log.warning(format!(
        "Check command was unsuccessful: {}",
        code.map_or_else(|| "unknown".into(), |c| c.to_string())
    ));
    if !output.iter().all(u8::is_ascii_whitespace) {
        log.info(format!(
            "Output of check command: {}",
            py_repr_bytes(&output)
        ));
    }
    false
}

struct Captured {
    process: tokio::process::Child,
    output: tokio::net::unix::pipe::Receiver,
    pgid: Option<Pid>,
}

/// `/bin/sh -c CMD` in a new process group, stdout and stderr on one pipe, stdin inherited.
fn spawn_captured(cmd: &str) -> std::io::Result<Captured> {
    let (reader, writer) = std::io::pipe()?;
    let writer2 = writer.try_clone()?;
    let process = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .process_group(0)
        .stdin(Stdio::inherit())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer2))
        .spawn()?;
    // The Command (and with it our copies of the write end) is gone, so EOF comes when the
    // check's process group closes its copies.
    let pgid = process
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let output = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
    Ok(Captured {
        process,
        output,
        pgid,
    })
}

/// Runs the hooks of a state change: the state's own list, then every `--execute`, each as
/// `/bin/sh -c` with `STATE` set, output discarded, status ignored, no timeout (as in ExaBGP).
pub async fn run_hooks(state: State, specific: &[String], every: &[String], log: &Logger) {
    for hook in specific.iter().chain(every) {
        log.debug(format!("Transition to {state}, execute `{hook}`"));
        let status = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(hook)
            .env("STATE", state.name())
            .stdin(Stdio::inherit())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if let Err(e) = status {
            log.warning(format!("Hook `{hook}` could not be started: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exit_status_decides_and_missing_commands_fail() {
        let log = Logger::silent();
        let t = Some(Duration::from_secs(5));
        assert!(Check::Command("true".into()).run(t, &log).await);
        assert!(Check::Command(String::new()).run(t, &log).await);
        assert!(!Check::Command("exit 3".into()).run(t, &log).await);
        assert!(
            !Check::Command("/nonexistent/check".into())
                .run(t, &log)
                .await
        );
        assert!(Check::Always.run(t, &log).await);
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_process_group() {
        let log = Logger::silent();
        let dir = std::env::temp_dir().join(format!("kat-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("bg.pid");
        // A background grandchild holding the pipe: only a group kill ends it.
        let cmd = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let started = std::time::Instant::now();
        assert!(
            !Check::Command(cmd)
                .run(Some(Duration::from_secs(1)), &log)
                .await
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Reaped by init or gone: kill(pid, 0) must fail soon.
        let mut gone = false;
        for _ in 0..50 {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z ") {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "background sleep {pid} survived the timeout");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn hooks_see_the_state() {
        let dir = std::env::temp_dir().join(format!("kat-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let specific = vec![format!("echo up-$STATE >> {}", out.display())];
        let every = vec![
            format!("echo all-$STATE >> {}", out.display()),
            "exit 1".into(),
        ];
        run_hooks(State::Up, &specific, &every, &Logger::silent()).await;
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "up-UP\nall-UP\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
