//! Tenancy and input security, through the planner's public API as the agent uses it:
//! `validate_pool` / `validate_service` → `plan` → `exabgp::batch::commands`.
//!
//! - A namespace is announced only addresses inside the pools granted to it.
//! - Pool attributes are always added; a tenant cannot drop them.
//! - Exec probes are refused unless every pool the service uses sets `allowExec`.
//! - A pool's `allowedAttributes` keeps what it forbids off the wire: the service's addresses
//!   from that pool are refused, the reason names the field, and other services carry on.
//! - A broader pool never reaches into a more specific pool granted to another namespace.
//! - Names, annotations and fields holding newlines, brackets, `;`, very long strings or unicode
//!   never reach ExaBGP's API: every line is checked by an independent grammar
//!   (`support/exabgp_line.rs`, shared with the fuzz targets).

#[path = "support/exabgp_line.rs"]
mod exabgp_line;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use kube_anycast::crd::{AnycastPoolSpec, AnycastServiceSpec};
use kube_anycast::exabgp::batch::commands;
use kube_anycast::model::Rib;
use kube_anycast::plan::{
    Inputs, LocalHealth, NodeInfo, Plan, ServiceKey, State, plan, validate_pool, validate_service,
};
use serde_json::{Value, json};

use exabgp_line::check_line;

#[expect(
    clippy::expect_used,
    reason = "fixtures are literals: a bad one is a bug in the test"
)]
fn mk_inputs(pools: &[(&str, Value)], namespaces: &[(&str, &[(&str, &str)])]) -> Inputs {
    let mut inputs = Inputs {
        node: NodeInfo {
            name: "n1".into(),
            ..NodeInfo::default()
        },
        ..Inputs::default()
    };
    for (name, spec) in pools {
        let spec: AnycastPoolSpec = serde_json::from_value(spec.clone()).expect("a pool spec");
        Arc::make_mut(&mut inputs.pools).insert((*name).to_owned(), validate_pool(&spec));
    }
    for (ns, labels) in namespaces {
        Arc::make_mut(&mut inputs.namespaces).insert(
            (*ns).to_owned(),
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
    }
    inputs
}

/// Adds a service whose endpoints are ready and whose probes all pass, so that policy alone
/// decides what is announced.
#[expect(
    clippy::expect_used,
    reason = "fixtures are literals: a bad one is a bug in the test"
)]
fn mk_service(inputs: &mut Inputs, ns: &str, name: &str, spec: Value) {
    let key = ServiceKey::new(ns, name);
    let spec: AnycastServiceSpec = serde_json::from_value(spec).expect("a service spec");
    let service = validate_service(&spec);
    let probes = service
        .as_ref()
        .map(|s| s.probes.iter().map(|p| (p.name.clone(), true)).collect())
        .unwrap_or_default();
    inputs.health.insert(
        key.clone(),
        LocalHealth {
            ready: 1,
            total: 1,
            probes,
        },
    );
    Arc::make_mut(&mut inputs.services).insert(key, Arc::new(service));
}

fn web(addresses: &[&str]) -> Value {
    json!({"addresses": addresses, "readiness": {"service": "web"}})
}

/// The planned lines for announcing, draining and withdrawing everything, each checked.
fn checked_lines(inputs: &Inputs) -> Vec<String> {
    let up = plan(inputs).rib;
    let mut draining = inputs.clone();
    draining.node.shutting_down = true;
    let draining = plan(&draining).rib;
    let empty = std::sync::Arc::new(Rib::new());
    let mut lines = Vec::new();
    for (from, to) in [(&empty, &up), (&up, &draining), (&draining, &empty)] {
        for batch in commands(from, to, 4) {
            check_line(&batch.line).unwrap_or_else(|e| panic!("{e}"));
            lines.push(batch.line);
        }
    }
    lines
}

