//! The committed CRDs against a real kube-apiserver: the examples are accepted and come back
//! with the documented defaults, the stored objects pass the planner's validation, and the
//! schema's rules reject bad objects with a message naming the field (AnycastPool's
//! `allowedAttributes` included).

#[allow(
    dead_code,
    unused_imports,
    reason = "shared by several test crates, each using a part"
)]
mod support;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::{Client, Error};
use kube_anycast::crd::{AnycastPool, AnycastService};
use serde_json::{Value, json};
use support::controlplane;

fn example(name: &str) -> String {
    std::fs::read_to_string(controlplane::repo_dir().join("docs/examples").join(name))
        .unwrap_or_else(|e| panic!("docs/examples/{name}: {e}"))
}

fn services(client: &Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("kube-anycast.io", "v1alpha1", "AnycastService");
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
}

fn service(spec: &Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "kube-anycast.io/v1alpha1",
        "kind": "AnycastService",
        "metadata": {"name": "bad"},
        "spec": spec,
    }))
    .unwrap_or_else(|e| panic!("{spec}: {e}"))
}

#[tokio::test]
async fn examples_are_accepted_defaulted_and_valid() {
    let client = controlplane::shared().admin_client();
    let ns = controlplane::test_namespace(&client, "crd-examples").await;
    let mut pool: AnycastPool = serde_saphyr::from_str(&example("anycastpool.yaml")).unwrap();
    pool.metadata.name = Some(format!("{ns}-edge"));
    let pools: Api<AnycastPool> = Api::all(client.clone());
    let stored = pools.create(&PostParams::default(), &pool).await.unwrap();
    kube_anycast::plan::validate_pool(&stored.spec).unwrap();
    // An empty allowlist ("nothing") survives storage as such, distinct from an absent one
    // ("anything"): the API server must not prune it.
    let allowed = stored.spec.allowed_attributes.as_ref().unwrap();
    assert_eq!(allowed.next_hop_cidrs.as_deref(), Some(&[][..]));
    assert_eq!(allowed.extended_communities.as_deref(), Some(&[][..]));
    assert_eq!(allowed, pool.spec.allowed_attributes.as_ref().unwrap());

    let mut svc: AnycastService = serde_saphyr::from_str(&example("anycastservice.yaml")).unwrap();
    svc.metadata.namespace = Some(ns.clone());
    let api: Api<AnycastService> = Api::namespaced(client.clone(), &ns);
    let stored = api.create(&PostParams::default(), &svc).await.unwrap();
    let valid = kube_anycast::plan::validate_service(&stored.spec).unwrap();
    assert_eq!(valid.probes.len(), 3);

    // A minimal object comes back with every default the docs promise.
    let minimal = service(&json!({"addresses": ["192.0.2.9"], "readiness": {"service": "web"}}));
    let created = services(&client, &ns)
        .create(&PostParams::default(), &minimal)
        .await
        .unwrap();
    let spec = &created.data["spec"];
    assert_eq!(spec["minReadyEndpoints"], 1);
    assert_eq!(spec["thresholds"], json!({"up": 90, "degraded": 70}));
    assert_eq!(
        spec["timings"],
        json!({"interval": "5s", "fastInterval": "1s", "rise": 3, "fall": 2})
    );
    assert_eq!(spec["announce"]["up"]["med"], 100);
    assert_eq!(spec["announce"]["degraded"]["med"], 150);
    assert_eq!(spec["announce"]["down"]["withdraw"], true);
    assert_eq!(spec["nextHop"], "self");
}

#[tokio::test]
async fn bad_objects_are_rejected_naming_the_field() {
    let client = controlplane::shared().admin_client();
    let ns = controlplane::test_namespace(&client, "crd-rules").await;
    let api = services(&client, &ns);
    let base = || json!({"addresses": ["192.0.2.1"], "readiness": {"service": "web"}});
    let with = |extra: Value| {
        let mut spec = base();
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        spec
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with(json!({"addresses": ["192.0.2.0/24"]})),
            "spec.addresses",
            "every address must be an IPv4 or IPv6 host address",
        ),
        (
            with(json!({"readiness": {"service": "web", "podSelector": {}}})),
            "spec.readiness",
            "set exactly one of readiness.service or readiness.podSelector",
        ),
        (
            with(json!({"thresholds": {"up": 60, "degraded": 80}})),
            "spec.thresholds",
            "thresholds.degraded must not exceed thresholds.up",
        ),
        (
            with(json!({"communities": ["65000:1\n"]})),
            "spec.communities[0]",
            "should match",
        ),
        (
            with(json!({"probes": [{"name": "a", "tcp": {"port": 1}, "http": {"port": 2}}]})),
            "spec.probes[0]",
            "set exactly one of http, tcp, icmp, grpc or exec",
        ),
        (
            with(json!({"probes": [{"name": "a", "tcp": {"port": 1}, "target": "Address"}]})),
            "spec.probes[0]",
            "address is required when target is Address",
        ),
        (
            with(json!({"announce": {"up": {"communities": ["65000:1"]}}})),
            "spec.announce.up",
            "a state that announces needs a med",
        ),
        (
            with(json!({"nextHop": "me"})),
            "spec.nextHop",
            "nextHop must be 'self' or an IP address",
        ),
        (
            with(json!({"timings": {"interval": "soon"}})),
            "spec.timings.interval",
            "should match",
        ),
    ];
    for (spec, field, message) in cases {
        let status = match api.create(&PostParams::default(), &service(&spec)).await {
            Err(Error::Api(status)) => *status,
            other => panic!("{spec}: expected a rejection, got {other:?}"),
        };
        assert_eq!(status.code, 422, "{spec}: {status:?}");
        assert!(
            status.message.contains(field) && status.message.contains(message),
            "{spec}: want {field} / {message}, got {}",
            status.message
        );
    }
}

