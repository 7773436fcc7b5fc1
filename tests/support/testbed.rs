//! The BGP test bed (`tests/testbed/*.sh`) from Rust: ExaBGP 5.0.15 runs the API
//! process a test chooses and peers with gobgpd in its own pair of network
//! namespaces; gobgpd's RIB is the oracle, read here as typed [`Route`]s.
//!
//! Needs root. A test that uses it fails loudly without root: it never skips.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Where the bed's shell scripts live.
fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed")
}

/// `KAT_TESTBED_HOME` as the scripts default it, so state directories can be found.
fn testbed_home() -> PathBuf {
    if let Some(home) = std::env::var_os("KAT_TESTBED_HOME") {
        return PathBuf::from(home);
    }
    let home = std::env::var_os("HOME")
        .unwrap_or_else(|| panic!("HOME must be set to locate the test bed state"));
    Path::new(&home).join(".cache/kube-anycast/testbed")
}

/// Fails the test unless it runs as root: network namespaces need it, and a
/// test that silently skips would pass without testing anything.
pub fn require_root(what: &str) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "{what} needs root (network namespaces, veth pairs); run the tests as root"
    );
}

/// The ExaBGP venv (installed on first use by `scripts/ensure-exabgp.sh`, pinned to 5.0.15).
pub fn exabgp_venv() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ensure-exabgp.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "ensure-exabgp.sh failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// How to bring a bed up.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// BGP graceful restart on both sides, with this restart time in seconds.
    pub graceful_restart: Option<u16>,
    /// Do not let ExaBGP respawn the API process: once it exits, its status is
    /// kept (see [`Testbed::api_exit`]) and what its exit did stays visible at the peer.
    pub api_once: bool,
    /// iBGP (both sides in AS 65001): the only way local-preference reaches the peer.
    pub ibgp: bool,
}

/// One path in gobgpd's RIB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The prefix as gobgpd writes it, e.g. `192.0.2.1/32` or `2001:db8::1/128`.
    pub prefix: String,
    /// Next hop (from `MP_REACH_NLRI` for IPv6).
    pub next_hop: Option<IpAddr>,
    /// `MULTI_EXIT_DISC`, when carried.
    pub med: Option<u32>,
    /// `LOCAL_PREF`, when carried (only over iBGP).
    pub local_pref: Option<u32>,
    /// The AS numbers in order; members of an `AS_SET` are flattened into it.
    pub as_path: Vec<u32>,
    /// Standard communities as `high:low` (well-known ones as numbers too).
    pub communities: Vec<String>,
    /// Large communities as `global:local1:local2`.
    pub large_communities: Vec<String>,
    /// Extended communities, e.g. `target:65001:7`.
    pub extended_communities: Vec<String>,
    /// Kept only because of graceful restart, after the session dropped.
    pub stale: bool,
}

impl Route {
    /// Routes from the JSON of `gobgp global rib -a FAMILY -j`.
    pub fn parse_gobgp(json: &[u8]) -> Result<Vec<Route>, String> {
        let rib: Value = serde_json::from_slice(json).map_err(|e| format!("gobgp JSON: {e}"))?;
        let Some(rib) = rib.as_object() else {
            return Ok(Vec::new()); // `null` for an empty RIB in some versions
        };
        let mut routes = Vec::new();
        for (prefix, paths) in rib {
            for path in paths.as_array().into_iter().flatten() {
                routes.push(Route::from_path(prefix, path));
            }
        }
        routes.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        Ok(routes)
    }

    fn from_path(prefix: &str, path: &Value) -> Route {
        let mut route = Route {
            prefix: prefix.to_owned(),
            next_hop: None,
            med: None,
            local_pref: None,
            as_path: Vec::new(),
            communities: Vec::new(),
            large_communities: Vec::new(),
            extended_communities: Vec::new(),
            stale: path["stale"].as_bool().unwrap_or(false),
        };
        for attr in path["attrs"].as_array().into_iter().flatten() {
            route.apply_attr(attr);
        }
        route
    }