fn announced(plan: &Plan, ns: &str, name: &str) -> Vec<String> {
    plan.reports[&ServiceKey::new(ns, name)]
        .prefixes
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn two_tenants() -> Inputs {
    mk_inputs(
        &[
            (
                "team-a",
                json!({"cidrs": ["192.0.2.0/24"], "namespaceSelector": {"matchLabels": {"team": "a"}}}),
            ),
            (
                "team-b",
                json!({"cidrs": ["198.51.100.0/24", "2001:db8:b::/48"],
                       "namespaceSelector": {"matchLabels": {"team": "b"}}}),
            ),
            ("shared", json!({"cidrs": ["203.0.113.0/24"]})),
        ],
        &[
            ("a", &[("team", "a")]),
            ("b", &[("team", "b")]),
            ("unlabelled", &[]),
        ],
    )
}

#[test]
fn a_namespace_is_announced_only_addresses_its_pools_grant() {
    let mut inputs = two_tenants();
    let claims = ["192.0.2.1", "198.51.100.1", "2001:db8:b::1", "203.0.113.1"];
    mk_service(&mut inputs, "a", "web", web(&claims));
    mk_service(&mut inputs, "b", "web", web(&["198.51.100.2", "192.0.2.2"]));
    mk_service(&mut inputs, "unlabelled", "web", web(&claims));
    // Not in the namespace list at all: no labels, so only unselected pools.
    mk_service(&mut inputs, "team-b", "web", web(&["198.51.100.3"]));
    let p = plan(&inputs);
    assert_eq!(
        announced(&p, "a", "web"),
        ["192.0.2.1/32", "203.0.113.1/32"]
    );
    assert_eq!(announced(&p, "b", "web"), ["198.51.100.2/32"]);
    assert_eq!(announced(&p, "unlabelled", "web"), ["203.0.113.1/32"]);
    assert!(announced(&p, "team-b", "web").is_empty());
    let refused: BTreeSet<IpAddr> = p.reports[&ServiceKey::new("a", "web")]
        .refused
        .iter()
        .map(|(ip, why)| {
            assert!(
                why.contains("outside every AnycastPool granted to namespace a"),
                "{why}"
            );
            *ip
        })
        .collect();
    assert_eq!(
        refused,
        BTreeSet::from([
            "198.51.100.1".parse().unwrap(),
            "2001:db8:b::1".parse().unwrap()
        ])
    );
    // The RIB is exactly the union of the granted claims, nothing else.
    let rib: BTreeSet<String> = p.rib.keys().map(|k| k.prefix.to_string()).collect();
    let want = ["192.0.2.1/32", "198.51.100.2/32", "203.0.113.1/32"];
    assert_eq!(rib, want.iter().map(|s| (*s).to_owned()).collect());
    checked_lines(&inputs);
}

#[test]
fn an_invalid_pool_grants_nothing_and_a_wide_pool_still_refuses_special_addresses() {
    let mut inputs = mk_inputs(
        &[
            ("broken", json!({"cidrs": ["192.0.2.1/24"]})),
            ("everything", json!({"cidrs": ["0.0.0.0/0", "::/0"]})),
        ],
        &[("a", &[])],
    );
    mk_service(&mut inputs, "a", "ok", web(&["192.0.2.1"]));
    for (name, addr) in [
        ("any", "0.0.0.0"),
        ("lo", "127.0.0.1"),
        ("mc", "224.0.0.1"),
        ("v6", "::1"),
        ("ll4", "169.254.169.254"),
        ("ll6", "fe80::1"),
    ] {
        mk_service(&mut inputs, "a", name, web(&[addr]));
    }
    let p = plan(&inputs);
    // "broken" is ignored, "everything" grants the unicast address.
    assert_eq!(announced(&p, "a", "ok"), ["192.0.2.1/32"]);
    for name in ["any", "lo", "mc", "v6", "ll4", "ll6"] {
        assert_eq!(
            p.reports[&ServiceKey::new("a", name)].state,
            State::Invalid,
            "{name}"
        );
    }
    assert_eq!(p.rib.len(), 1);
}

#[test]
fn pool_attributes_are_always_added_and_a_tenant_cannot_drop_them() {
    let mut inputs = mk_inputs(
        &[(
            "edge",
            json!({"cidrs": ["192.0.2.0/24"], "communities": ["65000:666", "no-export"],
                   "largeCommunities": ["65000:1:2"], "extendedCommunities": ["target:65000:7"]}),
        )],
        &[("a", &[])],
    );
    mk_service(
        &mut inputs,
        "a",
        "web",
        json!({"addresses": ["192.0.2.1"], "readiness": {"service": "web"},
               "communities": ["65001:1"], "announce": {"up": {"med": 100, "communities": []}}}),
    );
    let lines = checked_lines(&inputs);
    let announce = lines.iter().find(|l| l.contains(" announce ")).unwrap();
    for attr in [
        "65000:666",
        "no-export",
        "65000:1:2",
        "target:65000:7",
        "65001:1",
    ] {
        assert!(announce.contains(attr), "{attr} missing from {announce:?}");
    }
    // Draining adds GRACEFUL_SHUTDOWN on top and still keeps the pool's attributes.
    let drain = lines
        .iter()
        .filter(|l| l.contains(" announce "))
        .nth(1)
        .unwrap();
    assert!(
        drain.contains("65535:0") && drain.contains("65000:666"),
        "{drain:?}"
    );
}

#[test]
fn exec_probes_need_every_pool_used_to_allow_them() {
    let mut inputs = mk_inputs(
        &[
            ("plain", json!({"cidrs": ["192.0.2.0/24"]})),
            (
                "trusted",
                json!({"cidrs": ["198.51.100.0/24"], "allowExec": true}),
            ),
        ],
        &[("a", &[])],
    );
    let exec = json!([{"name": "script", "exec": {"command": ["/bin/true"]}}]);
    let spec = |addrs: &[&str]| {
        let mut s = web(addrs);
        s["probes"] = exec.clone();
        s
    };
    mk_service(&mut inputs, "a", "plain", spec(&["192.0.2.1"]));
    mk_service(&mut inputs, "a", "trusted", spec(&["198.51.100.1"]));
    mk_service(
        &mut inputs,
        "a",
        "mixed",
        spec(&["198.51.100.2", "192.0.2.2"]),
    );
    mk_service(&mut inputs, "a", "tcp", web(&["192.0.2.3"]));
    let p = plan(&inputs);
    for name in ["plain", "mixed"] {
        let r = &p.reports[&ServiceKey::new("a", name)];
        assert_eq!(r.state, State::Refused, "{name}");
        assert!(r.reason.contains("does not set allowExec"), "{}", r.reason);
        assert!(
            !r.runs_probes(),
            "{name}: a refused service must not run its probes"
        );
    }
    assert_eq!(announced(&p, "a", "trusted"), ["198.51.100.1/32"]);
    assert!(p.reports[&ServiceKey::new("a", "trusted")].runs_probes());
    assert_eq!(announced(&p, "a", "tcp"), ["192.0.2.3/32"]);
}

/// (service, what it sets, what its reason must say): one forbidden attribute each.
fn forbidden_attribute_cases() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        (
            "c1",
            json!({"communities": ["65001:1", "65002:1"]}),
            "spec.communities[1]: 65002:1 not allowed by AnycastPool tenant-a (spec.allowedAttributes.communities)",
        ),
        (
            "c2",
            json!({"communities": ["blackhole"]}),
            "spec.communities[0]: blackhole (65535:666) not allowed by AnycastPool tenant-a",
        ),
        (
            "c3",
            json!({"announce": {"up": {"med": 100, "communities": ["4294967041"]}}}),
            "spec.announce.up.communities[0]: 4294967041 (65535:65281) not allowed by AnycastPool tenant-a",
        ),
        (
            "l1",
            json!({"largeCommunities": ["65001:1:1"]}),
            "spec.largeCommunities[0]: 65001:1:1 not allowed by AnycastPool tenant-a (spec.allowedAttributes.largeCommunities)",
        ),
        (
            "p1",
            json!({"asPathPrepend": "65001 65001"}),
            "(spec.allowedAttributes.asPathPrepend.maxLength: 1)",
        ),
        (
            "p2",
            json!({"asPathPrepend": "3356"}),
            "spec.asPathPrepend: ASN 3356 not allowed by AnycastPool tenant-a (spec.allowedAttributes.asPathPrepend.asns)",
        ),
        (
            "lp",
            json!({"localPreference": 500}),
            "spec.localPreference: 500 not allowed by AnycastPool tenant-a (spec.allowedAttributes.localPreference: 0-100)",
        ),
        (
            "m1",
            json!({"announce": {"up": {"med": 0}}}),
            "spec.announce.up.med: 0 not allowed by AnycastPool tenant-a (spec.allowedAttributes.med: 100-4294967295)",
        ),
        (
            "nh",
            json!({"nextHop": "192.0.2.254"}),
            "spec.nextHop: 192.0.2.254 not allowed by AnycastPool tenant-a (spec.allowedAttributes.nextHopCIDRs)",
        ),
        (
            "nb",
            json!({"neighbors": ["10.0.0.1", "10.9.0.1"]}),
            "spec.neighbors: 10.9.0.1 not allowed by AnycastPool tenant-a (spec.allowedAttributes.neighborCIDRs)",
        ),
    ]
}

