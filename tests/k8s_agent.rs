//! The Kubernetes agent end to end: a real kube-apiserver (tests/support/controlplane), a real
//! ExaBGP 5.0.15 whose API process is `kube-anycast exabgp-relay`, a real gobgpd whose RIB is
//! the oracle, and the `kube-anycast agent` binary authenticating with a TokenRequest token of
//! a ServiceAccount bound only to the rules of src/k8s/rbac.yaml. Needs root (the BGP test bed)
//! and the control-plane binaries; fails loudly without them.
//!
//! The pure parts (index, status writer, Events, staleness) have their unit tests beside the
//! code in src/k8s/.

#[allow(
    dead_code,
    unused_imports,
    reason = "shared by several test crates, each using a part"
)]
mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Error};
use serde_json::json;

use kube_anycast::crd::{AdvertisedState, AnycastAdvertisement, AnycastPool, AnycastService};
use kube_anycast::k8s::rbac::{CLUSTER_ROLE, CLUSTER_ROLE_YAML};
use support::controlplane::{self, ControlPlane};
use support::testbed::{Route, Testbed, wait_until};

const WAIT: Duration = Duration::from_secs(20);
const GRACEFUL_SHUTDOWN: &str = "65535:0";

/// The agent process; killed (by PID) when dropped.
struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Installs the agent's ClusterRole (once) and binds it to a new ServiceAccount in `ns`;
/// returns a token for that account from the TokenRequest API.
#[expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test fixture: a failed setup step fails the test"
)]
async fn agent_token(admin: &Client, ns: &str) -> String {
    let role: ClusterRole = serde_saphyr::from_str(CLUSTER_ROLE_YAML).expect("src/k8s/rbac.yaml");
    Api::<ClusterRole>::all(admin.clone())
        .patch(
            CLUSTER_ROLE,
            &PatchParams::apply("kat-test").force(),
            &Patch::Apply(&role),
        )
        .await
        .expect("apply the agent's ClusterRole");
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), ns);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "agent"}})).unwrap();
    accounts.create(&PostParams::default(), &sa).await.unwrap();
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": format!("kube-anycast-agent-{ns}")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": "agent", "namespace": ns}],
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let issued = accounts
        .create_token_request("agent", &PostParams::default(), &request)
        .await
        .unwrap();
    issued.status.unwrap().token.unwrap()
}

#[expect(
    clippy::unwrap_used,
    reason = "test fixture: a failed setup step fails the test"
)]
fn kubeconfig(cp: &ControlPlane, dir: &std::path::Path, token: &str) -> PathBuf {
    let path = dir.join("agent.kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kat\n  cluster:\n    server: {}\n    \
         certificate-authority: {}\nusers:\n- name: agent\n  user:\n    token: {token}\n\
         contexts:\n- name: agent\n  context:\n    cluster: kat\n    user: agent\n\
         current-context: agent\n",
        cp.server(),
        cp.dir().join("pki/ca.crt").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test fixture: a failed setup step fails the test"
)]
fn start_agent(
    kubeconfig: &std::path::Path,
    node: &str,
    socket: &std::path::Path,
    dir: &std::path::Path,
    extra: &[&str],
) -> Agent {
    let log = dir.join("agent.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_kube-anycast"))
        .args(["agent", "--node-name", node, "--vip-interface", "none"])
        .arg("--socket")
        .arg(socket)
        .args([
            "--drain-delay",
            "2s",
            "--log-level",
            "info,kube_anycast=debug",
        ])
        .args(extra)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("NODE_NAME")
        .env_remove("KUBE_ANYCAST_SERVICES_DIR")
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .expect("start kube-anycast agent");
    Agent { child, log }
}

/// A test's namespace, its node, and a directory for the agent's socket, kubeconfig and log
/// (kept when the test fails, for its logs).
struct Scene {
    ns: String,
    node: String,
    dir: PathBuf,
}

impl Scene {
    #[expect(
        clippy::unwrap_used,
        reason = "test fixture: a failed setup step fails the test"
    )]
    async fn new(admin: &Client, prefix: &str) -> Scene {
        let ns = controlplane::test_namespace(admin, prefix).await;
        let dir = std::env::temp_dir().join(format!("kat-k8s-agent-{ns}"));
        std::fs::create_dir_all(&dir).unwrap();
        Scene {
            node: format!("node-{ns}"),
            ns,
            dir,
        }
    }

    /// The local endpoint of `web` on this test's node, kept as `mode` says.
    fn endpoints(&self, admin: &Client, mode: Mode) -> Endpoints {
        Endpoints {
            mode,
            ns: self.ns.clone(),
            node: self.node.clone(),
            pods: Api::namespaced(admin.clone(), &self.ns),
            slices: Api::namespaced(admin.clone(), &self.ns),
        }
    }

    /// Starts the agent for this node with a token bound to the agent's rules only, and a bed
    /// whose ExaBGP runs the relay to it.
    async fn start(&self, cp: &ControlPlane, admin: &Client, extra: &[&str]) -> (Agent, Testbed) {
        let token = agent_token(admin, &self.ns).await;
        let socket = self.dir.join("exabgp.sock");
        let agent = start_agent(
            &kubeconfig(cp, &self.dir, &token),
            &self.node,
            &socket,
            &self.dir,
            extra,
        );
        let relay = env!("CARGO_BIN_EXE_kube-anycast");
        let socket = socket.display().to_string();
        let bed = tokio::task::block_in_place(|| {
            Testbed::up(&[relay, "exabgp-relay", "--socket", &socket])
        });
        (agent, bed)
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn route<'a>(rib: &'a [Route], prefix: &str) -> Option<&'a Route> {
    rib.iter().find(|r| r.prefix == prefix)
}

