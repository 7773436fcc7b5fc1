//! Smoke tests of the test control plane (tests/support/controlplane.rs): they prove that
//! the real kube-apiserver + etcd behave as the project's integration tests will rely on.

#[allow(
    dead_code,
    unused_imports,
    reason = "shared by several test crates, each using a part"
)]
mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::runtime::watcher;
use kube::{Client, Error};
use serde_json::json;
use support::controlplane;

const GROUP: &str = "harness.kube-anycast.test";

/// A small namespaced CRD with a CEL rule on `spec` that reports on `spec.med`.
fn probe_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("probes.{GROUP}") },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": { "plural": "probes", "singular": "probe", "kind": "Probe" },
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "subresources": { "status": {} },
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["prefix"],
                            "properties": {
                                "prefix": { "type": "string" },
                                "med": { "type": "integer" }
                            },
                            "x-kubernetes-validations": [{
                                "rule": "!has(self.med) || self.med <= 1000",
                                "message": "med must be at most 1000",
                                "fieldPath": ".med"
                            }]
                        },
                        "status": {
                            "type": "object",
                            "properties": { "ready": { "type": "boolean" } }
                        }
                    }
                }}
            }]
        }
    }))
    .unwrap_or_else(|e| panic!("the test CRD: {e}"))
}

async fn probes(client: &Client, ns: &str) -> Api<DynamicObject> {
    controlplane::crds::apply_and_wait(client, &probe_crd(), Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("installing the test CRD: {e}"));
    let gvk = GroupVersionKind::gvk(GROUP, "v1", "Probe");
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "probes"),
    )
}

fn probe(name: &str, med: i64) -> serde_json::Value {
    json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": "Probe",
        "metadata": { "name": name },
        "spec": { "prefix": "192.0.2.0/24", "med": med }
    })
}

