//! Scenario 2: the Kubernetes agent against a control plane of its own (freezing the shared one
//! would stall other tests). Pods flap Ready through the API; two of the four services also
//! have an exec probe on a flag file, which flaps while the API server is away. Faults:
//! kube-apiserver or etcd frozen (`SIGSTOP`, later `SIGCONT`), and both frozen with the agent
//! killed and restarted during the outage; and kube-apiserver, etcd or both killed (`kill -9`)
//! and started again after a pause with the same command line and etcd data dir, as in a
//! control-plane crash or upgrade. Fail static: ready routes stay through the outage, a
//! failing probe still withdraws, and a new agent that cannot reach the API server announces
//! nothing new while the relay's lease holds the old agent's routes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::json;

use super::{LEASE, SAMPLE_EVERY, SERIAL};
use crate::support::agent::{BIN, tail};
use crate::support::chaos::{Fault, Rng, Timeline, Window, env_number, run_sampler, seed};
use crate::support::controlplane::{self, ControlPlane};
use crate::support::testbed::Testbed;

/// Services `k1`..`k4` on 192.0.2.11..14; `k3` and `k4` have a probe too.
const SERVICES: usize = 4;
const PROBED: [bool; SERVICES] = [false, false, true, true];

fn ip(i: usize) -> String {
    format!("192.0.2.{}", 11 + i)
}

/// The agent process (killed when dropped).
struct K8sAgent(Child);

impl Drop for K8sAgent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the scenario drives: readiness per pod and per probe flag, and the processes.
struct Cluster {
    cp: ControlPlane,
    pods: Api<Pod>,
    dir: PathBuf,
    node: String,
    pod_ready: [bool; SERVICES],
    flag_on: [bool; SERVICES],
    agent: Option<K8sAgent>,
}

impl Cluster {
    fn flag(&self, i: usize) -> PathBuf {
        self.dir.join(format!("k{}.flag", i + 1))
    }

