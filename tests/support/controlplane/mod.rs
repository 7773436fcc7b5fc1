//! A real etcd + kube-apiserver for integration tests, started by the tests themselves.
//!
//! One control plane per test process ([`shared`]), started lazily by the first test that
//! asks for it, on free loopback ports, with fresh certificates, static tokens (an admin in
//! `system:masters` and a restricted user with no rights), RBAC authorization and the
//! `TokenRequest` API. The project's CRDs (`crds/*.yaml`) are installed and established.
//! Each test takes a namespace of its own ([`test_namespace`]). There is no
//! controller-manager, scheduler or kubelet: see docs/testing.md.
//!
//! Binaries come from `$KAT_CP_BIN`, else from the cache `scripts/controlplane/build.sh`
//! fills. Missing binaries or a failed start make every test that asks fail with the reason.
//!
//! Clean-up: statics are never dropped, so the processes cannot rely on `Drop` alone.
//! etcd and kube-apiserver run under `setpriv --pdeathsig KILL`, spawned by a thread that
//! lives as long as the process, so the kernel kills them when the test process ends for any
//! reason (end of run, panic, SIGKILL). A shell janitor holds a pipe from the test process;
//! at EOF it makes sure both servers are gone and removes the temp dir. A [`ControlPlane`]
//! that is dropped stops its processes by PID and removes its temp dir at once.
//!
//! A test that owns its [`ControlPlane`] may `kill -9` a server and start it again with the
//! same command line and files ([`ControlPlane::kill_server`], [`ControlPlane::restart_server`]):
//! the keeper thread does both, so the new server's parent-death signal follows that thread too.

mod boot;
pub mod crds;
mod host;
mod processes;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use secrecy::SecretString;

pub use host::{k8s_version, repo_dir};

/// The admin user, in `system:masters`.
pub const ADMIN_USER: &str = "kat-admin";
/// A user with no rights beyond `system:authenticated` until a test binds a Role to it.
pub const RESTRICTED_USER: &str = "kat-restricted";

/// The control plane shared by every test of this process; started on first use.
///
/// Panics (failing the calling test) with the reason when it cannot start.
pub fn shared() -> &'static ControlPlane {
    static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
    match SHARED.get_or_init(ControlPlane::start) {
        Ok(cp) => cp,
        Err(reason) => panic!("test control plane unavailable: {reason}"),
    }
}

/// Creates a namespace of its own for one test: `<prefix>-<random>`, a valid DNS label.
///
/// Namespaces are never deleted: without a controller-manager they would stay Terminating,
/// and the whole etcd is thrown away at the end of the run anyway.
pub async fn test_namespace(client: &Client, prefix: &str) -> String {
    let mut base: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    base.truncate(50);
    let name = format!("{}-{}", base.trim_matches('-'), host::random_hex(4));
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    name
}

