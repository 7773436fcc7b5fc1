use k8s_openapi::api::core::v1::{Node, NodeSpec, Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointSlice};
use kube::api::ObjectMeta;
use serde_json::json;

use super::*;
use crate::crd::AnycastService;
use crate::k8s::stale::withdraw_unprobed;
use crate::k8s::summary::{
    BackendSummary, SERVICE_NAME_LABEL, summarize_backend, summarize_node, summarize_pod,
    summarize_service, summarize_slice,
};

const NODE: &str = "node-a";

fn mk_service(ns: &str, name: &str, readiness: &serde_json::Value) -> Box<ServiceSummary> {
    mk_service_spec(
        ns,
        name,
        &json!({ "addresses": ["192.0.2.10"], "readiness": readiness }),
    )
}

fn mk_service_spec(ns: &str, name: &str, spec: &serde_json::Value) -> Box<ServiceSummary> {
    let mut svc = AnycastService::new(name, serde_json::from_value(spec.clone()).unwrap());
    svc.metadata.namespace = Some(ns.into());
    svc.metadata.uid = Some(format!("uid-{name}"));
    Box::new(summarize_service(&svc))
}

/// `(node, ready, terminating)` per endpoint.
fn mk_slice(
    ns: &str,
    name: &str,
    service: &str,
    eps: &[(&str, Option<bool>, Option<bool>)],
) -> SliceSummary {
    let slice = EndpointSlice {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            labels: Some([(SERVICE_NAME_LABEL.to_owned(), service.to_owned())].into()),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".into(),
        endpoints: Some(
            eps.iter()
                .enumerate()
                .map(|(i, (node, ready, terminating))| Endpoint {
                    addresses: vec![format!("10.0.0.{}", i + 1)],
                    node_name: Some((*node).into()),
                    conditions: Some(EndpointConditions {
                        ready: *ready,
                        terminating: *terminating,
                        serving: None,
                    }),
                    ..Endpoint::default()
                })
                .collect(),
        ),
        ports: None,
    };
    summarize_slice(&slice, NODE)
}

fn mk_pod(ns: &str, name: &str, node: &str, app: &str, ready: bool, deleting: bool) -> PodSummary {
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            labels: Some([("app".to_owned(), app.to_owned())].into()),
            deletion_timestamp: deleting.then_some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
                ),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.into()),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            pod_ip: Some("10.1.0.7".into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
    };
    summarize_pod(&pod, NODE)
}

fn mk_node(name: &str, unschedulable: bool) -> NodeInfo {
    summarize_node(&Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            unschedulable: Some(unschedulable),
            ..NodeSpec::default()
        }),
        status: None,
    })
}

/// An index counting from EndpointSlices where every kind has listed empty, but for the
/// given updates.
fn mk_index(updates: Vec<Update>) -> Index {
    mk_index_from(EndpointSource::EndpointSlices, updates)
}

fn mk_index_from(source: EndpointSource, updates: Vec<Update>) -> Index {
    let mut index = Index::new(NODE, source);
    for u in [
        Update::Service(Change::Reset(vec![])),
        Update::Pool(Change::Reset(vec![])),
        Update::Namespace(Change::Reset(vec![])),
        Update::Node(Change::Reset(vec![mk_node(NODE, false)])),
        Update::Slice(Change::Reset(vec![])),
        Update::Backend(Change::Reset(vec![])),
        Update::Pod(Change::Reset(vec![])),
    ] {
        index.update(u);
    }
    for u in updates {
        index.update(u);
    }
    index
}

fn counts(index: &Index, ns: &str, name: &str) -> EndpointCounts {
    let world = index.world().expect("every kind listed");
    world.endpoints.expect("Kubernetes counts endpoints")[&ServiceKey::new(ns, name)]
}