/// Waits (blocking this worker) for gobgpd's RIB to satisfy `done`.
fn wait_rib(
    bed: &Testbed,
    agent: &Agent,
    what: &str,
    done: impl Fn(&[Route]) -> bool,
) -> Vec<Route> {
    tokio::task::block_in_place(|| {
        wait_until(
            what,
            WAIT,
            || bed.routes().ok().filter(|rib| done(rib)),
            || {
                format!(
                    "RIB: {:#?}\nagent log:\n{}\n{}",
                    bed.routes(),
                    agent.log(),
                    bed.log_tails()
                )
            },
        )
    })
}

async fn eventually<T>(what: &str, agent: &Agent, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {WAIT:?}\nagent log:\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[expect(
    clippy::unwrap_used,
    reason = "test fixture: a failed setup step fails the test"
)]
fn endpoint_slice(ns: &str, node: &str, ready: bool, terminating: bool) -> EndpointSlice {
    serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "namespace": ns, "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.1.0.5"], "nodeName": node,
                       "conditions": {"ready": ready, "serving": ready, "terminating": terminating}}],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }))
    .unwrap()
}

async fn apply<K>(api: &Api<K>, name: &str, obj: &K)
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::apply("kat-test").force(),
        &Patch::Apply(obj),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {name}: {e}"));
}

/// Where the test puts the local endpoint, and so what the agent watches for it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// A Pod on this node, matched by the Service's selector (`--endpoints-from pods`).
    Pods,
    /// An EndpointSlice with an endpoint on this node (`--endpoints-from endpointslices`).
    Slices,
}

/// The local endpoint of service `web`, driven by hand (there is no kubelet or controller).
struct Endpoints {
    mode: Mode,
    ns: String,
    node: String,
    pods: Api<Pod>,
    slices: Api<EndpointSlice>,
}

#[expect(
    clippy::unwrap_used,
    reason = "test fixture: a failed step fails the test"
)]
impl Endpoints {
    async fn create_ready(&self, pod: &str) {
        self.create(pod, true).await;
    }

    /// A new local endpoint; a Pod without a Ready condition is not ready.
    async fn create(&self, pod: &str, ready: bool) {
        match self.mode {
            Mode::Slices => self.slice(ready, false).await,
            Mode::Pods => {
                let obj: Pod = serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": pod, "namespace": self.ns, "labels": {"app": "web"}},
                    "spec": {"nodeName": self.node,
                             "containers": [{"name": "c", "image": "registry.invalid/web:1"}]},
                }))
                .unwrap();
                self.pods
                    .create(&PostParams::default(), &obj)
                    .await
                    .unwrap();
                if ready {
                    self.pod_ready(pod, true).await;
                }
            }
        }
    }

    /// The endpoint is gone at once (a Pod deleted with grace 0, or the slice deleted).
    async fn remove(&self, pod: &str) {
        let now = DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        };
        match self.mode {
            Mode::Slices => drop(self.slices.delete("web-1", &now).await.unwrap()),
            Mode::Pods => drop(self.pods.delete(pod, &now).await.unwrap()),
        }
    }

    async fn set_ready(&self, pod: &str, ready: bool) {
        match self.mode {
            Mode::Slices => self.slice(ready, false).await,
            Mode::Pods => self.pod_ready(pod, ready).await,
        }
    }

    /// Starts terminating (a pod deleted with a grace period stays Terminating here).
    async fn terminate(&self, pod: &str) {
        match self.mode {
            Mode::Slices => self.slice(true, true).await,
            Mode::Pods => {
                let dp = DeleteParams {
                    grace_period_seconds: Some(300),
                    ..DeleteParams::default()
                };
                self.pods.delete(pod, &dp).await.unwrap();
            }
        }
    }

    async fn slice(&self, ready: bool, terminating: bool) {
        let obj = endpoint_slice(&self.ns, &self.node, ready, terminating);
        apply(&self.slices, "web-1", &obj).await;
    }

    async fn pod_ready(&self, pod: &str, ready: bool) {
        let status = if ready { "True" } else { "False" };
        let patch = json!({"status": {"phase": "Running", "podIP": "10.1.0.5",
            "conditions": [{"type": "Ready", "status": status}]}});
        self.pods
            .patch_status(pod, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap();
    }
}

/// This node, a pool granting only `ns` the address `vip`, the AnycastService `web` (no
/// probes: Kubernetes readiness alone backs it) and its Service (selector `app=web`).
async fn create_world(admin: &Client, ns: &str, node: &str, vip: &str) -> Api<AnycastService> {
    create_world_with(admin, ns, node, vip, &json!({})).await
}