#[test]
fn a_pool_keeps_forbidden_attributes_off_the_wire_and_other_services_carry_on() {
    let mut inputs = mk_inputs(
        &[
            (
                "tenant-a",
                json!({"cidrs": ["192.0.2.0/24"], "namespaceSelector": {"matchLabels": {"team": "a"}},
                       "allowedAttributes": {"communities": ["65001:*"], "largeCommunities": [],
                                             "asPathPrepend": {"maxLength": 1, "asns": [65001]},
                                             "localPreference": {"max": 100}, "med": {"min": 100},
                                             "nextHopCIDRs": [], "neighborCIDRs": ["10.0.0.0/24"]}}),
            ),
            // No allowedAttributes: anything but the reserved communities (65535:*).
            ("shared", json!({"cidrs": ["203.0.113.0/24"]})),
            (
                "trusted",
                json!({"cidrs": ["198.51.100.0/24"],
                       "allowedAttributes": {"communities": ["no-export", "65535:666", "*:*"]}}),
            ),
        ],
        &[("a", &[("team", "a")])],
    );
    // Each service its own addresses (192.0.2.N, 203.0.113.N, 198.51.100.N), so that no two
    // conflict and policy alone decides.
    let svc = |n: usize, extra: &Value| {
        let mut s = web(&[
            &format!("192.0.2.{n}"),
            &format!("203.0.113.{n}"),
            &format!("198.51.100.{n}"),
        ]);
        for (k, v) in extra.as_object().into_iter().flatten() {
            s[k] = v.clone();
        }
        s
    };
    let cases = forbidden_attribute_cases();
    for (n, (name, extra, _)) in cases.iter().enumerate() {
        mk_service(&mut inputs, "a", name, svc(n + 1, extra));
    }
    let ok = json!({"communities": ["65001:7"], "asPathPrepend": "65001", "localPreference": 100,
                    "neighbors": ["10.0.0.1"]});
    mk_service(&mut inputs, "a", "ok", svc(50, &ok));
    let p = plan(&inputs);
    for (n, (name, _, why)) in cases.iter().enumerate() {
        let r = &p.reports[&ServiceKey::new("a", *name)];
        let ip = format!("192.0.2.{}", n + 1);
        let refused: Vec<&str> = r.refused.iter().map(|(_, w)| w.as_str()).collect();
        assert!(
            refused
                .iter()
                .any(|w| w.starts_with(&format!("{ip} refused for a/{name}: ")) && w.contains(why)),
            "{name}: {refused:?}"
        );
        assert!(r.reason.contains(why), "{name}: {}", r.reason);
        assert!(
            !r.prefixes.contains(&format!("{ip}/32").parse().unwrap()),
            "{name}"
        );
    }
    // The reserved communities are refused by the pool without limits too, and allowed by the
    // pool that names them; other attributes are free there.
    for (name, n) in [("c2", 2), ("c3", 3)] {
        assert_eq!(announced(&p, "a", name), [format!("198.51.100.{n}/32")]);
    }
    for name in ["c1", "l1", "p1", "p2", "lp", "m1", "nh", "nb"] {
        assert_eq!(announced(&p, "a", name).len(), 2, "{name}");
    }
    assert_eq!(announced(&p, "a", "ok").len(), 3);
    // Nothing forbidden by tenant-a is on the wire for its addresses.
    for line in checked_lines(&inputs) {
        let tenant_a: IpNet = "192.0.2.0/24".parse().unwrap();
        let prefixes = check_line(&line).unwrap().prefixes;
        if prefixes.iter().any(|p| tenant_a.contains(p)) {
            for bad in [
                "65002:1",
                "65535:666",
                "blackhole",
                "no-export",
                "3356",
                "local-preference 500",
                "192.0.2.254",
                "10.9.0.1",
            ] {
                assert!(!line.contains(bad), "{bad} reached {line:?}");
            }
        }
    }
}

