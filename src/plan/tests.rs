//! Table tests for the planner: one input world per case, asserting on the RIB and the report.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::crd::{AnycastPoolSpec, AnycastServiceSpec};
use crate::exabgp::attrs::GRACEFUL_SHUTDOWN;

pub(super) fn mk_service(v: Value) -> Result<ValidService, InvalidSpec> {
    let spec: AnycastServiceSpec = serde_json::from_value(v).unwrap();
    validate_service(&spec)
}

pub(super) fn mk_pool(v: Value) -> Result<ValidPool, InvalidSpec> {
    let spec: AnycastPoolSpec = serde_json::from_value(v).unwrap();
    validate_pool(&spec)
}

/// One pool `main` (192.0.2.0/24, community 65000:1) and one node `n1`.
fn mk_inputs() -> Inputs {
    let mut inputs = Inputs {
        node: NodeInfo {
            name: "n1".into(),
            ..NodeInfo::default()
        },
        ..Inputs::default()
    };
    Arc::make_mut(&mut inputs.pools).insert(
        "main".into(),
        mk_pool(json!({"cidrs": ["192.0.2.0/24"], "communities": ["65000:1"]})),
    );
    inputs
}

fn add(
    inputs: &mut Inputs,
    ns: &str,
    name: &str,
    spec: Value,
    ready: u32,
    probes: &[(&str, bool)],
) {
    let key = ServiceKey::new(ns, name);
    Arc::make_mut(&mut inputs.services).insert(key.clone(), Arc::new(mk_service(spec)));
    inputs.health.insert(
        key,
        LocalHealth {
            ready,
            total: ready,
            probes: probes
                .iter()
                .map(|(n, ok)| ((*n).to_owned(), *ok))
                .collect(),
        },
    );
}

fn web(addresses: &[&str]) -> Value {
    json!({"addresses": addresses, "readiness": {"service": "web"}})
}

#[expect(clippy::needless_pass_by_value, reason = "callers pass json! literals")]
fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

fn report<'a>(plan: &'a Plan, ns: &str, name: &str) -> &'a Report {
    &plan.reports[&ServiceKey::new(ns, name)]
}

fn meds(plan: &Plan) -> BTreeMap<String, i64> {
    plan.rib
        .iter()
        .map(|(k, a)| (k.prefix.to_string(), a.med.unwrap()))
        .collect()
}

fn probes(list: &[(&str, u32, bool)]) -> Value {
    let list: Vec<Value> = list
        .iter()
        .map(|(name, weight, critical)| {
            json!({"name": name, "tcp": {"port": 80}, "weight": weight, "critical": critical})
        })
        .collect();
    json!({"probes": list})
}

/// (spec, ready endpoints, probe results, state, MED announced)
type Case<'a> = (Value, u32, Vec<(&'a str, bool)>, State, Option<i64>);

