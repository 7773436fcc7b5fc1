//! A drop-in for ExaBGP 5.0.15's `healthcheck`: the same options, configuration file, API output
//! and exit statuses, on top of the pure [`crate::health`] machine and [`crate::exabgp`] encoder.

pub mod addresses;
pub mod announce;
pub mod api;
pub mod args;
pub mod check;
pub mod config_file;
pub mod log;
pub mod metrics;
pub mod options;
pub mod run;
pub mod values;

use std::ffi::OsString;

/// Runs `kube-anycast healthcheck ARGS` and returns its exit status (ExaBGP's: 0, 1 or 2).
pub fn main(argv: Vec<OsString>) -> u8 {
    let opts = match args::parse(argv) {
        Ok(o) => o,
        Err(e) if e.is_help() => {
            print!("{}", e.message);
            return 0;
        }
        Err(e) => {
            eprintln!("{}", e.message);
            return e.code;
        }
    };
    let logger = match log::Logger::new(&opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ERROR[healthcheck] {e}");
            return 1;
        }
    };
    // One thread is plenty for one check loop and keeps the footprint small.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            logger.error(format!("failed to start the runtime: {e}"));
            return 1;
        }
    };
    runtime.block_on(run::run(opts, logger))
}
