//! Planning again after a few services changed. A service's report and routes depend on its own
//! spec and health, on the pools, namespaces and node, and on the services that claim one of its
//! addresses (conflicts, shared routes). So when only some services changed, only the group of
//! services linked to them through shared addresses can plan differently: that group is planned
//! alone and the rest of the previous plan is kept. The result equals [`plan`] of the new inputs
//! (proptested), at a cost that follows the change instead of the number of services.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::{Inputs, Plan, ServiceKey, plan};
use crate::sorted::Cursor;

/// The plan for `new`, from the plan `previous` of `old`; `None` when only a full [`plan`] can
/// tell (the pools, namespaces or node changed, or the node drains: then timing is involved).
pub fn replan(previous: &Plan, old: &Inputs, new: &Inputs) -> Option<Plan> {
    let globals_unchanged = same(&old.pools, &new.pools)
        && same(&old.namespaces, &new.namespaces)
        && old.node == new.node;
    if !globals_unchanged || new.node.drain_cause().is_some() || previous.replan_after.is_some() {
        return None;
    }
    let changed = changed_services(old, new);
    if changed.is_empty() {
        return Some(previous.clone());
    }
    let (group, addresses) = linked_group(old, new, changed);
    let sub = Inputs {
        services: Arc::new(subset(&new.services, &group)),
        pools: new.pools.clone(),
        namespaces: new.namespaces.clone(),
        node: new.node.clone(),
        health: subset(&new.health, &group),
    };
    let planned = plan(&sub);
    let mut out = previous.clone();
    // The group is small: removing its keys costs less than a pass comparing every key.
    for key in &group {
        out.reports.remove(key);
    }
    out.reports.extend(planned.reports);
    let rib = Arc::make_mut(&mut out.rib);
    rib.retain(|route, _| !is_host_route_of(&route.prefix, &addresses));
    rib.extend(Arc::unwrap_or_clone(planned.rib));
    out.replan_after = planned.replan_after;
    Some(out)
}

/// The same shared collection, or an equal one.
fn same<T: PartialEq>(a: &Arc<T>, b: &Arc<T>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

/// Services added, removed, or with another spec or health.
fn changed_services(old: &Inputs, new: &Inputs) -> BTreeSet<ServiceKey> {
    let mut changed = BTreeSet::new();
    let (mut old_services, mut old_health, mut new_health) = (
        Cursor::new(&old.services),
        Cursor::new(&old.health),
        Cursor::new(&new.health),
    );
    for (key, svc) in new.services.iter() {
        let same_service = old_services.seek(key).is_some_and(|o| same(o, svc));
        let same_health = old_health.seek(key) == new_health.seek(key);
        if !(same_service && same_health) {
            changed.insert(key.clone());
        }
    }
    let mut new_services = Cursor::new(&new.services);
    for key in old.services.keys() {
        if new_services.seek(key).is_none() {
            changed.insert(key.clone());
        }
    }
    // Health without a service plans nothing; health of a service that stays is covered above.
    changed
}

/// The changed services plus every service (old or new) that shares an address with one in
/// the group, transitively; and the addresses of the group.
fn linked_group(
    old: &Inputs,
    new: &Inputs,
    mut group: BTreeSet<ServiceKey>,
) -> (BTreeSet<ServiceKey>, BTreeSet<IpAddr>) {
    let mut addresses = BTreeSet::new();
    let mut frontier: Vec<ServiceKey> = group.iter().cloned().collect();
    while !frontier.is_empty() {
        for key in frontier.drain(..) {
            for inputs in [old, new] {
                addresses.extend(addresses_of(inputs, &key));
            }
        }
        for inputs in [old, new] {
            for (key, svc) in inputs.services.iter() {
                let Ok(svc) = &**svc else { continue };
                if !group.contains(key) && svc.addresses.iter().any(|a| addresses.contains(a)) {
                    group.insert(key.clone());
                    frontier.push(key.clone());
                }
            }
        }
    }
    (group, addresses)
}

fn addresses_of(inputs: &Inputs, key: &ServiceKey) -> Vec<IpAddr> {
    match inputs.services.get(key).map(|s| &**s) {
        Some(Ok(svc)) => svc.addresses.clone(),
        _ => Vec::new(),
    }
}

fn is_host_route_of(prefix: &IpNet, addresses: &BTreeSet<IpAddr>) -> bool {
    prefix.prefix_len() == prefix.max_prefix_len() && addresses.contains(&prefix.addr())
}

fn subset<V: Clone>(
    map: &std::collections::BTreeMap<ServiceKey, V>,
    keys: &BTreeSet<ServiceKey>,
) -> std::collections::BTreeMap<ServiceKey, V> {
    keys.iter()
        .filter_map(|k| map.get(k).map(|v| (k.clone(), v.clone())))
        .collect()
}
