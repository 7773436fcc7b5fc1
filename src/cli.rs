//! The `kube-anycast` command line: one binary, one subcommand per role.

use std::ffi::OsString;

use clap::{Parser, Subcommand};

/// Kubernetes-native anycast: announce service IPs over BGP (through ExaBGP) only while healthy.
#[derive(Debug, Parser)]
#[command(name = "kube-anycast", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Drop-in for `python -m exabgp healthcheck` (same options; see docs/healthcheck.md).
    #[command(disable_help_flag = true)]
    Healthcheck {
        /// ExaBGP healthcheck options, passed through unchanged.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<OsString>,
    },
}

/// Runs the command line and returns the process exit status.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Healthcheck { args } => crate::healthcheck::main(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn healthcheck_arguments_pass_through() {
        let cli = Cli::try_parse_from([
            "kube-anycast",
            "healthcheck",
            "--help",
            "-s",
            "--ip",
            "192.0.2.1",
        ])
        .unwrap();
        let Command::Healthcheck { args } = cli.command;
        assert_eq!(args, ["--help", "-s", "--ip", "192.0.2.1"]);
    }
}
