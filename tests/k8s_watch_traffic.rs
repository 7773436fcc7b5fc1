//! What an agent receives while other nodes' pods churn, measured against the real
//! kube-apiserver: a watch on every EndpointSlice (label `kubernetes.io/service-name`) against
//! a watch on this node's Pods (field selector `spec.nodeName`). The bytes are the raw JSON
//! watch stream as the API server sends it (no compression), counted at the HTTP body.
//!
//! It asserts the property the design relies on (the Pod watch receives nothing about other
//! nodes' pods, the slice watch receives every change) and prints the numbers for
//! docs/architecture.md. Without the control-plane binaries it fails.

#[allow(
    dead_code,
    unused_imports,
    reason = "shared by several test crates, each using a part"
)]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::BodyExt as _;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube::{Client, Resource as _};
use serde_json::json;
use support::controlplane;

const OTHER_NODES: usize = 20;
const PODS_PER_NODE: usize = 10;
const FLIPS: usize = 100;
const LOCAL: &str = "local-node";

/// Bytes and lines (watch events) received by one raw watch.
#[derive(Default)]
struct Counter {
    bytes: AtomicUsize,
    events: AtomicUsize,
}

#[expect(
    clippy::unwrap_used,
    reason = "test fixture: a failed setup step fails the test"
)]
async fn count_watch(client: Client, request: http::Request<Vec<u8>>, counter: Arc<Counter>) {
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "watch: {}",
        response.status()
    );
    let mut body = response.into_body();
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            counter.bytes.fetch_add(data.len(), Ordering::Relaxed);
            let lines = data.split(|b| *b == b'\n').count() - 1;
            counter.events.fetch_add(lines, Ordering::Relaxed);
        }
    }
}

fn pod(name: &str, node: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "churn"}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.invalid/app:1"}]},
    }))
    .unwrap_or_else(|e| panic!("pod {name}: {e}"))
}

fn endpoint(i: usize, node: &str, ready: bool) -> serde_json::Value {
    json!({"addresses": [format!("10.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256)],
           "nodeName": node, "targetRef": {"kind": "Pod", "name": format!("p{i}")},
           "conditions": {"ready": ready, "serving": ready, "terminating": false}})
}

/// The slices as the EndpointSlice controller would write them: at most 100 endpoints each.
fn slices(ns: &str, nodes: &[String], ready: &[bool]) -> Vec<EndpointSlice> {
    nodes
        .chunks(100)
        .enumerate()
        .map(|(s, chunk)| {
            let eps: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(j, n)| endpoint(s * 100 + j, n, ready[s * 100 + j]))
                .collect();
            serde_json::from_value(json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": format!("churn-{s}"), "namespace": ns,
                             "labels": {"kubernetes.io/service-name": "churn"}},
                "addressType": "IPv4", "endpoints": eps,
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
            }))
            .unwrap_or_else(|e| panic!("slice {s}: {e}"))
        })
        .collect()
}

