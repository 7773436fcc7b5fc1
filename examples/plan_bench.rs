//! Planning time for N services (default 1,000), each with two addresses and two probes, over
//! a handful of pools: `cargo run --release --example plan_bench -- [N]`. A micro benchmark
//! without a harness: it prints the median and the worst of 50 runs.

use std::time::{Duration, Instant};

use kube_anycast::crd::{AnycastPoolSpec, AnycastServiceSpec};
use kube_anycast::plan::{Inputs, LocalHealth, ServiceKey, plan, validate_pool, validate_service};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = std::env::args().nth(1).map_or(Ok(1000), |a| a.parse())?;
    let inputs = mk_inputs(n)?;
    let mut times: Vec<Duration> = Vec::with_capacity(50);
    let mut previous = plan(&inputs).rib;
    for _ in 0..50 {
        let start = Instant::now();
        let planned = plan(&inputs);
        let changes = kube_anycast::exabgp::batch::commands(&previous, &planned.rib, 500);
        times.push(start.elapsed());
        assert!(changes.is_empty());
        previous = planned.rib;
    }
    times.sort();
    println!(
        "{n} services, {} routes: plan + driver commands median {:?}, max {:?}",
        previous.len(),
        times[times.len() / 2],
        times[times.len() - 1]
    );
    Ok(())
}

fn mk_inputs(n: u32) -> Result<Inputs, Box<dyn std::error::Error>> {
    let mut inputs = Inputs::default();
    for i in 0..8u8 {
        let pool: AnycastPoolSpec = serde_json::from_value(serde_json::json!({
            "cidrs": [format!("10.{i}.0.0/16")],
            "communities": [format!("65000:{i}")],
        }))?;
        inputs
            .pools
            .insert(format!("pool{i}"), validate_pool(&pool));
    }
    for i in 0..n {
        let [_, b, c, d] = (i * 2).to_be_bytes();
        let spec: AnycastServiceSpec = serde_json::from_value(serde_json::json!({
            "addresses": [format!("10.{}.{c}.{d}", b % 8), format!("10.{}.{c}.{}", b % 8, d + 1)],
            "readiness": {"service": "web"},
            "communities": ["65001:1"],
            "probes": [
                {"name": "http", "http": {"port": 80}, "weight": 3},
                {"name": "db", "tcp": {"port": 5432}, "critical": true},
            ],
        }))?;
        let key = ServiceKey::new(format!("ns{}", i % 20), format!("svc{i}"));
        inputs.services.insert(key.clone(), validate_service(&spec));
        let probes = [
            ("http".to_owned(), i % 7 != 0),
            ("db".to_owned(), i % 13 != 0),
        ];
        inputs.health.insert(
            key,
            LocalHealth {
                ready: i % 3,
                total: 2,
                probes: probes.into(),
            },
        );
    }
    Ok(inputs)
}
