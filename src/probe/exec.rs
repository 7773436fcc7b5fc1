//! Running a program as a check: its own process group (killed as a group on timeout), stdout and
//! stderr captured together, stdin inherited.

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;

/// How a program run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutcome {
    /// It exited: the status (negative: killed by that signal), and everything it wrote.
    Exited {
        /// Exit status, or minus the signal number.
        status: i32,
        /// stdout and stderr, interleaved.
        output: Vec<u8>,
    },
    /// It did not finish (exit and close its output) in time; its process group was killed.
    TimedOut,
    /// It could not be started.
    NotStarted(String),
}

impl ExecOutcome {
    /// True for exit status 0.
    pub fn passed(&self) -> bool {
        matches!(self, ExecOutcome::Exited { status: 0, .. })
    }
}

/// Runs `program args…`; `timeout` of `None` waits forever. The deadline covers both the exit
/// and the closing of the output pipe, so a background child holding it also times out.
pub async fn run(program: &str, args: &[String], timeout: Option<Duration>) -> ExecOutcome {
    let (mut child, mut output, pgid) = match spawn(program, args) {
        Ok(parts) => parts,
        Err(e) => return ExecOutcome::NotStarted(format!("{program}: {e}")),
    };
    let wait = async {
        let mut buf = Vec::new();
        let _ = output.read_to_end(&mut buf).await;
        (child.wait().await, buf)
    };
    let finished = match timeout {
        Some(t) => tokio::time::timeout(t, wait).await.ok(),
        None => Some(wait.await),
    };
    match finished {
        Some((Ok(status), output)) => {
            use std::os::unix::process::ExitStatusExt;
            let status = status
                .code()
                .or_else(|| status.signal().map(|s| -s))
                .unwrap_or(-1);
            ExecOutcome::Exited { status, output }
        }
        Some((Err(e), _)) => ExecOutcome::NotStarted(format!("{program}: {e}")),
        None => {
            if let Some(pid) = pgid {
                let _ = killpg(pid, Signal::SIGKILL);
            }
            let _ = child.wait().await;
            ExecOutcome::TimedOut
        }
    }
}

type Spawned = (
    tokio::process::Child,
    tokio::net::unix::pipe::Receiver,
    Option<Pid>,
);

fn spawn(program: &str, args: &[String]) -> std::io::Result<Spawned> {
    let (reader, writer) = std::io::pipe()?;
    let writer2 = writer.try_clone()?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .process_group(0)
        .stdin(Stdio::inherit())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer2))
        .spawn()?;
    // The Command is gone, and with it our copies of the write end: EOF comes when the
    // program's process group closes its own.
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    // The read end is ours alone: non-blocking for tokio, set with one fcntl instead of the
    // fstat and two fcntl of the checked constructor (this runs once per check).
    let reader = OwnedFd::from(reader);
    fcntl(&reader, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(std::io::Error::from)?;
    let output = tokio::net::unix::pipe::Receiver::from_owned_fd_unchecked(reader)?;
    Ok((child, output, pgid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(cmd: &str) -> Vec<String> {
        vec!["-c".into(), cmd.into()]
    }

    #[tokio::test]
    async fn statuses_output_and_missing_programs() {
        let t = Some(Duration::from_secs(5));
        assert!(run("/bin/sh", &sh("true"), t).await.passed());
        assert_eq!(
            run("/bin/sh", &sh("echo out; echo err >&2; exit 3"), t).await,
            ExecOutcome::Exited {
                status: 3,
                output: b"out\nerr\n".to_vec()
            }
        );
        assert_eq!(
            run("/bin/sh", &sh("kill -9 $$"), t).await,
            ExecOutcome::Exited {
                status: -9,
                output: vec![]
            }
        );
        assert!(
            matches!(run("/nonexistent/probe", &[], t).await, ExecOutcome::NotStarted(m) if m.contains("/nonexistent/probe"))
        );
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_process_group() {
        let dir = std::env::temp_dir().join(format!("kat-exec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("bg.pid");
        // A background grandchild holding the pipe: only a group kill ends it.
        let cmd = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let started = std::time::Instant::now();
        assert_eq!(
            run("/bin/sh", &sh(&cmd), Some(Duration::from_secs(1))).await,
            ExecOutcome::TimedOut
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
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
}
