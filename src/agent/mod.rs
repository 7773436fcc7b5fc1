//! `kube-anycast agent`: wires a source of AnycastServices (a directory of YAML files, or
//! Kubernetes), the engine, the ExaBGP driver behind its relay socket, the loopback VIPs and the
//! admin endpoint.

pub mod files;

use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::Instrument as _;

use crate::cli::parse_duration;
use crate::engine::metrics::AgentMetrics;
use crate::engine::world::World;
use crate::engine::{Engine, EngineConfig};
use crate::exabgp::driver::{Applied, DriverConfig};
use crate::exabgp::server;
use crate::k8s::index::EndpointSource;
use crate::k8s::metrics::K8sMetrics;
use crate::k8s::stale::StaleAfter;
use crate::k8s::{self, SourceConfig, applier};
use crate::netlink::Addresses;
use crate::netlink::vips::{VipMode, Vips};
use crate::plan::Plan;
use crate::telemetry::{self, LogArgs};

/// Flags of `kube-anycast agent`.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// This node's name (from the downward API in a DaemonSet). Required with Kubernetes;
    /// `localhost` by default with `--services-dir`.
    #[arg(long, env = "NODE_NAME")]
    pub node_name: Option<String>,
    /// Run without Kubernetes: read AnycastService, AnycastPool, Namespace and Node YAML from
    /// this directory, and reload when it changes. Without it the agent watches Kubernetes
    /// (in-cluster config, or KUBECONFIG).
    #[arg(long, env = "KUBE_ANYCAST_SERVICES_DIR")]
    pub services_dir: Option<PathBuf>,
    /// After the API server has been unreachable this long, withdraw the services that only
    /// Kubernetes readiness backs (probes keep running): a duration such as `10m`, or `never`.
    #[arg(long, env = "KUBE_ANYCAST_API_STALE_AFTER", default_value = "10m")]
    pub api_stale_after: StaleAfter,
    /// Where `readiness.service` counts local endpoints: `pods` (this node's Pods matched
    /// against the Service's selector; scales with the node) or `endpointslices` (every
    /// EndpointSlice; needed for Services without a selector).
    #[arg(long, env = "KUBE_ANYCAST_ENDPOINTS_FROM", value_enum, default_value_t = EndpointSource::Pods)]
    pub endpoints_from: EndpointSource,
    /// The unix socket the relay (`kube-anycast exabgp-relay`, run by ExaBGP) connects to.
    #[arg(
        long,
        env = "KUBE_ANYCAST_SOCKET",
        default_value = "/run/kube-anycast/exabgp.sock"
    )]
    pub socket: PathBuf,
    /// Serve /metrics, /healthz and /readyz here.
    #[arg(
        long,
        env = "KUBE_ANYCAST_METRICS_LISTEN",
        default_value = "127.0.0.1:9180"
    )]
    pub metrics_listen: SocketAddr,
    /// Put announced service IPs on this interface (`none`: leave addresses alone).
    #[arg(long, env = "KUBE_ANYCAST_VIP_INTERFACE", default_value = "lo")]
    pub vip_interface: String,
    /// How the service IPs go on that interface: `address` (`ip addr`), or `local-route` (a
    /// route in the kernel's `local` table: linear time for thousands of service IPs, where
    /// IPv4 addresses cost time quadratic in their number; see docs/operations.md).
    #[arg(long, env = "KUBE_ANYCAST_VIP_MODE", value_enum, default_value_t = VipMode::Address)]
    pub vip_mode: VipMode,
    /// The longest drain at shutdown (GRACEFUL_SHUTDOWN per pool policy), then withdraw.
    #[arg(long, env = "KUBE_ANYCAST_DRAIN_DELAY", default_value = "30s", value_parser = parse_duration)]
    pub drain_delay: Duration,
    /// The next hop of IPv6 routes whose service says `nextHop: self` (the default), e.g. this
    /// node's IPv6 address. Needed when IPv6 routes go over an IPv4 BGP session: ExaBGP refuses
    /// `next-hop self` for them there. Unset: `self`, which needs an IPv6 session.
    #[arg(long, env = "KUBE_ANYCAST_IPV6_NEXT_HOP")]
    pub ipv6_next_hop: Option<Ipv6Addr>,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Runs the agent; returns the exit status (64 for bad configuration).