/// As [`create_world`], with `extra` merged into the AnycastService's spec (probes, timings).
#[expect(
    clippy::unwrap_used,
    reason = "test fixture: a failed step fails the test"
)]
async fn create_world_with(
    admin: &Client,
    ns: &str,
    node: &str,
    vip: &str,
    extra: &serde_json::Value,
) -> Api<AnycastService> {
    let nodes: Api<Node> = Api::all(admin.clone());
    let node_obj: Node = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}),
    )
    .unwrap();
    apply(&nodes, node, &node_obj).await;
    let pool: AnycastPool = serde_json::from_value(json!({
        "apiVersion": "kube-anycast.io/v1alpha1", "kind": "AnycastPool",
        "metadata": {"name": format!("pool-{ns}")},
        "spec": {"cidrs": [format!("{vip}/32")],
                 "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                 "drain": {"mode": "GracefulShutdown", "delay": "3s"}},
    }))
    .unwrap();
    let pool_name = format!("pool-{ns}");
    apply(&Api::<AnycastPool>::all(admin.clone()), &pool_name, &pool).await;
    let services: Api<AnycastService> = Api::namespaced(admin.clone(), ns);
    let mut svc = json!({
        "apiVersion": "kube-anycast.io/v1alpha1", "kind": "AnycastService",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"addresses": [vip], "readiness": {"service": "web"}},
    });
    if let (Some(spec), Some(extra)) = (svc.get_mut("spec"), extra.as_object()) {
        for (k, v) in extra {
            spec[k] = v.clone();
        }
    }
    let svc: AnycastService = serde_json::from_value(svc).unwrap();
    apply(&services, "web", &svc).await;
    let k8s_svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]},
    }))
    .unwrap();
    apply(&Api::namespaced(admin.clone(), ns), "web", &k8s_svc).await;
    services
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agent_from_pods_announces_drains_and_reports() {
    scenario(Mode::Pods, "192.0.2.77").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agent_from_endpointslices_announces_drains_and_reports() {
    scenario(Mode::Slices, "192.0.2.78").await;
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, reads best in order"
)]
#[expect(clippy::unwrap_used, reason = "test")]
async fn scenario(mode: Mode, vip: &str) {
    support::testbed::require_root("the BGP test bed");
    let route_prefix = format!("{vip}/32");
    let has_route = |rib: &[Route]| route(rib, &route_prefix).is_some();
    let cp = controlplane::shared();
    let admin = cp.admin_client();
    let scene = Scene::new(&admin, "agent").await;
    let (ns, node) = (scene.ns.clone(), scene.node.clone());

    let services = create_world(&admin, &ns, &node, vip).await;
    let nodes: Api<Node> = Api::all(admin.clone());
    let endpoints = scene.endpoints(&admin, mode);
    endpoints.create_ready("web-1").await;

    let from = match mode {
        Mode::Pods => "pods",
        Mode::Slices => "endpointslices",
    };
    let (agent, bed) = scene
        .start(
            cp,
            &admin,
            &["--endpoints-from", from, "--metrics-listen", "127.0.0.1:0"],
        )
        .await;

    // 1. Ready endpoint on this node: announced with the up MED.
    let rib = wait_rib(&bed, &agent, "route announced", has_route);
    assert_eq!(route(&rib, &route_prefix).unwrap().med, Some(100));

    // 2. The advertisement says so.
    let adverts: Api<AnycastAdvertisement> = Api::namespaced(admin.clone(), &ns);
    let name = format!("web.{node}");
    let adv = eventually("advertisement Up", &agent, async || {
        let adv = adverts.get_opt(&name).await.ok().flatten()?;
        (adv.spec.state == AdvertisedState::Up).then_some(adv)
    })
    .await;
    assert_eq!(adv.spec.med, Some(100));
    assert_eq!(adv.spec.prefixes, std::slice::from_ref(&route_prefix));
    assert_eq!((adv.spec.ready_endpoints, adv.spec.total_endpoints), (1, 1));
    assert!(adv.spec.last_transition_time.is_some());
    let labels = adv.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("kube-anycast.io/service").map(String::as_str),
        Some("web")
    );
    assert_eq!(labels.get("kube-anycast.io/node"), Some(&node));
    let owner = &adv.metadata.owner_references.clone().unwrap_or_default()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("AnycastService", "web")
    );
    let managers: Vec<String> = adv
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(managers, [format!("kube-anycast/{node}")]);

    // 3. Unready withdraws at once, with the counts on the advertisement; ready announces.
    endpoints.set_ready("web-1", false).await;
    wait_rib(&bed, &agent, "withdrawn when unready", |rib| {
        !has_route(rib)
    });
    let adv = eventually("advertisement Down", &agent, async || {
        let adv = adverts.get_opt(&name).await.ok().flatten()?;
        (adv.spec.state == AdvertisedState::Down).then_some(adv)
    })
    .await;
    assert_eq!((adv.spec.ready_endpoints, adv.spec.total_endpoints), (0, 1));
    assert!(adv.spec.prefixes.is_empty());
    endpoints.set_ready("web-1", true).await;
    wait_rib(&bed, &agent, "announced when ready again", has_route);

    // 4. Terminating (still ready) withdraws at once; a new ready endpoint announces.
    endpoints.terminate("web-1").await;
    wait_rib(&bed, &agent, "withdrawn when terminating", |rib| {
        !has_route(rib)
    });
    endpoints.create_ready("web-2").await;
    wait_rib(&bed, &agent, "announced with a new endpoint", has_route);

    // 5. Cordon: GRACEFUL_SHUTDOWN for the pool's drain delay, then withdraw.
    let cordon = |on: bool| json!({"spec": {"unschedulable": on}});
    nodes
        .patch(&node, &PatchParams::default(), &Patch::Merge(cordon(true)))
        .await
        .unwrap();
    wait_rib(&bed, &agent, "graceful shutdown community", |rib| {
        route(rib, &route_prefix)
            .is_some_and(|r| r.communities.iter().any(|c| c == GRACEFUL_SHUTDOWN))
    });
    wait_rib(&bed, &agent, "withdrawn after the drain delay", |rib| {
        !has_route(rib)
    });
    nodes
        .patch(&node, &PatchParams::default(), &Patch::Merge(cordon(false)))
        .await
        .unwrap();
    wait_rib(&bed, &agent, "announced after uncordon", |rib| {
        route(rib, &route_prefix)
            .is_some_and(|r| !r.communities.iter().any(|c| c == GRACEFUL_SHUTDOWN))
    });

    // 5b. A MED offset annotation on the Node raises the announced MED.
    let offset =
        |v: Option<&str>| json!({"metadata": {"annotations": {"kube-anycast.io/med-offset": v}}});
    nodes
        .patch(
            &node,
            &PatchParams::default(),
            &Patch::Merge(offset(Some("20"))),
        )
        .await
        .unwrap();
    wait_rib(&bed, &agent, "MED 120 with the node's offset", |rib| {
        route(rib, &route_prefix).is_some_and(|r| r.med == Some(120))
    });
    nodes
        .patch(&node, &PatchParams::default(), &Patch::Merge(offset(None)))
        .await
        .unwrap();
    wait_rib(&bed, &agent, "MED 100 without the offset", |rib| {
        route(rib, &route_prefix).is_some_and(|r| r.med == Some(100))
    });

    // 6. Events name the service, the node and what happened, rate-limited: the scenario
    // changed the state eight times within seconds, and a service gets a burst of BURST.
    check_events(&admin, &ns, &node, &agent).await;

    // 6b. A node selector that excludes this node: withdrawn and the advertisement deleted;
    // selecting it again brings both back.
    let select = |sel: serde_json::Value| json!({"spec": {"nodeSelector": sel}});
    let elsewhere = select(json!({"kube-anycast.io/zone": "elsewhere"}));
    services
        .patch("web", &PatchParams::default(), &Patch::Merge(elsewhere))
        .await
        .unwrap();
    wait_rib(&bed, &agent, "withdrawn when not selected", |rib| {
        !has_route(rib)
    });
    eventually(
        "advertisement deleted when not selected",
        &agent,
        async || matches!(adverts.get_opt(&name).await, Ok(None)).then_some(()),
    )
    .await;
    services
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(select(serde_json::Value::Null)),
        )
        .await
        .unwrap();
    wait_rib(&bed, &agent, "announced when selected again", has_route);
    eventually("advertisement back", &agent, async || {
        adverts.get_opt(&name).await.ok().flatten()
    })
    .await;

    // 7. Deleting the service withdraws and deletes the advertisement.
    services
        .delete("web", &DeleteParams::background())
        .await
        .unwrap();
    wait_rib(&bed, &agent, "withdrawn after delete", |rib| {
        !has_route(rib)
    });
    eventually("advertisement deleted", &agent, async || {
        matches!(adverts.get_opt(&name).await, Ok(None)).then_some(())
    })
    .await;
    drop(bed);
    drop(agent);
}