#[test]
fn health_decides_state_and_med() {
    let three = probes(&[("a", 6, false), ("b", 3, false), ("c", 1, false)]);
    let critical = probes(&[("a", 9, false), ("db", 1, true)]);
    let cases: Vec<Case> = vec![
        (web(&["192.0.2.1"]), 1, vec![], State::Up, Some(100)),
        (web(&["192.0.2.1"]), 0, vec![], State::Down, None),
        (
            with(web(&["192.0.2.1"]), json!({"minReadyEndpoints": 3})),
            2,
            vec![],
            State::Down,
            None,
        ),
        (
            with(web(&["192.0.2.1"]), three.clone()),
            1,
            vec![("a", true), ("b", true), ("c", true)],
            State::Up,
            Some(100),
        ),
        // 90% passing: exactly the up threshold.
        (
            with(web(&["192.0.2.1"]), three.clone()),
            1,
            vec![("a", true), ("b", true)],
            State::Up,
            Some(100),
        ),
        (
            with(web(&["192.0.2.1"]), three.clone()),
            1,
            vec![("a", true), ("c", true)],
            State::Degraded,
            Some(150),
        ),
        (
            with(web(&["192.0.2.1"]), three.clone()),
            1,
            vec![("a", true)],
            State::Down,
            None,
        ),
        // A probe with no verdict yet counts as failing.
        (
            with(web(&["192.0.2.1"]), three),
            1,
            vec![("a", true), ("b", true), ("c", false)],
            State::Up,
            Some(100),
        ),
        (
            with(web(&["192.0.2.1"]), critical.clone()),
            1,
            vec![("a", true), ("db", false)],
            State::Down,
            None,
        ),
        (
            with(web(&["192.0.2.1"]), critical),
            1,
            vec![("a", true)],
            State::Down,
            None,
        ),
        (
            with(
                web(&["192.0.2.1"]),
                json!({"announce": {"down": {"med": 1000}}}),
            ),
            0,
            vec![],
            State::Down,
            Some(1000),
        ),
        (
            with(web(&["192.0.2.1"]), json!({"disabled": true})),
            1,
            vec![],
            State::Disabled,
            None,
        ),
        (
            with(
                web(&["192.0.2.1"]),
                json!({"disabled": true, "announce": {"disabled": {"med": 500}}}),
            ),
            1,
            vec![],
            State::Disabled,
            Some(500),
        ),
    ];
    for (i, (spec, ready, results, state, med)) in cases.into_iter().enumerate() {
        let mut inputs = mk_inputs();
        add(&mut inputs, "ns", "web", spec, ready, &results);
        let plan = plan(&inputs);
        let r = report(&plan, "ns", "web");
        assert_eq!(r.state, state, "case {i}: {}", r.reason);
        assert_eq!(meds(&plan).get("192.0.2.1/32").copied(), med, "case {i}");
        assert_eq!(r.med.map(i64::from), med, "case {i}");
    }
}

#[test]
fn reasons_say_what_to_fix() {
    let mut inputs = mk_inputs();
    add(
        &mut inputs,
        "ns",
        "few",
        with(web(&["192.0.2.1"]), json!({"minReadyEndpoints": 2})),
        1,
        &[],
    );
    add(
        &mut inputs,
        "ns",
        "crit",
        with(web(&["192.0.2.2"]), probes(&[("db", 1, true)])),
        1,
        &[("db", false)],
    );
    add(&mut inputs, "ns", "out", web(&["198.51.100.1"]), 1, &[]);
    let plan = plan(&inputs);
    assert_eq!(
        report(&plan, "ns", "few").reason,
        "1 of 1 local endpoints ready (need 2)"
    );
    assert!(
        report(&plan, "ns", "crit")
            .reason
            .starts_with("critical probe db is failing")
    );
    assert_eq!(
        report(&plan, "ns", "out").reason,
        "198.51.100.1 is outside every AnycastPool granted to namespace ns"
    );
}

#[test]
fn announcements_carry_service_state_and_pool_attributes() {
    let mut inputs = mk_inputs();
    let spec = json!({
        "addresses": ["192.0.2.1", "2001:db8::1"],
        "readiness": {"service": "web"},
        "communities": ["65000:7", "65000:1"],
        "largeCommunities": ["65000:1:2"],
        "asPathPrepend": "65000 65000",
        "localPreference": 200,
        "pathId": 4,
        "neighbors": ["10.0.0.2", "10.0.0.1"],
        "announce": {"up": {"med": 10, "communities": ["65000:100"]}},
    });
    Arc::make_mut(&mut inputs.pools)
        .insert("v6".into(), mk_pool(json!({"cidrs": ["2001:db8::/64"]})));
    add(&mut inputs, "ns", "web", spec, 1, &[]);
    let plan = plan(&inputs);
    assert_eq!(plan.rib.len(), 2);
    let (key, v4) = plan.rib.iter().next().unwrap();
    assert_eq!(
        key.target.to_string(),
        "neighbor 10.0.0.1, neighbor 10.0.0.2"
    );
    assert_eq!(v4.communities.to_string(), "65000:7 65000:1 65000:100");
    assert_eq!(v4.large_communities.to_string(), "65000:1:2");
    assert_eq!(v4.as_path.as_ref().unwrap().to_string(), "65000 65000");
    assert_eq!(
        (v4.med, v4.local_preference, v4.path_id),
        (Some(10), Some(200), Some(4))
    );
    assert_eq!(v4.next_hop.to_string(), "self");
    let v6 = plan.rib.values().nth(1).unwrap();
    assert_eq!(
        v6.communities.to_string(),
        "65000:7 65000:1 65000:100",
        "the v6 pool adds none"
    );
}

