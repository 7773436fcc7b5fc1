//! Properties of the planner over random worlds: a few pools, namespaces, services with
//! overlapping addresses and probes, random health and node drain.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use proptest::prelude::*;
use serde_json::json;

use super::tests::{mk_pool, mk_service};
use super::*;

const NAMESPACES: [&str; 3] = ["a", "b", "c"];
const CIDRS: [&str; 3] = ["10.0.0.0/29", "10.0.0.0/30", "10.0.1.0/30"];
/// Community allowlists a pool may set: none, one value, a wildcard, one that names blackhole.
const ALLOWED: [&[&str]; 4] = [
    &[],
    &["65001:1"],
    &["65001:*", "*:*"],
    &["blackhole", "65001:2"],
];

fn ip(last: u8, high: bool) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, u8::from(high), last))
}

prop_compose! {
    fn arb_pool()(cidr in 0..CIDRS.len(), ns in proptest::option::weighted(0.3, 0..NAMESPACES.len()),
                  comm in 0..3u16, drain_withdraw: bool, delay in 0..60u64,
                  allowed in proptest::option::of(0..ALLOWED.len())) -> Result<ValidPool, InvalidSpec> {
        let mut v = json!({"cidrs": [CIDRS[cidr]], "communities": [format!("65000:{comm}")],
            "drain": {"mode": if drain_withdraw { "Withdraw" } else { "GracefulShutdown" }, "delay": format!("{delay}s")}});
        if let Some(a) = allowed {
            v["allowedAttributes"] = json!({"communities": ALLOWED[a]});
        }
        if let Some(ns) = ns {
            v["namespaceSelector"] = json!({"matchLabels": {"name": NAMESPACES[ns]}});
        }
        mk_pool(v)
    }
}

prop_compose! {
    pub(super) fn arb_service()(addrs in proptest::collection::vec((0..8u8, proptest::bool::weighted(0.3)), 1..3),
                     min_ready in 0..3u32, comm in proptest::option::weighted(0.2, 1..3u16),
                     up in 50..=100u8, degraded_below in 0..=50u8, probes in proptest::collection::vec((1..5u32, any::<bool>()), 0..3),
                     disabled in proptest::bool::weighted(0.1), down_med in proptest::option::weighted(0.2, Just(250u32)),
                     blackhole in proptest::bool::weighted(0.2))
                     -> Result<ValidService, InvalidSpec> {
        let addresses: Vec<String> = addrs.iter().map(|(l, h)| ip(*l, *h).to_string()).collect();
        let probes: Vec<_> = probes.iter().enumerate().map(|(i, (w, crit))|
            json!({"name": format!("p{i}"), "tcp": {"port": 80}, "weight": w, "critical": crit})).collect();
        let mut v = json!({"addresses": addresses, "readiness": {"service": "s"}, "minReadyEndpoints": min_ready,
            "communities": [format!("65001:{}", comm.unwrap_or(0))], "probes": probes, "disabled": disabled,
            "thresholds": {"up": up, "degraded": up - degraded_below}});
        if let Some(med) = down_med {
            v["announce"] = json!({"down": {"med": med}});
        }
        if blackhole {
            v["communities"] = json!([format!("65001:{}", comm.unwrap_or(0)), "blackhole"]);
        }
        mk_service(v)
    }
}

prop_compose! {
    pub(super) fn arb_health()(ready in 0..4u32, extra in 0..2u32, results in proptest::collection::vec(proptest::option::of(any::<bool>()), 3))
                   -> LocalHealth {
        let probes = results.iter().enumerate().filter_map(|(i, r)| r.map(|ok| (format!("p{i}"), ok))).collect();
        LocalHealth { ready, total: ready + extra, probes }
    }
}

