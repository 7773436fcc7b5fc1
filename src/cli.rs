//! The `kube-anycast` command line: one binary, one subcommand per role.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;

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
    /// Print the CRDs (AnycastService, AnycastPool, AnycastAdvertisement) as YAML.
    Crd {
        /// Write one file per CRD into this directory instead of printing them.
        #[arg(long, env = "KUBE_ANYCAST_CRD_DIR")]
        dir: Option<PathBuf>,
        /// Also write the API reference (Markdown) to this file.
        #[arg(long, env = "KUBE_ANYCAST_CRD_DOCS")]
        docs: Option<PathBuf>,
    },
}

/// Runs the command line and returns the process exit status.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Healthcheck { args } => crate::healthcheck::main(args),
        Command::Crd { dir, docs } => run_crd(dir.as_deref(), docs.as_deref()),
    }
}

/// `kube-anycast crd`: 0 on success, 1 when a file cannot be written.
fn run_crd(dir: Option<&std::path::Path>, docs: Option<&std::path::Path>) -> u8 {
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        match dir {
            Some(dir) => {
                crate::crd::write_dir(dir)?;
            }
            None => std::io::stdout().write_all(crate::crd::render_stream()?.as_bytes())?,
        }
        if let Some(path) = docs {
            let text = crate::crd::render_markdown(&crate::crd::definitions());
            std::fs::write(path, text).map_err(|source| crate::crd::CrdError::Write {
                path: path.to_owned(),
                source,
            })?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => 0,
        Err(e) => {
            // A one-shot command with no log subscriber: the error goes straight to stderr.
            let _ = writeln!(std::io::stderr(), "kube-anycast crd: {e}");
            1
        }
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
        let Command::Healthcheck { args } = cli.command else {
            panic!("not healthcheck");
        };
        assert_eq!(args, ["--help", "-s", "--ip", "192.0.2.1"]);
    }
}