fn api_error(result: Result<impl std::fmt::Debug, Error>) -> kube::core::Status {
    match result {
        Err(Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Retries `f` until it succeeds: RBAC changes reach the authorizer's cache asynchronously.
async fn eventually<T, F: AsyncFnMut() -> Result<T, Error>>(mut f: F) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match f().await {
            Ok(value) => return value,
            Err(e) if Instant::now() > deadline => panic!("still failing after 10 s: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test]
async fn crd_object_is_stored_and_cel_rejects_a_bad_one() {
    let client = controlplane::shared().admin_client();
    let ns = controlplane::test_namespace(&client, "cel").await;
    let api = probes(&client, &ns).await;
    let obj: DynamicObject = serde_json::from_value(probe("good", 100)).unwrap();

    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(created.data["spec"]["med"], 100);
    let read = api.get("good").await.unwrap();
    assert_eq!(read.data["spec"]["prefix"], "192.0.2.0/24");

    let bad: DynamicObject = serde_json::from_value(probe("bad", 5000)).unwrap();
    let status = api_error(api.create(&PostParams::default(), &bad).await);
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status.message.contains("spec.med"),
        "field not named: {}",
        status.message
    );
    assert!(
        status.message.contains("med must be at most 1000"),
        "{}",
        status.message
    );
    assert!(api_error(api.get("bad").await).is_not_found());
}

#[tokio::test]
async fn server_side_apply_conflict_then_force() {
    let client = controlplane::shared().admin_client();
    let ns = controlplane::test_namespace(&client, "ssa").await;
    let api = probes(&client, &ns).await;

    api.patch(
        "p",
        &PatchParams::apply("alpha"),
        &Patch::Apply(probe("p", 10)),
    )
    .await
    .unwrap();
    let status = api_error(
        api.patch(
            "p",
            &PatchParams::apply("beta"),
            &Patch::Apply(probe("p", 20)),
        )
        .await,
    );
    assert_eq!(status.code, 409, "{status:?}");
    assert!(status.message.contains(".spec.med"), "{}", status.message);
    assert!(status.message.contains("alpha"), "{}", status.message);
    assert_eq!(api.get("p").await.unwrap().data["spec"]["med"], 10);

    let forced = PatchParams::apply("beta").force();
    let obj = api
        .patch("p", &forced, &Patch::Apply(probe("p", 20)))
        .await
        .unwrap();
    assert_eq!(obj.data["spec"]["med"], 20);
    let fields = obj.metadata.managed_fields.unwrap();
    let owns_med = |manager: &str| {
        fields.iter().any(|f| {
            f.manager.as_deref() == Some(manager)
                && f.fields_v1
                    .as_ref()
                    .is_some_and(|v| v.0.to_string().contains("f:med"))
        })
    };
    assert!(owns_med("beta"), "{fields:?}");
    assert!(!owns_med("alpha"), "{fields:?}");
    // Both applied the same prefix, so alpha keeps a (shared) entry.
    assert!(fields.iter().any(|f| f.manager.as_deref() == Some("alpha")));
}

#[tokio::test]
async fn watch_sees_pod_scheduled_by_hand_and_patched_ready() {
    let client = controlplane::shared().admin_client();
    let ns = controlplane::test_namespace(&client, "watch").await;
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    let mut events = watcher(pods.clone(), watcher::Config::default()).boxed();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("no watch event within 20 s")
            .expect("watch stream ended")
            .expect("watch error")
    };
    // Only create the Pod once the initial list is done, so the watch must see it.
    while !matches!(next().await, watcher::Event::InitDone) {}

    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": "web" },
        "spec": {
            "nodeName": "node-a",
            "containers": [{ "name": "app", "image": "registry.invalid/app:1" }]
        }
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let watcher::Event::Apply(seen) = next().await else {
        panic!("expected the new Pod")
    };
    assert_eq!(seen.spec.unwrap().node_name.as_deref(), Some("node-a"));
    assert_eq!(seen.status.unwrap().phase.as_deref(), Some("Pending"));

    // The kubelet's job, done by the test.
    let status = json!({ "status": {
        "phase": "Running",
        "podIP": "10.244.0.7",
        "conditions": [
            { "type": "Ready", "status": "True" },
            { "type": "ContainersReady", "status": "True" }
        ]
    }});
    pods.patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let watcher::Event::Apply(seen) = next().await else {
        panic!("expected the update")
    };
    let status = seen.status.unwrap();
    assert_eq!(status.pod_ip.as_deref(), Some("10.244.0.7"));
    let conditions = status.conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
}

#[tokio::test]
async fn endpointslice_round_trip() {
    let client = controlplane::shared().admin_client();
    let ns = controlplane::test_namespace(&client, "eps").await;
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let slices: Api<EndpointSlice> = Api::namespaced(client, &ns);
    let svc: Service = serde_json::from_value(json!({
        "metadata": { "name": "dns" },
        "spec": { "selector": { "app": "dns" }, "ports": [{ "name": "dns", "port": 53, "protocol": "UDP" }] }
    }))
    .unwrap();
    let svc = services.create(&PostParams::default(), &svc).await.unwrap();
    assert!(svc.spec.unwrap().cluster_ip.unwrap().starts_with("10."));
    let by_service = ListParams::default().labels("kubernetes.io/service-name=dns");
    // No EndpointSlice controller: nothing appears unless a test creates it.
    assert!(slices.list(&by_service).await.unwrap().items.is_empty());

    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": { "name": "dns-abc", "labels": { "kubernetes.io/service-name": "dns" } },
        "addressType": "IPv4",
        "endpoints": [{
            "addresses": ["10.244.0.7"],
            "conditions": { "ready": true, "serving": true, "terminating": false },
            "nodeName": "node-a",
            "targetRef": { "kind": "Pod", "name": "dns-1", "namespace": ns }
        }],
        "ports": [{ "name": "dns", "port": 53, "protocol": "UDP" }]
    }))
    .unwrap();
    slices.create(&PostParams::default(), &slice).await.unwrap();
    let listed = slices.list(&by_service).await.unwrap().items;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].endpoints, slice.endpoints);
    assert_eq!(listed[0].ports, slice.ports);

    let not_ready = json!({ "endpoints": [{
        "addresses": ["10.244.0.7"], "conditions": { "ready": false, "terminating": true }
    }]});
    slices
        .patch(
            "dns-abc",
            &PatchParams::default(),
            &Patch::Merge(&not_ready),
        )
        .await
        .unwrap();
    let read = slices.get("dns-abc").await.unwrap();
    let endpoints = read.endpoints.unwrap();
    assert_eq!(endpoints[0].conditions.as_ref().unwrap().ready, Some(false));

    slices
        .delete("dns-abc", &DeleteParams::default())
        .await
        .unwrap();
    assert!(api_error(slices.get("dns-abc").await).is_not_found());
}

