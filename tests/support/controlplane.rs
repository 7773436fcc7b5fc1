//! A real etcd + kube-apiserver for integration tests, started by the tests themselves.
//!
//! One control plane per test process ([`shared`]), started lazily by the first test that
//! asks for it, on free loopback ports, with fresh certificates, static tokens (an admin in
//! `system:masters` and a restricted user with no rights), RBAC authorization and the
//! TokenRequest API. The project's CRDs (`crds/*.yaml`) are installed and established.
//! There is no controller-manager, scheduler or kubelet: see docs/testing.md.
//!
//! Binaries come from `$KAT_CP_BIN`, else from the cache `scripts/controlplane/build.sh`
//! fills. Missing binaries or a failed start make every test that asks fail with the reason.
//!
//! Clean-up: statics are never dropped, so the processes cannot rely on `Drop` alone.
//! etcd and kube-apiserver get `PR_SET_PDEATHSIG(SIGKILL)` from a thread that lives as long
//! as the process, so the kernel kills them when the test process exits for any reason
//! (end of run, panic, SIGKILL). A tiny shell "janitor" reads a pipe from the test process;
//! at EOF (the process is gone) it waits for both PIDs to vanish and removes the temp dir.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use kube::Client;
use secrecy::SecretString;

use super::processes::{Processes, launch, spawn_janitor, wait_ready};

pub const ADMIN_USER: &str = "kat-admin";
pub const RESTRICTED_USER: &str = "kat-restricted";

const VERSIONS_ENV: &str = include_str!("../../scripts/controlplane/versions.env");
const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// Temp dirs are named `kat-cp-<pid>-<random>`, so leftovers of dead processes can be swept.
const DIR_PREFIX: &str = "kat-cp-";

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

/// A running etcd + kube-apiserver. Dropping it stops both and removes its temp dir.
pub struct ControlPlane {
    server: String,
    ca_der: Vec<u8>,
    admin_token: String,
    restricted_token: String,
    pids: Vec<u32>,
    dir: PathBuf,
    startup: Duration,
    // Dropping the sender tells the keeper thread to stop the processes.
    stop: Option<mpsc::Sender<()>>,
    keeper: Option<thread::JoinHandle<()>>,
}

/// What the keeper thread reports once the control plane is ready.
struct Ready {
    server: String,
    ca_der: Vec<u8>,
    admin_token: String,
    restricted_token: String,
    pids: Vec<u32>,
}