#[test]
fn pools_grant_by_namespace_most_specific_first() {
    let mut inputs = mk_inputs();
    Arc::make_mut(&mut inputs.pools).insert(
        "narrow".into(),
        mk_pool(
            json!({"cidrs": ["192.0.2.0/28"], "communities": ["65000:28"],
            "namespaceSelector": {"matchLabels": {"team": "a"}}}),
        ),
    );
    Arc::make_mut(&mut inputs.namespaces)
        .insert("a".into(), BTreeMap::from([("team".into(), "a".into())]));
    add(&mut inputs, "a", "web", web(&["192.0.2.1"]), 1, &[]);
    add(&mut inputs, "b", "web", web(&["192.0.2.200"]), 1, &[]);
    add(&mut inputs, "b", "other", web(&["198.51.100.1"]), 1, &[]);
    // Inside "narrow", which is not b's: the broader "main" does not reach into it.
    add(
        &mut inputs,
        "b",
        "inside",
        web(&["192.0.2.2", "192.0.2.3"]),
        1,
        &[],
    );
    let plan = plan(&inputs);
    let communities: Vec<String> = plan
        .rib
        .values()
        .map(|a| a.communities.to_string())
        .collect();
    assert_eq!(communities, ["65000:28", "65000:1"]);
    assert_eq!(report(&plan, "b", "other").state, State::Refused);
    let inside = report(&plan, "b", "inside");
    assert_eq!(inside.state, State::Refused);
    assert_eq!(inside.refused.len(), 2);
    assert_eq!(
        inside.refused[0].1,
        "192.0.2.2 is held by the more specific AnycastPool narrow, not granted to namespace b; \
         the broader AnycastPool main does not reach into it"
    );
}

#[test]
fn a_pool_refuses_the_addresses_of_a_service_setting_what_it_forbids() {
    let mut inputs = mk_inputs();
    Arc::make_mut(&mut inputs.pools).insert(
        "tenant-a".into(),
        mk_pool(
            json!({"cidrs": ["198.51.100.0/24"], "communities": ["65000:2"],
            "allowedAttributes": {"communities": ["65001:*"], "med": {"min": 100}}}),
        ),
    );
    let spec = |communities: Value| {
        with(
            web(&["192.0.2.1", "198.51.100.1"]),
            json!({"communities": communities}),
        )
    };
    add(
        &mut inputs,
        "a",
        "bad",
        spec(json!(["65001:1", "blackhole"])),
        1,
        &[],
    );
    add(&mut inputs, "a", "ok", spec(json!(["65001:1"])), 1, &[]);
    add(&mut inputs, "a", "other", web(&["198.51.100.9"]), 1, &[]);
    let plan = plan(&inputs);
    // "main" has no allowedAttributes and refuses the reserved blackhole too; "tenant-a" adds
    // its own 65000:2, which its allowlist does not limit.
    let bad = report(&plan, "a", "bad");
    assert_eq!(bad.state, State::Refused);
    assert!(bad.prefixes.is_empty());
    assert_eq!(
        bad.refused[1],
        (
            "198.51.100.1".parse().unwrap(),
            "198.51.100.1 refused for a/bad: spec.communities[1]: blackhole (65535:666) not allowed \
             by AnycastPool tenant-a (spec.allowedAttributes.communities)"
                .to_owned()
        )
    );
    assert!(
        bad.reason
            .contains("by AnycastPool main (spec.allowedAttributes.communities)")
    );
    assert_eq!(report(&plan, "a", "ok").prefixes.len(), 2);
    assert_eq!(report(&plan, "a", "other").state, State::Up);
    let rib: Vec<String> = plan
        .rib
        .values()
        .map(|a| a.communities.to_string())
        .collect();
    assert_eq!(rib, ["65001:1 65000:1", "65001:1 65000:2", "65000:2"]);
    // A MED under the pool's floor refuses only the pool's addresses.
    add(
        &mut inputs,
        "a",
        "ok",
        with(
            spec(json!(["65001:1"])),
            json!({"announce": {"up": {"med": 10}}}),
        ),
        1,
        &[],
    );
    let plan = super::plan(&inputs);
    let ok = report(&plan, "a", "ok");
    assert_eq!(ok.prefixes, ["192.0.2.1/32".parse::<IpNet>().unwrap()]);
    assert!(ok.reason.contains("spec.announce.up.med: 10 not allowed by AnycastPool tenant-a (spec.allowedAttributes.med: 100-4294967295)"), "{}", ok.reason);
}

