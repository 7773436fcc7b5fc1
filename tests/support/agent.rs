//! The standalone agent (`kube-anycast agent --services-dir`) on the BGP test bed: a temp
//! directory with its YAML documents and the relay socket, the relay command line that ExaBGP
//! runs, and the agent process itself, run in the speaker's namespace so its VIPs land on that
//! namespace's `lo`. Needs root.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::testbed::{Options, Testbed, wait_until};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_kube-anycast");

/// A pool for `192.0.2.0/24` that allows exec probes and drains with `GRACEFUL_SHUTDOWN` for 3 s.
pub const POOL: &str = r"apiVersion: kube-anycast.io/v1alpha1
kind: AnycastPool
metadata: {name: lab}
spec: {cidrs: [192.0.2.0/24], allowExec: true, drain: {mode: GracefulShutdown, delay: 3s}}
";

/// [`POOL`] with `2001:db8::/64` too, for dual-stack services.
pub const DUAL_STACK_POOL: &str = r"apiVersion: kube-anycast.io/v1alpha1
kind: AnycastPool
metadata: {name: lab}
spec: {cidrs: [192.0.2.0/24, 2001:db8::/64], allowExec: true, drain: {mode: GracefulShutdown, delay: 3s}}
";

/// The speaker's IPv6 address on the bed's link (`EXA_ADDR6` in `tests/testbed/lib.sh`): the
/// agent's `--ipv6-next-hop`, since the bed's one BGP session is IPv4.
pub const EXA_ADDR6: &str = "fd00:255::1";

/// A temp directory holding `services/` (the agent's documents), flag files for exec probes and
/// the relay socket; removed on drop.
pub struct Workdir {
    root: PathBuf,
}

impl Workdir {
    /// A fresh directory named after the test, with an empty `services/`.
    pub fn new(name: &str) -> Workdir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "kat-agent-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        let services = root.join("services");
        std::fs::create_dir_all(&services)
            .unwrap_or_else(|e| panic!("create {}: {e}", services.display()));
        Workdir { root }
    }

    /// The services directory.
    pub fn services(&self) -> PathBuf {
        self.root.join("services")
    }

    /// The relay socket.
    pub fn socket(&self) -> PathBuf {
        self.root.join("relay.sock")
    }

    /// Where the agent's log goes (appended to by every agent started here).
    pub fn agent_log(&self) -> PathBuf {
        self.root.join("agent.log")
    }

    /// Writes `services/NAME` atomically (a rename), so the agent never reads half a file.
    pub fn write(&self, name: &str, text: &str) {
        let tmp = self.root.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
        let path = self.services().join(name);
        std::fs::rename(&tmp, &path)
            .unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
    }

    /// The path of flag file `name`; an exec probe `test -f PATH` passes while it exists.
    pub fn flag(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.flag"))
    }

    /// Creates (`true`) or removes flag file `name`.
    pub fn set_flag(&self, name: &str, on: bool) {
        let path = self.flag(name);
        let done = if on {
            std::fs::write(&path, "")
        } else {
            std::fs::remove_file(&path)
        };
        done.unwrap_or_else(|e| panic!("set {} to {on}: {e}", path.display()));
    }

    /// The relay as ExaBGP's API process, with this lease.
    pub fn relay_command(&self, lease: &str) -> Vec<String> {
        let socket = self.socket().display().to_string();
        [BIN, "exabgp-relay", "--socket", &socket, "--lease", lease]
            .map(str::to_owned)
            .to_vec()
    }

    /// Brings up a bed whose API process is the relay with this lease.
    pub fn bed(&self, lease: &str) -> Testbed {
        let relay = self.relay_command(lease);
        let relay: Vec<&str> = relay.iter().map(String::as_str).collect();
        Testbed::up(&relay)
    }

    /// Like [`Workdir::bed`], with test bed options (graceful restart, for one).
    pub fn bed_with(&self, options: &Options, lease: &str) -> Testbed {
        let relay = self.relay_command(lease);
        let relay: Vec<&str> = relay.iter().map(String::as_str).collect();
        Testbed::up_with(options, &relay)
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.agent_log()).unwrap_or_default()
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "agent workdir {}: kept; agent log tail:\n{}",
                self.root.display(),
                tail(&self.log(), 40)
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// An AnycastService with exec probes `(name, weight, critical, flag)` that pass while the flag
/// file exists, fast timings (rise 2, fall 2, 200 ms while changing) and `extra` spec lines.
pub fn service(work: &Workdir, name: &str, addresses: &[&str], probes: &[Probe<'_>]) -> String {
    let mut text = format!(
        "apiVersion: kube-anycast.io/v1alpha1\nkind: AnycastService\nmetadata: {{name: {name}}}\n\
         spec:\n  addresses: [{}]\n  timings: {{interval: 1s, fastInterval: 200ms, rise: 2, fall: 2}}\n",
        addresses.join(", ")
    );
    if !probes.is_empty() {
        text.push_str("  probes:\n");
    }
    for p in probes {
        let _ = writeln!(
            text,
            "    - {{name: {}, weight: {}, critical: {}, exec: {{command: [test, -f, {}]}}}}",
            p.name,
            p.weight,
            p.critical,
            work.flag(p.flag).display()
        );
    }
    text
}

/// An exec probe for [`service`].
#[derive(Clone, Copy, Debug)]
pub struct Probe<'a> {
    /// The probe's name.
    pub name: &'a str,
    /// Its weight.
    pub weight: u32,
    /// A failing critical probe means down.
    pub critical: bool,
    /// The flag file (see [`Workdir::flag`]) whose existence makes it pass.
    pub flag: &'a str,
}

