//! The `kube-anycast` command line: one binary, one subcommand per role.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::exabgp::relay::{self, RelayConfig};
use crate::telemetry::{self, LogArgs};

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
    /// What ExaBGP runs in its `process` block: bridges ExaBGP's API pipe to the agent.
    ExabgpRelay(RelayArgs),
    /// The node agent: announces AnycastServices through ExaBGP while they are healthy here.
    Agent(crate::agent::AgentArgs),
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

/// Flags of `kube-anycast exabgp-relay`.
#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    /// The agent's unix socket.
    #[arg(
        long,
        env = "KUBE_ANYCAST_SOCKET",
        default_value = "/run/kube-anycast/exabgp.sock"
    )]
    pub socket: PathBuf,
    /// How long the agent may be gone, or connected but silent (hung), before the relay
    /// withdraws its routes (for example 30s; at least 1s). The agent sends a keepalive at a
    /// third of it.
    #[arg(long, env = "KUBE_ANYCAST_LEASE", default_value = "30s", value_parser = parse_lease)]
    pub lease: Duration,
    /// A BGP graceful-restart neighbor and the families it negotiates, `ADDR=FAMILY[,FAMILY]`
    /// (ipv4-unicast, ipv6-unicast), repeated per neighbor. With ExaBGP's `manual-eor`, the
    /// relay sends End-of-RIB once the agent has replayed its routes and on each new session.
    #[arg(long, env = "KUBE_ANYCAST_END_OF_RIB", value_delimiter = ' ', value_parser = parse_end_of_rib)]
    pub end_of_rib: Vec<(
        String,
        std::collections::BTreeSet<crate::exabgp::eor::Family>,
    )>,
    /// Where the relay journals the routes it passed on, so that the relay ExaBGP starts after
    /// this one died still withdraws them once nobody announces them (default: the socket's path
    /// with `.journal` appended).
    #[arg(long, env = "KUBE_ANYCAST_RELAY_JOURNAL")]
    pub journal: Option<PathBuf>,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Parses a flag's duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    // One syntax for flags and CRD fields (Go's, as in Kubernetes): 500ms, 30s, 5m, 1h30m.
    crate::plan::parse_duration(s)
        .ok_or_else(|| format!("invalid duration {s:?}: expected e.g. 500ms, 30s, 5m or 1h30m"))
}

/// The shortest relay lease: the agent's keepalives come at a third of it, and a shorter one
/// would withdraw a live agent's routes whenever its runtime is briefly late.
pub const MIN_LEASE: Duration = Duration::from_secs(1);

/// Parses `--lease`: a duration of at least [`MIN_LEASE`].
pub fn parse_lease(s: &str) -> Result<Duration, String> {
    let lease = parse_duration(s)?;
    if lease < MIN_LEASE {
        return Err(format!(
            "lease {s:?} is too short: at least {MIN_LEASE:?} (the agent sends a keepalive at a third of it)"
        ));
    }
    Ok(lease)
}

fn parse_end_of_rib(
    s: &str,
) -> Result<
    (
        String,
        std::collections::BTreeSet<crate::exabgp::eor::Family>,
    ),
    String,
> {
    crate::exabgp::eor::parse_neighbor(s).map_err(|e| e.to_string())
}

/// Runs the command line and returns the process exit status.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Healthcheck { args } => crate::healthcheck::main(args),
        Command::ExabgpRelay(args) => run_relay(&args),
        Command::Agent(args) => crate::agent::main(&args),
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
            eprintln!("kube-anycast crd: {e}");
            1
        }
    }
}

fn run_relay(args: &RelayArgs) -> u8 {
    if let Err(e) = telemetry::init(&args.log) {
        eprintln!("kube-anycast exabgp-relay: {e}");
        return 64;
    }
    let config = RelayConfig {
        socket: args.socket.clone(),
        lease: args.lease,
        end_of_rib: crate::exabgp::eor::EndOfRib::new(args.end_of_rib.clone()),
        journal: Some(
            args.journal
                .clone()
                .unwrap_or_else(|| crate::exabgp::journal::default_path(&args.socket)),
        ),
    };
    let builder = tokio::runtime::Builder::new_current_thread();
    block_on(builder, async {
        let (from_exabgp, to_exabgp) = crate::exabgp::stdio::exabgp_pipes();
        match relay::run(config, from_exabgp, to_exabgp).await {
            Ok(()) => 0,
            Err(e) => {
                tracing::error!(error = %e, "lost ExaBGP's pipe");
                1
            }
        }
    })
}

/// Runs `main` to its exit status on a runtime from `builder`; 1 when the runtime cannot start.
pub fn block_on(mut builder: tokio::runtime::Builder, main: impl Future<Output = u8>) -> u8 {
    match builder.enable_all().build() {
        Ok(runtime) => runtime.block_on(main),
        Err(e) => {
            tracing::error!(error = %e, "failed to start the runtime");
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
            panic!("not healthcheck")
        };
        assert_eq!(args, ["--help", "-s", "--ip", "192.0.2.1"]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_mins(2)));
        assert!(parse_duration("7").is_err(), "a unit is required");
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn a_lease_under_a_second_is_refused() {
        assert_eq!(parse_lease("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_lease("30s"), Ok(Duration::from_secs(30)));
        for short in ["0s", "999ms"] {
            let err = parse_lease(short).unwrap_err();
            assert!(err.contains("too short"), "{short}: {err}");
        }
        assert!(Cli::try_parse_from(["kube-anycast", "exabgp-relay", "--lease", "0s"]).is_err());
    }
}

#[cfg(test)]
mod chart_tests {
    use super::*;

    /// The chart spells out every agent flag; they must all parse, so that a renamed flag fails
    /// here rather than in a crash-looping DaemonSet.
    #[test]
    fn the_rendered_chart_passes_flags_the_agent_accepts() {
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(include_str!("../deploy/10-kube-anycast.yaml")).unwrap();
        let ds = docs
            .iter()
            .find(|d| d["kind"] == "DaemonSet")
            .expect("a DaemonSet in deploy/");
        let containers = ds["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        let agent = containers
            .iter()
            .find(|c| c["name"] == "agent")
            .expect("the agent container");
        let args: Vec<&str> = agent["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let cli = Cli::try_parse_from(std::iter::once("kube-anycast").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("the chart's agent args {args:?} do not parse: {e}"));
        assert!(matches!(cli.command, Command::Agent(_)));
    }
}
