//! The options of ExaBGP 5.0.15's healthcheck, with the same names, short forms, defaults, types
//! and mutually exclusive group, plus kube-anycast's additions (marked below).

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{ArgAction, ArgGroup, Parser, ValueEnum};
use ipnet::IpNet;

use super::values::{
    Neighbor, parse_address, parse_float, parse_int, parse_neighbor, parse_network,
};
use crate::exabgp::attrs::{AsPath, Community, ExtendedCommunity, LargeCommunity, List};

/// Log record format (a kube-anycast addition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// `LEVEL[healthcheck] message`, as ExaBGP writes it.
    #[default]
    Text,
    /// One JSON object per record.
    Json,
}

/// Healthcheck to announce a service IP to ExaBGP while a check passes.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kube-anycast healthcheck",
    infer_long_args = true,
    args_override_self = true,
    disable_version_flag = true,
    group(ArgGroup::new("logging").args(["silent", "syslog_facility", "no_syslog"]).multiple(false)),
    group(ArgGroup::new("native").args(["command", "http", "tcp"]).multiple(false)),
)]
#[allow(clippy::struct_excessive_bools, reason = "one field per ExaBGP flag")]
pub struct Options {
    /// Do not log to the console (stderr).
    #[arg(short = 's', long)]
    pub silent: bool,
    /// Syslog facility (short form -sF) [default: daemon].
    #[arg(long, num_args = 0..=1, default_missing_value = "daemon", value_name = "FACILITY")]
    pub syslog_facility: Option<String>,
    /// Do not log to syslog.
    #[arg(long)]
    pub no_syslog: bool,
    /// Log debug messages (and turn syslog off).
    #[arg(short = 'd', long)]
    pub debug: bool,
    /// Do not read an acknowledgement from ExaBGP after each command.
    #[arg(short = 'a', long)]
    pub no_ack: bool,
    /// Accepted for compatibility; addresses are managed through netlink, never by running `ip`.
    #[arg(long)]
    pub sudo: bool,
    /// Name of the service (used in the syslog tag).
    #[arg(short = 'n', long)]
    pub name: Option<String>,
    /// Configuration file: one `option = value` or `flag` per line.
    #[arg(short = 'F', long)]
    pub config: Option<PathBuf>,
    /// Write the process ID to this file.
    #[arg(short = 'p', long)]
    pub pid: Option<PathBuf>,
    /// Drop privileges to this user after address setup.
    #[arg(long)]
    pub user: Option<String>,
    /// Drop privileges to this group after address setup.
    #[arg(long)]
    pub group: Option<String>,

    /// Seconds between checks in a stable state; 0 stops after the first announcement.
    #[arg(short = 'i', long, default_value = "5", value_parser = parse_float, allow_negative_numbers = true)]
    pub interval: f64,
    /// Seconds between checks while rising or falling.
    #[arg(short = 'f', long, default_value = "1", value_parser = parse_float, allow_negative_numbers = true)]
    pub fast_interval: f64,
    /// Check timeout in whole seconds; 0 or less means none.
    #[arg(short = 't', long, default_value = "5", value_parser = parse_int, allow_negative_numbers = true)]
    pub timeout: i64,
    /// Consecutive passes needed to go UP.
    #[arg(long, default_value = "3", value_parser = parse_int, allow_negative_numbers = true)]
    pub rise: i64,
    /// Consecutive failures needed to go DOWN.
    #[arg(long, default_value = "3", value_parser = parse_int, allow_negative_numbers = true)]
    pub fall: i64,
    /// While this path exists, the service is DISABLED.
    #[arg(long)]
    pub disable: Option<PathBuf>,
    /// Shell command to run as the check (exit status 0 means healthy).
    #[arg(short = 'c', long = "command", visible_alias = "cmd")]
    pub command: Option<String>,
    /// kube-anycast: a native HTTP(S) check of this URL instead of a command.
    #[arg(long, value_name = "URL")]
    pub http: Option<String>,
    /// kube-anycast: status codes that count as success for --http, as `LOW-HIGH` or `CODE`.
    #[arg(long, default_value = "200-399", value_name = "RANGE")]
    pub http_status: String,
    /// kube-anycast: a native TCP connect check of HOST:PORT instead of a command.
    #[arg(long, value_name = "HOST:PORT")]
    pub tcp: Option<String>,

