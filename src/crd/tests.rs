use std::path::PathBuf;
use std::sync::Arc;

use super::*;

fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

const REGENERATE: &str = "cargo run -- crd --dir crds --docs docs/api.md";

#[test]
fn committed_crds_are_current() {
    let files = render_files().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(repo_path("crds"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    want.sort();
    assert_eq!(names, want, "crds/ holds other files; run `{REGENERATE}`");
    for (name, yaml) in files {
        let committed = std::fs::read_to_string(repo_path("crds").join(&name)).unwrap();
        assert!(
            committed == yaml,
            "crds/{name} is stale; run `{REGENERATE}`"
        );
    }
}

#[test]
fn committed_api_docs_are_current() {
    let committed = std::fs::read_to_string(repo_path("docs/api.md")).unwrap();
    assert!(
        committed == render_markdown(&definitions()),
        "docs/api.md is stale; run `{REGENERATE}`"
    );
}

#[test]
fn stream_holds_every_kind_once() {
    let stream = render_stream().unwrap();
    for kind in ["AnycastService", "AnycastPool", "AnycastAdvertisement"] {
        assert_eq!(
            stream.matches(&format!("kind: {kind}\n")).count(),
            1,
            "{kind}"
        );
    }
    assert_eq!(stream.matches("---\n").count(), 3);
}

#[test]
fn every_spec_field_is_documented() {
    fn walk(path: &str, s: &JSONSchemaProps, missing: &mut Vec<String>) {
        for (name, p) in s.properties.iter().flatten() {
            let field = format!("{path}.{name}");
            if p.description.as_deref().unwrap_or("").is_empty() {
                missing.push(field.clone());
            }
            walk(&field, p, missing);
            if let Some(JSONSchemaPropsOrArray::Schema(item)) = &p.items {
                walk(&field, item, missing);
            }
        }
    }
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        JSONSchemaProps, JSONSchemaPropsOrArray,
    };
    let mut missing = Vec::new();
    for crd in definitions() {
        let schema = crd.spec.versions[0]
            .schema
            .clone()
            .unwrap()
            .open_api_v3_schema
            .unwrap();
        walk(
            &crd.spec.names.kind,
            &schema.properties.unwrap()["spec"],
            &mut missing,
        );
    }
    assert!(missing.is_empty(), "fields without docs: {missing:?}");
}

#[test]
fn a_minimal_service_gets_the_documented_defaults() {
    let svc: AnycastServiceSpec = serde_json::from_value(serde_json::json!({
        "addresses": ["192.0.2.10"],
        "readiness": {"service": "web"},
    }))
    .unwrap();
    assert_eq!(svc.min_ready_endpoints, 1);
    assert_eq!((svc.thresholds.up, svc.thresholds.degraded), (90, 70));
    assert_eq!(svc.timings.interval, "5s");
    assert_eq!(svc.timings.fast_interval, "1s");
    assert_eq!((svc.timings.rise, svc.timings.fall), (3, 2));
    assert_eq!(svc.announce.up.med, Some(100));
    assert_eq!(svc.announce.degraded.med, Some(150));
    assert!(svc.announce.down.withdraw && svc.announce.disabled.withdraw);
    assert_eq!(svc.next_hop, "self");
    assert!(!svc.disabled);
}

#[test]
fn the_schema_carries_the_cel_rules() {
    let stream = render_stream().unwrap();
    for rule in [
        "has(self.service) != has(self.podSelector)",
        "self.degraded <= self.up",
        "self.all(a, isIP(a))",
        "isCIDR(c)",
    ] {
        assert!(stream.contains(rule), "missing rule {rule}");
    }
}

#[test]
fn the_examples_parse_validate_and_plan() {
    let read = |name: &str| std::fs::read_to_string(repo_path("docs/examples").join(name)).unwrap();
    let pool: AnycastPool = serde_saphyr::from_str(&read("anycastpool.yaml")).unwrap();
    let svc: AnycastService = serde_saphyr::from_str(&read("anycastservice.yaml")).unwrap();
    let mut inputs = crate::plan::Inputs::default();
    Arc::make_mut(&mut inputs.pools).insert("edge".into(), crate::plan::validate_pool(&pool.spec));
    let key = crate::plan::ServiceKey::new("team-dns", "dns");
    Arc::make_mut(&mut inputs.services).insert(
        key.clone(),
        Arc::new(crate::plan::validate_service(&svc.spec)),
    );
    Arc::make_mut(&mut inputs.namespaces).insert(
        "team-dns".into(),
        [("kube-anycast.io/team".to_owned(), "dns".to_owned())].into(),
    );
    inputs
        .node
        .labels
        .insert("bgp.kube-anycast.io/speaker".into(), "true".into());
    let probes = ["resolver", "metrics", "upstream"].map(|p| (p.to_owned(), true));
    inputs.health.insert(
        key.clone(),
        crate::plan::LocalHealth {
            ready: 1,
            total: 1,
            probes: probes.into(),
        },
    );
    let plan = crate::plan::plan(&inputs);
    assert_eq!(
        plan.reports[&key].state,
        AdvertisedState::Up,
        "{}",
        plan.reports[&key].reason
    );
    assert_eq!(plan.rib.len(), 2);
    for attrs in plan.rib.values() {
        assert_eq!(attrs.med, Some(100));
        assert_eq!(attrs.communities.to_string(), "65000:53 65000:1");
    }
}