    fn start_agent(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("agent.log"))
            .unwrap_or_else(|e| panic!("open the agent log: {e}"));
        let child = Command::new(BIN)
            .args([
                "agent",
                "--node-name",
                &self.node,
                "--vip-interface",
                "none",
            ])
            .arg("--socket")
            .arg(self.dir.join("exabgp.sock"))
            .args(["--drain-delay", "2s", "--metrics-listen", "127.0.0.1:0"])
            .env("KUBECONFIG", self.cp.admin_kubeconfig())
            .env_remove("NODE_NAME")
            .env_remove("KUBE_ANYCAST_SERVICES_DIR")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start the agent: {e}"));
        self.agent = Some(K8sAgent(child));
    }

    fn log(&self) -> String {
        tail(
            &std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default(),
            30,
        )
    }

    /// kube-apiserver's or etcd's current PID (a restart changes it).
    fn pid(&self, name: &str) -> Pid {
        let pid = self
            .cp
            .pid_of(name)
            .unwrap_or_else(|| panic!("no {name} among the control plane's processes"));
        Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX))
    }

    /// `kill -9` the named servers, in order.
    fn kill_servers(&self, names: &[&'static str]) {
        for name in names {
            tokio::task::block_in_place(|| self.cp.kill_server(name))
                .unwrap_or_else(|e| panic!("kill -9 {name}: {e}"));
        }
    }

    /// Starts the named servers again, in order, and waits until kube-apiserver is ready.
    async fn restart_servers(&self, names: &[&'static str]) {
        for name in names {
            tokio::task::block_in_place(|| self.cp.restart_server(name))
                .unwrap_or_else(|e| panic!("restart {name}: {e}"));
        }
        let client = self.cp.admin_client();
        let restarted = Instant::now();
        let deadline = restarted + Duration::from_mins(1);
        loop {
            let readyz = http::Request::get("/readyz")
                .body(Vec::new())
                .unwrap_or_else(|e| panic!("GET /readyz: {e}"));
            let probe = tokio::time::timeout(Duration::from_secs(2), client.request_text(readyz));
            if matches!(probe.await, Ok(Ok(_))) {
                eprintln!(
                    "[chaos] {names:?} restarted, kube-apiserver ready in {:.1?}",
                    restarted.elapsed()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "kube-apiserver not ready a minute after restarting {names:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn signal(&self, names: &[&str], signal: Signal) {
        for name in names {
            nix::sys::signal::kill(self.pid(name), signal)
                .unwrap_or_else(|e| panic!("kill -{signal} {name}: {e}"));
        }
    }

    fn is_ready(&self, i: usize) -> bool {
        self.pod_ready[i] && (!PROBED[i] || self.flag_on[i])
    }

    async fn set_pod(&mut self, i: usize, ready: bool, tl: &mut Timeline) {
        let status = if ready { "True" } else { "False" };
        let patch = json!({"status": {"phase": "Running", "podIP": format!("10.1.0.{}", i + 1),
            "conditions": [{"type": "Ready", "status": status}]}});
        self.pods
            .patch_status(
                &format!("k{}-1", i + 1),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
            .unwrap_or_else(|e| panic!("patch pod k{} Ready={ready}: {e}", i + 1));
        self.pod_ready[i] = ready;
        tl.set_ready(i, self.is_ready(i));
    }

    fn set_flag(&mut self, i: usize, on: bool, tl: &mut Timeline) {
        let path = self.flag(i);
        let done = if on {
            std::fs::write(&path, "")
        } else {
            std::fs::remove_file(&path)
        };
        done.unwrap_or_else(|e| panic!("flag {}: {e}", path.display()));
        self.flag_on[i] = on;
        tl.set_ready(i, self.is_ready(i));
    }

    /// Flips probe flags at random moments for `span` (no API server needed).
    async fn flap_probes(&mut self, rng: &mut Rng, span: Duration, tl: &mut Timeline) {
        let end = Instant::now() + span;
        for _ in 0..rng.below(3) {
            let left = u64::try_from(end.saturating_duration_since(Instant::now()).as_millis());
            tokio::time::sleep(rng.millis(0, left.unwrap_or(0))).await;
            let i = if rng.below(2) == 0 { 2 } else { 3 };
            let on = !self.flag_on[i];
            self.set_flag(i, on, tl);
        }
        tokio::time::sleep(end.saturating_duration_since(Instant::now())).await;
    }
}

/// The node, a pool granting the namespace 192.0.2.0/24 with exec probes, and per service an
/// AnycastService, a Service (selector `app=kN`) and a Ready Pod on the node.
async fn create_world(admin: &Client, ns: &str, node: &str, dir: &Path) {
    let node_obj = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}});
    apply::<Node>(&Api::all(admin.clone()), node, node_obj).await;
    let pool = json!({"apiVersion": "kube-anycast.io/v1alpha1", "kind": "AnycastPool",
        "metadata": {"name": format!("pool-{ns}")},
        "spec": {"cidrs": ["192.0.2.0/24"], "allowExec": true,
                 "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                 "drain": {"mode": "GracefulShutdown", "delay": "2s"}}});
    apply::<kube_anycast::crd::AnycastPool>(&Api::all(admin.clone()), &format!("pool-{ns}"), pool)
        .await;
    for (i, probed) in PROBED.iter().enumerate() {
        let name = format!("k{}", i + 1);
        let mut spec = json!({"addresses": [ip(i)], "readiness": {"service": name},
            "timings": {"interval": "1s", "fastInterval": "200ms", "rise": 2, "fall": 2}});
        if *probed {
            let flag = dir.join(format!("{name}.flag"));
            std::fs::write(&flag, "").unwrap_or_else(|e| panic!("{}: {e}", flag.display()));
            spec["probes"] = json!([{"name": "p", "exec": {"command": ["test", "-f", flag]}}]);
        }
        let svc = json!({"apiVersion": "kube-anycast.io/v1alpha1", "kind": "AnycastService",
            "metadata": {"name": name, "namespace": ns}, "spec": spec});
        apply::<kube_anycast::crd::AnycastService>(&Api::namespaced(admin.clone(), ns), &name, svc)
            .await;
        let core = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name}, "ports": [{"name": "p", "port": 80}]}});
        apply::<Service>(&Api::namespaced(admin.clone(), ns), &name, core).await;
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{name}-1"), "namespace": ns, "labels": {"app": name}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.invalid/x:1"}]}});
        apply::<Pod>(
            &Api::namespaced(admin.clone(), ns),
            &format!("{name}-1"),
            pod,
        )
        .await;
    }
}