#[test]
fn conflicting_claims_are_refused_for_that_address_only() {
    let mut inputs = mk_inputs();
    add(
        &mut inputs,
        "a",
        "web",
        web(&["192.0.2.1", "192.0.2.2"]),
        1,
        &[],
    );
    add(
        &mut inputs,
        "b",
        "dns",
        with(web(&["192.0.2.2"]), json!({"communities": ["65000:9"]})),
        1,
        &[],
    );
    let plan = plan(&inputs);
    assert_eq!(
        meds(&plan),
        BTreeMap::from([("192.0.2.1/32".to_owned(), 100)])
    );
    let a = report(&plan, "a", "web");
    assert_eq!(a.state, State::Up);
    assert!(
        a.reason.contains("192.0.2.2 is also claimed by b/dns"),
        "{}",
        a.reason
    );
    let b = report(&plan, "b", "dns");
    assert_eq!(b.state, State::Refused);
    assert!(b.reason.contains("also claimed by a/web"), "{}", b.reason);
}

#[test]
fn agreeing_claims_share_and_the_least_healthy_wins() {
    let shared = || with(web(&["192.0.2.1"]), probes(&[("p", 1, false)]));
    // (first service's probe, second's) -> MED at the peer
    let cases = [
        ((true, true), Some(100)),
        ((true, false), None),
        ((false, false), None),
    ];
    for ((a, b), med) in cases {
        let mut inputs = mk_inputs();
        add(&mut inputs, "a", "http", shared(), 1, &[("p", a)]);
        add(&mut inputs, "a", "dns", shared(), 1, &[("p", b)]);
        let plan = plan(&inputs);
        assert_eq!(meds(&plan).get("192.0.2.1/32").copied(), med, "{a} {b}");
    }
    let mut inputs = mk_inputs();
    add(
        &mut inputs,
        "a",
        "http",
        with(shared(), json!({"thresholds": {"up": 100, "degraded": 0}})),
        1,
        &[("p", false)],
    );
    add(
        &mut inputs,
        "a",
        "dns",
        with(shared(), json!({"thresholds": {"up": 100, "degraded": 0}})),
        1,
        &[("p", true)],
    );
    assert_eq!(meds(&plan(&inputs)).get("192.0.2.1/32").copied(), Some(150));
}

#[test]
fn draining_announces_graceful_shutdown_until_the_delay_then_withdraws() {
    let mut inputs = mk_inputs();
    add(&mut inputs, "ns", "web", web(&["192.0.2.1"]), 1, &[]);
    inputs.node.unschedulable = true;
    inputs.node.drain_elapsed = Duration::from_secs(5);
    let early = plan(&inputs);
    let r = report(&early, "ns", "web");
    assert_eq!(r.state, State::Draining);
    assert!(
        r.reason
            .starts_with("the node is cordoned: announcing with GRACEFUL_SHUTDOWN")
    );
    let attrs = early.rib.values().next().unwrap();
    assert!(attrs.communities.0.contains(&GRACEFUL_SHUTDOWN));
    assert_eq!(attrs.med, Some(100));
    assert_eq!(early.replan_after, Some(Duration::from_secs(25)));

    inputs.node.drain_elapsed = Duration::from_secs(30);
    let late = plan(&inputs);
    assert!(late.rib.is_empty());
    assert_eq!(report(&late, "ns", "web").state, State::Draining);
    assert_eq!(late.replan_after, None);

    inputs.node.drain_elapsed = Duration::ZERO;
    Arc::make_mut(&mut inputs.pools).insert(
        "main".into(),
        mk_pool(json!({"cidrs": ["192.0.2.0/24"], "drain": {"mode": "Withdraw"}})),
    );
    assert!(
        plan(&inputs).rib.is_empty(),
        "Withdraw mode withdraws at once"
    );
}