#[test]
fn world_is_none_until_every_watched_kind_has_listed() {
    let source = EndpointSource::EndpointSlices;
    let mut index = Index::new(NODE, source);
    let watched = Kind::ALL.iter().filter(|k| k.is_watched(source));
    for (i, kind) in watched.enumerate() {
        assert_eq!(index.world(), None, "{i} kinds listed");
        let reset = match kind {
            Kind::Service => Update::Service(Change::Reset(vec![])),
            Kind::Pool => Update::Pool(Change::Reset(vec![])),
            Kind::Namespace => Update::Namespace(Change::Reset(vec![])),
            Kind::Node => Update::Node(Change::Reset(vec![])),
            Kind::Slice => Update::Slice(Change::Reset(vec![])),
            Kind::Backend => Update::Backend(Change::Reset(vec![])),
            Kind::Pod => Update::Pod(Change::Reset(vec![])),
        };
        // An apply before the list does not count as listed.
        index.update(Update::Namespace(Change::Apply(NamespaceSummary {
            name: "x".into(),
            labels: BTreeMap::new(),
        })));
        index.update(reset);
    }
    let world = index.world().expect("all listed");
    assert_eq!(
        world.node.name, NODE,
        "a missing Node object is a node with no labels"
    );
}

#[test]
fn endpoint_readiness_table() {
    // (ready, terminating) -> counts as ready
    let cases = [
        (Some(true), None, true),
        (Some(true), Some(false), true),
        (Some(true), Some(true), false),
        (Some(false), None, false),
        (None, None, false),
        (Some(false), Some(true), false),
    ];
    for (ready, terminating, want) in cases {
        let index = mk_index(vec![
            Update::Service(Change::Apply(mk_service(
                "ns",
                "web",
                &json!({"service": "web"}),
            ))),
            Update::Slice(Change::Apply(mk_slice(
                "ns",
                "web-1",
                "web",
                &[(NODE, ready, terminating)],
            ))),
        ]);
        let c = counts(&index, "ns", "web");
        assert_eq!(
            (c.ready, c.total),
            (u32::from(want), 1),
            "ready={ready:?} terminating={terminating:?}"
        );
    }
}

#[test]
fn only_local_endpoints_of_the_referenced_service_in_the_same_namespace_count() {
    let index = mk_index(vec![
        Update::Service(Change::Apply(mk_service(
            "ns",
            "web",
            &json!({"service": "web"}),
        ))),
        Update::Slice(Change::Apply(mk_slice(
            "ns",
            "web-1",
            "web",
            &[
                (NODE, Some(true), None),
                ("node-b", Some(true), None),
                (NODE, Some(false), None),
            ],
        ))),
        Update::Slice(Change::Apply(mk_slice(
            "ns",
            "web-2",
            "web",
            &[(NODE, Some(true), None)],
        ))),
        Update::Slice(Change::Apply(mk_slice(
            "other",
            "web-1",
            "web",
            &[(NODE, Some(true), None)],
        ))),
        Update::Slice(Change::Apply(mk_slice(
            "ns",
            "db-1",
            "db",
            &[(NODE, Some(true), None)],
        ))),
    ]);
    assert_eq!(
        counts(&index, "ns", "web"),
        EndpointCounts { ready: 2, total: 3 }
    );
    let world = index.world().unwrap();
    let ips: Vec<String> = world.pod_ips[&ServiceKey::new("ns", "web")]
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        ips,
        ["10.0.0.1"],
        "only ready local addresses, deduplicated"
    );
    assert_eq!(world.service_uids[&ServiceKey::new("ns", "web")], "uid-web");
}

#[test]
fn slice_updates_and_deletes_change_counts_and_forget_remote_slices() {
    let mut index = mk_index(vec![Update::Service(Change::Apply(mk_service(
        "ns",
        "web",
        &json!({"service": "web"}),
    )))]);
    index.update(Update::Slice(Change::Apply(mk_slice(
        "ns",
        "s",
        "web",
        &[(NODE, Some(true), None)],
    ))));
    assert_eq!(counts(&index, "ns", "web").ready, 1);
    index.update(Update::Slice(Change::Apply(mk_slice(
        "ns",
        "s",
        "web",
        &[(NODE, Some(true), Some(true))],
    ))));
    assert_eq!(
        counts(&index, "ns", "web"),
        EndpointCounts { ready: 0, total: 1 }
    );
    // The endpoint moves to another node: the slice is no longer kept at all.
    index.update(Update::Slice(Change::Apply(mk_slice(
        "ns",
        "s",
        "web",
        &[("node-b", Some(true), None)],
    ))));
    assert_eq!(counts(&index, "ns", "web"), EndpointCounts::default());
    assert!(
        index.local.is_empty(),
        "memory follows local endpoints only"
    );
    index.update(Update::Slice(Change::Apply(mk_slice(
        "ns",
        "s",
        "web",
        &[(NODE, Some(true), None)],
    ))));
    index.update(Update::Slice(Change::Delete(mk_slice(
        "ns",
        "s",
        "web",
        &[],
    ))));
    assert_eq!(counts(&index, "ns", "web"), EndpointCounts::default());
}

