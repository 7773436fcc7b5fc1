//! What the relay adds to a change: the time from the agent's command line on the relay's socket
//! to the same line on the relay's stdout (ExaBGP's pipe), and from ExaBGP's `done` on the relay's
//! stdin back to the agent's socket. Each given `kube-anycast` binary runs `exabgp-relay` with
//! real pipes, as ExaBGP starts it; the binaries take turns, several rounds, each round a fresh
//! relay and N commands (default 300) with a random 1-5 ms pause before each, so every hop starts
//! from an idle process as a readiness change does. Prints the median and p99 of each hop per
//! binary.
//!
//! `cargo run --release --example relay_hop -- [-n N] BINARY...`

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 4;

struct Relay {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    agent_in: BufReader<std::os::unix::net::UnixStream>,
    agent_out: std::os::unix::net::UnixStream,
}

fn start(binary: &str, dir: &std::path::Path) -> std::io::Result<Relay> {
    let socket = dir.join("agent.sock");
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)?;
    let mut child = Command::new(binary)
        .args(["exabgp-relay", "--socket"])
        .arg(&socket)
        .args(["--log-level", "warn"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let (stdin, stdout) = match (child.stdin.take(), child.stdout.take()) {
        (Some(i), Some(o)) => (i, BufReader::new(o)),
        _ => return Err(std::io::Error::other("no pipes to the relay")),
    };
    let (stream, _) = listener.accept()?;
    let mut agent_in = BufReader::new(stream.try_clone()?);
    let mut lease = String::new();
    agent_in.read_line(&mut lease)?; // the relay's lease line comes first
    Ok(Relay {
        child,
        stdin,
        stdout,
        agent_in,
        agent_out: stream,
    })
}

/// Microseconds of each hop for `n` commands.
fn hops(relay: &mut Relay, n: usize, seed: &mut u64) -> std::io::Result<(Vec<f64>, Vec<f64>)> {
    let (mut down, mut up) = (Vec::new(), Vec::new());
    let mut line = String::new();
    for i in 0..n {
        // xorshift: a pause of 1-5 ms without a dependency
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        std::thread::sleep(Duration::from_micros(1000 + *seed % 4000));
        let verb = if i % 2 == 0 { "announce" } else { "withdraw" };
        let command = format!("neighbor * {verb} route 192.0.2.1/32 next-hop self med 100\n");
        let t0 = Instant::now();
        relay.agent_out.write_all(command.as_bytes())?;
        line.clear();
        relay.stdout.read_line(&mut line)?;
        let t1 = Instant::now();
        if line != command {
            return Err(std::io::Error::other(format!("relay wrote {line:?}")));
        }
        relay.stdin.write_all(b"done\n")?;
        line.clear();
        relay.agent_in.read_line(&mut line)?;
        let t2 = Instant::now();
        if line != "done\n" {
            return Err(std::io::Error::other(format!("agent got {line:?}")));
        }
        down.push((t1 - t0).as_secs_f64() * 1e6);
        up.push((t2 - t1).as_secs_f64() * 1e6);
    }
    Ok((down, up))
}

/// The `percent`-th percentile, nearest rank below.
fn pct(v: &mut [f64], percent: usize) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) * percent / 100]
}

fn main() -> std::io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut n = 300;
    if args.first().map(String::as_str) == Some("-n") && args.len() > 1 {
        n = args[1]
            .parse()
            .map_err(|e| std::io::Error::other(format!("-n {}: {e}", args[1])))?;
        args.drain(..2);
    }
    if args.is_empty() {
        eprintln!("usage: relay_hop [-n N] BINARY...");
        std::process::exit(2);
    }
    let dir = std::env::temp_dir().join(format!("kat-relay-hop-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut results: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); args.len()];
    for round in 0..ROUNDS {
        // Alternate the order: a drift of the machine within a round reaches all alike.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..args.len()).collect()
        } else {
            (0..args.len()).rev().collect()
        };
        for b in order {
            let mut relay = start(&args[b], &dir)?;
            let (down, up) = hops(&mut relay, n, &mut seed)?;
            results[b].0.extend(down);
            results[b].1.extend(up);
            let _ = relay.child.kill();
            let _ = relay.child.wait();
        }
    }
    println!("binary\tcommands\tagent->ExaBGP p50 us\tp99 us\tExaBGP->agent p50 us\tp99 us");
    for (binary, (down, up)) in args.iter().zip(results.iter_mut()) {
        println!(
            "{binary}\t{}\t{:.1}\t{:.1}\t{:.1}\t{:.1}",
            down.len(),
            pct(down, 50),
            pct(down, 99),
            pct(up, 50),
            pct(up, 99)
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