async fn check_events(admin: &Client, ns: &str, node: &str, agent: &Agent) {
    let events: Api<Event> = Api::namespaced(admin.clone(), ns);
    let seen = eventually("Events", agent, async || {
        let list = events.list(&ListParams::default()).await.ok()?;
        let about_web: Vec<(String, String, i32)> = list
            .items
            .iter()
            // Agents of the other tests run beside this one: only this node's counts here.
            .filter(|e| e.reporting_instance.as_deref() == Some(node))
            .filter(|e| {
                e.regarding.as_ref().is_some_and(|r| {
                    r.kind.as_deref() == Some("AnycastService") && r.name.as_deref() == Some("web")
                })
            })
            .map(|e| {
                let count = e.series.as_ref().map_or(1, |s| s.count);
                let reason = e.reason.clone().unwrap_or_default();
                (reason, e.note.clone().unwrap_or_default(), count)
            })
            .collect();
        let has = |reason: &str| about_web.iter().any(|(r, _, _)| r == reason);
        (has("Announced") && has("Withdrawn")).then_some(about_web)
    })
    .await;
    let total: i32 = seen.iter().map(|(_, _, n)| n).sum();
    let burst = i32::try_from(kube_anycast::k8s::events::BURST).unwrap_or(i32::MAX);
    assert!(
        total <= burst,
        "rate limit: {total} Events > {burst}: {seen:#?}"
    );
    assert!(
        seen.iter()
            .all(|(_, note, _)| note.contains(&format!("node {node}"))),
        "every note names the node: {seen:#?}"
    );
}

fn is_forbidden<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::Api(s)) if s.code == 403)
}

#[tokio::test]
#[expect(clippy::too_many_lines, reason = "a table of allowed and denied calls")]
async fn the_agents_rules_suffice_and_deny_everything_else() {
    let cp = controlplane::shared();
    let admin = cp.admin_client();
    let ns = controlplane::test_namespace(&admin, "rbac").await;
    let token = agent_token(&admin, &ns).await;
    let agent = cp.client_with_token(&token);
    let lp = ListParams::default();
    // Allowed: everything the agent reads, and its own advertisements.
    let allowed = async |what: &str, r: Result<(), Error>| {
        assert!(r.is_ok(), "{what} should be allowed: {r:?}");
    };
    allowed(
        "list anycastservices",
        Api::<AnycastService>::all(agent.clone())
            .list(&lp)
            .await
            .map(drop),
    )
    .await;
    allowed(
        "list anycastpools",
        Api::<AnycastPool>::all(agent.clone())
            .list(&lp)
            .await
            .map(drop),
    )
    .await;
    allowed(
        "list endpointslices",
        Api::<EndpointSlice>::all(agent.clone())
            .list(&lp)
            .await
            .map(drop),
    )
    .await;
    allowed(
        "list pods",
        Api::<Pod>::all(agent.clone()).list(&lp).await.map(drop),
    )
    .await;
    allowed(
        "list nodes",
        Api::<Node>::all(agent.clone()).list(&lp).await.map(drop),
    )
    .await;
    allowed(
        "list advertisements",
        Api::<AnycastAdvertisement>::all(agent.clone())
            .list(&lp)
            .await
            .map(drop),
    )
    .await;
    // Denied: anything else.
    assert!(
        is_forbidden(
            &Api::<Secret>::namespaced(agent.clone(), &ns)
                .list(&lp)
                .await
        ),
        "secrets"
    );
    assert!(
        is_forbidden(
            &Api::<ConfigMap>::namespaced(agent.clone(), &ns)
                .list(&lp)
                .await
        ),
        "configmaps"
    );
    let svc: AnycastService = serde_json::from_value(json!({
        "apiVersion": "kube-anycast.io/v1alpha1", "kind": "AnycastService",
        "metadata": {"name": "x", "namespace": ns},
        "spec": {"addresses": ["192.0.2.1"], "readiness": {"service": "x"}},
    }))
    .unwrap();
    let svcs = Api::<AnycastService>::namespaced(agent.clone(), &ns);
    assert!(
        is_forbidden(&svcs.create(&PostParams::default(), &svc).await),
        "create anycastservices"
    );
    assert!(
        is_forbidden(&svcs.delete("x", &DeleteParams::default()).await),
        "delete anycastservices"
    );
    assert!(
        is_forbidden(
            &Api::<Node>::all(agent.clone())
                .patch("n", &PatchParams::default(), &Patch::Merge(json!({})))
                .await
        ),
        "patch nodes"
    );
    assert!(
        is_forbidden(
            &Api::<Pod>::namespaced(agent.clone(), &ns)
                .delete("p", &DeleteParams::default())
                .await
        ),
        "delete pods"
    );
    assert!(
        is_forbidden(
            &Api::<EndpointSlice>::namespaced(agent.clone(), &ns)
                .create(
                    &PostParams::default(),
                    &endpoint_slice(&ns, "n", true, false)
                )
                .await
        ),
        "create endpointslices"
    );
    assert!(
        is_forbidden(&Api::<Event>::namespaced(agent.clone(), &ns).list(&lp).await),
        "list events"
    );
    assert!(
        is_forbidden(&Api::<ClusterRole>::all(agent).list(&lp).await),
        "list clusterroles"
    );
}

