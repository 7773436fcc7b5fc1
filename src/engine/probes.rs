//! Pure: the probe jobs a planned world asks for, from the validated services.

use std::net::{IpAddr, SocketAddr};

use super::world::World;
use crate::crd::service::ProbeTarget;
use crate::plan::{Check, Plan, ServiceKey, ValidProbe, ValidService};
use crate::probe::schedule::{ProbeAction, ProbeJob, ProbeTiming};
use crate::probe::{HttpProbe, TcpProbe};
use crate::sorted::Cursor;

/// A probe run's identity: its service, the probe's name, and for probes of each local pod, the
/// pod's IP (such a probe passes only while it passes for every local pod).
pub type ProbeKey = (ServiceKey, String, Option<IpAddr>);

/// The jobs to run: the probes of every service the plan says runs probes.
pub fn probe_jobs(
    world: &World,
    plan: &Plan,
    exec_allowed: impl Fn(&ServiceKey) -> bool,
) -> Vec<ProbeJob<ProbeKey>> {
    let mut jobs = Vec::new();
    let mut reports = Cursor::new(&plan.reports);
    for (key, service) in world.services.iter() {
        let report = reports.seek(key);
        let Ok(service) = &**service else { continue };
        if !report.is_some_and(|r| r.runs_probes()) || !probes_can_matter(world, key, service) {
            continue;
        }
        for probe in &service.probes {
            let pods = world.pod_ips.get(key).map_or(&[][..], Vec::as_slice);
            let targets: Vec<Option<IpAddr>> = match probe.target {
                ProbeTarget::LocalPods if !pods.is_empty() => {
                    pods.iter().copied().map(Some).collect()
                }
                _ => vec![None],
            };
            for pod in targets {
                jobs.push(ProbeJob {
                    key: (key.clone(), probe.name.clone(), pod),
                    fingerprint: format!("{probe:?}|{:?}", service.timings),
                    action: action_for(service, probe, pod, exec_allowed(key)),
                    timing: ProbeTiming {
                        interval: service.timings.interval,
                        fast_interval: service.timings.fast_interval,
                        timeout: probe.timeout,
                        rise: service.timings.rise,
                        fall: service.timings.fall,
                    },
                });
            }
        }
    }
    jobs
}

/// False when no probe result can change what this node announces for the service: with
/// Kubernetes endpoints, the node has none of the service's (ready or not) and the service needs
/// at least one. Probing there would multiply the load on each target by the number of nodes
/// the service selects. Probes start as soon as a pod lands, before it turns ready, so they are
/// warm by the time it does.
fn probes_can_matter(world: &World, key: &ServiceKey, service: &ValidService) -> bool {
    let Some(endpoints) = &world.endpoints else {
        return true; // standalone: the probes alone decide
    };
    service.min_ready_endpoints == 0 || endpoints.get(key).is_some_and(|c| c.total > 0)
}

fn action_for(
    service: &ValidService,
    probe: &ValidProbe,
    pod: Option<IpAddr>,
    exec_allowed: bool,
) -> ProbeAction {
    let host = match probe.target {
        ProbeTarget::ServiceIP => service.addresses.first().map(ToString::to_string),
        ProbeTarget::Address => probe.address.clone(),
        ProbeTarget::LocalPods => pod.map(|ip| ip.to_string()),
    };
    let unsupported = |why: &str| ProbeAction::Unsupported(format!("probe {}: {why}", probe.name));
    match &probe.check {
        Check::Exec { command } if exec_allowed => ProbeAction::Exec(command.clone()),
        Check::Exec { .. } => {
            unsupported("exec probes are off: no AnycastPool of this namespace allows them")
        }
        Check::Icmp => unsupported("ICMP probes are not supported by this agent yet"),
        Check::Grpc { .. } => unsupported("gRPC probes are not supported by this agent yet"),
        Check::Tcp { port } => match host.map(|h| endpoint(&h, *port)) {
            Some(addr) => {
                TcpProbe::new(&addr).map_or_else(|e| unsupported(&e.to_string()), ProbeAction::Tcp)
            }
            None => unsupported("no target address (no ready local pod)"),
        },
        Check::Http {
            port,
            path,
            https,
            expect,
            body_contains,
        } => {
            let Some(addr) = host.map(|h| endpoint(&h, *port)) else {
                return unsupported("no target address (no ready local pod)");
            };
            let scheme = if *https { "https" } else { "http" };
            let url = format!("{scheme}://{addr}{path}");
            HttpProbe::new(&url, *expect, body_contains.clone()).map_or_else(
                |e| unsupported(&e.to_string()),
                |p| ProbeAction::Http(Box::new(p)),
            )
        }
    }
}

