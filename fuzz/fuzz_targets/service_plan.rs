//! AnycastService specs as a tenant could write them: arbitrary JSON → `AnycastServiceSpec`
//! (serde) → `plan::validate_service` → `plan::plan` → `exabgp::batch::commands`. Every line is
//! one well-formed command, and no prefix leaves the pools granted to the service's namespace.
#![no_main]

use std::collections::BTreeMap;

use ipnet::IpNet;
use kube_anycast::crd::{AnycastPoolSpec, AnycastServiceSpec};
use kube_anycast::exabgp::batch::commands;
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
        inputs.services.insert(key, service.clone());
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
        let granted = granted_cidrs(&inputs.pools, namespace);
        let empty = Rib::new();
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

/// Two tenants: team-a may use `192.0.2.0/24` and `2001:db8:a::/48` with exec probes; team-b
/// may use `198.51.100.0/24` and `2001:db8:b::/48` without.
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
        let pool: AnycastPoolSpec = serde_json::from_value(json!({
            "cidrs": cidrs,
            "namespaceSelector": {"matchLabels": {"team": team}},
            "communities": ["65000:1"],
            "allowExec": exec,
        }))
        .unwrap_or_else(|e| panic!("pool: {e}"));
        inputs
            .pools
            .insert(format!("pool-{team}"), validate_pool(&pool));
        inputs.namespaces.insert(
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