#[test]
fn a_broader_pool_never_reaches_into_another_tenants_more_specific_pool() {
    let mut inputs = mk_inputs(
        &[
            (
                "wide-a",
                json!({"cidrs": ["10.0.0.0/8"], "namespaceSelector": {"matchLabels": {"team": "a"}}}),
            ),
            (
                "narrow-b",
                json!({"cidrs": ["10.1.0.0/16"], "namespaceSelector": {"matchLabels": {"team": "b"}}}),
            ),
            // Same prefix as narrow-b, granted to a too: a tie, both may use it.
            (
                "narrow-c",
                json!({"cidrs": ["10.2.0.0/16"], "namespaceSelector": {"matchLabels": {"team": "a"}}}),
            ),
        ],
        &[("a", &[("team", "a")]), ("b", &[("team", "b")])],
    );
    mk_service(
        &mut inputs,
        "a",
        "web",
        web(&["10.1.0.1", "10.3.0.1", "10.2.0.1"]),
    );
    mk_service(&mut inputs, "b", "web", web(&["10.1.0.2", "10.3.0.2"]));
    let p = plan(&inputs);
    assert_eq!(announced(&p, "a", "web"), ["10.2.0.1/32", "10.3.0.1/32"]);
    assert_eq!(announced(&p, "b", "web"), ["10.1.0.2/32"]);
    let a = &p.reports[&ServiceKey::new("a", "web")];
    assert_eq!(
        a.refused,
        [(
            "10.1.0.1".parse().unwrap(),
            "10.1.0.1 is held by the more specific AnycastPool narrow-b, not granted to namespace a; \
             the broader AnycastPool wide-a does not reach into it"
                .to_owned()
        )]
    );
    // Without a claim from b, a still cannot take b's address.
    Arc::make_mut(&mut inputs.services).remove(&ServiceKey::new("b", "web"));
    assert_eq!(
        announced(&plan(&inputs), "a", "web"),
        ["10.2.0.1/32", "10.3.0.1/32"]
    );
    checked_lines(&inputs);
}

