//! The packaging against the real kube-apiserver: server-side dry runs of every rendering,
//! `kubectl apply -f deploy/`, `helm install`, and the installed `ServiceAccount`'s rights.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::json;

use crate::support::chart;
use crate::support::controlplane::{self, ControlPlane};

/// The rights the agent needs (issue #6), as `kubectl auth can-i --list` prints them:
/// resource, then its verbs, sorted.
const AGENT_RIGHTS: &[(&str, &str)] = &[
    (
        "anycastadvertisements.kube-anycast.io",
        "create delete get list patch update watch",
    ),
    ("anycastpools.kube-anycast.io", "get list watch"),
    ("anycastservices.kube-anycast.io", "get list watch"),
    ("endpointslices.discovery.k8s.io", "get list watch"),
    ("events", "create patch"),
    ("events.events.k8s.io", "create patch"),
    ("namespaces", "get list watch"),
    ("nodes", "get list watch"),
    ("pods", "get list watch"),
    ("services", "get list watch"),
];

fn run_with_stdin(cmd: &mut Command, input: &str) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("{shown}: writing stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{shown}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "{shown} failed ({}):\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Enough of the Prometheus Operator's CRD for the API server to know the kind.
async fn install_service_monitor_crd(cp: &ControlPlane) {
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "servicemonitors.monitoring.coreos.com" },
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": { "plural": "servicemonitors", "kind": "ServiceMonitor" },
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": {
                    "type": "object", "x-kubernetes-preserve-unknown-fields": true
                }}
            }]
        }
    }))
    .unwrap_or_else(|e| panic!("the ServiceMonitor stub CRD: {e}"));
    controlplane::crds::apply_and_wait(&cp.admin_client(), &crd, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn every_rendering_passes_a_server_side_dry_run() {
    let cp = controlplane::shared();
    install_service_monitor_crd(cp).await;
    let mut values: Vec<Option<std::path::PathBuf>> = vec![None];
    values.extend(chart::ci_values().into_iter().map(Some));
    for file in values {
        let ns = controlplane::test_namespace(&cp.admin_client(), "dry-run").await;
        let files: Vec<&Path> = file.as_deref().into_iter().collect();
        let yaml = chart::render(&ns, &ns, &files).unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = chart::kubectl(&cp.admin_kubeconfig());
        cmd.args(["apply", "--dry-run=server", "-f", "-"]);
        let out = run_with_stdin(&mut cmd, &yaml)
            .unwrap_or_else(|e| panic!("{file:?} refused by the API server: {e}"));
        assert!(out.contains("daemonset.apps/"), "{out}");
    }
}

#[tokio::test]
async fn deploy_applies_with_kubectl() {
    let cp = controlplane::shared();
    let deploy = controlplane::repo_dir().join("deploy");
    let out = chart::run(
        chart::kubectl(&cp.admin_kubeconfig())
            .args(["apply", "-f"])
            .arg(&deploy),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for object in [
        "namespace/kube-anycast",
        "daemonset.apps/kube-anycast",
        "clusterrole.rbac.authorization.k8s.io/kube-anycast",
        "configmap/kube-anycast-exabgp",
    ] {
        assert!(text.contains(object), "{object} not applied:\n{text}");
    }
}

/// `kubectl auth can-i --list` as `user`: per row, the resource (or non-resource URL) and
/// resource names, then the verbs, sorted.
fn rights(cp: &ControlPlane, ns: &str, user: &str) -> BTreeSet<(String, String)> {
    let out = chart::run(chart::kubectl(&cp.admin_kubeconfig()).args([
        "auth",
        "can-i",
        "--list",
        "--no-headers",
        "-n",
        ns,
        "--as",
        user,
    ]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            // The verbs are the last bracketed group; the rest names what they apply to.
            let (what, verbs) = line.trim_end().rsplit_once('[')?;
            let what = what
                .split_whitespace()
                .filter(|w| *w != "[]")
                .collect::<Vec<_>>();
            let mut verbs: Vec<&str> = verbs.trim_end_matches(']').split_whitespace().collect();
            verbs.sort_unstable();
            Some((what.join(" "), verbs.join(" ")))
        })
        .collect()
}

#[tokio::test]
async fn helm_install_grants_exactly_the_agent_rights() {
    let cp = controlplane::shared();
    let installed = chart::install(cp, "helm-install", &[]).await;
    let ns = &installed.namespace;
    assert!(
        installed
            .output
            .contains("kubectl get anycastadvertisements -A"),
        "NOTES tell how to see what is advertised:\n{}",
        installed.output
    );
    // What every authenticated ServiceAccount may do (discovery, self reviews) is the baseline.
    let bare = "bare";
    chart::run(chart::kubectl(&cp.admin_kubeconfig()).args([
        "create",
        "serviceaccount",
        bare,
        "-n",
        ns,
    ]));
    let baseline = rights(cp, ns, &format!("system:serviceaccount:{ns}:{bare}"));
    let agent_user = format!("system:serviceaccount:{ns}:{}", installed.service_account);
    let granted: BTreeSet<_> = rights(cp, ns, &agent_user)
        .difference(&baseline)
        .cloned()
        .collect();
    let expected: BTreeSet<(String, String)> = AGENT_RIGHTS
        .iter()
        .map(|(r, v)| ((*r).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(granted, expected, "the chart's ServiceAccount rights");

    // The same ServiceAccount through its own TokenRequest token: allowed and denied.
    let token = chart::service_account_token(
        &cp.admin_client(),
        ns,
        &installed.service_account,
        Duration::from_mins(10),
    )
    .await;
    let dir = cp.dir().join(format!("sa-{ns}"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let kubeconfig = chart::token_kubeconfig(cp, &dir, "agent", &token);
    for (verb, resource, allowed) in [
        ("watch", "anycastservices.kube-anycast.io", true),
        ("patch", "anycastadvertisements.kube-anycast.io", true),
        ("list", "pods", true),
        ("get", "secrets", false),
        ("create", "pods", false),
        ("update", "anycastservices.kube-anycast.io", false),
        ("patch", "nodes", false),
        ("get", "configmaps", false),
    ] {
        let out = chart::kubectl(&kubeconfig)
            .args(["auth", "can-i", verb, resource, "-A"])
            .output()
            .unwrap_or_else(|e| panic!("kubectl: {e}"));
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert_eq!(answer == "yes", allowed, "{verb} {resource}: {answer}");
    }
}
