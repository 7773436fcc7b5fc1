//! The memory the agent's index takes per service: the resident set before and after listing
//! N AnycastServices, their core Services and N local Pods (the cluster of `change_bench`).
//! `cargo run --release --example index_memory -- [N...]`; `BENCH_NAMESPACES=1` puts every
//! service in one namespace; with `BENCH_OUT` set, rows go to `$BENCH_OUT/index_memory.tsv`.
//! Memory freed by one size may serve the next: run one N per call for exact figures.

use std::io::Write;

#[path = "common/cluster.rs"]
mod cluster;
mod common;

fn resident_kib() -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS in /proc/self/status")?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .ok_or("VmRSS without a value")?;
    Ok(kib.parse()?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut tsv = common::tsv(
        "index_memory",
        &["services", "index_kib", "bytes_per_service"],
    )?;
    println!("| services | index | per service |\n|---:|---:|---:|");
    for n in common::sizes()? {
        let before = resident_kib()?;
        let index = cluster::mk_index(n)?;
        let world = index.world().ok_or("the index is not listed")?;
        let grown = resident_kib()?.saturating_sub(before);
        let per_service = grown * 1024 / u64::from(n.max(1));
        println!("| {n} | {grown} KiB | {per_service} bytes |");
        if let Some(file) = tsv.as_mut() {
            writeln!(file, "{n}\t{grown}\t{per_service}")?;
        }
        drop((world, index));
    }
    Ok(())
}
