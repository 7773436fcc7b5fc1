//! What a watch event costs the agent to parse: a realistic Pod and core Service
//! (tests/fixtures/k8s/pod.json and service.json: managed fields, containers or ports, statuses)
//! parsed as the full `k8s_openapi` objects and as the agent's slim ones, alternating in one run,
//! N parses each (default 20,000), five rounds; prints the median time per parse of each.
//! `cargo run --release --example watch_parse -- [N]`; with `BENCH_OUT` set, rows go to
//! `$BENCH_OUT/watch_parse.tsv`.

use std::io::Write;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube_anycast::k8s::slim::{SlimPod, SlimService};

#[allow(dead_code, reason = "shared by the examples; this one takes its own N")]
mod common;

const POD: &str = include_str!("../tests/fixtures/k8s/pod.json");
const SERVICE: &str = include_str!("../tests/fixtures/k8s/service.json");

/// Nanoseconds per parse of `n` parses of `json` as `T`.
fn per_parse<T: serde::de::DeserializeOwned>(json: &str, n: u32) -> Result<f64, serde_json::Error> {
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(serde_json::from_str::<T>(std::hint::black_box(json))?);
    }
    Ok(start.elapsed().as_secs_f64() * 1e9 / f64::from(n))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median ns per parse as the full type and as the slim one, measured in turn.
fn compare<Full, Slim>(json: &str, n: u32) -> Result<(f64, f64), serde_json::Error>
where
    Full: serde::de::DeserializeOwned,
    Slim: serde::de::DeserializeOwned,
{
    let (mut full, mut slim) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        full.push(per_parse::<Full>(json, n)?);
        slim.push(per_parse::<Slim>(json, n)?);
    }
    Ok((median(full), median(slim)))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = match std::env::args().nth(1) {
        Some(arg) => arg.parse::<u32>()?.max(1),
        None => 20_000,
    };
    let mut tsv = common::tsv("watch_parse", &["kind", "bytes", "full_us", "slim_us"])?;
    let rows = [
        ("Pod", POD, compare::<Pod, SlimPod>(POD, n)?),
        (
            "Service",
            SERVICE,
            compare::<Service, SlimService>(SERVICE, n)?,
        ),
    ];
    for (kind, json, (full, slim)) in rows {
        println!(
            "{kind} of {} bytes: full k8s_openapi {kind} {:.1} µs, slim {:.1} µs per parse ({:.1}x)",
            json.len(),
            full / 1000.0,
            slim / 1000.0,
            full / slim
        );
        if let Some(tsv) = tsv.as_mut() {
            writeln!(
                tsv,
                "{kind}\t{}\t{:.2}\t{:.2}",
                json.len(),
                full / 1000.0,
                slim / 1000.0
            )?;
        }
    }
    Ok(())
}
