//! The packaging, proven against real parts: the Helm chart renders, lints and rejects bad
//! values; its manifests and `deploy/` are accepted by the real kube-apiserver; `helm install`
//! works and its `ServiceAccount` can do exactly what the agent needs; the `exabgp.conf` it
//! renders is accepted by real ExaBGP 5.0.15; the Dockerfile pins its bases.
//!
//! Needs the pinned helm and kubectl (`scripts/controlplane/tools.sh`), the control plane
//! (`scripts/controlplane/build.sh`) and the ExaBGP venv (`scripts/ensure-exabgp.sh`);
//! `scripts/ci-packaging.sh` prepares all three.

#[allow(
    dead_code,
    unused_imports,
    reason = "shared by several test crates, each using a part"
)]
mod support;

#[path = "packaging/sidecar.rs"]
mod sidecar;

#[path = "packaging/rbac.rs"]
mod rbac;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::chart::{self, only, parse_documents, render};
use support::controlplane;

fn repo() -> PathBuf {
    controlplane::repo_dir()
}

fn values_with_defaults() -> Vec<Option<PathBuf>> {
    std::iter::once(None)
        .chain(chart::ci_values().into_iter().map(Some))
        .collect()
}

fn render_with(values: Option<&Path>) -> Vec<Value> {
    let files: Vec<&Path> = values.into_iter().collect();
    let yaml = render("kat", "kat-system", &files).unwrap_or_else(|e| panic!("{e}"));
    parse_documents(&yaml)
}

#[test]
fn helm_lint_passes_with_default_and_ci_values() {
    for values in values_with_defaults() {
        let mut cmd = chart::helm(None);
        cmd.args(["lint", "--strict"]).arg(chart::chart_dir());
        if let Some(file) = &values {
            cmd.arg("--values").arg(file);
        }
        chart::run(&mut cmd);
    }
}

fn container<'a>(pod: &'a Value, list: &str, name: &str) -> &'a Value {
    pod[list]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {list} entry named {name}"))
}

fn mount_path<'a>(c: &'a Value, volume: &str) -> &'a str {
    c["volumeMounts"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == volume))
        .and_then(|m| m["mountPath"].as_str())
        .unwrap_or_else(|| panic!("container {} does not mount {volume}", c["name"]))
}

fn arg_value<'a>(c: &'a Value, flag: &str) -> &'a str {
    let prefix = format!("{flag}=");
    c["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|a| a.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("agent has no {flag}"))
}

fn seconds(duration: &str) -> u64 {
    duration
        .strip_suffix('s')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{duration:?} is not whole seconds"))
}

