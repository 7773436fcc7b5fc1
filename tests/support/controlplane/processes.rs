//! The processes of a test control plane: each server in its own process group with a
//! parent-death signal, stopped by PID, and a janitor that cleans up after the test process.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use kube::Client;

/// The janitor: it reads `PID NAME` lines from the test process, one per server started.
/// EOF means the test process has exited (or dropped its control plane). Normally the
/// parent-death signal has killed both servers by then; a server that is still running (its
/// signal was set too late) and still has its name is killed here. Then the dir goes.
const JANITOR: &str = r#"
dir=$1
servers=
while read -r pid name; do servers="$servers $pid:$name"; done
for server in $servers; do
  pid=${server%%:*} name=${server#*:} i=0
  while [ -e "/proc/$pid" ] && ! grep -qs '^State:.*Z' "/proc/$pid/status"; do
    if [ $i -eq 20 ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
      kill -KILL "$pid" 2>/dev/null
    fi
    [ $i -lt 100 ] || break
    sleep 0.1
    i=$((i + 1))
  done
done
rm -rf -- "$dir""#;

/// One server: its command line as first launched (a restart reuses it) and its process.
struct Server {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    child: Child,
}

/// The processes a control plane started; [`Processes::shutdown`] stops them by PID.
pub struct Processes {
    pub dir: PathBuf,
    children: Vec<Server>,
    janitor: Option<(Child, ChildStdin)>,
}

impl Processes {
    pub fn new(dir: PathBuf) -> Self {
        Processes {
            dir,
            children: Vec::new(),
            janitor: None,
        }
    }

    /// Each server's name and PID, in start order.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.children
            .iter()
            .map(|s| (s.name, s.child.id()))
            .collect()
    }

    /// Starts the janitor; call before [`Processes::launch`].
    pub fn start_janitor(&mut self) -> Result<(), String> {
        let mut janitor = Command::new("sh")
            .arg("-c")
            .arg(JANITOR)
            .arg("kat-cp-janitor")
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Own process group: a terminal's Ctrl-C must not kill it before it cleaned up.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start the janitor (sh): {e}"))?;
        let stdin = janitor.stdin.take().ok_or("the janitor has no stdin")?;
        self.janitor = Some((janitor, stdin));
        Ok(())
    }

    /// Starts `bin/name args…`, output to `<dir>/<name>.log`, killed (SIGKILL) by the kernel
    /// when the calling thread exits.
    pub fn launch(
        &mut self,
        bin: &Path,
        name: &'static str,
        args: &[String],
    ) -> Result<(), String> {
        let program = bin.join(name);
        let child = self.spawn(name, &program, args)?;
        self.children.push(Server {
            name,
            program,
            args: args.to_vec(),
            child,
        });
        Ok(())
    }

    /// `kill -9` the server `name` (by PID: it is not reaped yet, so the PID is still its own),
    /// then reaps it. Its files (etcd's data dir, certificates) stay for [`Processes::restart`].
    pub fn kill(&mut self, name: &str) -> Result<(), String> {
        let server = self.server(name)?;
        server
            .child
            .kill()
            .map_err(|e| format!("kill -9 {name}: {e}"))?;
        server
            .child
            .wait()
            .map_err(|e| format!("reaping {name}: {e}"))?;
        Ok(())
    }

    /// Starts the server `name` again with its first command line (same ports, same etcd data
    /// dir), as a crashed or upgraded server comes back; kill it first. Returns its new PID.
    pub fn restart(&mut self, name: &str) -> Result<u32, String> {
        let server = self.server(name)?;
        if server.child.try_wait().ok().flatten().is_none() {
            return Err(format!(
                "{name} is still running: kill it before restarting it"
            ));
        }
        let (name, program, args) = (server.name, server.program.clone(), server.args.clone());
        let child = self.spawn(name, &program, &args)?;
        let pid = child.id();
        self.server(name)?.child = child;
        Ok(pid)
    }

    fn server(&mut self, name: &str) -> Result<&mut Server, String> {
        self.children
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or_else(|| format!("no server named {name} in this control plane"))
    }

    fn spawn(&mut self, name: &str, program: &Path, args: &[String]) -> Result<Child, String> {
        let log_path = self.dir.join(format!("{name}.log"));
        let log_err = |e: std::io::Error| format!("{}: {e}", log_path.display());
        // Appended: a restarted server's log follows its predecessor's.
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(log_err)?;
        let stderr = log.try_clone().map_err(log_err)?;
        // setpriv (util-linux) sets PR_SET_PDEATHSIG and execs the server under the same
        // PID; doing it in-process would need `pre_exec`, i.e. unsafe code.
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--"])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(|e| {
                format!("cannot start {name} with setpriv (util-linux, `apt-get install util-linux`): {e}")
            })?;
        if let Some((_, stdin)) = &mut self.janitor {
            let _ = writeln!(stdin, "{} {name}", child.id());
        }
        Ok(child)
    }

    /// Kills every server by PID (unreaped, so the PID cannot have been reused), reaps it,
    /// removes the dir and lets the janitor go.
    pub fn shutdown(&mut self) {
        // Reverse start order: the apiserver before its etcd.
        while let Some(mut server) = self.children.pop() {
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
        if let Some((mut janitor, stdin)) = self.janitor.take() {
            drop(stdin);
            let _ = janitor.wait();
        }
    }

    fn log_tails(&self) -> String {
        let mut out = String::new();
        for Server { name, .. } in &self.children {
            let text = fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(25)..].join("\n");
            let _ = write!(out, "\n--- last lines of {name}.log:\n{tail}");
        }
        out
    }

    /// The first server that has exited, with its status.
    fn exited(&mut self) -> Option<String> {
        self.children
            .iter_mut()
            .find_map(|Server { name, child, .. }| match child.try_wait() {
                Ok(Some(status)) => Some(format!("{name} exited during start-up ({status})")),
                _ => None,
            })
    }

    /// Polls `/readyz` until it answers 200, a server exits, or `timeout` passes.
    pub async fn wait_ready(&mut self, client: &Client, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exited) = self.exited() {
                return Err(format!("{exited}{}", self.log_tails()));
            }
            let req = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| e.to_string())?;
            let probe = tokio::time::timeout(Duration::from_secs(2), client.request_text(req));
            let last = match probe.await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "GET /readyz timed out".to_owned(),
            };
            if Instant::now() > deadline {
                return Err(format!(
                    "kube-apiserver not ready after {timeout:?} (last: {last}){}",
                    self.log_tails()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.shutdown();
    }
}