/// A probe of weight 1 on `flag`.
pub fn probe(flag: &str) -> Probe<'_> {
    Probe {
        name: flag,
        weight: 1,
        critical: false,
        flag,
    }
}

/// A running agent. Drop SIGKILLs it if it still runs.
pub struct Agent {
    child: Child,
}

impl Agent {
    /// Starts `kube-anycast agent` in the bed's speaker namespace on `work`'s directory and
    /// socket, logging JSON to `work`'s agent log. `ip netns exec` execs, so the child's PID is
    /// the agent's.
    pub fn start(bed: &Testbed, work: &Workdir) -> Agent {
        Agent::start_with(bed, work, &[])
    }

    /// Like [`Agent::start`], with more options.
    pub fn start_with(bed: &Testbed, work: &Workdir, extra: &[&str]) -> Agent {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(work.agent_log())
            .unwrap_or_else(|e| panic!("open {}: {e}", work.agent_log().display()));
        let child = bed
            .in_exa(BIN)
            .arg("agent")
            .arg("--services-dir")
            .arg(work.services())
            .arg("--socket")
            .arg(work.socket())
            .args(["--metrics-listen", "127.0.0.1:9180"])
            .args(["--vip-interface", "lo", "--drain-delay", "30s"])
            .args(["--ipv6-next-hop", EXA_ADDR6])
            .args(["--log-format", "json"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn the agent: {e}"));
        Agent { child }
    }

    /// Sends `signal` to the agent.
    pub fn signal(&self, signal: Signal) {
        let pid = i32::try_from(self.child.id()).unwrap_or_else(|e| panic!("PID: {e}"));
        let pid = Pid::from_raw(pid);
        nix::sys::signal::kill(pid, signal).unwrap_or_else(|e| panic!("kill -{signal}: {e}"));
    }

    /// SIGKILLs the agent and reaps it.
    pub fn kill9(mut self) {
        self.signal(Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// Waits up to `timeout` for the agent to exit.
    pub fn wait_exit(&mut self, timeout: Duration, work: &Workdir) -> ExitStatus {
        wait_until(
            "agent exited",
            timeout,
            || self.child.try_wait().ok().flatten(),
            || tail(&work.log(), 20),
        )
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The addresses on `lo` in the bed's speaker namespace, as `ip -o address` prints them.
pub fn lo_addresses(bed: &Testbed) -> String {
    let out = bed
        .in_exa("ip")
        .args(["-o", "address", "show", "dev", "lo"])
        .output()
        .unwrap_or_else(|e| panic!("run ip in the speaker's namespace: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `lo` of the speaker's namespace carries `ip` as a host address.
pub fn has_vip(bed: &Testbed, ip: &str) -> bool {
    lo_addresses(bed)
        .split_whitespace()
        .any(|w| w.split('/').next() == Some(ip))
}

/// The host routes of kube-anycast's marker (`proto 75`) in the `local` table of the speaker's
/// namespace, both families, as `ip route` prints them.
pub fn our_local_routes(bed: &Testbed) -> Vec<String> {
    let mut routes = Vec::new();
    for family in ["-4", "-6"] {
        let out = bed
            .in_exa("ip")
            .args([family, "route", "show", "table", "local", "proto", "75"])
            .output()
            .unwrap_or_else(|e| panic!("run ip in the speaker's namespace: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        routes.extend(text.lines().map(str::to_owned));
    }
    routes
}

/// Waits until the agent's log has a line containing every one of `needles`.
pub fn wait_log(work: &Workdir, what: &str, timeout: Duration, needles: &[&str]) -> String {
    wait_until(
        what,
        timeout,
        || {
            work.log()
                .lines()
                .find(|l| needles.iter().all(|n| l.contains(n)))
                .map(str::to_owned)
        },
        || tail(&work.log(), 20),
    )
}