/// What the issue asks of the pod, checked on every values file.
fn assert_pod_shape(docs: &[Value], origin: &str) {
    let pod = &only(docs, "DaemonSet")["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true, "{origin}: host network");
    let agent = container(pod, "containers", "agent");
    let node_name = agent["env"]
        .as_array()
        .and_then(|env| env.iter().find(|e| e["name"] == "NODE_NAME"))
        .unwrap_or_else(|| panic!("{origin}: no NODE_NAME"));
    assert_eq!(
        node_name["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName",
        "{origin}: NODE_NAME from the downward API"
    );
    let security = &agent["securityContext"];
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(
        security["capabilities"]["add"],
        serde_json::json!(["NET_ADMIN"])
    );
    assert_eq!(security["readOnlyRootFilesystem"], true, "{origin}");
    assert_eq!(security["allowPrivilegeEscalation"], false, "{origin}");
    assert!(
        agent["resources"]["requests"]["cpu"].is_string(),
        "{origin}"
    );
    assert!(agent["resources"]["requests"]["memory"].is_string());
    assert_eq!(agent["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(agent["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(agent["livenessProbe"]["httpGet"]["port"], "metrics");
    assert_eq!(agent["readinessProbe"]["httpGet"]["port"], "metrics");

    let exabgp = container(pod, "initContainers", "exabgp");
    assert_eq!(
        exabgp["restartPolicy"], "Always",
        "{origin}: native sidecar"
    );
    assert_eq!(
        exabgp["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    assert!(exabgp["securityContext"]["capabilities"]["add"].is_null());
    assert_eq!(exabgp["securityContext"]["readOnlyRootFilesystem"], true);
    // One socket directory, seen at the same path by both, so the relay finds the agent.
    let socket = arg_value(agent, "--socket");
    let dir = mount_path(agent, "socket");
    assert_eq!(mount_path(exabgp, "socket"), dir, "{origin}");
    assert!(socket.starts_with(&format!("{dir}/")), "{origin}: {socket}");
    let conf = only(docs, "ConfigMap")["data"]["exabgp.conf.in"]
        .as_str()
        .unwrap_or_default();
    assert!(
        conf.contains(&format!("exabgp-relay --socket {socket} ")),
        "{origin}: the relay connects to {socket}:\n{conf}"
    );
    let vip_mode = arg_value(agent, "--vip-mode");
    assert!(
        ["address", "local-route"].contains(&vip_mode),
        "{origin}: --vip-mode={vip_mode}"
    );
    // The agent drains, then withdraws, before the kubelet's deadline.
    let drain = seconds(arg_value(agent, "--drain-delay"));
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(0);
    assert!(
        grace > drain + 5,
        "{origin}: grace {grace} s vs drain {drain} s"
    );
}

#[test]
fn templates_render_with_default_and_ci_values() {
    for values in values_with_defaults() {
        let origin = values
            .as_deref()
            .map_or("default values".into(), |p| p.display().to_string());
        let docs = render_with(values.as_deref());
        assert_pod_shape(&docs, &origin);
        if values.is_none() {
            let pod = &only(&docs, "DaemonSet")["spec"]["template"]["spec"];
            let agent = container(pod, "containers", "agent");
            assert_eq!(arg_value(agent, "--vip-mode"), "address", "the default");
        }
        for kind in ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"] {
            only(&docs, kind);
        }
    }
}

#[test]
fn schema_and_templates_reject_bad_values() {
    let dir = repo().join("tests/fixtures/helm/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "bad values fixtures missing");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be '# expect: ...'", file.display()));
        match render("kat", "kat-system", &[&file]) {
            Ok(_) => panic!("{} was accepted", file.display()),
            Err(e) => assert!(
                e.contains(expect),
                "{}: expected {expect:?} in:\n{e}",
                file.display()
            ),
        }
    }
}

fn sorted_files(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .map(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy().into();
            (name, std::fs::read_to_string(&p).unwrap_or_default())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn chart_crds_are_the_generated_crds() {
    let top = sorted_files(&repo().join("crds"));
    let chart = sorted_files(&chart::chart_dir().join("crds"));
    assert!(!top.is_empty(), "crds/ is empty");
    let names = |v: &[(String, String)]| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&chart), names(&top), "run scripts/render-deploy.sh");
    for ((name, a), (_, b)) in top.iter().zip(&chart) {
        assert!(
            a == b,
            "charts/kube-anycast/crds/{name} differs from crds/{name}: run scripts/render-deploy.sh"
        );
    }
}

#[test]
fn deploy_is_rendered_from_the_current_chart() {
    let tools = chart::tools_dir();
    chart::run(
        Command::new("bash")
            .arg(repo().join("scripts/render-deploy.sh"))
            .arg("--check")
            .env("HELM", tools.join("helm")),
    );
}

fn exabgp_python() -> PathBuf {
    let out = chart::run(Command::new("bash").arg(repo().join("scripts/ensure-exabgp.sh")));
    let venv = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    PathBuf::from(venv).join("bin/python")
}

/// Fills the `ConfigMap`'s template as the sidecar does on a dual-stack node, then runs it.
fn exabgp_start(docs: &[Value], dir: &Path, extra_env: &[(&str, &str)]) -> Result<String, String> {
    let data = &only(docs, "ConfigMap")["data"];
    for key in ["exabgp.conf.in", "start.py"] {
        let text = data[key].as_str().unwrap_or_default();
        std::fs::write(dir.join(key), text).unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    let conf = dir.join("exabgp.conf");
    let mut cmd = Command::new(exabgp_python());
    cmd.arg(dir.join("start.py"))
        .arg("--render-only")
        .env("EXABGP_TEMPLATE", dir.join("exabgp.conf.in"))
        .env("EXABGP_CONFIG", &conf)
        .env("HOST_IPS", "10.1.0.17,2001:db8:1::17");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    chart::try_run(&mut cmd)?;
    Ok(std::fs::read_to_string(&conf).unwrap_or_default())
}

/// A directory of one test's own, removed when dropped (a failing test unwinds, so also then).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch_dir(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("kat-pkg-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    Scratch(dir)
}

#[test]
fn exabgp_accepts_the_rendered_config() {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_kube-anycast"))
        .parent()
        .unwrap_or_else(|| panic!("the binary has no directory"));
    // ExaBGP resolves `run kube-anycast` through PATH, as in the image.
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (i, values) in values_with_defaults().into_iter().enumerate() {
        let docs = render_with(values.as_deref());
        let dir = scratch_dir(&format!("exabgp-{i}"));
        // Passwords with quotes, semicolons and spaces must not break the config.
        let md5 = [
            ("KUBE_ANYCAST_MD5_0", "a\"b; c}"),
            ("KUBE_ANYCAST_MD5_1", "x"),
        ];
        let conf = exabgp_start(&docs, &dir, &md5).unwrap_or_else(|e| panic!("{e}"));
        assert!(!conf.contains("${"), "unfilled placeholder:\n{conf}");
        let out = chart::try_run(
            Command::new(exabgp_python())
                .args(["-m", "exabgp", "validate", "--neighbor"])
                .arg(dir.join("exabgp.conf"))
                .env("PATH", &path),
        )
        .unwrap_or_else(|e| panic!("ExaBGP refused the config of {values:?}: {e}\n{conf}"));
        let report = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        let neighbors = conf.lines().filter(|l| l.starts_with("neighbor ")).count();
        assert_eq!(
            report.matches("✓ neighbor").count(),
            neighbors,
            "{values:?}: every neighbor checked:\n{report}"
        );
    }
}

#[test]
fn exabgp_start_explains_what_it_cannot_fill() {
    let values = chart::chart_dir().join("ci/ebgp-per-rack-values.yaml");
    let docs = render_with(Some(&values));
    let dir = scratch_dir("start-errors");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[
                ("HOST_IPS", "10.1.0.17"),
                ("KUBE_ANYCAST_MD5_0", "a"),
                ("KUBE_ANYCAST_MD5_1", "b"),
            ],
            "needs the node's IPv6 address",
        ),
        (&[("KUBE_ANYCAST_MD5_0", "a")], "KUBE_ANYCAST_MD5_1"),
        (
            &[
                ("KUBE_ANYCAST_MD5_0", &"x".repeat(81)),
                ("KUBE_ANYCAST_MD5_1", "b"),
            ],
            "1 to 80 bytes",
        ),
        (
            &[
                ("ROUTER_ID", "fe80::1"),
                ("KUBE_ANYCAST_MD5_0", "a"),
                ("KUBE_ANYCAST_MD5_1", "b"),
            ],
            "not a dotted-quad",
        ),
    ];
    for (env, expect) in cases {
        let err = exabgp_start(&docs, &dir, env).expect_err(expect);
        assert!(err.contains(expect), "expected {expect:?} in {err}");
    }
}

#[test]
fn router_id_and_local_address_come_from_the_node() {
    let chart_ci = chart::chart_dir().join("ci");
    let ibgp = render_with(Some(&chart_ci.join("ibgp-route-reflectors-values.yaml")));
    let dir = scratch_dir("router-id");
    let conf = exabgp_start(&ibgp, &dir, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(conf.contains("router-id 10.1.0.17;"), "{conf}");
    assert!(conf.contains("local-address 10.1.0.17;"), "{conf}");
    let err = exabgp_start(&ibgp, &dir, &[("HOST_IPS", "2001:db8:1::a:b")])
        .expect_err("an IPv4 session from an IPv6-only node");
    assert!(err.contains("needs the node's IPv4 address"), "{err}");

    // IPv6-only node, kernel-chosen source: the low 32 bits of its address.
    let single = render_with(Some(&chart_ci.join("single-peer-values.yaml")));
    let conf = exabgp_start(&single, &dir, &[("HOST_IPS", "2001:db8:1::a:b")])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(conf.contains("router-id 0.10.0.11;"), "{conf}");
    assert!(!conf.contains("local-address"), "{conf}");
}

#[test]
fn dockerfile_pins_its_bases_and_versions() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap_or_default();
    let mut stages = Vec::new();
    for line in dockerfile.lines().filter(|l| l.starts_with("FROM ")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let image = words[1];
        let pinned = image == "scratch"
            || stages.contains(&image)
            || image.contains("@sha256:")
            || image.split_once(':').is_some_and(|(_, tag)| {
                // An exact version: three numeric parts, then an optional variant.
                let version = tag.split('-').next().unwrap_or_default();
                version.split('.').count() == 3
                    && version.split('.').all(|p| p.parse::<u32>().is_ok())
            });
        assert!(
            pinned,
            "Dockerfile: {image} is not pinned to an exact version"
        );
        if let Some(stage) = words.iter().position(|w| w.eq_ignore_ascii_case("AS")) {
            stages.push(words[stage + 1]);
        }
    }
    assert!(
        stages.contains(&"agent") && stages.contains(&"exabgp"),
        "{stages:?}"
    );
    let toolchain = std::fs::read_to_string(repo().join("rust-toolchain.toml")).unwrap_or_default();
    let rust = toolchain
        .lines()
        .find_map(|l| l.strip_prefix("channel = "))
        .map_or_else(
            || panic!("no channel in rust-toolchain.toml"),
            |v| v.trim_matches('"').to_owned(),
        );
    assert!(
        dockerfile.contains(&format!("FROM rust:{rust}-")),
        "Rust {rust}"
    );
    let requirements =
        std::fs::read_to_string(repo().join("docker/exabgp-requirements.txt")).unwrap_or_default();
    let ensure =
        std::fs::read_to_string(repo().join("scripts/ensure-exabgp.sh")).unwrap_or_default();
    let tested = ensure
        .lines()
        .find_map(|l| l.strip_prefix("version=${KAT_EXABGP_VERSION:-"))
        .and_then(|v| v.strip_suffix('}'))
        .unwrap_or_else(|| panic!("no default version in scripts/ensure-exabgp.sh"));
    assert!(
        requirements.contains(&format!("exabgp=={tested} ")),
        "the image's ExaBGP is the tested {tested}"
    );
}