/// The rules of a ClusterRole as sorted (group, resource, verb) triples.
fn rule_triples(role: &ClusterRole) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = role
        .rules
        .iter()
        .flatten()
        .flat_map(|r| {
            let groups = r.api_groups.clone().unwrap_or_default();
            let resources = r.resources.clone().unwrap_or_default();
            groups.into_iter().flat_map(move |g| {
                let verbs = r.verbs.clone();
                resources.clone().into_iter().flat_map(move |res| {
                    let g = g.clone();
                    verbs
                        .clone()
                        .into_iter()
                        .map(move |v| (g.clone(), res.clone(), v))
                })
            })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn the_rendered_chart_grants_exactly_the_agents_rules() {
    let ours: ClusterRole = serde_saphyr::from_str(CLUSTER_ROLE_YAML).unwrap();
    let rendered =
        std::fs::read_to_string(controlplane::repo_dir().join("deploy/10-kube-anycast.yaml"))
            .unwrap();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&rendered).unwrap();
    let chart: ClusterRole = docs
        .into_iter()
        .find(|d| d.get("kind").and_then(serde_json::Value::as_str) == Some("ClusterRole"))
        .map(|d| serde_json::from_value(d).unwrap())
        .expect("a ClusterRole in deploy/10-kube-anycast.yaml");
    assert_eq!(rule_triples(&chart), rule_triples(&ours));
}

/// Resumes a stopped (`SIGSTOP`) process when dropped, so a failed test leaves nothing frozen.
struct Frozen(nix::unistd::Pid);

impl Frozen {
    fn freeze(pid: u32) -> Frozen {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP)
            .unwrap_or_else(|e| panic!("SIGSTOP kube-apiserver {pid}: {e}"));
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGCONT);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_outage_holds_routes_then_withdraws_after_api_stale_after_and_converges() {
    support::testbed::require_root("the BGP test bed");
    // A control plane of its own: freezing the shared one would stall the other tests.
    let cp = tokio::task::block_in_place(ControlPlane::start)
        .unwrap_or_else(|e| panic!("test control plane unavailable: {e}"));
    let admin = cp.admin_client();
    let scene = Scene::new(&admin, "outage").await;
    let (ns, node) = (scene.ns.clone(), scene.node.clone());
    let vip = "192.0.2.79";
    let prefix = format!("{vip}/32");
    let has_route = |rib: &[Route]| route(rib, &prefix).is_some();
    create_world(&admin, &ns, &node, vip).await;
    let endpoints = scene.endpoints(&admin, Mode::Pods);
    endpoints.create_ready("web-1").await;
    let metrics_addr = free_local_addr();
    let (agent, bed) = scene
        .start(
            &cp,
            &admin,
            &["--api-stale-after", "4s", "--metrics-listen", &metrics_addr],
        )
        .await;
    wait_rib(&bed, &agent, "announced", has_route);

    let apiserver = cp
        .pids()
        .iter()
        .copied()
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "kube-apiserver")
        })
        .expect("the kube-apiserver PID");
    let frozen = Frozen::freeze(apiserver);
    let stopped = std::time::Instant::now();
    // Fail static: the last known state stays announced while the outage is young.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        has_route(&bed.routes().unwrap()),
        "held during the outage:\n{}",
        agent.log()
    );
    // Past --api-stale-after (plus one reachability check to notice), Kubernetes readiness
    // alone no longer backs the route.
    wait_rib(&bed, &agent, "withdrawn once readiness is stale", |rib| {
        !has_route(rib)
    });
    let withdrawn_after = stopped.elapsed();
    assert!(
        withdrawn_after >= Duration::from_secs(4),
        "{withdrawn_after:?}"
    );
    let metrics = scrape(&metrics_addr);
    for line in [
        "kube_anycast_k8s_readiness_stale 1",
        "kube_anycast_k8s_api_unreachable 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }

    // The API server is back: announced again, with no watch restart needed by hand.
    drop(frozen);
    wait_rib(
        &bed,
        &agent,
        "announced when the API server is back",
        has_route,
    );
    let metrics = scrape(&metrics_addr);
    assert!(
        metrics
            .lines()
            .any(|l| l == "kube_anycast_k8s_readiness_stale 0"),
        "{metrics}"
    );
    eprintln!(
        "[outage] withdrawn {withdrawn_after:.1?} after the API server froze (--api-stale-after 4s)"
    );
    drop(bed);
    drop(agent);
}

#[test]
fn the_agent_without_services_dir_needs_a_node_name() {
    let out = Command::new(env!("CARGO_BIN_EXE_kube-anycast"))
        .args(["agent", "--vip-interface", "none"])
        .env_remove("NODE_NAME")
        .env_remove("KUBE_ANYCAST_SERVICES_DIR")
        .output()
        .unwrap_or_else(|e| panic!("run kube-anycast agent: {e}"));
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--node-name"), "{stderr}");
}