#[tokio::test]
async fn restricted_user_is_forbidden_until_a_role_grants_it() {
    let cp = controlplane::shared();
    let admin = cp.admin_client();
    let ns = controlplane::test_namespace(&admin, "rbac").await;
    let other = controlplane::test_namespace(&admin, "rbac-other").await;
    let restricted = cp.restricted_client();
    let pods: Api<Pod> = Api::namespaced(restricted.clone(), &ns);

    let status = api_error(pods.list(&ListParams::default()).await);
    assert!(status.is_forbidden(), "{status:?}");
    assert!(
        status.message.contains(controlplane::RESTRICTED_USER),
        "{}",
        status.message
    );

    grant_pod_reader(
        &admin,
        &ns,
        json!({ "kind": "User", "name": controlplane::RESTRICTED_USER }),
    )
    .await;
    eventually(async || pods.list(&ListParams::default()).await).await;
    let foreign: Api<Pod> = Api::namespaced(restricted, &other);
    assert!(api_error(foreign.list(&ListParams::default()).await).is_forbidden());
    assert!(api_error(pods.delete("any", &DeleteParams::default()).await).is_forbidden());
}

/// A Role that may read Pods in `ns`, bound to `subject`.
async fn grant_pod_reader(admin: &Client, ns: &str, subject: serde_json::Value) {
    let role: Role = serde_json::from_value(json!({
        "metadata": { "name": "pod-reader" },
        "rules": [{ "apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"] }]
    }))
    .unwrap_or_else(|e| panic!("the Role: {e}"));
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": { "name": "pod-reader" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader" },
        "subjects": [subject]
    }))
    .unwrap_or_else(|e| panic!("the RoleBinding: {e}"));
    let pp = PostParams::default();
    if let Err(e) = Api::<Role>::namespaced(admin.clone(), ns)
        .create(&pp, &role)
        .await
    {
        panic!("creating the Role: {e}");
    }
    if let Err(e) = Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .create(&pp, &binding)
        .await
    {
        panic!("creating the RoleBinding: {e}");
    }
}

#[tokio::test]
async fn token_request_issues_a_working_service_account_token() {
    let cp = controlplane::shared();
    let admin = cp.admin_client();
    let ns = controlplane::test_namespace(&admin, "token").await;
    // No ServiceAccount controller: the test creates the account itself.
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &ns);
    let sa: ServiceAccount =
        serde_json::from_value(json!({ "metadata": { "name": "robot" } })).unwrap();
    accounts.create(&PostParams::default(), &sa).await.unwrap();

    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let issued = accounts
        .create_token_request("robot", &PostParams::default(), &request)
        .await
        .unwrap();
    let token = issued.status.unwrap().token.unwrap();
    assert!(!token.is_empty());

    let robot = cp.client_with_token(&token);
    let review = Api::<SelfSubjectReview>::all(robot.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap();
    let user = review.status.unwrap().user_info.unwrap();
    assert_eq!(
        user.username,
        Some(format!("system:serviceaccount:{ns}:robot"))
    );

    let pods: Api<Pod> = Api::namespaced(robot, &ns);
    assert!(api_error(pods.list(&ListParams::default()).await).is_forbidden());
    grant_pod_reader(
        &admin,
        &ns,
        json!({ "kind": "ServiceAccount", "name": "robot", "namespace": ns }),
    )
    .await;
    eventually(async || pods.list(&ListParams::default()).await).await;

    // A made-up token is not authenticated at all.
    let stranger = cp.client_with_token("not-a-real-token");
    let status = api_error(
        Api::<Pod>::namespaced(stranger, &ns)
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(status.code, 401, "{status:?}");
}

#[tokio::test]
async fn project_crds_are_established() {
    let crds: Api<CustomResourceDefinition> = Api::all(controlplane::shared().admin_client());
    // No crds/ yet means nothing to check; the harness installed whatever is there.
    for crd in controlplane::crds::parse_dir(&controlplane::repo_dir().join("crds")).unwrap() {
        let name = crd.metadata.name.unwrap();
        let status = crds.get(&name).await.unwrap().status.unwrap();
        let conditions = status.conditions.unwrap_or_default();
        assert!(
            conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"),
            "{name}: {conditions:?}"
        );
    }
}

/// A control plane of its own (not the shared one) is stopped and cleaned up on drop.
#[tokio::test]
async fn dropping_a_control_plane_stops_its_processes() {
    let cp = tokio::task::spawn_blocking(controlplane::ControlPlane::start)
        .await
        .unwrap()
        .unwrap();
    let version = cp.admin_client().apiserver_version().await.unwrap();
    assert_eq!(version.git_version, controlplane::k8s_version().unwrap());
    let (pids, dir) = (cp.pids(), cp.dir().to_path_buf());
    assert_eq!(pids.len(), 2);
    assert!(dir.is_dir());

    tokio::task::spawn_blocking(move || drop(cp)).await.unwrap();
    // Stopped and reaped, so the PIDs are gone, not zombies.
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} still there"
        );
    }
    assert!(!dir.exists(), "{} left behind", dir.display());
}