#[test]
fn every_drain_cause_drains() {
    type SetDrain = fn(&mut NodeInfo);
    let cases: [(&str, SetDrain); 4] = [
        ("shutting down", |n| n.shutting_down = true),
        ("cordoned", |n| n.unschedulable = true),
        ("excluded", |n| {
            n.labels.insert(EXCLUDE_LABEL.into(), String::new());
        }),
        ("annotated", |n| {
            n.annotations.insert(DRAIN_ANNOTATION.into(), "true".into());
        }),
    ];
    for (name, set) in cases {
        let mut inputs = mk_inputs();
        add(&mut inputs, "ns", "web", web(&["192.0.2.1"]), 1, &[]);
        set(&mut inputs.node);
        let plan = plan(&inputs);
        assert_eq!(report(&plan, "ns", "web").state, State::Draining, "{name}");
        assert!(
            plan.rib
                .values()
                .all(|a| a.communities.0.contains(&GRACEFUL_SHUTDOWN)),
            "{name}"
        );
    }
}

#[test]
fn node_offsets_shift_the_med() {
    let mut inputs = mk_inputs();
    add(&mut inputs, "ns", "web", web(&["192.0.2.1"]), 1, &[]);
    for (value, med) in [
        ("1000", 1100),
        ("4294967295", i64::from(u32::MAX)),
        ("bogus", i64::from(u32::MAX)),
    ] {
        inputs.node.annotations.insert(
            crate::crd::DEFAULT_MED_OFFSET_ANNOTATION.into(),
            value.into(),
        );
        let plan = plan(&inputs);
        assert_eq!(meds(&plan)["192.0.2.1/32"], med, "{value}");
    }
    let plan = plan(&inputs);
    assert!(
        report(&plan, "ns", "web")
            .reason
            .contains("\"bogus\" is not an unsigned 32-bit integer")
    );
}

#[test]
fn selection_exec_and_invalid_specs_announce_nothing() {
    let mut inputs = mk_inputs();
    inputs.node.labels.insert("zone".into(), "a".into());
    let exec = json!({"probes": [{"name": "x", "exec": {"command": ["true"]}}]});
    add(
        &mut inputs,
        "ns",
        "elsewhere",
        with(web(&["192.0.2.1"]), json!({"nodeSelector": {"zone": "b"}})),
        1,
        &[],
    );
    add(
        &mut inputs,
        "ns",
        "exec",
        with(web(&["192.0.2.2"]), exec),
        1,
        &[("x", true)],
    );
    add(
        &mut inputs,
        "ns",
        "bad",
        with(
            web(&["192.0.2.3"]),
            json!({"communities": ["65000:1", "x"]}),
        ),
        1,
        &[],
    );
    let plan = plan(&inputs);
    assert!(plan.rib.is_empty());
    assert_eq!(report(&plan, "ns", "elsewhere").state, State::NotSelected);
    let exec = report(&plan, "ns", "exec");
    assert_eq!(exec.state, State::Refused);
    assert_eq!(
        exec.reason,
        "probe x runs a command, but AnycastPool main does not set allowExec"
    );
    assert!(!exec.runs_probes());
    let bad = report(&plan, "ns", "bad");
    assert_eq!(bad.state, State::Invalid);
    assert!(
        bad.reason
            .starts_with("spec.communities[1]: invalid community \"x\""),
        "{}",
        bad.reason
    );

    Arc::make_mut(&mut inputs.pools).insert(
        "main".into(),
        mk_pool(json!({"cidrs": ["192.0.2.0/24"], "allowExec": true,
        "nodeSelector": {"zone": "b"}})),
    );
    let plan = super::plan(&inputs);
    assert_eq!(report(&plan, "ns", "exec").state, State::NotSelected);
    inputs.node.labels.insert("zone".into(), "b".into());
    assert_eq!(report(&super::plan(&inputs), "ns", "exec").state, State::Up);
}