impl ControlPlane {
    /// Starts a new control plane (most tests want [`shared`] instead).
    pub fn start() -> Result<ControlPlane, String> {
        let t0 = Instant::now();
        let bin = binary_dir()?;
        let base = std::env::temp_dir();
        sweep_stale_dirs(&base);
        let dir = base.join(format!(
            "{DIR_PREFIX}{}-{:08x}",
            std::process::id(),
            random_u64() as u32
        ));
        fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;

        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let keeper_dir = dir.clone();
        // The thread that spawns the processes must outlive them: PDEATHSIG fires when the
        // spawning *thread* exits. For the shared instance it blocks until process exit.
        let keeper = thread::Builder::new()
            .name("kat-controlplane".into())
            .spawn(move || {
                let mut procs = Processes::new(keeper_dir);
                let result = boot(&bin, &mut procs);
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
            ready.server,
            dir.display()
        );
        Ok(ControlPlane {
            server: ready.server,
            ca_der: ready.ca_der,
            admin_token: ready.admin_token,
            restricted_token: ready.restricted_token,
            pids: ready.pids,
            dir,
            startup,
            stop: Some(stop_tx),
            keeper: Some(keeper),
        })
    }

    /// `https://127.0.0.1:PORT`
    pub fn server(&self) -> &str {
        &self.server
    }

    /// PIDs of etcd and kube-apiserver.
    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// The temp dir holding certificates, tokens, logs and etcd's data.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long [`ControlPlane::start`] took, from the call to `/readyz` and CRDs ready.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// A kubeconfig for `kubectl`/`helm` (user `kat-admin`); removed with the control plane.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// Client as `kat-admin` (`system:masters`). Call inside a Tokio runtime.
    pub fn admin_client(&self) -> Client {
        self.client_with_token(&self.admin_token)
    }

    /// Client as [`RESTRICTED_USER`], who may do nothing until a test grants it a Role.
    pub fn restricted_client(&self) -> Client {
        self.client_with_token(&self.restricted_token)
    }

    /// Client authenticating with a bearer token (e.g. from a TokenRequest).
    pub fn client_with_token(&self, token: &str) -> Client {
        let config = client_config(&self.server, &self.ca_der, token);
        // Only fails without a Tokio runtime, which is a bug in the calling test.
        Client::try_from(config).expect("kube::Client needs a Tokio runtime")
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}

fn client_config(server: &str, ca_der: &[u8], token: &str) -> kube::Config {
    // The server string is built by us from a port number; it always parses.
    let uri = server.parse().expect("control plane URL");
    let mut config = kube::Config::new(uri);
    config.root_cert = Some(vec![ca_der.to_vec()]);
    config.auth_info.token = Some(SecretString::from(token.to_owned()));
    // Loopback never goes through a proxy from the environment.
    config.proxy_url = None;
    config
}

fn boot(bin: &Path, procs: &mut Processes) -> Result<Ready, String> {
    let dir = procs.dir.clone();
    let pki = dir.join("pki");
    let out = Command::new("bash")
        .arg(Path::new(REPO).join("scripts/controlplane/pki.sh"))
        .arg(&pki)
        .output()
        .map_err(|e| format!("cannot run scripts/controlplane/pki.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pki.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let ca_der = fs::read(pki.join("ca.der")).map_err(|e| format!("reading ca.der: {e}"))?;
    let admin_token = random_hex(24);
    let restricted_token = random_hex(24);
    // token,user,uid,"groups": the restricted user only gets system:authenticated.
    let tokens = format!(
        "{admin_token},{ADMIN_USER},{ADMIN_USER},\"system:masters\"\n\
         {restricted_token},{RESTRICTED_USER},{RESTRICTED_USER}\n"
    );
    write_private(&dir.join("tokens.csv"), &tokens)?;

    let [etcd_port, peer_port, api_port] = free_ports()?;
    let server = format!("https://127.0.0.1:{api_port}");
    for (user, token) in [
        (ADMIN_USER, &admin_token),
        (RESTRICTED_USER, &restricted_token),
    ] {
        let file = dir.join(format!("{}.kubeconfig", user.trim_start_matches("kat-")));
        write_private(
            &file,
            &kubeconfig(&server, &pki.join("ca.crt"), user, token),
        )?;
    }

    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let p = |name: &str| pki.join(name).display().to_string();
    // Both start at once: kube-apiserver retries etcd until it answers, which saves ~0.5 s.
    launch(
        procs,
        bin,
        "etcd",
        &[
            "--name=kat".into(),
            format!("--data-dir={}", dir.join("etcd-data").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=kat={peer_url}"),
            // Test data need not survive a crash; no fsync latency on every write.
            "--unsafe-no-fsync".into(),
            "--log-level=warn".into(),
        ],
    )?;
    launch(
        procs,
        bin,
        "kube-apiserver",
        &[
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={api_port}"),
            // Else it takes the default route's address, and fails where there is none.
            "--advertise-address=127.0.0.1".into(),
            // The lease reconciler would try to publish 127.0.0.1 as `kubernetes` endpoint.
            "--endpoint-reconciler-type=none".into(),
            format!("--tls-cert-file={}", p("apiserver.crt")),
            format!("--tls-private-key-file={}", p("apiserver.key")),
            format!("--cert-dir={}", pki.display()),
            format!("--token-auth-file={}", dir.join("tokens.csv").display()),
            "--authorization-mode=RBAC".into(),
            // Service-account issuer and keys: required, and they enable TokenRequest.
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            "--service-cluster-ip-range=10.96.0.0/12".into(),
            // It rejects Pods whose ServiceAccount is missing; no controller creates `default`.
            "--disable-admission-plugins=ServiceAccount".into(),
            "--allow-privileged=true".into(),
            "--profiling=false".into(),
        ],
    )?;
    spawn_janitor(procs)?;

    let timeout = Duration::from_secs(
        std::env::var("KAT_CP_START_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build a Tokio runtime: {e}"))?;
    runtime.block_on(async {
        let client = Client::try_from(client_config(&server, &ca_der, &admin_token))
            .map_err(|e| format!("cannot build a client for {server}: {e}"))?;
        wait_ready(&client, procs, timeout).await?;
        super::crds::install_dir(&client, &Path::new(REPO).join("crds"), timeout).await
    })?;
    Ok(Ready {
        server,
        ca_der,
        admin_token,
        restricted_token,
        pids: procs.pids(),
    })
}

fn binary_dir() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("KAT_CP_BIN") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let cache = match std::env::var_os("KAT_CP_CACHE") {
                Some(cache) => PathBuf::from(cache),
                None => {
                    let home =
                        std::env::var_os("HOME").ok_or("neither KAT_CP_BIN nor HOME is set")?;
                    Path::new(&home).join(".cache/kube-anycast/controlplane")
                }
            };
            cache.join(format!("k8s-{}", k8s_version()?)).join("bin")
        }
    };
    for name in ["etcd", "kube-apiserver"] {
        if !dir.join(name).is_file() {
            return Err(format!(
                "{name} not found in {}: run scripts/controlplane/build.sh first \
                 (about 5 minutes once, cached), or point KAT_CP_BIN at a directory with \
                 etcd and kube-apiserver",
                dir.display()
            ));
        }
    }
    Ok(dir)
}

/// `$KAT_K8S_VERSION`, else the default pinned in scripts/controlplane/versions.env.
pub fn k8s_version() -> Result<String, String> {
    if let Ok(v) = std::env::var("KAT_K8S_VERSION") {
        return Ok(v);
    }
    // The line reads: KAT_K8S_VERSION="${KAT_K8S_VERSION:-v1.36.5}"
    VERSIONS_ENV
        .lines()
        .find_map(|l| l.trim().strip_prefix("KAT_K8S_VERSION="))
        .and_then(|v| v.split(":-").nth(1))
        .map(|v| v.trim_end_matches(['}', '"']).to_owned())
        .ok_or_else(|| "no KAT_K8S_VERSION default in scripts/controlplane/versions.env".into())
}

/// Three distinct free loopback ports, below the ephemeral range (so no outgoing connection
/// can hold them) and not used by any socket in any state.
fn free_ports() -> Result<[u16; 3], String> {
    let low: u16 = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .filter(|&p| p > 12000)
        .unwrap_or(32768);
    let mut used = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let local = line.split_whitespace().nth(1).unwrap_or_default();
            let port = local
                .rsplit(':')
                .next()
                .and_then(|h| u16::from_str_radix(h, 16).ok());
            used.extend(port);
        }
    }
    let mut picked = Vec::new();
    for _ in 0..1000 {
        let port = 10000 + (random_u64() % u64::from(low - 10000)) as u16;
        if used.contains(&port) || picked.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            picked.push(port);
            if let Ok(ports) = <[u16; 3]>::try_from(picked.as_slice()) {
                return Ok(ports);
            }
        }
    }
    Err("no free loopback ports found".into())
}

fn kubeconfig(server: &str, ca: &Path, user: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kat-test\n  cluster:\n    \
         server: {server}\n    certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n    \
         token: {token}\ncontexts:\n- name: {user}\n  context:\n    cluster: kat-test\n    \
         user: {user}\ncurrent-context: {user}\n",
        ca = ca.display()
    )
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    io::Write::write_all(&mut file, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

/// Removes `kat-cp-<pid>-*` dirs whose process is gone (e.g. its janitor was SIGKILLed).
fn sweep_stale_dirs(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next() else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

pub fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    // /dev/urandom cannot run dry; fall back to the clock if it is unreadable.
    if fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_err()
    {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        return nanos as u64 ^ u64::from(std::process::id());
    }
    u64::from_le_bytes(buf)
}

fn random_hex(bytes: usize) -> String {
    (0..bytes.div_ceil(8))
        .map(|_| format!("{:016x}", random_u64()))
        .collect::<String>()[..bytes * 2]
        .to_owned()
}