async fn set_ready(pods: &Api<Pod>, name: &str, ready: bool) {
    let status = if ready { "True" } else { "False" };
    let patch = json!({"status": {"phase": "Running", "podIP": "10.9.9.9",
        "conditions": [{"type": "Ready", "status": status}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap_or_else(|e| panic!("pod {name} status: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[expect(clippy::too_many_lines, reason = "one measurement, step by step")]
async fn pod_watch_on_this_node_receives_nothing_of_other_nodes_churn() {
    let cp = controlplane::shared();
    let admin = cp.admin_client();
    let ns = controlplane::test_namespace(&admin, "traffic").await;
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
    let slice_api: Api<EndpointSlice> = Api::namespaced(admin.clone(), &ns);
    // Pod i runs on nodes[i]; the last one is local.
    let mut nodes: Vec<String> = (0..OTHER_NODES * PODS_PER_NODE)
        .map(|i| format!("other-{}", i % OTHER_NODES))
        .collect();
    nodes.push(LOCAL.to_owned());
    let mut ready = vec![true; nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        pods.create(&PostParams::default(), &pod(&format!("p{i}"), n))
            .await
            .unwrap();
        set_ready(&pods, &format!("p{i}"), true).await;
    }
    let apply = PatchParams::apply("kat-endpointslice-controller").force();
    for s in slices(&ns, &nodes, &ready) {
        let name = s.metadata.name.clone().unwrap();
        slice_api
            .patch(&name, &apply, &Patch::Apply(&s))
            .await
            .unwrap();
    }

    // Both watches start from "now", after the lists an agent would do at start.
    let slice_lp = ListParams::default().labels("kubernetes.io/service-name");
    let pod_lp = ListParams::default().fields(&format!("spec.nodeName={LOCAL}"));
    let slice_req = kube::core::Request::new(EndpointSlice::url_path(&(), None));
    let pod_req = kube::core::Request::new(Pod::url_path(&(), None));
    let (slice_list_bytes, slice_rv) = raw_list(&admin, slice_req.list(&slice_lp).unwrap()).await;
    let (pod_list_bytes, pod_rv) = raw_list(&admin, pod_req.list(&pod_lp).unwrap()).await;
    let wp = WatchParams::default().disable_bookmarks().timeout(290);
    let slice_watch = slice_req
        .watch(&wp.clone().labels("kubernetes.io/service-name"), &slice_rv)
        .unwrap();
    let pod_watch = pod_req
        .watch(&wp.fields(&format!("spec.nodeName={LOCAL}")), &pod_rv)
        .unwrap();
    let slice_counter = Arc::new(Counter::default());
    let pod_counter = Arc::new(Counter::default());
    tokio::spawn(count_watch(
        admin.clone(),
        slice_watch,
        slice_counter.clone(),
    ));
    tokio::spawn(count_watch(admin.clone(), pod_watch, pod_counter.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Churn on other nodes: each flip is a Pod status write and the slice write that follows.
    let others = nodes.len() - 1;
    for f in 0..FLIPS {
        let i = (f * 7) % others;
        ready[i] = !ready[i];
        set_ready(&pods, &format!("p{i}"), ready[i]).await;
        let s = &slices(&ns, &nodes, &ready)[i / 100];
        slice_api
            .patch(
                s.metadata.name.as_deref().unwrap(),
                &apply,
                &Patch::Apply(s),
            )
            .await
            .unwrap();
    }
    let wait_for = async |counter: &Counter, events: usize| {
        for _ in 0..100 {
            if counter.events.load(Ordering::Relaxed) >= events {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    wait_for(&slice_counter, FLIPS).await;
    let slice_churn = slice_counter.bytes.load(Ordering::Relaxed);
    let slice_events = slice_counter.events.load(Ordering::Relaxed);
    let pod_churn = pod_counter.bytes.load(Ordering::Relaxed);
    let pod_events = pod_counter.events.load(Ordering::Relaxed);

    // One flip of the local pod (and its slice): both watches see it.
    let local = nodes.len() - 1;
    ready[local] = false;
    set_ready(&pods, &format!("p{local}"), false).await;
    let s = &slices(&ns, &nodes, &ready)[local / 100];
    slice_api
        .patch(
            s.metadata.name.as_deref().unwrap(),
            &apply,
            &Patch::Apply(s),
        )
        .await
        .unwrap();
    wait_for(&pod_counter, 1).await;
    wait_for(&slice_counter, FLIPS + 1).await;
    let pod_local = pod_counter.bytes.load(Ordering::Relaxed) - pod_churn;
    let slice_local = slice_counter.bytes.load(Ordering::Relaxed) - slice_churn;

    eprintln!(
        "[traffic] {} pods on {OTHER_NODES} other nodes + 1 local, {} slices; {FLIPS} readiness flips on other nodes",
        nodes.len(),
        nodes.len().div_ceil(100)
    );
    eprintln!(
        "[traffic] initial list: EndpointSlices {slice_list_bytes} B, own Pods {pod_list_bytes} B"
    );
    eprintln!(
        "[traffic] other nodes' churn: EndpointSlice watch {slice_churn} B in {slice_events} events ({} B/flip); Pod watch {pod_churn} B in {pod_events} events",
        slice_churn / FLIPS
    );
    eprintln!(
        "[traffic] one local flip: EndpointSlice watch {slice_local} B; Pod watch {pod_local} B"
    );

    assert_eq!(
        slice_events, FLIPS,
        "the slice watch gets every other node's change"
    );
    assert_eq!(
        (pod_churn, pod_events),
        (0, 0),
        "the Pod watch gets none of them"
    );
    assert!(
        pod_local > 0 && slice_local > 0,
        "both see the local change"
    );
}

/// The size of a list response as sent, and its resourceVersion.
#[expect(
    clippy::unwrap_used,
    reason = "test fixture: a failed setup step fails the test"
)]
async fn raw_list(client: &Client, request: http::Request<Vec<u8>>) -> (usize, String) {
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let list: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    (bytes.len(), rv)
}
