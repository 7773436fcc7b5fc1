use std::sync::Arc;
use std::time::Duration;

use kube::api::ObjectMeta;

use super::*;
use crate::engine::world::EndpointCounts;

const NODE: &str = "node-a";

fn mk_report(state: State, med: Option<u32>) -> Report {
    Report {
        state,
        med,
        prefixes: med
            .map(|_| "192.0.2.10/32".parse().unwrap())
            .into_iter()
            .collect(),
        communities: vec![],
        refused: vec![],
        reason: format!("{state:?} for a reason"),
        probes: std::collections::BTreeMap::new(),
    }
}

fn mk_plan(reports: &[(&str, Report)]) -> Plan {
    Plan {
        reports: reports
            .iter()
            .map(|(name, r)| (ServiceKey::new("ns", *name), Arc::new(r.clone())))
            .collect(),
        ..Plan::default()
    }
}

fn mk_world(services: &[&str]) -> World {
    World {
        service_uids: Arc::new(
            services
                .iter()
                .map(|s| (ServiceKey::new("ns", *s), format!("uid-{s}")))
                .collect(),
        ),
        endpoints: Some(Arc::new(
            services
                .iter()
                .map(|s| {
                    (
                        ServiceKey::new("ns", *s),
                        EndpointCounts { ready: 1, total: 2 },
                    )
                })
                .collect(),
        )),
        ..World::default()
    }
}

fn applies(ops: &[Op]) -> Vec<&Advertisement> {
    ops.iter()
        .filter_map(|o| match o {
            Op::Apply(a) => Some(&**a),
            _ => None,
        })
        .collect()
}

fn deletes(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .filter_map(|o| match o {
            Op::Delete { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn reasons(ops: &[Op]) -> Vec<&'static str> {
    ops.iter()
        .filter_map(|o| match o {
            Op::Notify(n) => Some(n.reason),
            _ => None,
        })
        .collect()
}

#[test]
fn names_are_dns_subdomains_and_long_ones_stay_unique() {
    assert_eq!(advertisement_name("web", "Node_A"), "web.node-a");
    let long_node = "n".repeat(250);
    let a = advertisement_name("web", &long_node);
    let b = advertisement_name("www", &long_node);
    assert!(a.len() <= 253 && b.len() <= 253);
    assert_ne!(a, b);
    assert_eq!(a, advertisement_name("web", &long_node), "stable");
}

#[test]
fn applies_only_what_changed_and_keeps_the_transition_time() {
    let mut writer = Writer::new(NODE, vec![]);
    let world = mk_world(&["web"]);
    let t0 = Timestamp::UNIX_EPOCH;
    let up = mk_plan(&[("web", mk_report(State::Up, Some(100)))]);
    let ops = writer.update(&up, &world, t0);
    let a = applies(&ops);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].name, "web.node-a");
    assert_eq!(a[0].owner_uid, "uid-web");
    assert_eq!(a[0].spec.state, State::Up);
    assert_eq!(a[0].spec.med, Some(100));
    assert_eq!(a[0].spec.prefixes, ["192.0.2.10/32"]);
    assert_eq!(
        (a[0].spec.ready_endpoints, a[0].spec.total_endpoints),
        (1, 2)
    );
    assert_eq!(a[0].spec.last_transition_time, Some(Time(t0)));
    assert_eq!(reasons(&ops), ["Announced"]);

    let t1 = t0 + Duration::from_secs(5);
    assert!(writer.update(&up, &world, t1).is_empty(), "nothing changed");

    let mut degraded_med = mk_report(State::Up, Some(110));
    degraded_med.reason = "other".into();
    let ops = writer.update(&mk_plan(&[("web", degraded_med)]), &world, t1);
    assert_eq!(
        applies(&ops)[0].spec.last_transition_time,
        Some(Time(t0)),
        "same state"
    );
    assert!(reasons(&ops).is_empty(), "no Event without a state change");

    let ops = writer.update(
        &mk_plan(&[("web", mk_report(State::Down, None))]),
        &world,
        t1,
    );
    assert_eq!(applies(&ops)[0].spec.last_transition_time, Some(Time(t1)));
    assert_eq!(reasons(&ops), ["Withdrawn"]);
}

#[test]
fn deletes_when_the_service_is_gone_or_not_selected() {
    let mut writer = Writer::new(NODE, vec![]);
    let t = Timestamp::UNIX_EPOCH;
    let world = mk_world(&["web", "db"]);
    let both = mk_plan(&[
        ("web", mk_report(State::Up, Some(100))),
        ("db", mk_report(State::Up, Some(100))),
    ]);
    assert_eq!(applies(&writer.update(&both, &world, t)).len(), 2);
    let not_selected = mk_plan(&[
        ("web", mk_report(State::Up, Some(100))),
        ("db", mk_report(State::NotSelected, None)),
    ]);
    assert_eq!(
        deletes(&writer.update(&not_selected, &world, t)),
        ["db.node-a"]
    );
    let ops = writer.update(&mk_plan(&[]), &mk_world(&[]), t);
    assert_eq!(deletes(&ops), ["web.node-a"]);
    assert!(writer.update(&mk_plan(&[]), &mk_world(&[]), t).is_empty());
}

#[test]
fn a_restart_rewrites_nothing_unchanged_and_deletes_leftovers() {
    let t0 = Timestamp::UNIX_EPOCH;
    let world = mk_world(&["web"]);
    let up = mk_plan(&[("web", mk_report(State::Up, Some(100)))]);
    let mut first = Writer::new(NODE, vec![]);
    let ops = first.update(&up, &world, t0);
    let existing = |name: &str, spec: AnycastAdvertisementSpec| AnycastAdvertisement {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            owner_references: Some(vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                    uid: format!("uid-{}", spec.service),
                    ..Default::default()
                },
            ]),
            ..ObjectMeta::default()
        },
        spec,
    };
    let mut leftover = applies(&ops)[0].spec.clone();
    leftover.service = "gone".into();
    let mut other_node = leftover.clone();
    other_node.node = "node-b".into();
    let mut writer = Writer::new(
        NODE,
        vec![
            existing("web.node-a", applies(&ops)[0].spec.clone()),
            existing("gone.node-a", leftover),
            existing("gone.node-b", other_node),
        ],
    );
    let ops = writer.update(&up, &world, t0 + Duration::from_mins(1));
    assert!(applies(&ops).is_empty(), "unchanged: {ops:?}");
    assert!(reasons(&ops).is_empty(), "same state as before the restart");
    assert_eq!(
        deletes(&ops),
        ["gone.node-a"],
        "never another node's object"
    );
}