/// `kill -9` and restart keep the control plane's state: etcd comes back on its data dir,
/// kube-apiserver on its port with its certificates and tokens (the chaos suite relies on it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_servers_restart_with_their_state() {
    let cp = tokio::task::spawn_blocking(controlplane::ControlPlane::start)
        .await
        .unwrap()
        .unwrap();
    let ns = controlplane::test_namespace(&cp.admin_client(), "restart").await;
    let before = cp.pids();
    for name in ["kube-apiserver", "etcd"] {
        tokio::task::block_in_place(|| cp.kill_server(name)).unwrap();
        assert_eq!(cp.pid_of(name), None, "{name} has no PID while killed");
    }
    for name in ["etcd", "kube-apiserver"] {
        tokio::task::block_in_place(|| cp.restart_server(name)).unwrap();
    }
    let after = cp.pids();
    assert_eq!(after.len(), 2);
    assert!(
        after.iter().all(|pid| !before.contains(pid)),
        "{before:?} -> {after:?}"
    );
    // A new client: the old one's connections went with the killed server.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cp.admin_client());
    let deadline = Instant::now() + Duration::from_mins(1);
    let found = loop {
        match namespaces.get(&ns).await {
            Ok(found) => break found,
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("namespace {ns} after the restart: {e}"),
        }
    };
    assert_eq!(found.metadata.name.as_deref(), Some(ns.as_str()));
    tokio::task::spawn_blocking(move || drop(cp)).await.unwrap();
}

/// `crds/` files may hold several documents, comments and empty documents.
#[tokio::test]
async fn crd_directory_with_multi_document_yaml_is_installed() {
    let client = controlplane::shared().admin_client();
    let dir = std::env::temp_dir().join(format!("kat-crds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let crd = |plural: &str, kind: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
             metadata:\n  name: {plural}.multidoc.kube-anycast.test\nspec:\n  \
             group: multidoc.kube-anycast.test\n  scope: Cluster\n  names:\n    \
             plural: {plural}\n    kind: {kind}\n  versions:\n  - name: v1\n    \
             served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        \
             type: object\n        x-kubernetes-preserve-unknown-fields: true\n"
        )
    };
    let text = format!(
        "---\n# two CRDs\n{}---\n---\n{}",
        crd("alphas", "Alpha"),
        crd("betas", "Beta")
    );
    std::fs::write(dir.join("multi.yaml"), text).unwrap();
    std::fs::write(dir.join("README.md"), "not YAML, ignored").unwrap();

    let result = controlplane::crds::install_dir(&client, &dir, Duration::from_secs(30)).await;
    // Anything but a CRD in crds/ is refused, before anything is applied.
    std::fs::write(
        dir.join("zz.yml"),
        "kind: ConfigMap\nmetadata:\n  name: x\n",
    )
    .unwrap();
    let refused = controlplane::crds::parse_dir(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    result.unwrap();
    let message = refused.unwrap_err();
    assert!(
        message.contains("zz.yml") && message.contains("'ConfigMap'"),
        "{message}"
    );
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    for name in ["alphas", "betas"] {
        crds.get(&format!("{name}.multidoc.kube-anycast.test"))
            .await
            .unwrap();
    }
}