async fn apply<K>(api: &Api<K>, name: &str, value: serde_json::Value)
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(value).unwrap_or_else(|e| panic!("{name}: {e}"));
    api.patch(
        name,
        &PatchParams::apply("kat-chaos").force(),
        &Patch::Apply(&obj),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {name}: {e}"));
}

/// One round: pod flips while the API is up, then the fault with probe flips, the recovery and
/// the convergence check.
async fn round(
    cl: &mut Cluster,
    rng: &mut Rng,
    fault: Fault,
    tl: &mut Timeline,
    samples: &Mutex<Vec<crate::support::chaos::Sample>>,
) {
    for _ in 0..rng.below(3) {
        tokio::time::sleep(rng.millis(0, 700)).await;
        let i = rng.below(SERVICES);
        let ready = !cl.pod_ready[i];
        cl.set_pod(i, ready, tl).await;
    }
    let hold = rng.millis(500, 3000);
    let start = Instant::now();
    match fault {
        Fault::ApiServerStop => cl.signal(&["kube-apiserver"], Signal::SIGSTOP),
        Fault::EtcdStop => cl.signal(&["etcd"], Signal::SIGSTOP),
        Fault::AgentKillInOutage => {
            cl.signal(&["kube-apiserver", "etcd"], Signal::SIGSTOP);
            cl.agent = None;
            let dead = rng.millis(100, 800);
            cl.flap_probes(rng, dead, tl).await;
            cl.start_agent();
        }
        Fault::ApiServerKill => cl.kill_servers(&["kube-apiserver"]),
        Fault::EtcdKill => cl.kill_servers(&["etcd"]),
        Fault::ControlPlaneKill => cl.kill_servers(&["kube-apiserver", "etcd"]),
        _ => {}
    }
    cl.flap_probes(rng, hold, tl).await;
    // A restart counts as recovered once kube-apiserver is ready again, not at spawn: that is
    // when the agent's watches can relist (lenient side, as every recovery stamp).
    match fault {
        Fault::ApiServerStop => cl.signal(&["kube-apiserver"], Signal::SIGCONT),
        Fault::EtcdStop => cl.signal(&["etcd"], Signal::SIGCONT),
        Fault::AgentKillInOutage => cl.signal(&["etcd", "kube-apiserver"], Signal::SIGCONT),
        Fault::ApiServerKill => cl.restart_servers(&["kube-apiserver"]).await,
        Fault::EtcdKill => cl.restart_servers(&["etcd"]).await,
        Fault::ControlPlaneKill => cl.restart_servers(&["etcd", "kube-apiserver"]).await,
        _ => {}
    }
    let end = Instant::now();
    tl.add_window(Window {
        fault,
        start,
        end,
        exempt_from: None,
        withdraw_all_by: None,
    });
    tokio::task::block_in_place(|| tl.converge(samples, end, fault, &|| None));
}

