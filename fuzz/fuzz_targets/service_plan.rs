//! AnycastService specs as a tenant could write them: arbitrary JSON → `AnycastServiceSpec`
//! (serde) → `plan::validate_service` → `plan::plan` → `exabgp::batch::commands`. Every line is
//! one well-formed command, no prefix leaves the pools granted to the service's namespace, and
//! no route carries an attribute its pool's `allowedAttributes` forbids (checked on the values,
//! independently of the planner's policy code).
#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use ipnet::IpNet;
use kube_anycast::crd::{AnycastPoolSpec, AnycastServiceSpec};
use kube_anycast::exabgp::attrs::{Community, GRACEFUL_SHUTDOWN};
use kube_anycast::exabgp::batch::commands;
use kube_anycast::exabgp::encode::NextHop;
use kube_anycast::model::Rib;
use kube_anycast::plan::{
    Inputs, LocalHealth, NodeInfo, ServiceKey, ValidPool, plan, validate_pool, validate_service,
};
use kube_anycast_fuzz::exabgp_line::check_line;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = serde_json::from_slice::<AnycastServiceSpec>(data) else {
        return;
    };
    let service = validate_service(&spec);
    for namespace in ["team-a", "team-b"] {
        let key = ServiceKey::new(namespace, "svc");
        let mut inputs = mk_inputs();
        let probes = service
            .as_ref()
            .map(|s| s.probes.clone())
            .unwrap_or_default();
        inputs.health.insert(
            key.clone(),
            LocalHealth {
                ready: 1000,
                total: 1000,
                probes: probes.iter().map(|p| (p.name.clone(), true)).collect(),
            },
        );
        Arc::make_mut(&mut inputs.services).insert(key, Arc::new(service.clone()));
        let up = plan(&inputs).rib;
        inputs.node.shutting_down = true;
        let draining = plan(&inputs).rib;
        let Ok(valid) = &service else {
            assert!(
                up.is_empty() && draining.is_empty(),
                "an invalid spec announced"
            );
            continue;
        };
        if namespace == "team-b" && valid.has_exec_probe() {
            assert!(
                up.is_empty(),
                "exec probe announced from a pool without allowExec"
            );
        }
        for rib in [&up, &draining] {
            check_attributes(rib, namespace);
        }
        let granted = granted_cidrs(&inputs.pools, namespace);
        let empty = std::sync::Arc::new(Rib::new());
        for (from, to) in [(&empty, &up), (&up, &draining), (&draining, &empty)] {
            for batch in commands(from, to, 8) {
                let checked = check_line(&batch.line).unwrap_or_else(|e| panic!("{e}"));
                for p in &checked.prefixes {
                    assert!(
                        granted.iter().any(|c| c.contains(p)),
                        "{p} outside the pools of {namespace}"
                    );
                    assert!(
                        valid.addresses.contains(&p.addr()) && p.prefix_len() == p.max_prefix_len(),
                        "{p} is not a service address"
                    );
                }
            }
        }
    }
});

/// Two tenants: team-a may use `192.0.2.0/24` and `2001:db8:a::/48` with exec probes and no
/// attribute limits; team-b may use `198.51.100.0/24` and `2001:db8:b::/48` without exec
/// probes, with the limits [`check_attributes`] verifies.
fn mk_inputs() -> Inputs {
    let mut inputs = Inputs {
        node: NodeInfo {
            name: "n1".into(),
            ..NodeInfo::default()
        },
        ..Inputs::default()
    };
    for (team, cidrs, exec) in [
        ("a", ["192.0.2.0/24", "2001:db8:a::/48"], true),
        ("b", ["198.51.100.0/24", "2001:db8:b::/48"], false),
    ] {
        let mut spec = json!({
            "cidrs": cidrs,
            "namespaceSelector": {"matchLabels": {"team": team}},
            "communities": ["65000:1"],
            "allowExec": exec,
        });
        if team == "b" {
            spec["allowedAttributes"] = json!({
                "communities": ["65001:*", "no-export"], "largeCommunities": ["65001:*:*"],
                "extendedCommunities": [], "asPathPrepend": {"maxLength": 2, "asns": [65001]},
                "localPreference": {"max": 200}, "med": {"min": 100, "max": 1000},
                "nextHopCIDRs": ["10.0.0.0/8"],
            });
        }
        let pool: AnycastPoolSpec =
            serde_json::from_value(spec).unwrap_or_else(|e| panic!("pool: {e}"));
        Arc::make_mut(&mut inputs.pools).insert(format!("pool-{team}"), validate_pool(&pool));
        Arc::make_mut(&mut inputs.namespaces).insert(
            format!("team-{team}"),
            BTreeMap::from([("team".to_owned(), team.to_owned())]),
        );
    }
    inputs
}

fn granted_cidrs(
    pools: &BTreeMap<String, Result<ValidPool, kube_anycast::plan::InvalidSpec>>,
    namespace: &str,
) -> Vec<IpNet> {
    let team = namespace.trim_start_matches("team-");
    pools
        .get(&format!("pool-{team}"))
        .and_then(|p| p.as_ref().ok())
        .map(|p| p.cidrs.clone())
        .unwrap_or_default()
}

/// What each tenant's pool lets through, from the attribute values alone. team-a: no reserved
/// community but `GRACEFUL_SHUTDOWN`. team-b: its allowlists and ranges.
fn check_attributes(rib: &Rib, namespace: &str) {
    const NO_EXPORT: u32 = 0xFFFF_FF01;
    const ASN: u32 = 65001;
    for (key, attrs) in rib {
        let p = key.prefix;
        let team_b = namespace == "team-b";
        for c in &attrs.communities.0 {
            let allowed = if team_b {
                c.value() >> 16 == ASN || c.value() == NO_EXPORT
            } else {
                !c.is_reserved()
            };
            assert!(
                allowed || *c == GRACEFUL_SHUTDOWN || *c == Community::Pair(65000, 1),
                "{c} on {p} for {namespace}"
            );
        }
        if !team_b {
            continue;
        }
        assert!(
            attrs.large_communities.0.iter().all(|l| l.0 == ASN),
            "{p}: {}",
            attrs.large_communities
        );
        assert!(attrs.extended_communities.0.is_empty(), "{p}: extended");
        assert!(
            attrs
                .as_path
                .as_ref()
                .is_none_or(|a| a.0.len() <= 2 && a.0.iter().all(|n| *n == ASN)),
            "{p}: {:?}",
            attrs.as_path
        );
        assert!(
            attrs.local_preference.is_none_or(|lp| lp <= 200),
            "{p}: local-pref"
        );
        assert!(
            attrs.med.is_some_and(|m| (100..=1000).contains(&m)),
            "{p}: med {:?}",
            attrs.med
        );
        if let NextHop::Address(ip) = attrs.next_hop {
            let allowed: IpNet = "10.0.0.0/8".parse().unwrap_or_else(|e| panic!("{e}"));
            assert!(allowed.contains(&ip), "{p}: next hop {ip}");
        }
    }
}
