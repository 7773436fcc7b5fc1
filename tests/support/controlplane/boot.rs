//! Bringing a control plane up: certificates, tokens, the two servers and their flags.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kube::Client;

use super::processes::Processes;
use super::{ADMIN_USER, RESTRICTED_USER, client_config, crds, host};

/// What the keeper thread reports once the control plane is ready.
pub struct Ready {
    pub server: http::Uri,
    pub ca_der: Vec<u8>,
    pub admin_token: String,
    pub restricted_token: String,
    /// Each server's name and PID.
    pub pids: Vec<(&'static str, u32)>,
}

/// Starts etcd and kube-apiserver into `procs` and waits until they serve, CRDs included.
pub fn boot(bin: &Path, procs: &mut Processes) -> Result<Ready, String> {
    // First, so that the dir goes away whatever happens next.
    procs.start_janitor()?;
    let dir = procs.dir.clone();
    let pki = dir.join("pki");
    let out = Command::new("bash")
        .arg(host::repo_dir().join("scripts/controlplane/pki.sh"))
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
    let admin_token = host::random_hex(24);
    let restricted_token = host::random_hex(24);
    // token,user,uid,"groups": the restricted user only gets system:authenticated.
    let tokens = format!(
        "{admin_token},{ADMIN_USER},{ADMIN_USER},\"system:masters\"\n\
         {restricted_token},{RESTRICTED_USER},{RESTRICTED_USER}\n"
    );
    host::write_private(&dir.join("tokens.csv"), &tokens)?;

    let [etcd_port, peer_port, api_port] = host::free_ports()?;
    let server = format!("https://127.0.0.1:{api_port}");
    let uri: http::Uri = server.parse().map_err(|e| format!("{server}: {e}"))?;
    for (user, token) in [
        (ADMIN_USER, &admin_token),
        (RESTRICTED_USER, &restricted_token),
    ] {
        let file = dir.join(format!("{}.kubeconfig", user.trim_start_matches("kat-")));
        host::write_private(
            &file,
            &host::kubeconfig(&server, &pki.join("ca.crt"), user, token),
        )?;
    }

    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let p = |name: &str| pki.join(name).display().to_string();
    // Both start at once: kube-apiserver retries etcd until it answers, so their start-ups overlap.
    procs.launch(
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
    procs.launch(
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
        let client = Client::try_from(client_config(&uri, &ca_der, &admin_token))
            .map_err(|e| format!("cannot build a client for {server}: {e}"))?;
        procs.wait_ready(&client, timeout).await?;
        crds::install_dir(&client, &host::repo_dir().join("crds"), timeout).await
    })?;
    Ok(Ready {
        server: uri,
        ca_der,
        admin_token,
        restricted_token,
        pids: procs.pids(),
    })
}
