//! Runs ExaBGP 5.0.15's `healthcheck` and `kube-anycast healthcheck` side by side
//! on the same options and the same scripted sequence of check results, and
//! compares what each writes on stdout (the API lines), its exit status and
//! what its hooks recorded.
//!
//! The check is `exec sh DIR/check.sh`: `exec` makes the healthcheck the
//! script's parent, so a `term` step can signal it with `kill -TERM $PPID`
//! (the script verifies that parent). Each run gets its own directory.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Each step is one run of the check, in order; past the end, `term`.
const CHECK_SH: &str = r#"#!/bin/sh
d=$(dirname "$0")
ppid_of_parent=$(sed 's/^.*) //' "/proc/$PPID/stat" | cut -d' ' -f2)
[ "$ppid_of_parent" = "$KAT_HC_RUNNER" ] ||
  echo "check.sh: parent $PPID is not the healthcheck (its parent: $ppid_of_parent)" >>"$d/errors"
n=$(($(cat "$d/count" 2>/dev/null || echo 0) + 1))
echo "$n" >"$d/count"
step=$(sed -n "${n}p" "$d/steps")
case ${step:-term} in
  pass) exit 0 ;;
  fail) exit 1 ;;
  hang) exec sleep 5 ;;                    # past --timeout 1: killed, a failure
  disable) : >"$d/disable"; exit 0 ;;      # pass, and the next iteration is DISABLED
  term) kill -TERM "$PPID"; exec sleep 2 ;; # still running when the signal is handled
  *) echo "check.sh: unknown step '$step'" >>"$d/errors"; exit 3 ;;
esac
"#;

/// How the runner stands in for ExaBGP on the healthcheck's stdin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    /// A pipe answering `done` to every line read, like ExaBGP with api.ack on.
    Pipe,
    /// `/dev/null`: every ACK read meets EOF at once.
    Eof,
    /// A pipe that never answers: only a healthcheck that reads no ACKs gets on.
    Silent,
}

/// What the runner does after reading an output line (before answering it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Remove the `--disable` file.
    Enable,
    /// Wait 300 ms (the healthcheck is then blocked on the ACK or asleep), SIGTERM,
    /// and wait 300 ms more before answering.
    Term,
}

/// One differential case.
#[derive(Clone, Debug)]
pub struct Case {
    /// Options after the defaults; `{dir}` becomes the run's directory.
    pub args: Vec<String>,
    /// The check results, in order: pass, fail, hang, disable, term.
    pub steps: String,
    /// The stdin side.
    pub ack: Ack,
    /// After output line N (1-based), do this.
    pub actions: Vec<(usize, Action)>,
    /// Contents of `{dir}/healthcheck.conf` (given with `--config` by the case).
    pub config: Option<String>,
    /// Prepend `--no-syslog --no-ip-setup --interval 0.05 --fast-interval 0.05
    /// --timeout 1 --cmd CHECK` (`--no-syslog` alone is dropped by [`Case::logging`]).
    pub defaults: bool,
    /// Keep `--no-syslog` among the defaults.
    pub no_syslog: bool,
    /// Run inside a private network namespace (`unshare -n`, lo up, these addresses on lo).
    pub netns: Option<Vec<String>>,
    /// Exact stdout lines known from the reference (worked examples).
    pub expect: Option<Vec<String>>,
    /// A deliberate difference (docs/healthcheck.md): what kube-anycast writes and exits with
    /// instead of matching ExaBGP.
    pub deliberate: Option<(Vec<String>, Option<i32>)>,
}

impl Case {
    /// A case with the default options, answering ACKs through a pipe.
    pub fn new(args: &[&str]) -> Case {
        Case {
            args: args.iter().map(|&a| a.to_owned()).collect(),
            steps: String::new(),
            ack: Ack::Pipe,
            actions: Vec::new(),
            config: None,
            defaults: true,
            no_syslog: true,
            netns: None,
            expect: None,
            deliberate: None,
        }
    }
    /// The scripted check results, whitespace separated.
    pub fn steps(mut self, steps: &str) -> Case {
        self.steps = steps.split_whitespace().collect::<Vec<_>>().join("\n");
        self
    }
    /// ACKs meet EOF instead of `done`.
    pub fn eof(mut self) -> Case {
        self.ack = Ack::Eof;
        self
    }
    /// ACKs never come (for `--no-ack`).
    pub fn silent(mut self) -> Case {
        self.ack = Ack::Silent;
        self
    }
    /// After output line `line`, do `action`.
    pub fn after(mut self, line: usize, action: Action) -> Case {
        self.actions.push((line, action));
        self
    }
    /// A config file; the case passes `--config {dir}/healthcheck.conf` itself.
    pub fn config(mut self, text: &str) -> Case {
        self.config = Some(text.to_owned());
        self
    }
    /// No default options at all.
    pub fn bare(mut self) -> Case {
        self.defaults = false;
        self
    }
    /// The case chooses its own logging options (`--silent`, `--syslog-facility`...).
    pub fn logging(mut self) -> Case {
        self.no_syslog = false;
        self
    }
    /// Run in a private network namespace with `addrs` (`ip addr add` arguments) on lo.
    pub fn netns(mut self, addrs: &[&str]) -> Case {
        self.netns = Some(addrs.iter().map(|&a| a.to_owned()).collect());
        self
    }
    /// The exact stdout lines (and the harness checks ExaBGP produces them).
    /// Marks a documented, deliberate difference: kube-anycast must write `lines` and exit with
    /// `code`, and ExaBGP must still differ (so the case proves the difference is real).
    pub fn deliberately(mut self, lines: &[&str], code: i32) -> Case {
        self.deliberate = Some((lines.iter().map(|&l| l.to_owned()).collect(), Some(code)));
        self
    }