/// Resumes the control plane if the scenario stops half way, so nothing stays frozen.
impl Drop for Cluster {
    fn drop(&mut self) {
        for pid in self.cp.pids() {
            let pid = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
            let _ = nix::sys::signal::kill(pid, Signal::SIGCONT);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[expect(
    clippy::await_holding_lock,
    reason = "the lock only serialises the scenarios (threads of this process); no task awaits it"
)]
async fn chaos_kubernetes_agent_through_control_plane_outages() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    crate::support::testbed::require_root("the chaos suite");
    let cp = tokio::task::block_in_place(ControlPlane::start)
        .unwrap_or_else(|e| panic!("test control plane unavailable: {e}"));
    let admin = cp.admin_client();
    let ns = controlplane::test_namespace(&admin, "chaos").await;
    let dir = std::env::temp_dir().join(format!("kat-chaos-{ns}"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let node = format!("node-{ns}");
    create_world(&admin, &ns, &node, &dir).await;
    let mut cl = Cluster {
        pods: Api::namespaced(admin.clone(), &ns),
        cp,
        dir: dir.clone(),
        node,
        pod_ready: [false; SERVICES],
        flag_on: [true; SERVICES],
        agent: None,
    };
    let seed = seed();
    eprintln!("[chaos] kubernetes agent: seed {seed} (KAT_CHAOS_SEED={seed} replays it)");
    let began = Instant::now();
    let mut rng = Rng::new(seed ^ 0x6b38);
    let mut tl = Timeline::new((0..SERVICES).map(|i| format!("{}/32", ip(i))).collect());
    for i in 0..SERVICES {
        cl.set_pod(i, true, &mut tl).await;
    }
    cl.start_agent();
    let socket = dir.join("exabgp.sock").display().to_string();
    let lease = format!("{}s", LEASE.as_secs());
    let bed = Arc::new(tokio::task::block_in_place(|| {
        Testbed::up(&[BIN, "exabgp-relay", "--socket", &socket, "--lease", &lease])
    }));
    let prefixes = tl.prefixes.clone();
    tokio::task::block_in_place(|| {
        bed.wait_for("every service announced", Duration::from_secs(40), |rib| {
            prefixes.iter().all(|p| rib.iter().any(|r| &r.prefix == p))
        })
    });
    let mut tl = Timeline::new(prefixes);
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let recorder = {
        let (bed, samples, stop) = (bed.clone(), samples.clone(), stop.clone());
        std::thread::spawn(move || run_sampler(&bed, &samples, &stop, SAMPLE_EVERY))
    };
    let menu = [
        (Fault::ApiServerStop, 3),
        (Fault::EtcdStop, 2),
        (Fault::AgentKillInOutage, 2),
        (Fault::ApiServerKill, 2),
        (Fault::EtcdKill, 2),
        (Fault::ControlPlaneKill, 1),
        (Fault::None, 1),
    ];
    let weights: Vec<u32> = menu.iter().map(|(_, w)| *w).collect();
    let faults = env_number("KAT_CHAOS_K8S_FAULTS", 10);
    let budget = Duration::from_secs(env_number("KAT_CHAOS_K8S_SECONDS", 60));
    let mut injected = 0;
    while injected < faults && began.elapsed() < budget {
        let fault = menu[rng.weighted(&weights)].0;
        round(&mut cl, &mut rng, fault, &mut tl, &samples).await;
        if fault != Fault::None {
            injected += 1;
        }
    }
    tokio::time::sleep(crate::support::chaos::BOUND + Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = recorder.join();
    let samples = std::mem::take(
        &mut *samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    tl.count_check(
        "RIB samples taken",
        u64::try_from(samples.len()).unwrap_or(0),
    );
    tl.check_samples(&samples);
    finish(&mut cl, &bed, &mut tl);
    let table = tl.table("kubernetes agent", seed, began.elapsed());
    eprintln!("{table}");
    assert!(
        tl.violations.is_empty(),
        "kubernetes agent: {} violations (seed {seed}){table}\nagent log tail:\n{}",
        tl.violations.len(),
        cl.log()
    );
    drop(cl);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The agent stops on SIGTERM (drain, withdraw) and exits 0; nothing is left at the peer.
fn finish(cl: &mut Cluster, bed: &Testbed, tl: &mut Timeline) {
    let Some(mut agent) = cl.agent.take() else {
        return;
    };
    let pid = Pid::from_raw(i32::try_from(agent.0.id()).unwrap_or(i32::MAX));
    let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(Some(status)) = agent.0.try_wait() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if !status.is_some_and(|s| s.success()) {
        tl.violations.push(format!(
            "(d) the agent did not exit 0 on SIGTERM: {status:?}"
        ));
    }
    tl.count_check("(d) nothing left at the peer after shutdown", 1);
    let rib = bed.routes().unwrap_or_default();
    if rib.iter().any(|r| tl.prefixes.contains(&r.prefix)) {
        tl.violations.push(format!(
            "(d) routes left at the peer after shutdown: {rib:?}"
        ));
    }
}