/// A loopback address with a port that was free a moment ago.
fn free_local_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("bind a free port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local address: {e}"))
        .to_string()
}

/// GET /metrics over plain HTTP/1.0.
fn scrape(addr: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut conn = std::net::TcpStream::connect(addr)
        .unwrap_or_else(|e| panic!("connect to the agent's metrics at {addr}: {e}"));
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: agent\r\n\r\n")
        .unwrap_or_else(|e| panic!("send to {addr}: {e}"));
    let mut text = String::new();
    conn.read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("read from {addr}: {e}"));
    text
}

/// Where advertisements are written (`kube_anycast::plan::keeps_advertisement`): a node writes
/// one for a service only while it announces it or has a local endpoint of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_advertisement_only_where_the_node_has_endpoints_or_announces() {
    support::testbed::require_root("the BGP test bed");
    let (vip, other_vip) = ("192.0.2.81", "192.0.2.82");
    let prefix = format!("{vip}/32");
    let other_prefix = format!("{other_vip}/32");
    let cp = controlplane::shared();
    let admin = cp.admin_client();
    let scene = Scene::new(&admin, "presence").await;
    let (ns, node) = (scene.ns.clone(), scene.node.clone());

    // `web` has no pod anywhere yet; `www` (its own pool, Service and a ready pod on this
    // node) is the marker that the agent has planned and written.
    create_world(&admin, &ns, &node, vip).await;
    let pool: AnycastPool = serde_json::from_value(json!({
        "apiVersion": "kube-anycast.io/v1alpha1", "kind": "AnycastPool",
        "metadata": {"name": format!("pool2-{ns}")},
        "spec": {"cidrs": [format!("{other_vip}/32")],
                 "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}},
    }))
    .unwrap();
    let pool_name = format!("pool2-{ns}");
    apply(&Api::<AnycastPool>::all(admin.clone()), &pool_name, &pool).await;
    let www: AnycastService = serde_json::from_value(json!({
        "apiVersion": "kube-anycast.io/v1alpha1", "kind": "AnycastService",
        "metadata": {"name": "www", "namespace": ns},
        "spec": {"addresses": [other_vip], "readiness": {"service": "www"}},
    }))
    .unwrap();
    apply(&Api::namespaced(admin.clone(), &ns), "www", &www).await;
    let www_svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "www", "namespace": ns},
        "spec": {"selector": {"app": "www"}, "ports": [{"name": "http", "port": 80}]},
    }))
    .unwrap();
    apply(&Api::namespaced(admin.clone(), &ns), "www", &www_svc).await;
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
    let www_pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "www-1", "namespace": ns, "labels": {"app": "www"}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.invalid/www:1"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &www_pod).await.unwrap();
    let ready = json!({"status": {"phase": "Running", "podIP": "10.1.0.9",
        "conditions": [{"type": "Ready", "status": "True"}]}});
    pods.patch_status("www-1", &PatchParams::default(), &Patch::Merge(ready))
        .await
        .unwrap();
    let endpoints = scene.endpoints(&admin, Mode::Pods);

    let (agent, bed) = scene
        .start(cp, &admin, &["--metrics-listen", "127.0.0.1:0"])
        .await;
    let adverts: Api<AnycastAdvertisement> = Api::namespaced(admin.clone(), &ns);
    let web_name = format!("web.{node}");
    let www_name = format!("www.{node}");
    let state_of = async |name: &str| {
        adverts
            .get_opt(name)
            .await
            .unwrap()
            .map(|a| (a.spec.state, a.spec.ready_endpoints, a.spec.total_endpoints))
    };

    // 1. No endpoint of `web` here and nothing announced: no advertisement. The writer sends
    // one plan's ops in service order and the applier writes them in name order, so once
    // `www`'s is there, `web`'s would be too.
    wait_rib(&bed, &agent, "www announced", |rib| {
        route(rib, &other_prefix).is_some()
    });
    eventually("www's advertisement", &agent, async || {
        (state_of(&www_name).await? == (AdvertisedState::Up, 1, 1)).then_some(())
    })
    .await;
    assert_eq!(state_of(&web_name).await, None, "{}", agent.log());
    let by_service = ListParams::default().labels("kube-anycast.io/service=web");
    assert!(adverts.list(&by_service).await.unwrap().items.is_empty());
    assert!(route(&bed.routes().unwrap(), &prefix).is_none());

    // 2. A pod lands, not ready: the node now matters for `web`, Down 0/1.
    endpoints.create("web-1", false).await;
    eventually("web's advertisement, Down 0/1", &agent, async || {
        (state_of(&web_name).await? == (AdvertisedState::Down, 0, 1)).then_some(())
    })
    .await;
    let listed = adverts.list(&by_service).await.unwrap().items;
    let nodes: Vec<&str> = listed.iter().map(|a| a.spec.node.as_str()).collect();
    assert_eq!(nodes, [node.as_str()]);

    // 3. Ready: announced, Up 1/1.
    endpoints.set_ready("web-1", true).await;
    wait_rib(&bed, &agent, "web announced", |rib| {
        route(rib, &prefix).is_some()
    });
    eventually("web's advertisement, Up 1/1", &agent, async || {
        (state_of(&web_name).await? == (AdvertisedState::Up, 1, 1)).then_some(())
    })
    .await;

    // 4. The pod goes at once: withdrawn, and the advertisement deleted; `www`'s stays.
    endpoints.remove("web-1").await;
    wait_rib(&bed, &agent, "web withdrawn", |rib| {
        route(rib, &prefix).is_none() && route(rib, &other_prefix).is_some()
    });
    eventually("web's advertisement deleted", &agent, async || {
        state_of(&web_name).await.is_none().then_some(())
    })
    .await;
    assert_eq!(state_of(&www_name).await, Some((AdvertisedState::Up, 1, 1)));
    drop(bed);
    drop(agent);
}

