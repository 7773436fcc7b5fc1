//! Pods and core Services as the agent reads them off the wire: only the fields the summaries
//! (`summary::summarize_pod`, `summary::summarize_backend`) use are parsed, the rest (containers,
//! volumes, ports, managed fields, statuses: most of a real object's bytes) is skipped without
//! being allocated. The agent parses every change of this node's Pods and, with
//! `--endpoints-from pods`, of every Service in the cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodCondition, PodSpec, PodStatus, Service, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::Deserialize;

/// A Pod holding only what the agent reads: name, namespace, uid, resource version, labels,
/// deletion timestamp, `spec.nodeName`, `status.podIP` and the conditions' type and status.
#[derive(Debug, Clone, PartialEq)]
pub struct SlimPod(pub Pod);

/// A core Service holding only its name, namespace, uid, resource version, labels and
/// `spec.selector`.
#[derive(Debug, Clone, PartialEq)]
pub struct SlimService(pub Service);

/// The API type of a slim wrapper is the wrapped one's; its metadata is the wrapped object's.
macro_rules! slim_resource {
    ($slim:ident, $full:ty) => {
        impl k8s_openapi::Resource for $slim {
            const API_VERSION: &'static str = <$full>::API_VERSION;
            const GROUP: &'static str = <$full>::GROUP;
            const KIND: &'static str = <$full>::KIND;
            const VERSION: &'static str = <$full>::VERSION;
            const URL_PATH_SEGMENT: &'static str = <$full>::URL_PATH_SEGMENT;
            type Scope = <$full as k8s_openapi::Resource>::Scope;
        }

        impl k8s_openapi::Metadata for $slim {
            type Ty = ObjectMeta;

            fn metadata(&self) -> &ObjectMeta {
                &self.0.metadata
            }

            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.0.metadata
            }
        }
    };
}

slim_resource!(SlimPod, Pod);
slim_resource!(SlimService, Service);

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    deletion_timestamp: Option<Time>,
}

impl WireMeta {
    fn into_meta(self) -> ObjectMeta {
        ObjectMeta {
            name: self.name,
            namespace: self.namespace,
            uid: self.uid,
            resource_version: self.resource_version,
            labels: self.labels,
            deletion_timestamp: self.deletion_timestamp,
            ..ObjectMeta::default()
        }
    }
}

#[derive(Deserialize)]
struct WireService {
    #[serde(default)]
    metadata: WireMeta,
    spec: Option<WireServiceSpec>,
}

#[derive(Deserialize)]
struct WireServiceSpec {
    selector: Option<BTreeMap<String, String>>,
}

impl<'de> Deserialize<'de> for SlimService {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireService::deserialize(deserializer)?;
        Ok(SlimService(Service {
            metadata: wire.metadata.into_meta(),
            spec: wire.spec.map(|spec| ServiceSpec {
                selector: spec.selector,
                ..ServiceSpec::default()
            }),
            status: None,
        }))
    }
}