#[test]
fn only_kubernetes_services_get_advertisements() {
    let mut writer = Writer::new(NODE, vec![]);
    let plan = mk_plan(&[("web", mk_report(State::Up, Some(100)))]);
    assert!(
        writer
            .update(&plan, &World::default(), Timestamp::UNIX_EPOCH)
            .is_empty()
    );
}

#[test]
fn a_service_created_again_gets_its_owner_reference_rewritten() {
    let mut writer = Writer::new(NODE, vec![]);
    let t = Timestamp::UNIX_EPOCH;
    let up = mk_plan(&[("web", mk_report(State::Up, Some(100)))]);
    assert_eq!(
        applies(&writer.update(&up, &mk_world(&["web"]), t)).len(),
        1
    );
    let mut again = mk_world(&["web"]);
    Arc::make_mut(&mut again.service_uids).insert(ServiceKey::new("ns", "web"), "uid-new".into());
    let ops = writer.update(&up, &again, t);
    assert_eq!(applies(&ops)[0].owner_uid, "uid-new");
}

fn mk_world_with(name: &str, ready: u32, total: u32) -> World {
    let mut world = mk_world(&[name]);
    world.endpoints = Some(Arc::new(
        [(ServiceKey::new("ns", name), EndpointCounts { ready, total })]
            .into_iter()
            .filter(|(_, c)| c.total > 0)
            .collect(),
    ));
    world
}