/// What the test's health endpoint answers, per path.
#[derive(Debug, Default)]
struct Checks {
    /// 200 (true) or 503 (false); a path not set answers 503.
    passing: std::collections::BTreeMap<String, bool>,
    /// Answers given in a row with the current verdict, since it was last set.
    streak: std::collections::BTreeMap<String, u32>,
    /// Hold the next answer for this path once its streak reaches this count, until released.
    hold: Option<(String, u32)>,
    /// When the held request arrived.
    held_since: Option<std::time::Instant>,
}

/// An HTTP health endpoint on 127.0.0.1 that the test controls. It counts the answers it
/// gives, so the test knows how many results the agent's probe has seen, and it can hold an
/// answer back, so "not withdrawn before the `fall`-th failure" is checked while that failure
/// cannot have happened yet (no timing tolerance to flake).
struct HealthServer {
    addr: std::net::SocketAddr,
    shared: std::sync::Arc<(std::sync::Mutex<Checks>, std::sync::Condvar)>,
}

#[expect(
    clippy::unwrap_used,
    reason = "test fixture: a poisoned lock or a failed bind fails the test"
)]
impl HealthServer {
    fn start() -> HealthServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = std::sync::Arc::new((
            std::sync::Mutex::new(Checks::default()),
            std::sync::Condvar::new(),
        ));
        let state = shared.clone();
        // Lives as long as the test process; each connection gets a thread, as a held answer
        // must not block the other path's probe.
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let state = state.clone();
                std::thread::spawn(move || Self::answer(conn, &state));
            }
        });
        HealthServer { addr, shared }
    }

    fn answer(
        mut conn: std::net::TcpStream,
        state: &(std::sync::Mutex<Checks>, std::sync::Condvar),
    ) {
        use std::io::{Read as _, Write as _};
        let mut request = Vec::new();
        let mut buf = [0_u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&request);
        let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let (lock, cvar) = state;
        let mut c = lock.lock().unwrap();
        loop {
            let streak = c.streak.get(&path).copied().unwrap_or(0);
            let held = c
                .hold
                .as_ref()
                .is_some_and(|(p, n)| *p == path && streak >= *n);
            if !held {
                break;
            }
            c.held_since.get_or_insert_with(std::time::Instant::now);
            c = cvar.wait(c).unwrap();
        }
        let ok = c.passing.get(&path).copied().unwrap_or(false);
        *c.streak.entry(path).or_default() += 1;
        cvar.notify_all();
        drop(c);
        let status = if ok {
            "200 OK"
        } else {
            "503 Service Unavailable"
        };
        let _ = conn.write_all(
            format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .as_bytes(),
        );
    }

    /// Answers `path` with 200 or 503 from now on; holds its answer once `hold` answers in a
    /// row were given.
    fn set(&self, path: &str, passing: bool, hold: Option<u32>) {
        let (lock, cvar) = &*self.shared;
        let mut c = lock.lock().unwrap();
        c.passing.insert(path.to_owned(), passing);
        c.streak.insert(path.to_owned(), 0);
        c.hold = hold.map(|n| (path.to_owned(), n));
        c.held_since = None;
        cvar.notify_all();
    }

    /// Lets a held answer go; returns how long it was held.
    fn release(&self) -> Duration {
        let (lock, cvar) = &*self.shared;
        let mut c = lock.lock().unwrap();
        c.hold = None;
        let held = c.held_since.take().map(|t| t.elapsed()).unwrap_or_default();
        cvar.notify_all();
        held
    }

    /// Waits until `path` has given `n` answers in a row with its current verdict.
    fn wait_streak(&self, path: &str, n: u32) {
        let (lock, cvar) = &*self.shared;
        let deadline = std::time::Instant::now() + WAIT;
        let mut c = lock.lock().unwrap();
        while c.streak.get(path).copied().unwrap_or(0) < n {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "{path}: {n} answers in a row not within {WAIT:?}: {c:?}"
            );
            c = cvar.wait_timeout(c, left).unwrap().0;
        }
    }
}