/// What the keeper thread does for its [`ControlPlane`] while the servers run.
enum KeeperCommand {
    /// `kill -9` the named server and reap it.
    Kill(&'static str, mpsc::Sender<Result<(), String>>),
    /// Start the named (killed) server again with its first command line; answers its PID.
    Restart(&'static str, mpsc::Sender<Result<u32, String>>),
}

/// A running etcd + kube-apiserver. Dropping it stops both and removes its temp dir.
pub struct ControlPlane {
    ready: boot::Ready,
    /// Each server's current PID (a restart changes it).
    pids: Mutex<Vec<(&'static str, u32)>>,
    dir: PathBuf,
    startup: Duration,
    // Dropping the sender tells the keeper thread to stop the processes.
    commands: Option<Mutex<mpsc::Sender<KeeperCommand>>>,
    keeper: Option<thread::JoinHandle<()>>,
}

impl ControlPlane {
    /// Starts a new control plane (most tests want [`shared`] instead). Blocks.
    pub fn start() -> Result<ControlPlane, String> {
        let t0 = Instant::now();
        let bin = host::binary_dir()?;
        let dir = host::fresh_temp_dir()?;
        let (ready_tx, ready_rx) = mpsc::channel();
        let (command_tx, command_rx) = mpsc::channel::<KeeperCommand>();
        let keeper_dir = dir.clone();
        // The thread that spawns the servers must outlive them: the parent-death signal
        // fires when the spawning *thread* exits. For `shared` it blocks until process exit.
        let keeper = thread::Builder::new()
            .name("kat-controlplane".into())
            .spawn(move || {
                let mut procs = processes::Processes::new(keeper_dir);
                let result = boot::boot(&bin, &mut procs);
                let ok = result.is_ok();
                let _ = ready_tx.send(result);
                if ok {
                    // Until the ControlPlane is dropped (the sender with it).
                    for command in command_rx {
                        match command {
                            KeeperCommand::Kill(name, reply) => {
                                let _ = reply.send(procs.kill(name));
                            }
                            KeeperCommand::Restart(name, reply) => {
                                let _ = reply.send(procs.restart(name));
                            }
                        }
                    }
                }
                procs.shutdown();
            })
            .map_err(|e| format!("cannot spawn the keeper thread: {e}"))?;

        let ready = match ready_rx.recv() {
            Ok(Ok(ready)) => ready,
            Ok(Err(reason)) => {
                let _ = keeper.join();
                return Err(reason);
            }
            Err(_) => {
                let _ = keeper.join();
                return Err("the keeper thread died during start-up".into());
            }
        };
        let startup = t0.elapsed();
        eprintln!(
            "[controlplane] {} ready in {startup:.2?} ({})",
            ready.server.authority().map_or("?", |a| a.as_str()),
            dir.display()
        );
        Ok(ControlPlane {
            pids: Mutex::new(ready.pids.clone()),
            ready,
            dir,
            startup,
            commands: Some(Mutex::new(command_tx)),
            keeper: Some(keeper),
        })
    }

    /// The API server's URL, `https://127.0.0.1:PORT`.
    pub fn server(&self) -> String {
        self.ready
            .server
            .to_string()
            .trim_end_matches('/')
            .to_owned()
    }

    /// PIDs of etcd and kube-apiserver, as they are now (a killed server has none).
    pub fn pids(&self) -> Vec<u32> {
        self.current_pids().iter().map(|(_, pid)| *pid).collect()
    }

    /// The current PID of `name` (`etcd` or `kube-apiserver`); `None` while it is killed.
    pub fn pid_of(&self, name: &str) -> Option<u32> {
        self.current_pids()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, pid)| *pid)
    }

    fn current_pids(&self) -> std::sync::MutexGuard<'_, Vec<(&'static str, u32)>> {
        self.pids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `kill -9` the server `name` (`etcd` or `kube-apiserver`); its files stay. Blocks until reaped.
    pub fn kill_server(&self, name: &'static str) -> Result<(), String> {
        let (reply, answer) = mpsc::channel();
        self.command(KeeperCommand::Kill(name, reply))?;
        answer
            .recv()
            .map_err(|_| "the keeper thread is gone".to_owned())??;
        // Reaped: its PID may be reused, so no one may signal it any more.
        self.current_pids().retain(|(n, _)| *n != name);
        Ok(())
    }

    /// Starts the killed server `name` again with the same command line: same ports,
    /// certificates and etcd data dir. Returns at once; it serves once `/readyz` says so.
    pub fn restart_server(&self, name: &'static str) -> Result<u32, String> {
        let (reply, answer) = mpsc::channel();
        self.command(KeeperCommand::Restart(name, reply))?;
        let pid = answer
            .recv()
            .map_err(|_| "the keeper thread is gone".to_owned())??;
        self.current_pids().push((name, pid));
        Ok(pid)
    }

    fn command(&self, command: KeeperCommand) -> Result<(), String> {
        let commands = self
            .commands
            .as_ref()
            .ok_or("the control plane is stopping")?
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        commands
            .send(command)
            .map_err(|_| "the keeper thread is gone".to_owned())
    }

    /// The temp dir holding certificates, tokens, logs and etcd's data.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long [`ControlPlane::start`] took, until `/readyz` answered and CRDs were ready.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// A kubeconfig for `kubectl`/`helm` (user `kat-admin`); removed with the control plane.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// Client as `kat-admin` (`system:masters`). Call inside a Tokio runtime.
    pub fn admin_client(&self) -> Client {
        self.client_with_token(&self.ready.admin_token)
    }

    /// Client as [`RESTRICTED_USER`], who may do nothing until a test grants it a Role.
    pub fn restricted_client(&self) -> Client {
        self.client_with_token(&self.ready.restricted_token)
    }

    /// Client authenticating with a bearer token (e.g. from a `TokenRequest`).
    pub fn client_with_token(&self, token: &str) -> Client {
        let config = client_config(&self.ready.server, &self.ready.ca_der, token);
        // Only fails outside a Tokio runtime, which is a bug in the calling test.
        Client::try_from(config).unwrap_or_else(|e| panic!("kube::Client needs Tokio: {e}"))
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        drop(self.commands.take());
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}

fn client_config(server: &http::Uri, ca_der: &[u8], token: &str) -> kube::Config {
    let mut config = kube::Config::new(server.clone());
    config.root_cert = Some(vec![ca_der.to_vec()]);
    config.auth_info.token = Some(SecretString::from(token.to_owned()));
    // Loopback never goes through a proxy from the environment.
    config.proxy_url = None;
    config
}