#[test]
fn a_relist_replaces_contents_and_nothing_else_does() {
    let mut index = mk_index(vec![
        Update::Service(Change::Apply(mk_service(
            "ns",
            "web",
            &json!({"service": "web"}),
        ))),
        Update::Slice(Change::Apply(mk_slice(
            "ns",
            "a",
            "web",
            &[(NODE, Some(true), None)],
        ))),
    ]);
    let before = index.world();
    // A relist that no longer holds slice `a` but holds `b`.
    index.update(Update::Slice(Change::Reset(vec![mk_slice(
        "ns",
        "b",
        "web",
        &[(NODE, Some(true), None), (NODE, Some(true), None)],
    )])));
    assert_ne!(index.world(), before);
    assert_eq!(
        counts(&index, "ns", "web"),
        EndpointCounts { ready: 2, total: 2 }
    );
    index.update(Update::Service(Change::Reset(vec![])));
    assert!(index.world().unwrap().services.is_empty());
}

#[test]
fn pod_selector_counts_ready_local_pods_not_terminating() {
    let index = mk_index(vec![
        Update::Service(Change::Apply(mk_service(
            "ns",
            "web",
            &json!({"podSelector": {"matchLabels": {"app": "web"}}}),
        ))),
        Update::Pod(Change::Apply(mk_pod("ns", "p1", NODE, "web", true, false))),
        Update::Pod(Change::Apply(mk_pod("ns", "p2", NODE, "web", false, false))),
        Update::Pod(Change::Apply(mk_pod("ns", "p3", NODE, "web", true, true))),
        Update::Pod(Change::Apply(mk_pod("ns", "p4", NODE, "db", true, false))),
        Update::Pod(Change::Apply(mk_pod(
            "ns", "p5", "node-b", "web", true, false,
        ))),
        Update::Pod(Change::Apply(mk_pod(
            "other", "p6", NODE, "web", true, false,
        ))),
    ]);
    assert_eq!(
        counts(&index, "ns", "web"),
        EndpointCounts { ready: 1, total: 3 }
    );
}

#[test]
fn node_changes_reach_the_world_and_other_nodes_are_ignored() {
    let mut index = mk_index(vec![]);
    index.update(Update::Node(Change::Apply(mk_node(NODE, true))));
    assert!(index.world().unwrap().node.unschedulable);
    index.update(Update::Node(Change::Apply(mk_node("node-b", false))));
    assert!(index.world().unwrap().node.unschedulable);
    index.update(Update::Node(Change::Delete(mk_node(NODE, true))));
    assert!(!index.world().unwrap().node.unschedulable);
}

#[test]
fn invalid_services_are_kept_without_counts() {
    let index = mk_index(vec![Update::Service(Change::Apply(mk_service_spec(
        "ns",
        "bad",
        &json!({"addresses": ["192.0.2.10"], "readiness": {"service": "web"}, "probes": [
            {"name": "p", "tcp": {"port": 80}, "timeout": "forever"}
        ]}),
    )))]);
    let world = index.world().unwrap();
    assert!(world.services[&ServiceKey::new("ns", "bad")].is_err());
    assert!(
        !world
            .endpoints
            .unwrap()
            .contains_key(&ServiceKey::new("ns", "bad"))
    );
}

#[test]
fn stale_readiness_withdraws_only_services_without_probes() {
    let index = mk_index(vec![
        Update::Service(Change::Apply(mk_service(
            "ns",
            "plain",
            &json!({"service": "web"}),
        ))),
        Update::Service(Change::Apply(mk_service_spec(
            "ns",
            "probed",
            &json!({"addresses": ["192.0.2.11"], "readiness": {"service": "web"},
                   "probes": [{"name": "p", "tcp": {"port": 80}}]}),
        ))),
        Update::Slice(Change::Apply(mk_slice(
            "ns",
            "s",
            "web",
            &[(NODE, Some(true), None)],
        ))),
    ]);
    let mut world = index.world().unwrap();
    let affected = withdraw_unprobed(&mut world);
    assert_eq!(affected, [ServiceKey::new("ns", "plain")]);
    let eps = world.endpoints.unwrap();
    assert_eq!(
        eps[&ServiceKey::new("ns", "plain")],
        EndpointCounts { ready: 0, total: 1 }
    );
    assert_eq!(
        eps[&ServiceKey::new("ns", "probed")],
        EndpointCounts { ready: 1, total: 1 }
    );
    assert!(!world.pod_ips.contains_key(&ServiceKey::new("ns", "plain")));
}

