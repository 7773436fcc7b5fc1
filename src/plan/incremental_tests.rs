//! `replan` against `plan`: after any sequence of service and health changes, planning only the
//! linked group gives exactly the full plan.

use proptest::prelude::*;

use super::proptests::{arb_health, arb_inputs, arb_service};
use super::*;

/// One change to the inputs.
#[derive(Debug, Clone)]
enum Edit {
    /// A service gets a new spec (or appears), by index into the namespace's names.
    Spec(usize, ServiceEntry),
    /// A service's health changes.
    Health(usize, LocalHealth),
    /// A service goes.
    Delete(usize),
    /// The node is cordoned or uncordoned (a global change: only a full plan may answer).
    Cordon(bool),
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (0..8usize, arb_service()).prop_map(|(i, s)| Edit::Spec(i, Arc::new(s))),
        4 => (0..8usize, arb_health()).prop_map(|(i, h)| Edit::Health(i, h)),
        1 => (0..8usize).prop_map(Edit::Delete),
        1 => any::<bool>().prop_map(Edit::Cordon),
    ]
}

fn key(i: usize) -> ServiceKey {
    ServiceKey::new(["a", "b"][i % 2], format!("svc{i}"))
}

fn apply(inputs: &mut Inputs, edit: Edit) {
    match edit {
        Edit::Spec(i, s) => {
            Arc::make_mut(&mut inputs.services).insert(key(i), s);
            inputs.health.entry(key(i)).or_default();
        }
        Edit::Health(i, h) => {
            inputs.health.insert(key(i), h);
        }
        Edit::Delete(i) => {
            Arc::make_mut(&mut inputs.services).remove(&key(i));
            inputs.health.remove(&key(i));
        }
        Edit::Cordon(on) => inputs.node.unschedulable = on,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn replanning_the_linked_group_equals_a_full_plan(
        start in arb_inputs(),
        edits in proptest::collection::vec(proptest::collection::vec(arb_edit(), 1..3), 1..6),
    ) {
        let mut inputs = start;
        inputs.node.unschedulable = false;
        let mut previous = plan(&inputs);
        for step in edits {
            let old = inputs.clone();
            for edit in step {
                apply(&mut inputs, edit);
            }
            let full = plan(&inputs);
            let globals_changed = old.node != inputs.node;
            match replan(&previous, &old, &inputs) {
                Some(incremental) => {
                    prop_assert!(!globals_changed && inputs.node.drain_cause().is_none());
                    prop_assert_eq!(&incremental, &full);
                }
                None => prop_assert!(globals_changed || inputs.node.drain_cause().is_some()),
            }
            previous = full;
        }
    }
}

#[test]
fn an_unchanged_input_keeps_the_plan_and_a_new_pool_needs_a_full_plan() {
    let mut inputs = Inputs::default();
    let pool = tests::mk_pool(serde_json::json!({"cidrs": ["10.0.0.0/24"]}));
    Arc::make_mut(&mut inputs.pools).insert("p".into(), pool.clone());
    let svc = tests::mk_service(serde_json::json!({
        "addresses": ["10.0.0.1"], "readiness": {"service": "s"},
    }));
    Arc::make_mut(&mut inputs.services).insert(key(0), Arc::new(svc));
    inputs.health.insert(
        key(0),
        LocalHealth {
            ready: 1,
            total: 1,
            probes: BTreeMap::new(),
        },
    );
    let previous = plan(&inputs);
    assert_eq!(previous.rib.len(), 1);
    assert_eq!(replan(&previous, &inputs, &inputs), Some(previous.clone()));
    let mut more_pools = inputs.clone();
    Arc::make_mut(&mut more_pools.pools).insert("q".into(), pool);
    assert_eq!(replan(&previous, &inputs, &more_pools), None);
}