pub fn main(args: &AgentArgs) -> u8 {
    if let Err(e) = telemetry::init(&args.log) {
        eprintln!("kube-anycast agent: {e}");
        return 64;
    }
    let source = match (&args.services_dir, &args.node_name) {
        (Some(dir), node) => SourceKind::Files {
            dir: dir.clone(),
            node: node.clone().unwrap_or_else(|| "localhost".to_owned()),
        },
        (None, Some(node)) if !node.is_empty() => SourceKind::Kubernetes { node: node.clone() },
        (None, _) => {
            tracing::error!(
                "--node-name (NODE_NAME) is required with Kubernetes (without --services-dir)"
            );
            return 64;
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2);
    crate::cli::block_on(builder, run(args.clone(), source))
}

/// Where the world comes from.
enum SourceKind {
    Files { dir: PathBuf, node: String },
    Kubernetes { node: String },
}

async fn run(args: AgentArgs, source: SourceKind) -> u8 {
    let listener = match server::listen(&args.socket) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for the relay");
            return 64;
        }
    };
    let vips = if args.vip_interface == "none" {
        None
    } else {
        match Addresses::connect() {
            Ok(a) => Some(Vips::new(a, args.vip_interface.clone()).with_mode(args.vip_mode)),
            Err(e) => {
                tracing::error!(error = %e, "cannot manage loopback VIPs");
                return 64;
            }
        }
    };
    let (world_tx, world_rx) = watch::channel(None);
    let (desired_tx, desired_rx) = watch::channel(None);
    let (applied_tx, applied_rx) = watch::channel(Applied::default());
    let (plan_tx, plan_rx) = watch::channel(Arc::new(Plan::default()));
    let ready = Arc::new(AtomicBool::new(false));
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = AgentMetrics::register(&mut registry);
    let k8s_metrics = matches!(source, SourceKind::Kubernetes { .. })
        .then(|| K8sMetrics::register(&mut registry))
        .unwrap_or_default();
    let admin = crate::admin::AdminState {
        registry: Arc::new(registry),
        ready: ready.clone(),
    };
    if let Err(e) = crate::admin::serve(args.metrics_listen, admin).await {
        tracing::error!(error = %e, "cannot serve the admin endpoint");
        return 64;
    }
    tokio::spawn(server::serve(
        listener,
        desired_rx,
        applied_tx,
        DriverConfig::default(),
    ));
    match source {
        SourceKind::Files { dir, node } => {
            tokio::spawn(files::run(dir, node, world_tx));
        }
        SourceKind::Kubernetes { node } => {
            let client = match kube::Client::try_default().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "failed to configure the Kubernetes client (in-cluster or KUBECONFIG)");
                    return 64;
                }
            };
            let config = SourceConfig {
                node_name: node,
                stale_after: args.api_stale_after,
                endpoints_from: args.endpoints_from,
                metrics: k8s_metrics,
            };
            start_kubernetes(
                &client,
                &config,
                world_tx,
                plan_rx.clone(),
                world_rx.clone(),
            );
        }
    }
    tokio::spawn(crate::engine::metrics::run(
        metrics,
        plan_rx.clone(),
        applied_rx.clone(),
    ));
    tokio::spawn(track_readiness(plan_rx, applied_rx.clone(), ready));
    let engine = Engine {
        world_rx,
        desired_tx,
        applied_rx,
        vips,
        plan_tx,
        config: EngineConfig {
            drain_limit: args.drain_delay,
            withdraw_timeout: Duration::from_secs(10),
            ipv6_next_hop: args.ipv6_next_hop,
        },
    };
    engine.run(shutdown_signal()).await;
    let _ = std::fs::remove_file(&args.socket);
    tracing::info!("stopped");
    0
}

/// Starts the Kubernetes source and the status writer and applier.
fn start_kubernetes(
    client: &kube::Client,
    config: &SourceConfig,
    world_tx: watch::Sender<Option<World>>,
    plan_rx: watch::Receiver<Arc<Plan>>,
    world_rx: watch::Receiver<Option<World>>,
) {
    let node = &config.node_name;
    k8s::spawn_source(client, config, world_tx);
    // Bounded: a stalled API server slows the writer, which then skips to the latest plan.
    let (op_tx, op_rx) = mpsc::channel(256);
    tokio::spawn(
        applier::run_status(client.clone(), node.to_owned(), plan_rx, world_rx, op_tx)
            .instrument(tracing::info_span!("status")),
    );
    tokio::spawn(
        applier::run_applier(
            client.clone(),
            node.to_owned(),
            op_rx,
            config.metrics.clone(),
        )
        .instrument(tracing::info_span!("applier")),
    );
}

/// Ready once a plan exists and ExaBGP acknowledged one (a relay is connected).
async fn track_readiness(
    mut plan_rx: watch::Receiver<Arc<Plan>>,
    mut applied_rx: watch::Receiver<Applied>,
    ready: Arc<AtomicBool>,
) {
    loop {
        let is_ready = !plan_rx.borrow().reports.is_empty() || applied_rx.borrow().generation > 0;
        let applied = applied_rx.borrow().connected && applied_rx.borrow().generation > 0;
        ready.store(is_ready && applied, Ordering::Relaxed);
        tokio::select! {
            r = plan_rx.changed() => if r.is_err() { return },
            r = applied_rx.changed() => if r.is_err() { return },
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            tracing::error!("failed to install the signal handlers; stopping");
        }
    }
}
