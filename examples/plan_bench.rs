//! Planning time for N services (default 1,000), each with two addresses and two probes, over
//! a handful of pools: `cargo run --release --example plan_bench -- [N...]`. A micro benchmark
//! without a harness: for each N it prints a Markdown row with the median and the worst of 50
//! runs, and with `BENCH_OUT` set (scripts/bench/all.sh) appends it to `$BENCH_OUT/plan.tsv`.

use std::io::Write;
use std::time::{Duration, Instant};

use kube_anycast::crd::{AnycastPoolSpec, AnycastServiceSpec};
use kube_anycast::plan::{Inputs, LocalHealth, ServiceKey, plan, validate_pool, validate_service};

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes = common::sizes()?;
    let mut tsv = common::tsv("plan", &["services", "routes", "median_ms", "max_ms"])?;
    println!("| services | routes | median | max |\n|---:|---:|---:|---:|");
    for n in sizes {
        let (routes, median, max) = measure(n)?;
        let (median, max) = (ms(median), ms(max));
        println!("| {n} | {routes} | {median:.2} ms | {max:.2} ms |");
        if let Some(file) = tsv.as_mut() {
            writeln!(file, "{n}\t{routes}\t{median:.3}\t{max:.3}")?;
        }
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Plans N services 50 times; the route count, the median and the worst time.
fn measure(n: u32) -> Result<(usize, Duration, Duration), Box<dyn std::error::Error>> {
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
    Ok((
        previous.len(),
        times[times.len() / 2],
        times[times.len() - 1],
    ))
}

fn mk_inputs(n: u32) -> Result<Inputs, Box<dyn std::error::Error>> {
    let mut inputs = Inputs::default();
    for i in 0..8u8 {
        let pool: AnycastPoolSpec = serde_json::from_value(serde_json::json!({
            "cidrs": [format!("10.{i}.0.0/16")],
            "communities": [format!("65000:{i}")],
        }))?;
        std::sync::Arc::make_mut(&mut inputs.pools)
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
        std::sync::Arc::make_mut(&mut inputs.services)
            .insert(key.clone(), std::sync::Arc::new(validate_service(&spec)));
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