prop_compose! {
    pub(super) fn arb_inputs()(pools in proptest::collection::vec(arb_pool(), 1..4),
                    services in proptest::collection::vec((0..NAMESPACES.len(), arb_service(), arb_health()), 0..6),
                    cordoned in proptest::bool::weighted(0.2), elapsed in 0..90u64, offset in proptest::option::of(0..2000u32))
                    -> Inputs {
        let mut inputs = Inputs::default();
        inputs.node.name = "n1".into();
        inputs.node.unschedulable = cordoned;
        inputs.node.drain_elapsed = Duration::from_secs(elapsed);
        if let Some(o) = offset {
            inputs.node.annotations.insert(crate::crd::DEFAULT_MED_OFFSET_ANNOTATION.into(), o.to_string());
        }
        for ns in NAMESPACES {
            Arc::make_mut(&mut inputs.namespaces).insert(ns.into(), BTreeMap::from([("name".to_owned(), ns.to_owned())]));
        }
        for (i, p) in pools.into_iter().enumerate() {
            Arc::make_mut(&mut inputs.pools).insert(format!("pool{i}"), p);
        }
        for (i, (ns, svc, health)) in services.into_iter().enumerate() {
            let key = ServiceKey::new(NAMESPACES[ns], format!("svc{i}"));
            Arc::make_mut(&mut inputs.services).insert(key.clone(), Arc::new(svc));
            inputs.health.insert(key, health);
        }
        inputs
    }
}

/// True when some valid pool holding `ip` admits namespace `ns`.
fn granted(inputs: &Inputs, ns: &str, ip: IpAddr) -> bool {
    let labels = &inputs.namespaces[ns];
    inputs
        .pools
        .values()
        .filter_map(|p| p.as_ref().ok())
        .any(|p| p.longest_match(ip).is_some() && p.grants_namespace(labels))
}

/// The longest prefix holding `ip` among the valid pools that `admits` accepts.
fn longest_holder(inputs: &Inputs, ip: IpAddr, admits: impl Fn(&ValidPool) -> bool) -> Option<u8> {
    inputs
        .pools
        .values()
        .filter_map(|p| p.as_ref().ok())
        .filter(|p| admits(p))
        .filter_map(|p| p.longest_match(ip))
        .max()
}

/// True when the first pool by name among the most specific ones holding `ip` and granting
/// namespace `ns` allows `route`.
fn grantable(inputs: &Inputs, ns: &str, ip: IpAddr, route: &RouteProfile) -> bool {
    let labels = &inputs.namespaces[ns];
    let longest = longest_holder(inputs, ip, |_| true);
    inputs
        .pools
        .values()
        .filter_map(|p| p.as_ref().ok())
        .find(|p| {
            p.longest_match(ip).is_some()
                && p.longest_match(ip) == longest
                && p.grants_namespace(labels)
        })
        .is_some_and(|p| p.policy.check(route).is_empty())
}