    /// Next hop to announce [default: self].
    #[arg(short = 'N', long, value_parser = parse_address)]
    pub next_hop: Option<IpAddr>,
    /// Service IP or network to announce (repeatable); default: discovered on `lo`.
    #[arg(long, action = ArgAction::Append, value_parser = parse_network)]
    pub ip: Vec<IpNet>,
    /// Bind an --ip to an interface, as IP%IFNAME (repeatable).
    #[arg(long, action = ArgAction::Append)]
    pub ip_ifname: Vec<String>,
    /// `LOCAL_PREF` to announce (written only when >= 0).
    #[arg(long, default_value = "-1", value_parser = parse_int, allow_negative_numbers = true)]
    pub local_preference: i64,
    /// Announce each address of each --ip network as a host route.
    #[arg(long)]
    pub deaggregate_networks: bool,
    /// Do not add the service IPs at start nor remove them at exit.
    #[arg(long)]
    pub no_ip_setup: bool,
    /// Add the IPs on UP and remove them on DOWN and DISABLED.
    #[arg(long)]
    pub dynamic_ip_setup: bool,
    /// Label of the addresses to select and create.
    #[arg(long)]
    pub label: Option<String>,
    /// Match --label exactly instead of by prefix.
    #[arg(long)]
    pub label_exact_match: bool,
    /// Rotate the IP list left by this many places.
    #[arg(long, default_value = "0", value_parser = parse_int, allow_negative_numbers = true)]
    pub start_ip: i64,
    /// MED of the first IP when UP.
    #[arg(long, default_value = "100", value_parser = parse_int, allow_negative_numbers = true)]
    pub up_metric: i64,
    /// MED of the first IP when DOWN.
    #[arg(long, default_value = "1000", value_parser = parse_int, allow_negative_numbers = true)]
    pub down_metric: i64,
    /// MED of the first IP when DISABLED.
    #[arg(long, default_value = "500", value_parser = parse_int, allow_negative_numbers = true)]
    pub disabled_metric: i64,
    /// Added to the MED for each following IP.
    #[arg(long, default_value = "1", value_parser = parse_int, allow_negative_numbers = true)]
    pub increase: i64,
    /// Communities to announce.
    #[arg(long)]
    pub community: Option<List<Community>>,
    /// Extended communities to announce.
    #[arg(long)]
    pub extended_community: Option<List<ExtendedCommunity>>,
    /// Large communities to announce.
    #[arg(long)]
    pub large_community: Option<List<LargeCommunity>>,
    /// Communities to announce instead of --community when DOWN or DISABLED.
    #[arg(long)]
    pub disabled_community: Option<List<Community>>,
    /// AS path to announce.
    #[arg(long)]
    pub as_path: Option<AsPath>,
    /// AS path when UP (an empty value suppresses --as-path).
    #[arg(long)]
    pub up_as_path: Option<AsPath>,
    /// AS path when DOWN (an empty value suppresses --as-path).
    #[arg(long)]
    pub down_as_path: Option<AsPath>,
    /// AS path when DISABLED (an empty value suppresses --as-path).
    #[arg(long)]
    pub disabled_as_path: Option<AsPath>,
    /// Withdraw instead of announcing when DOWN or DISABLED.
    #[arg(long)]
    pub withdraw_on_down: bool,
    /// ADD-PATH path identifier (written when non-zero).
    #[arg(long, value_parser = parse_int, allow_negative_numbers = true)]
    pub path_id: Option<i64>,
    /// Neighbor to announce to, or `*` (repeatable).
    #[arg(long, action = ArgAction::Append, value_parser = parse_neighbor)]
    pub neighbor: Vec<Neighbor>,
    /// Write routes only when the state changes.
    #[arg(long)]
    pub debounce: bool,

    /// Run on every state change, with STATE in the environment (repeatable).
    #[arg(long, action = ArgAction::Append)]
    pub execute: Vec<String>,
    /// Run when the state changes to UP (repeatable).
    #[arg(long, action = ArgAction::Append)]
    pub up_execute: Vec<String>,
    /// Run when the state changes to DOWN (repeatable).
    #[arg(long, action = ArgAction::Append)]
    pub down_execute: Vec<String>,
    /// Run when the state changes to DISABLED (repeatable).
    #[arg(long, action = ArgAction::Append)]
    pub disabled_execute: Vec<String>,

    /// kube-anycast: log record format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// kube-anycast: serve Prometheus metrics on this address (for example 127.0.0.1:9180).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
}

/// Rewrites ExaBGP's two-letter short option `-sF` into its long form (clap has one-letter
/// short options only).
pub fn normalize_argv(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| match a.to_str() {
            Some("-sF") => OsString::from("--syslog-facility"),
            Some(s) if s.starts_with("-sF=") => {
                OsString::from(format!("--syslog-facility={}", &s[4..]))
            }
            _ => a,
        })
        .collect()
}