#[derive(Deserialize)]
struct WirePod {
    #[serde(default)]
    metadata: WireMeta,
    spec: Option<WirePodSpec>,
    status: Option<WirePodStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePodSpec {
    node_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePodStatus {
    conditions: Option<Vec<WirePodCondition>>,
    #[serde(rename = "podIP")]
    pod_ip: Option<String>,
}

#[derive(Deserialize)]
struct WirePodCondition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

impl<'de> Deserialize<'de> for SlimPod {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WirePod::deserialize(deserializer)?;
        Ok(SlimPod(Pod {
            metadata: wire.metadata.into_meta(),
            spec: wire.spec.map(|spec| PodSpec {
                node_name: spec.node_name,
                ..PodSpec::default()
            }),
            status: wire.status.map(|status| PodStatus {
                conditions: status.conditions.map(|conditions| {
                    conditions
                        .into_iter()
                        .map(|c| PodCondition {
                            type_: c.kind,
                            status: c.status,
                            ..PodCondition::default()
                        })
                        .collect()
                }),
                pod_ip: status.pod_ip,
                ..PodStatus::default()
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::summary::{summarize_backend, summarize_pod};

    /// A Pod as the API server sends it: managed fields, containers, statuses.
    const POD: &str = include_str!("../../tests/fixtures/k8s/pod.json");

    fn variants() -> Vec<String> {
        let not_ready = POD.replace(
            r#""type": "Ready", "status": "True""#,
            r#""type": "Ready", "status": "False""#,
        );
        let deleting = POD.replace(
            r#""resourceVersion": "4711","#,
            r#""resourceVersion": "4711", "deletionTimestamp": "2026-11-30T05:00:00Z","#,
        );
        let other_node = POD.replace(r#""nodeName": "node-a""#, r#""nodeName": "node-b""#);
        let no_status = {
            let mut v: serde_json::Value = serde_json::from_str(POD).unwrap();
            v.as_object_mut().unwrap().remove("status");
            v.to_string()
        };
        let variants = vec![POD.to_owned(), not_ready, deleting, other_node, no_status];
        assert!(
            variants.iter().skip(1).all(|v| v != POD),
            "a variant did not change the fixture"
        );
        variants
    }

    #[test]
    fn a_slim_pod_summarizes_like_the_full_pod() {
        for json in variants() {
            let full: Pod = serde_json::from_str(&json).unwrap();
            let slim: SlimPod = serde_json::from_str(&json).unwrap();
            assert_eq!(
                summarize_pod(&slim.0, "node-a"),
                summarize_pod(&full, "node-a"),
                "{json}"
            );
            assert_eq!(
                slim.0.metadata.resource_version,
                full.metadata.resource_version
            );
            assert_eq!(slim.0.metadata.uid, full.metadata.uid);
        }
    }

    #[test]
    fn the_fixture_covers_every_summarized_field() {
        let full: Pod = serde_json::from_str(POD).unwrap();
        let summary = summarize_pod(&full, "node-a");
        assert!(summary.is_local && summary.is_ready, "{summary:?}");
        assert!(summary.ip.is_some() && !summary.labels.is_empty());
        assert!(
            full.metadata.managed_fields.is_some(),
            "the skipped parts are in the fixture"
        );
    }

    #[test]
    fn the_kube_resources_are_the_wrapped_ones() {
        use kube::Resource;
        assert_eq!(SlimPod::kind(&()), "Pod");
        assert_eq!(SlimPod::plural(&()), "pods");
        assert_eq!(SlimPod::api_version(&()), "v1");
        assert_eq!(SlimService::kind(&()), "Service");
        assert_eq!(SlimService::plural(&()), "services");
    }

    const SERVICE: &str = include_str!("../../tests/fixtures/k8s/service.json");

    #[test]
    fn a_slim_service_summarizes_like_the_full_service() {
        let empty = SERVICE.replace(
            r#""selector": {"app": "dns", "tier": "edge"}"#,
            r#""selector": {}"#,
        );
        let none = SERVICE.replace(r#""selector": {"app": "dns", "tier": "edge"},"#, "");
        let variants = [SERVICE.to_owned(), empty, none];
        assert!(
            variants.iter().skip(1).all(|v| v != SERVICE),
            "a variant did not change the fixture"
        );
        for json in variants {
            let full: Service = serde_json::from_str(&json).unwrap();
            let slim: SlimService = serde_json::from_str(&json).unwrap();
            assert_eq!(
                summarize_backend(&slim.0),
                summarize_backend(&full),
                "{json}"
            );
            assert_eq!(
                slim.0.metadata.resource_version,
                full.metadata.resource_version
            );
        }
        let full: Service = serde_json::from_str(SERVICE).unwrap();
        assert!(summarize_backend(&full).selector.is_some());
        assert!(
            full.metadata.managed_fields.is_some(),
            "the skipped parts are in the fixture"
        );
    }
}
