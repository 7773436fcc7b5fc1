use proptest::prelude::*;

use super::*;
use crate::exabgp::batch::mk_route;

fn rib(routes: &[(&str, i64)]) -> Rib {
    routes.iter().map(|(p, m)| mk_route(p, *m)).collect()
}

fn lines(batches: &[Batch]) -> Vec<&str> {
    batches.iter().map(|b| b.line.as_str()).collect()
}

/// Writes every line and has ExaBGP answer `done` to each, as a session that completes does.
fn complete(held: &mut Held, announced: &mut Rib, batches: &[Batch]) {
    for b in batches {
        held.on_written(&b.effect);
        held.on_done(&b.effect);
        b.effect.apply(announced);
    }
}

/// Regression (docs/reliability.md, finding 6): a route withdrawn while no relay was connected
/// is withdrawn by the next session, after nothing of it was acknowledged there.
#[test]
fn the_next_session_withdraws_what_an_earlier_one_left() {
    let mut held = Held::default();
    let first = plan(
        &held,
        &Rib::new(),
        &rib(&[("192.0.2.1/32", 100), ("192.0.2.2/32", 100)]),
        10,
    );
    complete(&mut held, &mut Rib::new(), &first);
    // The relay dies; meanwhile 192.0.2.2 turns unready. A new session starts from nothing.
    let desired = rib(&[("192.0.2.1/32", 100)]);
    let second = plan(&held, &Rib::new(), &desired, 10);
    assert_eq!(
        lines(&second),
        [
            "neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.2/32\n",
            "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32\n",
        ]
    );
    let mut announced = Rib::new();
    complete(&mut held, &mut announced, &second);
    assert_eq!(held.len(), 1);
    // Nothing stale is left: later plans are the plain diff.
    assert!(!held.may_have_stale(&announced));
    assert!(plan(&held, &announced, &desired, 10).is_empty());
}

/// An announce whose answer was lost may have reached ExaBGP in its new set: both sets are
/// withdrawn; a withdraw whose answer was lost may not have: it is made again.
#[test]
fn unanswered_lines_count_as_maybe_applied_announces_and_not_applied_withdraws() {
    let mut held = Held::default();
    let a = plan(
        &held,
        &Rib::new(),
        &rib(&[("192.0.2.1/32", 100), ("192.0.2.2/32", 100)]),
        10,
    );
    let mut announced = Rib::new();
    complete(&mut held, &mut announced, &a);
    // Written, never answered: a MED change of .1 and a withdraw of .2.
    for b in plan(&held, &announced, &rib(&[("192.0.2.1/32", 150)]), 10) {
        held.on_written(&b.effect);
    }
    let next = plan(&held, &Rib::new(), &Rib::new(), 10);
    assert_eq!(
        lines(&next),
        [
            "neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32\n",
            "neighbor * withdraw attributes next-hop self med 150 nlri 192.0.2.1/32\n",
        ]
    );
    for b in &next {
        held.on_done(&b.effect);
    }
    assert!(held.is_empty());
}

#[test]
fn a_replaced_path_and_a_refused_announce_leave_only_what_may_be_held() {
    let (key, mut old) = mk_route("192.0.2.1/32", 100);
    old.path_id = Some(1);
    let new = Attributes {
        path_id: Some(2),
        ..old.clone()
    };
    let mut held = Held::default();
    let mut announced = Rib::new();
    for desired in [
        [(key.clone(), old)].into(),
        [(key.clone(), new.clone())].into(),
    ] {
        let batches = plan(&held, &announced, &desired, 10);
        complete(&mut held, &mut announced, &batches);
    }
    assert_eq!(held.routes, [(key.clone(), vec![new])].into());
    // A refused announce is never acknowledged; it stays a set to withdraw.
    let (_, refused) = mk_route("192.0.2.1/32", 300);
    held.on_written(&Effect::Announce(vec![key.clone()], refused));
    assert_eq!(held.routes[&key].len(), 2);
    assert!(plan(&held, &announced, &announced, 10).is_empty());
}

#[test]
fn sets_per_route_are_bounded() {
    let mut held = Held::default();
    for med in 0..100 {
        let (key, attrs) = mk_route("192.0.2.1/32", med);
        held.on_written(&Effect::Announce(vec![key], attrs));
    }
    assert_eq!(
        held.stale_withdraws(&Rib::new(), &Rib::new(), 10).len(),
        MAX_ATTRIBUTE_SETS
    );
}

/// ExaBGP with its peer up: a route is announced in one attribute set, and a withdraw in any set
/// removes it.
fn apply_to_exabgp(exabgp: &mut Rib, effect: &Effect) {
    match effect {
        Effect::Announce(keys, attrs) => {
            for k in keys {
                exabgp.insert(k.clone(), attrs.clone());
            }
        }
        Effect::Withdraw(keys, attrs) | Effect::WithdrawReplacedPath(keys, attrs) => {
            for k in keys {
                // ADD-PATH: only the path with this id.
                if exabgp
                    .get(k)
                    .is_some_and(|held| held.path_id == attrs.path_id)
                {
                    exabgp.remove(k);
                }
            }
        }
        Effect::None => {}
    }
}

fn arb_rib() -> impl Strategy<Value = Rib> {
    proptest::collection::btree_map(0u8..8, 0i64..3, 0..6).prop_map(|m| {
        m.into_iter()
            .map(|(i, med)| mk_route(&format!("198.51.100.{i}/32"), med * 50))
            .collect()
    })
}

/// One step: a desired RIB, and how many of the planned lines reach ExaBGP and how many of
/// those are answered before the connection dies (all of them: it lives on).
fn arb_step() -> impl Strategy<Value = (Rib, usize, usize)> {
    (arb_rib(), 0usize..6, 0usize..6).prop_map(|(rib, a, b)| (rib, a.max(b), a.min(b)))
}

proptest! {
    /// Whatever connections die with lines written, delivered or answered, one session that
    /// completes leaves ExaBGP holding exactly the desired RIB.
    #[test]
    fn a_completed_session_leaves_exabgp_with_exactly_the_desired_rib(
        steps in proptest::collection::vec(arb_step(), 0..8),
        last in arb_rib(),
        max in 1usize..4,
    ) {
        let mut held = Held::default();
        let mut exabgp = Rib::new();
        let mut announced = Rib::new();
        for (desired, delivered, answered) in steps {
            let batches = plan(&held, &announced, &desired, max);
            for b in &batches {
                held.on_written(&b.effect);
            }
            for b in batches.iter().take(delivered) {
                apply_to_exabgp(&mut exabgp, &b.effect);
            }
            for b in batches.iter().take(answered) {
                held.on_done(&b.effect);
                b.effect.apply(&mut announced);
            }
            if answered < batches.len() {
                // The connection died: the next session starts from nothing acknowledged.
                announced = Rib::new();
            }
        }
        for b in plan(&held, &Rib::new(), &last, max) {
            held.on_written(&b.effect);
            apply_to_exabgp(&mut exabgp, &b.effect);
            held.on_done(&b.effect);
        }
        prop_assert_eq!(&exabgp, &last);
        let held_keys: Vec<&RouteKey> = held.routes.keys().collect();
        let last_keys: Vec<&RouteKey> = last.keys().collect();
        prop_assert_eq!(held_keys, last_keys);
    }
}