fn mk_backend(ns: &str, name: &str, selector: &[(&str, &str)]) -> BackendSummary {
    summarize_backend(&k8s_openapi::api::core::v1::Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..ObjectMeta::default()
        },
        spec: Some(k8s_openapi::api::core::v1::ServiceSpec {
            selector: Some(
                selector
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..Default::default()
        }),
        status: None,
    })
}

#[test]
fn from_pods_a_service_counts_this_nodes_pods_its_selector_matches() {
    let index = mk_index_from(
        EndpointSource::Pods,
        vec![
            Update::Service(Change::Apply(mk_service(
                "ns",
                "web",
                &json!({"service": "web"}),
            ))),
            Update::Backend(Change::Apply(mk_backend("ns", "web", &[("app", "web")]))),
            Update::Pod(Change::Apply(mk_pod("ns", "p1", NODE, "web", true, false))),
            Update::Pod(Change::Apply(mk_pod("ns", "p2", NODE, "web", true, true))),
            Update::Pod(Change::Apply(mk_pod("ns", "p3", NODE, "web", false, false))),
            Update::Pod(Change::Apply(mk_pod("ns", "p4", NODE, "db", true, false))),
            Update::Pod(Change::Apply(mk_pod(
                "other", "p5", NODE, "web", true, false,
            ))),
            // Slices are not the source here, whatever they say.
            Update::Slice(Change::Apply(mk_slice(
                "ns",
                "s",
                "web",
                &[(NODE, Some(true), None)],
            ))),
        ],
    );
    assert_eq!(
        counts(&index, "ns", "web"),
        EndpointCounts { ready: 1, total: 3 }
    );
    let world = index.world().unwrap();
    let ips: Vec<String> = world.pod_ips[&ServiceKey::new("ns", "web")]
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(ips, ["10.1.0.7"]);
}

#[test]
fn from_pods_a_service_without_selector_or_missing_selects_nothing() {
    let mut index = mk_index_from(
        EndpointSource::Pods,
        vec![
            Update::Service(Change::Apply(mk_service(
                "ns",
                "web",
                &json!({"service": "web"}),
            ))),
            Update::Pod(Change::Apply(mk_pod("ns", "p1", NODE, "web", true, false))),
        ],
    );
    assert_eq!(
        counts(&index, "ns", "web"),
        EndpointCounts::default(),
        "no Service"
    );
    index.update(Update::Backend(Change::Apply(mk_backend("ns", "web", &[]))));
    assert_eq!(
        counts(&index, "ns", "web"),
        EndpointCounts::default(),
        "no selector"
    );
    index.update(Update::Backend(Change::Apply(mk_backend(
        "ns",
        "web",
        &[("app", "web")],
    ))));
    assert_eq!(
        counts(&index, "ns", "web"),
        EndpointCounts { ready: 1, total: 1 }
    );
    index.update(Update::Backend(Change::Delete(mk_backend(
        "ns",
        "web",
        &[],
    ))));
    assert_eq!(
        counts(&index, "ns", "web"),
        EndpointCounts::default(),
        "deleted"
    );
}

#[test]
fn from_pods_the_world_waits_for_services_not_slices() {
    let mut index = Index::new(NODE, EndpointSource::Pods);
    for u in [
        Update::Service(Change::Reset(vec![])),
        Update::Pool(Change::Reset(vec![])),
        Update::Namespace(Change::Reset(vec![])),
        Update::Node(Change::Reset(vec![])),
        Update::Pod(Change::Reset(vec![])),
    ] {
        index.update(u);
    }
    assert_eq!(index.world(), None, "core Services not listed yet");
    index.update(Update::Backend(Change::Reset(vec![])));
    assert!(
        index.world().is_some(),
        "EndpointSlices are not watched in this mode"
    );
}