    /// Pins ExaBGP's stdout to these lines.
    pub fn expect(mut self, lines: &[&str]) -> Case {
        self.expect = Some(lines.iter().map(|&l| l.to_owned()).collect());
        self
    }
}

/// What one implementation did.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// stdout, line by line.
    pub lines: Vec<String>,
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// What `--execute` hooks appended to `{dir}/hooks`, if anything.
    pub hooks: String,
    /// stderr, for diagnostics only.
    pub stderr: String,
}

/// The healthcheck to run: program and leading arguments.
pub fn exabgp_healthcheck(venv: &Path) -> Vec<String> {
    let python = venv.join("bin/python").to_string_lossy().into_owned();
    vec![python, "-m".into(), "exabgp".into(), "healthcheck".into()]
}

/// `kube-anycast healthcheck`, given the test crate's `CARGO_BIN_EXE_kube-anycast`.
pub fn kube_anycast_healthcheck(bin: &str) -> Vec<String> {
    vec![bin.to_owned(), "healthcheck".into()]
}

/// A fresh, empty directory for one run.
fn run_dir(name: &str, side: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kat-hc-{}-{n}-{name}-{side}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Runs `program` (e.g. [`exabgp_healthcheck`]) on `case`; `side` names the run.
pub fn run(program: &[String], case: &Case, name: &str, side: &str) -> Outcome {
    let dir = run_dir(name, side);
    let d = dir.to_string_lossy().into_owned();
    write(&dir.join("check.sh"), CHECK_SH);
    write(&dir.join("steps"), &format!("{}\n", case.steps));
    if let Some(config) = &case.config {
        write(&dir.join("healthcheck.conf"), &config.replace("{dir}", &d));
    }
    let mut args: Vec<String> = Vec::new();
    if case.defaults {
        if case.no_syslog {
            args.push("--no-syslog".into());
        }
        let check = format!("exec sh {d}/check.sh");
        for a in [
            "--no-ip-setup",
            "--interval",
            "0.05",
            "--fast-interval",
            "0.05",
            "--timeout",
        ] {
            args.push(a.into());
        }
        args.extend(["1".into(), "--cmd".into(), check]);
    }
    args.extend(case.args.iter().map(|a| a.replace("{dir}", &d)));

    let mut cmd = match &case.netns {
        None => Command::new(&program[0]),
        Some(addrs) => {
            // lo up, then the addresses, then the healthcheck itself (exec keeps the PID).
            let mut script = String::from("set -e; ip link set lo up; ");
            for a in addrs {
                let _ = write!(script, "ip addr add {a}; ");
            }
            script.push_str("exec \"$@\"");
            let mut c = Command::new("unshare");
            c.args(["-n", "sh", "-c", &script, "sh", &program[0]]);
            c
        }
    };
    cmd.args(&program[1..])
        .args(&args)
        .current_dir(&dir)
        .env("KAT_HC_RUNNER", std::process::id().to_string())
        .stdin(if case.ack == Ack::Eof {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program:?}: {e}"));
    let outcome = drive(child, case, &dir);
    if let Ok(errors) = std::fs::read_to_string(dir.join("errors")) {
        panic!("{side}: the scripted check reported:\n{errors}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// Reads the API lines, answers ACKs, performs the case's actions, and waits
/// for the exit. A run longer than 30 s is killed (and shows as a signal).
fn drive(mut child: Child, case: &Case, dir: &Path) -> Outcome {
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let watchdog = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            if kill(pid, None).is_err() {
                return;
            }
        }
        let _ = kill(pid, Signal::SIGKILL);
    });
    let stderr = child
        .stderr
        .take()
        .unwrap_or_else(|| panic!("stderr not piped"));
    let stderr = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut stdin: Option<ChildStdin> = child.stdin.take();
    let stdout = child
        .stdout
        .take()
        .unwrap_or_else(|| panic!("stdout not piped"));
    let stdout = BufReader::new(stdout);
    let mut lines = Vec::new();
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        lines.push(line);
        for (_, action) in case.actions.iter().filter(|(n, _)| *n == lines.len()) {
            match action {
                Action::Enable => {
                    let _ = std::fs::remove_file(dir.join("disable"));
                }
                Action::Term => {
                    std::thread::sleep(Duration::from_millis(300));
                    let _ = kill(pid, Signal::SIGTERM);
                    // The ACK must not race the signal: a reader that finds data
                    // returns it instead of being interrupted.
                    std::thread::sleep(Duration::from_millis(300));
                }
            }
        }
        if let Some(pipe) = stdin.as_mut().filter(|_| case.ack == Ack::Pipe) {
            // The healthcheck may be gone already; a broken pipe is its business.
            let _ = pipe.write_all(b"done\n").and_then(|()| pipe.flush());
        }
    }
    drop(stdin);
    let status = child
        .wait()
        .unwrap_or_else(|e| panic!("wait for the healthcheck: {e}"));
    let _ = watchdog.join();
    Outcome {
        lines,
        code: status.code(),
        hooks: std::fs::read_to_string(dir.join("hooks")).unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}