    /// One path attribute, numbered by its BGP type code.
    fn apply_attr(&mut self, attr: &Value) {
        let as_u32 = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
        match attr["type"].as_u64() {
            Some(2) => {
                for segment in attr["as_paths"].as_array().into_iter().flatten() {
                    let asns = segment["asns"].as_array().into_iter().flatten();
                    self.as_path.extend(asns.filter_map(as_u32));
                }
            }
            Some(3 | 14) => self.next_hop = attr["nexthop"].as_str().and_then(|s| s.parse().ok()),
            Some(4) => self.med = Some(as_u32(&attr["metric"]).unwrap_or(0)),
            Some(5) => self.local_pref = Some(as_u32(&attr["value"]).unwrap_or(0)),
            Some(8) => {
                let all = attr["communities"].as_array().into_iter().flatten();
                self.communities = all
                    .filter_map(as_u32)
                    .map(|c| format!("{}:{}", c >> 16, c & 0xffff))
                    .collect();
            }
            Some(16) => {
                let all = attr["value"].as_array().into_iter().flatten();
                self.extended_communities = all.map(extended_community).collect();
            }
            Some(32) => {
                let all = attr["value"].as_array().into_iter().flatten();
                self.large_communities = all
                    .map(|c| format!("{}:{}:{}", c["ASN"], c["LocalData1"], c["LocalData2"]))
                    .collect();
            }
            _ => {}
        }
    }
}

/// An extended community in ExaBGP's spelling where it has one (`target:A:N`).
fn extended_community(e: &Value) -> String {
    let value = e["value"]
        .as_str()
        .map_or_else(|| e["value"].to_string(), str::to_owned);
    match (e["type"].as_u64(), e["subtype"].as_u64()) {
        (Some(0..=2), Some(2)) => format!("target:{value}"),
        (Some(0..=2), Some(3)) => format!("origin:{value}"),
        (t, s) => format!("{}:{}:{value}", t.unwrap_or(0), s.unwrap_or(0)),
    }
}

/// Polls `probe` every 100 ms until it returns `Some`, or panics after `timeout`
/// with `what` and the last state `describe` gives.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {timeout:?}; {}",
            describe()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running test bed. `Drop` tears it down, also when the test panics.
pub struct Testbed {
    prefix: String,
    dir: PathBuf,
    home: PathBuf,
}

impl Testbed {
    /// Brings a bed up with `api` (program and arguments) as ExaBGP's API process.
    pub fn up(api: &[&str]) -> Testbed {
        Testbed::up_with(&Options::default(), api)
    }

    /// Like [`Testbed::up`], with options.
    pub fn up_with(options: &Options, api: &[&str]) -> Testbed {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        require_root("the BGP test bed");
        let prefix = format!(
            "kat{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let home = testbed_home();
        // The guard exists before up.sh runs, so a half-built bed is torn down too.
        let bed = Testbed {
            dir: home.join(&prefix),
            prefix,
            home,
        };
        let mut up = bed.script("up.sh");
        up.args(api);
        if let Some(seconds) = options.graceful_restart {
            up.env("KAT_TESTBED_GR", seconds.to_string());
        }
        if options.api_once {
            up.env("KAT_TESTBED_API_ONCE", "1");
        }
        if options.ibgp {
            up.env("KAT_TESTBED_PEER_AS", "65001")
                .env("KAT_TESTBED_EXA_AS", "65001");
        }
        let out = bed.run(up, "up.sh");
        assert!(
            out.status.success(),
            "up.sh failed ({}):\n{}",
            out.status,
            stderr(&out)
        );
        bed
    }

    /// The bed's script `name` with this bed's settings.
    fn script(&self, name: &str) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(scripts_dir().join(name))
            .env("KAT_TESTBED_PREFIX", &self.prefix)
            .env("KAT_TESTBED_HOME", &self.home)
            .env_remove("KAT_TESTBED_DIR");
        cmd
    }

