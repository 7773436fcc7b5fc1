//! What one Pod watch event costs the agent to parse: a realistic Pod
//! (tests/fixtures/k8s/pod.json: managed fields, a container, statuses) parsed as the full
//! `k8s_openapi` Pod and as the agent's `SlimPod`, alternating in one run, N parses each
//! (default 20,000), five rounds; prints the median time per parse of each.
//! `cargo run --release --example pod_parse -- [N]`; with `BENCH_OUT` set, rows go to
//! `$BENCH_OUT/pod_parse.tsv`.

use std::io::Write;
use std::time::Instant;

use k8s_openapi::api::core::v1::Pod;
use kube_anycast::k8s::slim::SlimPod;

#[allow(dead_code, reason = "shared by the examples; this one takes its own N")]
mod common;

const POD: &str = include_str!("../tests/fixtures/k8s/pod.json");

/// Nanoseconds per parse of `n` parses as `T`.
fn per_parse<T: serde::de::DeserializeOwned>(n: u32) -> Result<f64, serde_json::Error> {
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(serde_json::from_str::<T>(std::hint::black_box(POD))?);
    }
    Ok(start.elapsed().as_secs_f64() * 1e9 / f64::from(n))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = match std::env::args().nth(1) {
        Some(arg) => arg.parse::<u32>()?.max(1),
        None => 20_000,
    };
    let (mut full, mut slim) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        full.push(per_parse::<Pod>(n)?);
        slim.push(per_parse::<SlimPod>(n)?);
    }
    let (full, slim) = (median(full), median(slim));
    println!(
        "Pod of {} bytes: full k8s_openapi Pod {:.1} µs, SlimPod {:.1} µs per parse ({:.1}x)",
        POD.len(),
        full / 1000.0,
        slim / 1000.0,
        full / slim
    );
    if let Some(mut tsv) = common::tsv("pod_parse", &["bytes", "full_us", "slim_us"])? {
        writeln!(
            tsv,
            "{}\t{:.2}\t{:.2}",
            POD.len(),
            full / 1000.0,
            slim / 1000.0
        )?;
    }
    Ok(())
}