proptest! {
    #[test]
    fn a_broader_pool_never_reaches_into_a_more_specific_one(inputs in arb_inputs()) {
        let plan = plan(&inputs);
        for (key, report) in &plan.reports {
            let labels = &inputs.namespaces[&*key.namespace];
            for prefix in &report.prefixes {
                let ip = prefix.addr();
                prop_assert_eq!(
                    longest_holder(&inputs, ip, |_| true),
                    longest_holder(&inputs, ip, |p| p.grants_namespace(labels)),
                    "{} announced for {} from a broader pool", prefix, key
                );
            }
        }
    }

    #[test]
    fn a_forbidden_attribute_never_reaches_a_planned_route(inputs in arb_inputs()) {
        let plan = plan(&inputs);
        for (route, attrs) in plan.rib.iter() {
            let ip = route.prefix.addr();
            let longest = longest_holder(&inputs, ip, |_| true);
            let holders: Vec<&ValidPool> = inputs.pools.values()
                .filter_map(|p| p.as_ref().ok())
                .filter(|p| p.longest_match(ip).is_some() && p.longest_match(ip) == longest)
                .collect();
            for c in &attrs.communities.0 {
                // No pool here sets or allows a reserved community but by naming it.
                prop_assert!(!c.is_reserved() || *c == crate::exabgp::attrs::GRACEFUL_SHUTDOWN
                    || holders.iter().any(|p| p.policy.communities.is_some()), "{c} on {}", route.prefix);
                prop_assert!(*c == crate::exabgp::attrs::GRACEFUL_SHUTDOWN
                    || holders.iter().any(|p| p.communities.0.contains(c) || p.policy.allows_community(*c)),
                    "{c} on {} allowed by no pool holding it", route.prefix);
            }
        }
    }

    #[test]
    fn an_address_outside_every_granted_pool_is_never_announced(inputs in arb_inputs()) {
        let plan = plan(&inputs);
        // Every route is some service's, and every service's routes are granted to it.
        for key in plan.rib.keys() {
            prop_assert!(plan.reports.values().any(|r| r.prefixes.contains(&key.prefix)), "{} has no owner", key.prefix);
        }
        for (key, report) in &plan.reports {
            for prefix in &report.prefixes {
                prop_assert!(granted(&inputs, &key.namespace, prefix.addr()), "{prefix} announced for {key}");
            }
        }
    }

    #[test]
    fn a_contested_address_is_announced_only_when_all_claimants_agree(inputs in arb_inputs()) {
        let plan = plan(&inputs);
        for key in plan.rib.keys() {
            let ip = key.prefix.addr();
            let profiles: Vec<&RouteProfile> = inputs.services.iter()
                .filter_map(|(k, s)| s.as_ref().as_ref().ok().map(|s| (k, s)))
                .filter(|(k, s)| s.addresses.contains(&ip) && grantable(&inputs, &k.namespace, ip, &s.route))
                .map(|(_, s)| &s.route)
                .collect();
            prop_assert!(profiles.windows(2).all(|w| w[0] == w[1]), "{ip} announced despite a conflict");
        }
    }

    #[test]
    fn too_few_ready_endpoints_or_a_failing_critical_probe_is_never_up(inputs in arb_inputs()) {
        let plan = plan(&inputs);
        for (key, svc) in inputs.services.iter() {
            let Ok(svc) = &**svc else { continue };
            let health = &inputs.health[key];
            let critical_failing = svc.probes.iter()
                .any(|p| p.critical && !health.probes.get(&p.name).copied().unwrap_or(false));
            let state = plan.reports[key].state;
            if health.ready < svc.min_ready_endpoints || critical_failing {
                prop_assert!(!matches!(state, State::Up | State::Degraded), "{key}: {state:?}");
                // Down announces only with the down MED (+ offset), never the up MED.
                if let Some(med) = plan.reports[key].med {
                    let StateRoute::Announce { med: down, .. } = svc.route.down else {
                        prop_assert!(svc.disabled, "{key} announced while down with withdraw set");
                        continue;
                    };
                    prop_assert!(med >= down || svc.disabled);
                }
            }
        }
    }

    #[test]
    fn planning_is_deterministic_under_reordering(inputs in arb_inputs()) {
        let mut reversed = Inputs { node: inputs.node.clone(), ..Inputs::default() };
        // Rebuild every map from its entries in reverse: the plan must not notice.
        reversed.pools = Arc::new((*inputs.pools).clone().into_iter().rev().collect());
        reversed.services = Arc::new((*inputs.services).clone().into_iter().rev().collect());
        reversed.health = inputs.health.clone().into_iter().rev().collect();
        reversed.namespaces = Arc::new((*inputs.namespaces).clone().into_iter().rev().collect());
        prop_assert_eq!(plan(&inputs), plan(&reversed));
    }

    #[test]
    fn a_draining_node_never_announces_without_graceful_shutdown(inputs in arb_inputs()) {
        let plan = plan(&inputs);
        if inputs.node.unschedulable {
            for attrs in plan.rib.values() {
                prop_assert!(attrs.communities.0.contains(&crate::exabgp::attrs::GRACEFUL_SHUTDOWN));
            }
        }
    }

    #[test]
    fn the_driver_commands_take_one_plan_to_the_next(a in arb_inputs(), b in arb_inputs()) {
        let (old, new) = (plan(&a).rib, plan(&b).rib);
        let batches = crate::exabgp::batch::commands(&old, &new, 500);
        let mut rib = (*old).clone();
        for batch in &batches {
            batch.effect.apply(&mut rib);
        }
        prop_assert_eq!(&rib, &*new);
        // Minimal: only the prefixes of routes that differ appear in a line.
        let differing: std::collections::BTreeSet<String> = old.keys().chain(new.keys())
            .filter(|k| old.get(*k) != new.get(*k)).map(|k| k.prefix.to_string()).collect();
        for batch in &batches {
            let listed = batch.line.split(" nlri ").nth(1).unwrap_or("");
            prop_assert!(listed.split_whitespace().all(|p| differing.contains(p)), "{}", batch.line);
        }
    }

    #[test]
    fn the_node_med_saturates(state in any::<u32>(), offset in any::<u32>()) {
        let med = med::node_med(state, offset);
        prop_assert!(med >= state && med >= offset);
        prop_assert_eq!(u64::from(med), (u64::from(state) + u64::from(offset)).min(u64::from(u32::MAX)));
    }

    /// Which nodes write an AnycastAdvertisement: every node announcing a service or holding
    /// one of its endpoints does; a node with neither writes one only for a service that needs
    /// no endpoint and selects it; a local endpoint never makes one disappear.
    #[test]
    fn advertisements_come_from_the_nodes_that_matter(inputs in arb_inputs()) {
        let plan = plan(&inputs);
        let keeps = |inputs: &Inputs, plan: &Plan, key: &ServiceKey| {
            let svc = inputs.services[key].as_ref().as_ref().ok();
            keeps_advertisement(&plan.reports[key], svc, inputs.health[key].total)
        };
        for (key, report) in &plan.reports {
            let total = inputs.health[key].total;
            let kept = keeps(&inputs, &plan, key);
            let in_rib = plan.rib.keys().any(|r| report.prefixes.contains(&r.prefix));
            let announced = !report.prefixes.is_empty();
            if report.state == State::NotSelected {
                prop_assert!(!kept, "{key}: not selected, yet kept");
                continue;
            }
            if in_rib {
                prop_assert!(kept, "{key} is announced here, yet has no advertisement");
            }
            if total > 0 {
                prop_assert!(kept, "{key} has {total} local endpoints, yet no advertisement");
            }
            if kept && total == 0 && !announced {
                let needs_none = inputs.services[key].as_ref().as_ref().is_ok_and(|s| s.min_ready_endpoints == 0);
                prop_assert!(needs_none && !matches!(report.state, State::Invalid | State::Refused),
                    "{key} kept without endpoints or routes: {report:?}");
            }
            // One more local endpoint (not ready) never takes an advertisement away.
            let mut more = inputs.clone();
            if let Some(h) = more.health.get_mut(key) {
                h.total += 1;
            }
            let more_plan = super::plan(&more);
            prop_assert!(!kept || keeps(&more, &more_plan, key), "{key}: an extra endpoint dropped it");
        }
    }
}

proptest! {
    #[test]
    fn service_keys_order_as_their_names_whether_shared_or_not(
        a in ("[ab]{0,2}", "[ab]{0,2}"),
        b in ("[ab]{0,2}", "[ab]{0,2}"),
    ) {
        let key = |(ns, name): &(String, String)| ServiceKey::new(ns.as_str(), name.as_str());
        let (ka, kb) = (key(&a), key(&b));
        prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
        prop_assert_eq!(ka == kb, a == b);
        // A copy shares the allocation and compares equal to both.
        prop_assert_eq!(ka.clone().cmp(&ka), std::cmp::Ordering::Equal);
        prop_assert_eq!(ka.clone().cmp(&kb), a.cmp(&b));
    }
}