#[test]
fn an_explicit_next_hop_must_match_every_address_family() {
    let mut inputs = mk_inputs();
    let spec = json!({"addresses": ["192.0.2.1"], "readiness": {"service": "web"}, "nextHop": "192.0.2.254"});
    add(&mut inputs, "ns", "web", spec, 1, &[]);
    let plan = plan(&inputs);
    let (_, route) = plan.rib.iter().next().unwrap();
    assert_eq!(route.next_hop.to_string(), "192.0.2.254");

    for (addresses, hop, message) in [
        (
            json!(["192.0.2.1", "2001:db8::1"]),
            "192.0.2.254",
            "spec.nextHop: 192.0.2.254 is IPv4 but spec.addresses[1] (2001:db8::1) is IPv6",
        ),
        (
            json!(["192.0.2.1"]),
            "2001:db8::fe",
            "spec.nextHop: 2001:db8::fe is IPv6 but spec.addresses[0] (192.0.2.1) is IPv4",
        ),
    ] {
        let spec = json!({"addresses": addresses, "readiness": {"service": "web"}, "nextHop": hop});
        let err = mk_service(spec).unwrap_err().to_string();
        assert!(err.contains(message), "{err}");
    }
}

#[test]
fn validation_names_every_bad_field() {
    let spec = json!({
        "addresses": ["192.0.2.1", "192.0.2.0/24", "127.0.0.1", "ff02::1", "169.254.169.254", "fe80::1", "::ffff:169.254.0.1"],
        "readiness": {},
        "announce": {"up": {"med": 100, "communities": ["65000:1", "x"]}, "down": {"withdraw": false}},
        "largeCommunities": ["1:2"],
        "extendedCommunities": ["target:1:2\n"],
        "asPathPrepend": "65000 x",
        "nextHop": "me",
        "thresholds": {"up": 50, "degraded": 60},
        "timings": {"interval": "5", "rise": 0},
        "probes": [
            {"name": "a", "tcp": {"port": 0}},
            {"name": "a", "http": {"port": 80, "expectedStatus": "700"}, "tcp": {"port": 1}},
            {"name": "b", "icmp": {}, "target": "Address"},
            {"name": "c", "icmp": {}, "timeout": "0s"},
        ],
    });
    let err = mk_service(spec).unwrap_err().to_string();
    for part in [
        "spec.addresses[1]: \"192.0.2.0/24\" is not an IP host address",
        "spec.addresses[2]: \"127.0.0.1\" is not a unicast host address",
        "spec.addresses[3]: \"ff02::1\" is not a unicast host address",
        "spec.addresses[4]: \"169.254.169.254\" is link-local",
        "spec.addresses[5]: \"fe80::1\" is link-local",
        "spec.addresses[6]: \"::ffff:169.254.0.1\" is link-local",
        "spec.readiness: set exactly one",
        "spec.announce.up.communities[1]: invalid community \"x\"",
        "spec.announce.down.med: a state that announces needs a med",
        "spec.largeCommunities[0]: invalid large-community \"1:2\"",
        "spec.extendedCommunities[0]: invalid extended-community",
        "spec.asPathPrepend: invalid as-path",
        "spec.nextHop: \"me\" is not 'self' or an IP address",
        "spec.thresholds: need 0 <= degraded (60) <= up (50)",
        "spec.timings.interval: \"5\" is not a positive duration",
        "spec.timings.rise: must be at least 1",
        "spec.probes[0].tcp.port: 0 is not a port",
        "spec.probes[1].name: duplicate name \"a\"",
        "spec.probes[1]: set exactly one of http, tcp, icmp, grpc or exec",
        "spec.probes[2].address: required when target is Address",
        "spec.probes[3].timeout",
    ] {
        assert!(err.contains(part), "missing {part:?} in {err}");
    }
}