#[test]
fn a_node_writes_an_advertisement_only_while_it_matters() {
    let mut writer = Writer::new(NODE, vec![]);
    let t = Timestamp::UNIX_EPOCH;
    let down = mk_plan(&[("web", mk_report(State::Down, None))]);
    let ops = writer.update(&down, &mk_world_with("web", 0, 0), t);
    assert!(ops.is_empty(), "no endpoint, nothing announced: {ops:?}");

    // A pod lands, not ready yet: the node now matters.
    let ops = writer.update(&down, &mk_world_with("web", 0, 1), t);
    let a = applies(&ops);
    assert_eq!(a.len(), 1, "{ops:?}");
    assert_eq!(a[0].spec.state, State::Down);
    assert_eq!(
        (a[0].spec.ready_endpoints, a[0].spec.total_endpoints),
        (0, 1)
    );

    let up = mk_plan(&[("web", mk_report(State::Up, Some(100)))]);
    let ops = writer.update(&up, &mk_world_with("web", 1, 1), t);
    assert_eq!(applies(&ops)[0].spec.state, State::Up);
    assert_eq!(reasons(&ops), ["Announced"]);

    // The pod goes in one step: the route goes, and so does the advertisement, after the
    // Event that says so (the node mattered until now).
    let ops = writer.update(&down, &mk_world_with("web", 0, 0), t);
    assert_eq!(deletes(&ops), ["web.node-a"]);
    assert!(applies(&ops).is_empty());
    assert_eq!(reasons(&ops), ["Withdrawn"]);
    assert!(
        writer
            .update(&down, &mk_world_with("web", 0, 0), t)
            .is_empty()
    );
}

#[test]
fn announced_without_an_endpoint_keeps_it() {
    let mut writer = Writer::new(NODE, vec![]);
    let t = Timestamp::UNIX_EPOCH;
    // A down MED (`announce.down.med`) announces even without endpoints.
    let down_med = mk_plan(&[("web", mk_report(State::Down, Some(250)))]);
    let ops = writer.update(&down_med, &mk_world_with("web", 0, 0), t);
    assert_eq!(applies(&ops).len(), 1, "{ops:?}");
    let ops = writer.update(
        &mk_plan(&[("web", mk_report(State::Down, None))]),
        &mk_world_with("web", 0, 0),
        t,
    );
    assert_eq!(deletes(&ops), ["web.node-a"]);
}

#[test]
fn errors_are_told_by_every_node_but_written_only_where_endpoints_are() {
    let t = Timestamp::UNIX_EPOCH;
    for state in [State::Invalid, State::Refused] {
        let plan = mk_plan(&[("web", mk_report(state, None))]);
        let mut writer = Writer::new(NODE, vec![]);
        let ops = writer.update(&plan, &mk_world_with("web", 0, 0), t);
        assert!(applies(&ops).is_empty(), "{state:?}: {ops:?}");
        assert_eq!(reasons(&ops).len(), 1, "{state:?}: an Event all the same");
        let mut writer = Writer::new(NODE, vec![]);
        let ops = writer.update(&plan, &mk_world_with("web", 0, 2), t);
        assert_eq!(applies(&ops)[0].spec.state, state);
    }
}

#[test]
fn a_node_without_endpoints_is_quiet_when_it_drains() {
    let mut writer = Writer::new(NODE, vec![]);
    let t = Timestamp::UNIX_EPOCH;
    let world = mk_world_with("web", 0, 0);
    assert!(
        writer
            .update(
                &mk_plan(&[("web", mk_report(State::Down, None))]),
                &world,
                t
            )
            .is_empty()
    );
    let draining = mk_plan(&[("web", mk_report(State::Draining, None))]);
    assert!(writer.update(&draining, &world, t).is_empty());
}

#[test]
fn a_restart_deletes_what_no_longer_matters() {
    let t = Timestamp::UNIX_EPOCH;
    let mut first = Writer::new(NODE, vec![]);
    let up = mk_plan(&[("web", mk_report(State::Up, Some(100)))]);
    let ops = first.update(&up, &mk_world_with("web", 1, 1), t);
    let existing = AnycastAdvertisement {
        metadata: ObjectMeta {
            name: Some("web.node-a".into()),
            namespace: Some("ns".into()),
            ..ObjectMeta::default()
        },
        spec: applies(&ops)[0].spec.clone(),
    };
    // The pod went while the agent was away.
    let mut writer = Writer::new(NODE, vec![existing]);
    let ops = writer.update(
        &mk_plan(&[("web", mk_report(State::Down, None))]),
        &mk_world_with("web", 0, 0),
        t,
    );
    assert_eq!(deletes(&ops), ["web.node-a"]);
    assert_eq!(
        reasons(&ops),
        ["Withdrawn"],
        "it mattered before the restart"
    );
}
