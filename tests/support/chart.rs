//! The Helm chart and its tools for the packaging tests: the pinned `helm` and `kubectl`
//! (`scripts/controlplane/tools.sh`), rendering, installing into the test control plane, and a
//! `TokenRequest` token (plus a kubeconfig) of the chart's `ServiceAccount`, so that a test can
//! run the agent with exactly the chart's rights:
//!
//! ```ignore
//! let cp = controlplane::shared();
//! let installed = chart::install(cp, "agent-rbac", &[]).await;
//! let token = chart::service_account_token(
//!     &cp.admin_client(), &installed.namespace, &installed.service_account, Duration::from_mins(10),
//! ).await;
//! let kubeconfig = chart::token_kubeconfig(cp, &scratch_dir, "agent", &token);
//! // Command::new(env!("CARGO_BIN_EXE_kube-anycast")).arg("agent").env("KUBECONFIG", &kubeconfig)...
//! // or in process: cp.client_with_token(&token)
//! ```

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Client;
use kube::api::{Api, PostParams};

use super::controlplane::{self, ControlPlane};

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    controlplane::repo_dir().join("charts/kube-anycast")
}

/// The realistic values files under `charts/kube-anycast/ci/`, sorted.
pub fn ci_values() -> Vec<PathBuf> {
    let dir = chart_dir().join("ci");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no values files in {}", dir.display());
    files
}

/// The directory holding the pinned `helm` and `kubectl`: `$KAT_TOOLS_DIR`, else what
/// `scripts/controlplane/tools.sh` installs (once per test process). Panics with the reason.
pub fn tools_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("KAT_TOOLS_DIR") {
            return PathBuf::from(dir);
        }
        let script = controlplane::repo_dir().join("scripts/controlplane/tools.sh");
        let out = run(Command::new("bash").arg(&script));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let dir = stdout.lines().last().unwrap_or_default().trim();
        assert!(!dir.is_empty(), "{} printed no directory", script.display());
        PathBuf::from(dir)
    })
}

/// `helm` with the given kubeconfig (or none, for offline commands such as `template`).
pub fn helm(kubeconfig: Option<&Path>) -> Command {
    tool("helm", kubeconfig)
}

/// `kubectl` with the given kubeconfig.
pub fn kubectl(kubeconfig: &Path) -> Command {
    tool("kubectl", Some(kubeconfig))
}

fn tool(name: &str, kubeconfig: Option<&Path>) -> Command {
    let mut cmd = Command::new(tools_dir().join(name));
    // Helm keeps caches and repository config under $HOME; keep them out of the user's.
    let home = std::env::temp_dir().join("kat-helm-home");
    cmd.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("KUBECONFIG");
    if let Some(kubeconfig) = kubeconfig {
        cmd.env("KUBECONFIG", kubeconfig);
    }
    cmd
}

/// Runs `cmd` and returns its output; panics with its stderr when it fails.
pub fn run(cmd: &mut Command) -> Output {
    try_run(cmd).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `cmd`: its output when it exits 0, else a message with its stderr.
pub fn try_run(cmd: &mut Command) -> Result<Output, String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `helm template RELEASE chart -n NAMESPACE -f VALUES...`: the manifests, or helm's error
/// (a schema violation, a `fail` in a template).
pub fn render(release: &str, namespace: &str, values: &[&Path]) -> Result<String, String> {
    let mut cmd = helm(None);
    cmd.args(["template", release])
        .arg(chart_dir())
        .args(["--namespace", namespace]);
    for file in values {
        cmd.arg("--values").arg(file);
    }
    try_run(&mut cmd).map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The documents of a multi-document YAML stream, without empty ones.
pub fn parse_documents(yaml: &str) -> Vec<serde_json::Value> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml)
        .unwrap_or_else(|e| panic!("rendered manifests are not valid YAML: {e}\n{yaml}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// The one document of `kind` in `docs`; panics when there is not exactly one.
pub fn only<'a>(docs: &'a [serde_json::Value], kind: &str) -> &'a serde_json::Value {
    let mut found = docs.iter().filter(|d| d["kind"] == kind);
    let first = found
        .next()
        .unwrap_or_else(|| panic!("no {kind} in the rendered manifests"));
    assert!(found.next().is_none(), "more than one {kind}");
    first
}

/// A release installed by `helm install` into a namespace of its own.
pub struct Installed {
    /// The release and its namespace.
    pub namespace: String,
    /// The release name.
    pub release: String,
    /// The chart's `ServiceAccount`.
    pub service_account: String,
    /// What `helm install` printed, NOTES.txt included.
    pub output: String,
}

/// Installs the chart into a fresh namespace (no `--wait`: nothing runs `DaemonSet` pods in
/// the test control plane). Panics with helm's output when the install fails.
pub async fn install(cp: &ControlPlane, prefix: &str, values: &[&Path]) -> Installed {
    let namespace = controlplane::test_namespace(&cp.admin_client(), prefix).await;
    // Cluster-scoped objects (ClusterRole, binding) are named after the release: unique too.
    let release = namespace.clone();
    let kubeconfig = cp.admin_kubeconfig();
    let (name, name_ns) = (release.clone(), namespace.clone());
    let mut cmd = helm(Some(&kubeconfig));
    cmd.args(["install", &release])
        .arg(chart_dir())
        .args(["--namespace", &namespace]);
    for file in values {
        cmd.arg("--values").arg(file);
    }
    let (install_out, manifest) = tokio::task::spawn_blocking(move || {
        let install_out = try_run(&mut cmd)?;
        let mut get = helm(Some(&kubeconfig));
        get.args(["get", "manifest", &name, "--namespace", &name_ns]);
        Ok::<_, String>((install_out, try_run(&mut get)?))
    })
    .await
    .unwrap_or_else(|e| panic!("helm panicked: {e}"))
    .unwrap_or_else(|e| panic!("{e}"));
    let docs = parse_documents(&String::from_utf8_lossy(&manifest.stdout));
    let service_account = only(&docs, "ServiceAccount")["metadata"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("the release's ServiceAccount has no name"))
        .to_owned();
    Installed {
        namespace,
        release,
        service_account,
        output: String::from_utf8_lossy(&install_out.stdout).into_owned(),
    }
}

/// A token of `ServiceAccount` `namespace/name`, issued by `TokenRequest` for `ttl`.
pub async fn service_account_token(
    admin: &Client,
    namespace: &str,
    name: &str,
    ttl: Duration,
) -> String {
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let issued = Api::<ServiceAccount>::namespaced(admin.clone(), namespace)
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("TokenRequest for {namespace}/{name}: {e}"));
    issued
        .status
        .and_then(|s| s.token)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| panic!("TokenRequest for {namespace}/{name} returned no token"))
}

/// Writes a kubeconfig that authenticates with `token` (for running the agent binary, or
/// kubectl, as the `ServiceAccount`) into `dir` and returns its path.
pub fn token_kubeconfig(cp: &ControlPlane, dir: &Path, name: &str, token: &str) -> PathBuf {
    let path = dir.join(format!("{name}.kubeconfig"));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kat-test\n  cluster:\n    \
         server: {server}\n    certificate-authority: {ca}\nusers:\n- name: {name}\n  user:\n    \
         token: {token}\ncontexts:\n- name: {name}\n  context:\n    cluster: kat-test\n    \
         user: {name}\ncurrent-context: {name}\n",
        server = cp.server(),
        ca = cp.dir().join("pki/ca.crt").display(),
    );
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}
