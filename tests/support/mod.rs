//! Test support shared by the integration tests (`mod support;`).
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod controlplane;
pub mod crds;
mod processes;

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};

pub use controlplane::{ControlPlane, RESTRICTED_USER, shared};

/// Creates a namespace of its own for one test: `<prefix>-<random>`, a valid DNS label.
///
/// Namespaces are never deleted: without a controller-manager they would stay Terminating,
/// and the whole etcd is thrown away at the end of the run anyway.
pub async fn test_namespace(client: &Client, prefix: &str) -> String {
    let mut base: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    base.truncate(50);
    let base = base.trim_matches('-');
    let name = format!("{base}-{:08x}", controlplane::random_u64() as u32);
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    name
}