/// `host:port` for a bare host, `[v6]:port` for IPv6; a host that already has a port keeps it.
fn endpoint(host: &str, port: u16) -> String {
    if host.parse::<SocketAddr>().is_ok() {
        return host.to_owned();
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port).to_string(),
        Err(_) if host.contains(':') => host.to_owned(),
        Err(_) => format!("{host}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::crd::AnycastPoolSpec;
    use crate::engine::world::EndpointCounts;
    use crate::plan::{Inputs, LocalHealth, plan, validate_pool, validate_service};

    fn world_with(min_ready: u32, endpoints: Option<EndpointCounts>, k8s: bool) -> World {
        let spec = serde_json::from_value(serde_json::json!({
            "addresses": ["192.0.2.10"],
            "readiness": {"service": "web"},
            "minReadyEndpoints": min_ready,
            "probes": [{"name": "http", "target": "Address", "address": "198.51.100.1", "http": {"port": 80}}],
        }))
        .unwrap();
        let pool: AnycastPoolSpec =
            serde_json::from_value(serde_json::json!({"cidrs": ["192.0.2.0/24"]})).unwrap();
        let key = ServiceKey::new("ns", "web");
        let mut world = World::default();
        Arc::make_mut(&mut world.pools).insert("main".into(), validate_pool(&pool));
        Arc::make_mut(&mut world.services).insert(key.clone(), Arc::new(validate_service(&spec)));
        world.endpoints = k8s.then(|| Arc::new(endpoints.map(|c| (key, c)).into_iter().collect()));
        world
    }

    fn jobs(world: &World) -> usize {
        let inputs = Inputs {
            services: world.services.clone(),
            pools: world.pools.clone(),
            health: world
                .services
                .keys()
                .map(|k| (k.clone(), LocalHealth::default()))
                .collect::<BTreeMap<_, _>>(),
            ..Inputs::default()
        };
        probe_jobs(world, &plan(&inputs), |_| false).len()
    }

    #[test]
    fn probes_run_only_where_their_result_can_matter() {
        let none = EndpointCounts { ready: 0, total: 0 };
        let starting = EndpointCounts { ready: 0, total: 1 };
        let ready = EndpointCounts { ready: 1, total: 1 };
        // Kubernetes, the service needs an endpoint: probes only with a local endpoint.
        assert_eq!(jobs(&world_with(1, None, true)), 0);
        assert_eq!(jobs(&world_with(1, Some(none), true)), 0);
        assert_eq!(jobs(&world_with(1, Some(starting), true)), 1);
        assert_eq!(jobs(&world_with(1, Some(ready), true)), 1);
        // A service that needs no endpoint, and standalone mode: the probes alone decide.
        assert_eq!(jobs(&world_with(0, None, true)), 1);
        assert_eq!(jobs(&world_with(1, None, false)), 1);
    }

    #[test]
    fn endpoints() {
        assert_eq!(endpoint("192.0.2.1", 80), "192.0.2.1:80");
        assert_eq!(endpoint("2001:db8::1", 80), "[2001:db8::1]:80");
        assert_eq!(endpoint("198.51.100.1:53", 80), "198.51.100.1:53");
        assert_eq!(endpoint("db.example", 5432), "db.example:5432");
    }
}