    fn run(&self, mut cmd: Command, name: &str) -> Output {
        cmd.output()
            .unwrap_or_else(|e| panic!("bed {}: spawn {name}: {e}", self.prefix))
    }

    /// The name prefix of the bed's namespaces and state directory.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The speaker's namespace, where ExaBGP and the API process run.
    pub fn ns_exa(&self) -> String {
        format!("{}-exa", self.prefix)
    }

    /// `program` to run inside the speaker's namespace.
    pub fn in_exa(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns_exa(), program]);
        cmd
    }

    /// gobgpd's RIB, IPv4 then IPv6 unicast; `Err` when gobgpd cannot be asked.
    pub fn routes(&self) -> Result<Vec<Route>, String> {
        let mut all = Vec::new();
        for args in [&[][..], &["-6"][..]] {
            let mut cmd = self.script("routes.sh");
            cmd.args(args);
            let out = cmd.output().map_err(|e| format!("spawn routes.sh: {e}"))?;
            if !out.status.success() {
                return Err(format!("routes.sh {args:?} failed: {}", stderr(&out)));
            }
            all.extend(Route::parse_gobgp(&out.stdout)?);
        }
        Ok(all)
    }

    /// Runs the gobgp CLI against this bed's gobgpd; its stdout, or `Err` with its stderr.
    pub fn gobgp(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = self.script("gobgp.sh");
        cmd.args(args);
        let out = cmd.output().map_err(|e| format!("spawn gobgp.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!("gobgp.sh {args:?} failed: {}", stderr(&out)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The number of IPv4 unicast paths in gobgpd's RIB, from `global rib summary`: cheap
    /// enough to poll with tens of thousands of routes.
    pub fn ipv4_paths(&self) -> Result<usize, String> {
        let text = self.gobgp(&["global", "rib", "summary", "-a", "ipv4"])?;
        text.split("Path:")
            .nth(1)
            .and_then(|rest| rest.trim().parse().ok())
            .ok_or_else(|| format!("no path count in {text:?}"))
    }

    /// The prefixes gobgpd has received as withdrawn from ExaBGP during this session
    /// (`withdraw_prefix`, left out of gobgp's JSON while 0). A flap shows here even when the
    /// route comes back before the next look at the RIB.
    pub fn withdrawn_prefixes(&self) -> Result<u64, String> {
        let text = self.gobgp(&["neighbor", "10.255.0.1", "-j"])?;
        let json: Value = serde_json::from_str(&text).map_err(|e| format!("gobgp JSON: {e}"))?;
        let received = &json["state"]["messages"]["received"];
        Ok(received["withdraw_prefix"].as_u64().unwrap_or(0))
    }

    /// Polls gobgpd's RIB until `done` holds for it; panics after `timeout`,
    /// naming `what` and showing the last RIB.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Route]) -> bool,
    ) -> Vec<Route> {
        let describe = || format!("last RIB: {:#?}\n{}", self.routes(), self.log_tails());
        wait_until(
            what,
            timeout,
            || self.routes().ok().filter(|rib| done(rib)),
            describe,
        )
    }

    /// The PID of the API process, once it has started.
    pub fn api_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.dir.join("pids/api.pid")).ok()?;
        text.split_whitespace().next()?.parse().ok()
    }

    /// Sends `signal` to the API process (waiting up to 10 s for it to start).
    pub fn signal_api(&self, signal: nix::sys::signal::Signal) {
        let pid = wait_until(
            "API process started",
            Duration::from_secs(10),
            || self.api_pid(),
            || self.log_tails(),
        );
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
            .unwrap_or_else(|e| panic!("kill -{signal} {pid}: {e}"));
    }

    /// Sends `signal` to ExaBGP itself (a `SIGSTOP`ped ExaBGP cannot start a new API process).
    pub fn signal_exabgp(&self, signal: nix::sys::signal::Signal) {
        let pid = std::fs::read_to_string(self.dir.join("pids/exabgp.pid"))
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("ExaBGP is not running\n{}", self.log_tails()));
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
            .unwrap_or_else(|e| panic!("kill -{signal} {pid}: {e}"));
    }

    /// The exit status of the API process, with [`Options::api_once`], once it exited.
    pub fn api_exit(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("api.exit"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops ExaBGP gracefully (NOTIFICATION; it stops the API process too).
    pub fn stop_exabgp(&self) {
        self.exabgp("stop");
    }

    /// SIGKILLs ExaBGP, like a crash, and stops the orphaned API process.
    pub fn kill_exabgp(&self) {
        self.exabgp("kill");
    }

    /// Starts ExaBGP (after a stop or kill) and waits until the session is Established.
    pub fn start_exabgp(&self) {
        self.exabgp("start");
    }

    /// Stops ExaBGP gracefully, starts it again, and waits for Established.
    pub fn restart_exabgp(&self) {
        self.exabgp("restart");
    }

    /// SIGKILLs gobgpd, the peer, like a crash: the session and the peer's RIB go with it.
    pub fn kill_gobgpd(&self) {
        self.control("gobgpd.sh", "kill");
    }

    /// Starts gobgpd again on the same config and waits until ExaBGP is Established again
    /// (ExaBGP reconnects on its own, after its back-off).
    pub fn start_gobgpd(&self) {
        self.control("gobgpd.sh", "start");
    }

    /// Starts gobgpd again and returns once it listens, without waiting for the session (which
    /// cannot come up while [`Testbed::blackhole_peer`] is on).
    pub fn start_gobgpd_listening(&self) {
        let mut cmd = self.script("gobgpd.sh");
        cmd.arg("start").env("KAT_TESTBED_WAIT", "0");
        let out = self.run(cmd, "gobgpd.sh");
        assert!(
            out.status.success(),
            "gobgpd.sh start (no wait) failed:\n{}",
            stderr(&out)
        );
    }

    /// `on`: ExaBGP's packets to gobgpd go nowhere, so a connection attempt hangs instead of
    /// failing (and ExaBGP keeps its queued updates); `off`: they flow again, and a hanging
    /// attempt completes at its next SYN retransmit (`tests/testbed/blackhole.sh`).
    pub fn blackhole_peer(&self, on: bool) {
        self.control("blackhole.sh", if on { "on" } else { "off" });
    }

    fn control(&self, script: &str, action: &str) {
        let mut cmd = self.script(script);
        cmd.arg(action);
        let out = self.run(cmd, script);
        assert!(
            out.status.success(),
            "{script} {action} failed:\n{}",
            stderr(&out)
        );
    }

    fn exabgp(&self, action: &str) {
        let mut cmd = self.script("exabgp.sh");
        cmd.arg(action);
        let out = self.run(cmd, "exabgp.sh");
        assert!(
            out.status.success(),
            "exabgp.sh {action} failed:\n{}",
            stderr(&out)
        );
    }

    /// The contents of one of the bed's logs: `exabgp`, `gobgpd` or `api`.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// The last lines of every log, for failure messages.
    pub fn log_tails(&self) -> String {
        let mut text = String::new();
        for name in ["api", "exabgp", "gobgpd"] {
            let log = self.log(name);
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(25)..].join("\n");
            let _ = writeln!(text, "--- {name}.log (last lines)\n{tail}");
        }
        text
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "test bed {}: logs kept in {}\n{}",
                self.prefix,
                self.dir.display(),
                { self.log_tails() }
            );
        }
        let down = self.script("down.sh").output();
        match &down {
            Ok(out) if out.status.success() => {
                if !std::thread::panicking() {
                    let _ = std::fs::remove_dir_all(&self.dir);
                }
            }
            // Not a panic: panicking inside Drop during an unwind would abort.
            _ => eprintln!("test bed {}: down.sh failed: {down:?}", self.prefix),
        }
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
