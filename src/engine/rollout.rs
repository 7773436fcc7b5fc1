//! Pure: rolling many new service addresses out in steps, so the routes of the first ones are
//! announced while the kernel still adds the rest (adding an IPv4 address to an interface costs
//! time linear in the addresses it already has, so 10,000 take seconds). Each step keeps the
//! rule that an address is on the loopback before its route is announced.

use std::collections::BTreeSet;

use ipnet::IpNet;

use crate::model::Rib;

/// Addresses added per step: large enough that a step's routes fill several of the driver's
/// batches, small enough that the first routes leave early.
pub const STEP: usize = 1024;

/// The intermediate address sets to put on the loopback before the full `current ∪ wanted`:
/// `current` plus the first `step`, then `2 * step`, ... of the addresses in `wanted` that are
/// not there yet. None when there are at most `step` new addresses.
pub fn steps(
    current: &BTreeSet<IpNet>,
    wanted: &BTreeSet<IpNet>,
    step: usize,
) -> Vec<BTreeSet<IpNet>> {
    let new: Vec<IpNet> = wanted.difference(current).copied().collect();
    if new.len() <= step.max(1) {
        // The usual change: no intermediate set, and no copy of the current one.
        return Vec::new();
    }
    let mut on = current.clone();
    let mut out = Vec::new();
    let chunks = new.chunks(step.max(1));
    let intermediate = chunks.len().saturating_sub(1);
    for chunk in chunks.take(intermediate) {
        on.extend(chunk.iter().copied());
        out.push(on.clone());
    }
    out
}

/// The routes of `rib` to hand over at a step: those whose address is on the loopback, and
/// those already `announced` (a step never withdraws a route the next step would bring back).
pub fn announceable(rib: &Rib, on_loopback: &BTreeSet<IpNet>, announced: &Rib) -> Rib {
    rib.iter()
        .filter(|(key, _)| on_loopback.contains(&key.prefix) || announced.contains_key(*key))
        .map(|(key, attrs)| (key.clone(), attrs.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn nets(hosts: impl IntoIterator<Item = u16>) -> BTreeSet<IpNet> {
        hosts
            .into_iter()
            .map(|h| {
                let [a, b] = h.to_be_bytes();
                IpNet::from(std::net::IpAddr::from([10, 0, a, b]))
            })
            .collect()
    }

    fn rib(hosts: impl IntoIterator<Item = u16>, med: i64) -> Rib {
        nets(hosts)
            .into_iter()
            .map(|prefix| {
                let key = crate::model::RouteKey {
                    target: crate::exabgp::encode::Target::default(),
                    prefix,
                };
                let attrs = crate::exabgp::encode::Attributes {
                    med: Some(med),
                    ..Default::default()
                };
                (key, attrs)
            })
            .collect()
    }

    #[test]
    fn a_step_announces_what_is_on_the_loopback_and_keeps_what_is_announced() {
        let planned = rib([1, 2, 3, 4], 150);
        let announced = rib([1, 9], 100);
        let step = announceable(&planned, &nets([1, 2]), &announced);
        // 1 (announced, new MED) and 2 (on lo); 3 and 4 wait; 9 (not planned) goes.
        assert_eq!(step, rib([1, 2], 150));
    }

    #[test]
    fn few_new_addresses_take_one_step() {
        let current = nets([1, 2]);
        let wanted = nets([2, 3]);
        assert!(steps(&current, &wanted, 4).is_empty());
        assert!(steps(&current, &current, 4).is_empty());
        assert_eq!(
            steps(&current, &nets(3..12), 4),
            vec![nets([1, 2, 3, 4, 5, 6]), nets(1..11)]
        );
    }

    proptest! {
        #[test]
        fn steps_grow_by_exactly_one_step_short_of_everything(
            current in prop::collection::btree_set(0u16..300, 0..50),
            wanted in prop::collection::btree_set(0u16..300, 0..200),
            step in 1usize..40,
        ) {
            let (current, wanted) = (nets(current), nets(wanted));
            let all = steps(&current, &wanted, step);
            let mut previous = current.clone();
            let everything: BTreeSet<IpNet> = current.union(&wanted).copied().collect();
            for set in all.iter().chain([&everything]) {
                prop_assert!(set.is_superset(&previous));
                prop_assert!(set.len() - previous.len() <= step);
                previous = set.clone();
            }
            for set in &all {
                prop_assert!(set.is_subset(&everything) && set != &everything);
            }
            let new = wanted.difference(&current).count();
            prop_assert_eq!(all.len(), new.div_ceil(step).saturating_sub(1));
        }
    }
}