#[test]
fn driver_commands_are_minimal_and_make_before_break() {
    use crate::exabgp::batch::commands;
    let mut inputs = mk_inputs();
    add(&mut inputs, "ns", "a", web(&["192.0.2.1"]), 1, &[]);
    add(&mut inputs, "ns", "b", web(&["192.0.2.2"]), 1, &[]);
    let before = plan(&inputs).rib;
    assert!(commands(&before, &before, 500).is_empty());
    add(
        &mut inputs,
        "ns",
        "a",
        with(web(&["192.0.2.1"]), json!({"pathId": 2})),
        1,
        &[],
    );
    add(&mut inputs, "ns", "b", web(&["192.0.2.2"]), 0, &[]);
    add(&mut inputs, "ns", "c", web(&["192.0.2.3"]), 1, &[]);
    let after = plan(&inputs).rib;
    let batches = commands(&before, &after, 500);
    // Withdraws of gone routes first, then announces; a replaced ADD-PATH path is withdrawn
    // only after its successor is announced.
    let summary: Vec<String> = batches
        .iter()
        .map(|b| {
            let verb = if b.line.contains(" withdraw ") {
                "-"
            } else {
                "+"
            };
            let path = b
                .line
                .split(" path-information ")
                .nth(1)
                .map_or("none", |r| r.split(' ').next().unwrap_or(""));
            let nlri = b.line.trim_end().split(" nlri ").nth(1).unwrap_or("");
            format!("{verb}{nlri} {path}")
        })
        .collect();
    assert_eq!(
        summary.first().map(String::as_str),
        Some("-192.0.2.2/32 none")
    );
    assert_eq!(
        summary.last().map(String::as_str),
        Some("-192.0.2.1/32 none")
    );
    let announced_a = summary
        .iter()
        .position(|l| l == "+192.0.2.1/32 2")
        .expect("a's new path");
    assert!(
        summary.iter().any(|l| l.starts_with("+192.0.2.3/32")),
        "{summary:?}"
    );
    assert!(announced_a < summary.len() - 1);
    let mut rib = (*before).clone();
    for b in &batches {
        b.effect.apply(&mut rib);
    }
    assert_eq!(rib, *after);
}

#[test]
fn a_report_becomes_the_nodes_advertisement() {
    let mut inputs = mk_inputs();
    add(
        &mut inputs,
        "ns",
        "web",
        with(
            web(&["192.0.2.1"]),
            probes(&[("http", 2, false), ("db", 1, true)]),
        ),
        2,
        &[("http", true), ("db", true)],
    );
    let key = ServiceKey::new("ns", "web");
    let plan = plan(&inputs);
    let svc = inputs.services[&key].as_ref().as_ref().ok();
    let adv = advertisement(
        &key,
        "n1",
        &plan.reports[&key],
        svc,
        inputs.health.get(&key),
        None,
    );
    let json = serde_json::to_value(&adv).unwrap();
    assert_eq!(
        json,
        json!({
            "node": "n1", "service": "web", "state": "Up", "med": 100,
            "prefixes": ["192.0.2.1/32"], "communities": ["65000:1"],
            "reason": "2 of 2 local endpoints ready (need 1); probe score 100% (up at 90%, degraded at 70%)",
            "readyEndpoints": 2, "totalEndpoints": 2,
            "probes": [
                {"name": "http", "passing": true, "critical": false, "weight": 2},
                {"name": "db", "passing": true, "critical": true, "weight": 1},
            ],
        })
    );
}

#[test]
fn reports_carry_each_probes_verdict() {
    let mut inputs = mk_inputs();
    let probes = json!({"probes": [
        {"name": "http", "tcp": {"port": 80}},
        {"name": "db", "tcp": {"port": 5432}, "critical": true},
        {"name": "new", "tcp": {"port": 81}},
    ]});
    add(
        &mut inputs,
        "ns",
        "a",
        with(web(&["192.0.2.1"]), probes),
        1,
        &[("http", true), ("db", false)],
    );
    let planned = plan(&inputs);
    let r = report(&planned, "ns", "a");
    assert_eq!(
        r.probes,
        BTreeMap::from([
            ("db".to_owned(), false),
            ("http".to_owned(), true),
            ("new".to_owned(), false)
        ])
    );
    assert_eq!(r.state, State::Down);
}
