//! Running the check: a shell command in its own process group (killed as a group on timeout),
//! or a native probe. Hooks (`--execute`) run here too.

use std::process::Stdio;
use std::time::Duration;

use super::log::{Level, Logger, py_repr_bytes, py_repr_str};
use crate::health::State;
use crate::probe::exec::{self, ExecOutcome};
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
    // Formatted only when written: this runs once per check.
    let debug = log.enabled(Level::Debug);
    if debug {
        log.debug(format!("Checking command {}", py_repr_str(cmd)));
    }
    let args = ["-c".to_owned(), cmd.to_owned()];
    match exec::run("/bin/sh", &args, timeout).await {
        ExecOutcome::Exited { status: 0, output } => {
            if debug {
                log.debug(format!(
                    "Command was executed successfully 0 {}",
                    py_repr_bytes(&output)
                ));
            }
            true
        }
        ExecOutcome::Exited { status, output } => {
            log.warning(format!("Check command was unsuccessful: {status}"));
            if !output.iter().all(u8::is_ascii_whitespace) {
                log.info(format!(
                    "Output of check command: {}",
                    py_repr_bytes(&output)
                ));
            }
            false
        }
        ExecOutcome::TimedOut => {
            let secs = timeout.map_or(0, |t| t.as_secs());
            log.warning(format!(
                "Timeout ({secs}) while running check command {cmd}"
            ));
            false
        }
        ExecOutcome::NotStarted(why) => {
            log.warning(format!("Check command could not be started: {why}"));
            false
        }
    }
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
