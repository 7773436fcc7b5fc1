//! The tracing subscriber of the agent and the relay: plain text or JSON on stderr, with an
//! EnvFilter-style level.

use tracing_subscriber::EnvFilter;

/// Log record format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Shared logging flags.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, env = "KUBE_ANYCAST_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter, in `RUST_LOG` syntax (for example `info,kube=warn`).
    #[arg(long, env = "KUBE_ANYCAST_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// A bad `--log-level`.
#[derive(Debug, thiserror::Error)]
#[error("invalid --log-level {0:?}: {1}")]
pub struct LogLevelError(
    pub String,
    #[source] pub tracing_subscriber::filter::ParseError,
);

/// Installs the global subscriber.
pub fn init(args: &LogArgs) -> Result<(), LogLevelError> {
    let filter = EnvFilter::try_new(&args.log_level)
        .map_err(|e| LogLevelError(args.log_level.clone(), e))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: logs collected by ExaBGP or the kubelet stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    Ok(())
}
