//! The agent's CPU per Kubernetes change, phase by phase: N AnycastServices (readiness from a
//! core Service), N local Pods, one Pod's readiness toggled per change. Each phase is what one
//! task of the agent does for that change: the source (index update, world build), the engine
//! (plan), the ExaBGP driver (its commands from what ExaBGP holds to the new RIB, and applying
//! them to its record), the status writer, the metrics.
//! `cargo run --release --example change_bench -- [N...]` prints the median per phase of 200
//! changes as a Markdown row per N, and with `BENCH_OUT` set (scripts/bench/all.sh) appends it
//! to `$BENCH_OUT/change.tsv`. The services are spread over 20 namespaces, or over
//! `BENCH_NAMESPACES` (1: all in one, as scripts/bench/k8s.sh puts them).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use kube_anycast::engine::metrics::AgentMetrics;
use kube_anycast::exabgp::batch::commands;
use kube_anycast::k8s::index::{Change, Update};
use kube_anycast::k8s::status::Writer;
use kube_anycast::plan::{Inputs, LocalHealth, plan, replan};

const CHANGES: u32 = 200;
/// The driver's default prefixes per line.
const MAX_PREFIXES: usize = 500;

#[path = "common/cluster.rs"]
mod cluster;
mod common;
use cluster::{mk_index, pod};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes = common::sizes()?;
    let mut tsv = common::tsv(
        "change",
        &[
            "services",
            "source_ms",
            "engine_ms",
            "driver_ms",
            "writer_ms",
            "metrics_ms",
        ],
    )?;
    println!(
        "| services | source | engine | driver | status writer | metrics | total |\n|---:|---:|---:|---:|---:|---:|---:|"
    );
    for n in sizes {
        let m = measure(n)?;
        let total: f64 = m.iter().sum();
        println!(
            "| {n} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {total:.3} ms |",
            m[0], m[1], m[2], m[3], m[4]
        );
        if let Some(file) = tsv.as_mut() {
            writeln!(
                file,
                "{n}\t{:.4}\t{:.4}\t{:.4}\t{:.4}\t{:.4}",
                m[0], m[1], m[2], m[3], m[4]
            )?;
        }
    }
    Ok(())
}

/// Median ms per phase: source, engine, driver, status writer, metrics.
fn measure(n: u32) -> Result<[f64; 5], Box<dyn std::error::Error>> {
    let mut index = mk_index(n)?;
    let mut published = index.world();
    let mut writer = Writer::new("node-a", Vec::new());
    let metrics = AgentMetrics::register(&mut prometheus_client::registry::Registry::default());
    let mut last_plan = kube_anycast::plan::Plan::default();
    let mut previous: Option<(Inputs, kube_anycast::plan::Plan)> = None;
    let mut times: [Vec<Duration>; 5] = Default::default();
    let mut announced = kube_anycast::model::Rib::new();
    let mut ready = vec![true; n as usize];
    for change in 0..CHANGES {
        let i = (change * 7919) % n;
        ready[i as usize] ^= true;
        let t0 = Instant::now();
        index.update(Update::Pod(Change::Apply(pod(i, ready[i as usize]))));
        let world = index.world().ok_or("the index is not listed")?;
        let source = t0.elapsed();
        // Checked outside the timed phases: the agent publishes without comparing.
        let same = published.as_ref() == Some(&world);
        published = Some(world);
        let t1 = Instant::now();
        let world = published.clone().ok_or("no world")?;
        let endpoints = world.endpoints.clone().unwrap_or_default();
        let inputs = Inputs {
            services: world.services.clone(),
            pools: world.pools.clone(),
            namespaces: world.namespaces.clone(),
            node: world.node.clone(),
            health: endpoints
                .iter()
                .map(|(k, c)| {
                    let health = LocalHealth {
                        ready: c.ready,
                        total: c.total,
                        probes: BTreeMap::new(),
                    };
                    (k.clone(), health)
                })
                .collect(),
        };
        // As the engine does: only the services linked to the change, when that suffices.
        let planned = match &previous {
            Some((old, last)) => replan(last, old, &inputs).unwrap_or_else(|| plan(&inputs)),
            None => plan(&inputs),
        };
        previous = Some((inputs, planned.clone()));
        let t2 = Instant::now();
        for batch in commands(&announced, &planned.rib, MAX_PREFIXES) {
            batch.effect.apply(&mut announced);
        }
        let t_driver = Instant::now();
        let world = published.clone().ok_or("no world")?;
        let ops = writer.update(&planned, &world, Timestamp::now());
        let t3 = Instant::now();
        metrics.record_plan(&last_plan, &planned);
        let t4 = Instant::now();
        assert!(
            !same && !ops.is_empty(),
            "every change must change something"
        );
        last_plan = planned;
        let phases = [source, t2 - t1, t_driver - t2, t3 - t_driver, t4 - t3];
        for (k, d) in phases.into_iter().enumerate() {
            times[k].push(d);
        }
    }
    Ok(times.map(|mut t| {
        t.sort();
        t[t.len() / 2].as_secs_f64() * 1000.0
    }))
}