#[tokio::test]
async fn bad_pools_are_rejected_naming_the_field() {
    let client = controlplane::shared().admin_client();
    // Pools are cluster-scoped: the namespace only makes their names unique to this test.
    let ns = controlplane::test_namespace(&client, "crd-pool-rules").await;
    let gvk = GroupVersionKind::gvk("kube-anycast.io", "v1alpha1", "AnycastPool");
    let pools: Api<DynamicObject> = Api::all_with(client, &ApiResource::from_gvk(&gvk));
    let pool = |i: usize, spec: Value| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "kube-anycast.io/v1alpha1",
            "kind": "AnycastPool",
            "metadata": {"name": format!("{ns}-bad-{i}")},
            "spec": spec,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let allowed = |a: Value| json!({"cidrs": ["192.0.2.0/24"], "allowedAttributes": a});
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"cidrs": ["192.0.2.1/24"]}),
            "spec.cidrs",
            "no host bits set",
        ),
        (
            allowed(json!({"communities": ["65000:*", "65000:1 no-export"]})),
            "spec.allowedAttributes.communities[1]",
            "should match",
        ),
        (
            allowed(json!({"largeCommunities": ["65000:*"]})),
            "spec.allowedAttributes.largeCommunities[0]",
            "should match",
        ),
        (
            allowed(json!({"extendedCommunities": ["color:1:2"]})),
            "spec.allowedAttributes.extendedCommunities[0]",
            "should match",
        ),
        (
            allowed(json!({"med": {"min": 200, "max": 100}})),
            "spec.allowedAttributes.med",
            "min must not exceed max",
        ),
        (
            allowed(json!({"localPreference": {"max": 4_294_967_296_u64}})),
            "spec.allowedAttributes.localPreference.max",
            "should be less than or equal to",
        ),
        (
            allowed(json!({"asPathPrepend": {"maxLength": 65}})),
            "spec.allowedAttributes.asPathPrepend.maxLength",
            "should be less than or equal to 64",
        ),
        (
            allowed(json!({"nextHopCIDRs": ["10.0.0.1/24"]})),
            "spec.allowedAttributes.nextHopCIDRs",
            "every entry must be a CIDR with no host bits set",
        ),
        (
            allowed(json!({"neighborCIDRs": ["10.0.0.1"]})),
            "spec.allowedAttributes.neighborCIDRs",
            "every entry must be a CIDR with no host bits set",
        ),
    ];
    for (i, (spec, field, message)) in cases.into_iter().enumerate() {
        match pools
            .create(&PostParams::default(), &pool(i, spec.clone()))
            .await
        {
            Err(Error::Api(status)) => assert!(
                status.code == 422
                    && status.message.contains(field)
                    && status.message.contains(message),
                "{spec}: want {field} / {message}, got {}",
                status.message
            ),
            other => panic!("{spec}: expected a rejection, got {other:?}"),
        }
    }
    // Wildcards, well-known names and open bounds are accepted, and the planner agrees.
    let good = allowed(json!({
        "communities": ["65000:*", "*:*", "no-export", "65535:666"],
        "largeCommunities": ["*:1:*"],
        "extendedCommunities": ["target:65000:*", "origin:192.0.2.1:*", "0x0002FDE800000001"],
        "med": {"min": 100}, "localPreference": {"max": 100},
        "asPathPrepend": {"maxLength": 0, "asns": []},
        "nextHopCIDRs": ["10.0.0.0/24", "2001:db8::/64"], "neighborCIDRs": [],
    }));
    let created = pools
        .create(&PostParams::default(), &pool(99, good))
        .await
        .unwrap();
    let spec: kube_anycast::crd::AnycastPoolSpec =
        serde_json::from_value(created.data["spec"].clone()).unwrap();
    kube_anycast::plan::validate_pool(&spec).unwrap();
}