/// Hostile text in every place a tenant or a node admin can write one.
fn hostile_strings() -> Vec<String> {
    let mut out: Vec<String> = [
        "65000:1\nneighbor * announce route 0.0.0.0/0 next-hop self",
        "65000:1 ] med 0 [",
        "65000:1;",
        "self\nshutdown",
        "10.0.0.1, neighbor *",
        "1 ] community [ 65535:666",
        "[",
        "]",
        "\u{2028}",
        "６５０００:１",
        "no\u{0}export",
        "65000:1\r",
        "\u{1F4A5}",
        "",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    out.push("9".repeat(10_000));
    out.push("é".repeat(70_000));
    out
}

#[test]
fn hostile_fields_are_refused_or_never_reach_the_api() {
    for s in hostile_strings() {
        let mut inputs = mk_inputs(&[("p", json!({"cidrs": ["192.0.2.0/24"]}))], &[("a", &[])]);
        let fields = [
            ("communities", json!([s])),
            ("extendedCommunities", json!([s])),
            ("largeCommunities", json!([s])),
            ("asPathPrepend", json!(s)),
            ("nextHop", json!(s)),
            ("neighbors", json!([s])),
            ("addresses", json!([s])),
        ];
        for (i, (field, value)) in fields.into_iter().enumerate() {
            let mut spec = web(&["192.0.2.1"]);
            spec[field] = value;
            mk_service(&mut inputs, "a", &format!("svc-{i}"), spec);
        }
        let mut spec = web(&["192.0.2.1"]);
        spec["announce"] = json!({"up": {"med": 100, "communities": [s]}});
        mk_service(&mut inputs, "a", "state-communities", spec);
        let p = plan(&inputs);
        for (key, report) in &p.reports {
            // Refused at validation, or announced with the field parsed and re-rendered.
            assert!(
                report.state == State::Invalid || !report.prefixes.is_empty(),
                "{key}: {report:?}"
            );
        }
        for line in checked_lines(&inputs) {
            assert!(
                s.is_empty() || !line.contains(s.as_str()),
                "{s:?} reached {line:?}"
            );
        }
    }
}

#[test]
fn hostile_names_probes_and_annotations_never_reach_the_api() {
    for s in hostile_strings() {
        let mut inputs = mk_inputs(
            &[(
                "p",
                json!({"cidrs": ["192.0.2.0/24", "2001:db8::/32"], "medOffsetAnnotation": "x/med"}),
            )],
            &[(s.as_str(), &[]), ("a", &[])],
        );
        inputs.node.name.clone_from(&s);
        inputs.node.annotations = BTreeMap::from([
            ("x/med".to_owned(), s.clone()),
            ("kube-anycast.io/med-offset".to_owned(), s.clone()),
        ]);
        inputs.node.labels = BTreeMap::from([(s.clone(), s.clone())]);
        let mut spec = web(&["192.0.2.1", "2001:db8::1"]);
        spec["readiness"] = json!({"service": s});
        spec["probes"] = json!([{"name": s, "address": "192.0.2.9:80", "target": "Address", "tcp": {"port": 80}},
                                 {"name": "http", "http": {"port": 80, "path": "/", "bodyContains": s}}]);
        spec["nodeSelector"] = json!({});
        mk_service(&mut inputs, s.as_str(), s.as_str(), spec.clone());
        mk_service(&mut inputs, "a", s.as_str(), spec);
        let lines = checked_lines(&inputs);
        // Hostile names are not a reason to refuse a service: both are announced (and drained).
        assert!(s.is_empty() || lines.len() >= 3, "{s:?}: nothing announced");
        for line in &lines {
            assert!(
                s.len() < 2 || !line.contains(s.as_str()),
                "{s:?} reached {line:?}"
            );
        }
    }
}

#[test]
fn every_prefix_on_the_wire_is_a_granted_host_route() {
    let mut inputs = two_tenants();
    mk_service(&mut inputs, "a", "web", web(&["192.0.2.1", "198.51.100.1"]));
    mk_service(
        &mut inputs,
        "b",
        "web",
        web(&["198.51.100.2", "2001:db8:b::2"]),
    );
    let pools: BTreeMap<&str, Vec<IpNet>> = [
        (
            "a",
            vec![
                "192.0.2.0/24".parse().unwrap(),
                "203.0.113.0/24".parse().unwrap(),
            ],
        ),
        (
            "b",
            ["198.51.100.0/24", "2001:db8:b::/48", "203.0.113.0/24"]
                .iter()
                .map(|c| c.parse().unwrap())
                .collect(),
        ),
    ]
    .into();
    let p = plan(&inputs);
    for (key, report) in &p.reports {
        for prefix in &report.prefixes {
            assert_eq!(prefix.prefix_len(), prefix.max_prefix_len(), "{prefix}");
            assert!(
                pools[&*key.namespace].iter().any(|c| c.contains(prefix)),
                "{prefix} for {key}"
            );
        }
    }
    for line in checked_lines(&inputs) {
        let checked = check_line(&line).unwrap();
        for prefix in checked.prefixes {
            assert!(
                pools.values().flatten().any(|c| c.contains(&prefix)),
                "{prefix} on {line:?}"
            );
        }
    }
}

#[test]
fn the_line_checker_refuses_what_the_encoder_must_never_write() {
    let good = "neighbor 10.0.0.1, neighbor 10.0.0.2 announce route 192.0.2.1/32 next-hop self med 100 community [ 65000:1 no-export ] as-path [ 65000 ] path-information 3\n";
    assert_eq!(check_line(good).unwrap().prefixes.len(), 1);
    let bulk = "neighbor * withdraw attributes next-hop 10.0.0.1 nlri 192.0.2.1/32 192.0.2.2/32\n";
    assert_eq!(check_line(bulk).unwrap().prefixes.len(), 2);
    for bad in [
        "neighbor * announce route 192.0.2.1/32 next-hop self",
        "neighbor * announce route 192.0.2.1/32 next-hop self\nneighbor * announce route 0.0.0.0/0 next-hop self\n",
        "neighbor * announce route 192.0.2.1/32 next-hop self; shutdown\n",
        "neighbor * announce route 192.0.2.1/32 next-hop self community [ 65000:1\n",
        "neighbor * announce route 192.0.2.1/32 next-hop self community [ ]\n",
        "neighbor * announce route 192.0.2.1/32 next-hop self community [ x ]\n",
        "neighbor * announce route 192.0.2.1/32 next-hop self med 1 med 2\n",
        "neighbor * announce route 192.0.2.1/32 next-hop self as-path [ 1 ] med 2\n",
        "neighbor * announce route 192.0.2.1/32 next-hop self rd 1:1\n",
        "neighbor * withdraw route 192.0.2.1/32 next-hop self med 5\n",
        "neighbor * announce route 192.0.2.1/24 next-hop self\n",
        "neighbor * announce route 192.0.2.1/32  next-hop self\n",
        "neighbor *, neighbor 10.0.0.1 announce route 192.0.2.1/32 next-hop self\n",
        "neighbor * announce attributes next-hop self nlri\n",
        "neighbor * announce route 192.0.2.1/32 next-hop self med 1\u{e9}\n",
    ] {
        assert!(check_line(bad).is_err(), "accepted {bad:?}");
    }
}
