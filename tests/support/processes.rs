//! The processes of a test control plane: started in their own session with a parent-death
//! signal, stopped by PID, and a janitor that removes the temp dir after the test process.

use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::Client;
use nix::sys::signal::Signal;

/// The processes a control plane started; [`Processes::shutdown`] stops them by PID.
pub struct Processes {
    pub dir: PathBuf,
    children: Vec<(&'static str, Child)>,
    janitor: Option<Child>,
}

impl Processes {
    pub fn new(dir: PathBuf) -> Self {
        Processes {
            dir,
            children: Vec::new(),
            janitor: None,
        }
    }

    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|(_, c)| c.id()).collect()
    }

    pub fn shutdown(&mut self) {
        // Reverse start order: the apiserver before its etcd.
        while let Some((_, mut child)) = self.children.pop() {
            let _ = child.kill(); // SIGKILL to this PID; unreaped, so it cannot be reused
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
        if let Some(mut janitor) = self.janitor.take() {
            drop(janitor.stdin.take()); // EOF: the janitor finds nothing left to do
            let _ = janitor.wait();
        }
    }

    fn log_tails(&self) -> String {
        let mut out = String::new();
        for (name, _) in &self.children {
            let text = fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(25)..].join("\n");
            out.push_str(&format!("\n--- last lines of {name}.log:\n{tail}"));
        }
        out
    }

    /// The first child that has exited, with its status.
    fn exited(&mut self) -> Option<String> {
        self.children
            .iter_mut()
            .find_map(|(name, child)| match child.try_wait() {
                Ok(Some(status)) => Some(format!("{name} exited during start-up ({status})")),
                _ => None,
            })
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Spawns `cmd` in its own session (a terminal's Ctrl-C reaches only the test process,
/// which then takes its children down) and, with `deathsig`, killed with the spawning thread.
fn spawn(cmd: &mut Command, deathsig: Option<Signal>) -> io::Result<Child> {
    let parent = nix::unistd::getpid();
    // SAFETY: only async-signal-safe system calls run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid()?;
            if let Some(signal) = deathsig {
                nix::sys::prctl::set_pdeathsig(signal)?;
                // The parent may have died before prctl took effect.
                if nix::unistd::getppid() != parent {
                    return Err(io::Error::other("parent exited"));
                }
            }
            Ok(())
        });
    }
    cmd.spawn()
}

pub fn launch(
    procs: &mut Processes,
    bin: &Path,
    name: &'static str,
    args: &[String],
) -> Result<(), String> {
    let log_path = procs.dir.join(format!("{name}.log"));
    let log = fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let err_log = log
        .try_clone()
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = Command::new(bin.join(name));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log);
    let child = spawn(&mut cmd, Some(Signal::SIGKILL))
        .map_err(|e| format!("cannot start {}: {e}", bin.join(name).display()))?;
    procs.children.push((name, child));
    Ok(())
}

/// Removes the temp dir once this process has exited and both servers are gone.
pub fn spawn_janitor(procs: &mut Processes) -> Result<(), String> {
    const SCRIPT: &str = r#"
dir=$1; shift
# stdin is a pipe from the test process: EOF means that process has exited.
while read -r _; do :; done
for pid in "$@"; do
  i=0
  while [ $i -lt 100 ] && [ -e /proc/$pid ] && ! grep -qs '^State:.*Z' /proc/$pid/status; do
    sleep 0.1; i=$((i + 1))
  done
done
rm -rf -- "$dir""#;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(SCRIPT)
        .arg("kat-cp-janitor")
        .arg(&procs.dir);
    cmd.args(procs.pids().iter().map(u32::to_string));
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let janitor = spawn(&mut cmd, None).map_err(|e| format!("cannot start the janitor: {e}"))?;
    procs.janitor = Some(janitor);
    Ok(())
}

pub async fn wait_ready(
    client: &Client,
    procs: &mut Processes,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(exited) = procs.exited() {
            return Err(format!("{exited}{}", procs.log_tails()));
        }
        let req = http::Request::get("/readyz")
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        let last =
            match tokio::time::timeout(Duration::from_secs(2), client.request_text(req)).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "GET /readyz timed out".to_owned(),
            };
        if Instant::now() > deadline {
            return Err(format!(
                "kube-apiserver not ready after {timeout:?} (last: {last}){}",
                procs.log_tails()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
