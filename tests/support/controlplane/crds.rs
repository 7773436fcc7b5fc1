//! Installing `CustomResourceDefinitions` and waiting until they are served.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

const FIELD_MANAGER: &str = "kube-anycast-test-harness";

/// Applies every CRD in the `*.yaml`/`*.yml` files of `dir` (multi-document files are fine)
/// and waits until all are Established. A missing `dir` means there is nothing to install.
pub async fn install_dir(client: &Client, dir: &Path, timeout: Duration) -> Result<(), String> {
    let crds = parse_dir(dir)?;
    for crd in &crds {
        apply(client, crd).await?;
    }
    for crd in &crds {
        wait_established(client, crd, timeout).await?;
    }
    Ok(())
}

/// The CRDs in the `*.yaml`/`*.yml` files of `dir`, in file name order; none if `dir` is
/// missing. Any other kind of object is an error: `crds/` holds CRDs only.
pub fn parse_dir(dir: &Path) -> Result<Vec<CustomResourceDefinition>, String> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    let mut crds = Vec::new();
    for file in &files {
        crds.extend(parse_file(file)?);
    }
    Ok(crds)
}

fn parse_file(file: &Path) -> Result<Vec<CustomResourceDefinition>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text)
        .map_err(|e| format!("{}: invalid YAML: {e}", file.display()))?;
    let mut crds = Vec::new();
    // Empty documents (a leading `---`, comments only) come out as null.
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        let kind = doc
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_owned();
        if kind != "CustomResourceDefinition" {
            return Err(format!(
                "{}: expected only CustomResourceDefinitions, found kind '{kind}'",
                file.display()
            ));
        }
        let crd = serde_json::from_value(doc)
            .map_err(|e| format!("{}: not a valid CRD: {e}", file.display()))?;
        crds.push(crd);
    }
    Ok(crds)
}

/// Server-side applies `crd` (idempotent) and waits until it is Established.
pub async fn apply_and_wait(
    client: &Client,
    crd: &CustomResourceDefinition,
    timeout: Duration,
) -> Result<(), String> {
    apply(client, crd).await?;
    wait_established(client, crd, timeout).await
}

async fn apply(client: &Client, crd: &CustomResourceDefinition) -> Result<(), String> {
    let name = crd
        .metadata
        .name
        .as_deref()
        .ok_or("a CRD without metadata.name")?;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(crd),
    )
    .await
    .map_err(|e| format!("applying CRD {name}: {e}"))?;
    Ok(())
}

async fn wait_established(
    client: &Client,
    crd: &CustomResourceDefinition,
    timeout: Duration,
) -> Result<(), String> {
    let name = crd
        .metadata
        .name
        .as_deref()
        .ok_or("a CRD without metadata.name")?;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let deadline = Instant::now() + timeout;
    loop {
        let current = api
            .get(name)
            .await
            .map_err(|e| format!("reading CRD {name}: {e}"))?;
        let conditions = current
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default();
        let status = |t: &str| {
            conditions
                .iter()
                .find(|c| c.type_ == t)
                .map(|c| c.status.clone())
        };
        if status("Established").as_deref() == Some("True") {
            return Ok(());
        }
        if let Some(c) = conditions
            .iter()
            .find(|c| c.type_ == "NamesAccepted" && c.status == "False")
        {
            return Err(format!("CRD {name}: names not accepted: {:?}", c.message));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "CRD {name} not Established after {timeout:?}: {conditions:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