/// Interval and fast interval of the probe test (equal, so `fall` failures take `fall - 1`
/// intervals after the first), and its dampening.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
const RISE: u32 = 2;
const FALL: u32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, reads best in order"
)]
async fn a_failing_probe_withdraws_after_fall_and_returns_after_rise() {
    support::testbed::require_root("the BGP test bed");
    let vip = "192.0.2.80";
    let prefix = format!("{vip}/32");
    let med = |rib: &[Route]| route(rib, &prefix).map(|r| r.med);
    let cp = controlplane::shared();
    let admin = cp.admin_client();
    let scene = Scene::new(&admin, "probe").await;
    let (ns, node) = (scene.ns.clone(), scene.node.clone());

    // Two HTTP probes against the test's listener, run by the agent on the node: `main`
    // (weight 8) and `extra` (weight 2), with the default thresholds up 90 % and degraded
    // 70 %. The timeout is far above the interval: an answer the test holds must not time out.
    let health = HealthServer::start();
    health.set("/main", true, None);
    health.set("/extra", true, None);
    let address = health.addr.to_string();
    let port = health.addr.port();
    let probe = |name: &str, weight: u32| {
        json!({"name": name, "weight": weight, "timeout": "30s", "target": "Address",
               "address": address, "http": {"port": port, "path": format!("/{name}")}})
    };
    let interval = format!("{}s", PROBE_INTERVAL.as_secs());
    // Every agent runs the probes of every service that selects its node, with or without
    // local endpoints; the agents of the tests beside this one would probe the endpoint too
    // and skew its counts. So the service selects only this test's node.
    let extra = json!({
        "probes": [probe("main", 8), probe("extra", 2)],
        "timings": {"interval": interval, "fastInterval": interval, "rise": RISE, "fall": FALL},
        "nodeSelector": {"kube-anycast.io/test": ns},
    });
    create_world_with(&admin, &ns, &node, vip, &extra).await;
    let label = json!({"metadata": {"labels": {"kube-anycast.io/test": ns}}});
    Api::<Node>::all(admin.clone())
        .patch(&node, &PatchParams::default(), &Patch::Merge(label))
        .await
        .unwrap();
    let endpoints = scene.endpoints(&admin, Mode::Pods);
    endpoints.create_ready("web-1").await;
    let (agent, bed) = scene
        .start(cp, &admin, &["--metrics-listen", "127.0.0.1:0"])
        .await;
    let adverts: Api<AnycastAdvertisement> = Api::namespaced(admin.clone(), &ns);
    let name = format!("web.{node}");
    let advert_in = async |state: AdvertisedState| {
        eventually(&format!("advertisement {state:?}"), &agent, async || {
            let adv = adverts.get_opt(&name).await.ok().flatten()?;
            (adv.spec.state == state).then_some(adv)
        })
        .await
    };

    // 1. A ready local pod and both probes passing: up, MED 100.
    wait_rib(&bed, &agent, "announced at MED 100", |rib| {
        med(rib) == Some(Some(100))
    });
    advert_in(AdvertisedState::Up).await;

    // 2. `main` fails. After FALL - 1 failures the route is still up: the FALL-th answer is
    // held back while the test looks, so it cannot have been seen yet.
    let switched = std::time::Instant::now();
    health.set("/main", false, Some(FALL - 1));
    health.wait_streak("/main", FALL - 1);
    let before_last = switched.elapsed();
    // The agent probes once an interval: FALL - 1 failures take at least FALL - 2 intervals.
    assert!(
        before_last >= PROBE_INTERVAL * (FALL - 2),
        "{} failures after {before_last:?}: probed faster than the interval",
        FALL - 1
    );
    let rib = tokio::task::block_in_place(|| bed.routes()).unwrap();
    assert_eq!(
        med(&rib),
        Some(Some(100)),
        "still announced after {} failures ({before_last:.1?}): {rib:#?}\n{}",
        FALL - 1,
        agent.log()
    );
    let adv = adverts.get(&name).await.unwrap();
    assert_eq!(adv.spec.state, AdvertisedState::Up, "{:?}", adv.spec);
    let released = std::time::Instant::now();
    let held = health.release();
    wait_rib(&bed, &agent, "withdrawn after the FALL-th failure", |rib| {
        med(rib).is_none()
    });
    // Probing time: from the switch to the withdraw at the peer, less the time the test held
    // the last answer. FALL failures take at most FALL intervals (the first comes within one).
    let probing = switched.elapsed().saturating_sub(held);
    let bound = PROBE_INTERVAL * FALL + Duration::from_secs(10);
    assert!(probing <= bound, "withdrawn after {probing:?} > {bound:?}");
    eprintln!(
        "[probe] {} failures after {before_last:.1?}: still announced; withdrawn {:.1?} after \
         the last answer was released, {probing:.1?} of probing (fall x interval = {:?})",
        FALL - 1,
        released.elapsed(),
        PROBE_INTERVAL * FALL
    );

    // 3. The advertisement shows the verdicts and why it is down; an Event says so.
    let adv = advert_in(AdvertisedState::Down).await;
    let verdicts: Vec<(&str, bool)> = adv
        .spec
        .probes
        .iter()
        .map(|p| (p.name.as_str(), p.passing))
        .collect();
    assert_eq!(
        verdicts,
        [("main", false), ("extra", true)],
        "{:?}",
        adv.spec
    );
    assert!(
        adv.spec.reason.contains("failing: main") && adv.spec.reason.contains("score 20%"),
        "reason: {}",
        adv.spec.reason
    );
    assert!(adv.spec.prefixes.is_empty() && adv.spec.med.is_none());
    assert_eq!((adv.spec.ready_endpoints, adv.spec.total_endpoints), (1, 1));
    let events: Api<Event> = Api::namespaced(admin.clone(), &ns);
    let withdrawn_note = eventually("a Withdrawn Event", &agent, async || {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .filter(|e| e.reporting_instance.as_deref() == Some(node.as_str()))
            .find(|e| e.reason.as_deref() == Some("Withdrawn"))
            .and_then(|e| e.note)
    })
    .await;
    assert!(
        withdrawn_note.contains(&format!("node {node}"))
            && withdrawn_note.contains("failing: main"),
        "{withdrawn_note}"
    );

    // 4. `main` passes again: still withdrawn after RISE - 1 passes (the RISE-th is held),
    // announced after the RISE-th.
    health.set("/main", true, Some(RISE - 1));
    health.wait_streak("/main", RISE - 1);
    let rib = tokio::task::block_in_place(|| bed.routes()).unwrap();
    assert_eq!(
        med(&rib),
        None,
        "still withdrawn after {} passes: {rib:#?}",
        RISE - 1
    );
    health.release();
    wait_rib(&bed, &agent, "announced after RISE passes", |rib| {
        med(rib) == Some(Some(100))
    });
    let adv = advert_in(AdvertisedState::Up).await;
    assert!(adv.spec.probes.iter().all(|p| p.passing), "{:?}", adv.spec);

    // 5. `extra` fails: score 80 %, between the thresholds: still announced, degraded MED.
    health.set("/extra", false, None);
    wait_rib(&bed, &agent, "degraded MED 150", |rib| {
        med(rib) == Some(Some(150))
    });
    let adv = advert_in(AdvertisedState::Degraded).await;
    assert_eq!(adv.spec.med, Some(150));
    assert!(
        adv.spec.reason.contains("score 80%") && adv.spec.reason.contains("failing: extra"),
        "reason: {}",
        adv.spec.reason
    );
    drop(bed);
    drop(agent);
}
