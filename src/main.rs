//! The `kube-anycast` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = kube_anycast::cli::Cli::parse();
    ExitCode::from(kube_anycast::cli::run(cli))
}
