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

mod boot;
pub mod crds;
mod host;
mod processes;

use std::path::{Path, PathBuf};
use std::sync::{OnceLock, mpsc};
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

/// A running etcd + kube-apiserver. Dropping it stops both and removes its temp dir.
pub struct ControlPlane {
    ready: boot::Ready,
    dir: PathBuf,
    startup: Duration,
    // Dropping the sender tells the keeper thread to stop the processes.
    stop_tx: Option<mpsc::Sender<()>>,
    keeper: Option<thread::JoinHandle<()>>,
}

impl ControlPlane {
    /// Starts a new control plane (most tests want [`shared`] instead). Blocks.
    pub fn start() -> Result<ControlPlane, String> {
        let t0 = Instant::now();
        let bin = host::binary_dir()?;
        let dir = host::fresh_temp_dir()?;
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
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
                    let _ = stop_rx.recv();
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
            ready,
            dir,
            startup,
            stop_tx: Some(stop_tx),
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

    /// PIDs of etcd and kube-apiserver.
    pub fn pids(&self) -> &[u32] {
        &self.ready.pids
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
        drop(self.stop_tx.take());
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
