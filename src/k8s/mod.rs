//! The Kubernetes source and status writer.
//!
//! ```text
//! AnycastService (all ns) ─┐
//! AnycastPool             ─┤
//! Namespace (labels)      ─┤ watch::Watch ─mpsc<Signal>─▶ source: Index (pure) ─watch<World>─▶ engine
//! own Node (field sel.)   ─┤   (summaries,                  + outage clock (stale)
//! Service | EndpointSlice ─┤    relist buffer)
//! own Pods (field sel.)   ─┘
//!
//! engine ─watch<Plan>─▶ status::Writer (pure diff) ─mpsc<Op>─▶ applier (SSA, delete, Events)
//! ```
//!
//! Local endpoints come from this node's Pods (field selector `spec.nodeName`), matched against
//! `readiness.podSelector` or the selector of the Service named by `readiness.service` (core
//! Services are watched for their selectors). `--endpoints-from endpointslices` watches every
//! EndpointSlice instead (for Services without a selector), at the cost of receiving every
//! endpoint change of the cluster; docs/architecture.md gives the numbers.

pub mod applier;
pub mod events;
pub mod groups;
pub mod index;
pub mod local;
pub mod metrics;
pub mod rbac;
pub mod slim;
pub mod source;
pub mod stale;
pub mod status;
pub mod summary;
pub mod watch;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::sync::{mpsc, watch as tokio_watch};
use tracing::Instrument as _;

use self::index::{EndpointSource, Kind, Update};
use self::source::Source;
use self::stale::StaleAfter;
use self::summary::SERVICE_NAME_LABEL;
use self::watch::{Signal, Watch};
use crate::crd::{AnycastPool, AnycastService};
use crate::engine::world::World;

/// How often the API server's reachability is checked (and how long a check may take).
pub const REACHABILITY_INTERVAL: Duration = Duration::from_secs(5);

/// What the Kubernetes source needs to know.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// This node's name.
    pub node_name: String,
    /// `--api-stale-after`.
    pub stale_after: StaleAfter,
    /// `--endpoints-from`.
    pub endpoints_from: EndpointSource,
    /// Where to count.
    pub metrics: metrics::K8sMetrics,
}

/// Starts the watches and the source task; the world appears on `world_tx` once every watch
/// has listed. Returns at once; the tasks run until `world_tx`'s receivers are gone.
pub fn spawn_source(
    client: &Client,
    config: &SourceConfig,
    world_tx: tokio_watch::Sender<Option<World>>,
) {
    let (signal_tx, signal_rx) = mpsc::channel(1024);
    let (restart_tx, restart_rx) = tokio_watch::channel(0);
    let links = WatchLinks {
        signals: signal_tx.clone(),
        restarts: restart_rx,
    };
    let node = config.node_name.clone();
    let node_selector = format!("metadata.name={node}");
    let pod_selector = format!("spec.nodeName={node}");
    spawn_watch(
        Watch {
            kind: Kind::Service,
            api: Api::<AnycastService>::all(client.clone()),
            config: watcher::Config::default(),
            summarize: Box::new(|s| Box::new(summary::summarize_service(s))),
            wrap: Update::Service,
        },
        &links,
    );
    spawn_watch(
        Watch {
            kind: Kind::Pool,
            api: Api::<AnycastPool>::all(client.clone()),
            config: watcher::Config::default(),
            summarize: Box::new(summary::summarize_pool),
            wrap: Update::Pool,
        },
        &links,
    );
    spawn_watch(
        Watch {
            kind: Kind::Namespace,
            api: Api::<Namespace>::all(client.clone()),
            config: watcher::Config::default(),
            summarize: Box::new(summary::summarize_namespace),
            wrap: Update::Namespace,
        },
        &links,
    );
    spawn_watch(
        Watch {
            kind: Kind::Node,
            api: Api::<Node>::all(client.clone()),
            config: watcher::Config::default().fields(&node_selector),
            summarize: Box::new(summary::summarize_node),
            wrap: Update::Node,
        },
        &links,
    );
    if config.endpoints_from == EndpointSource::EndpointSlices {
        let slice_node = node.clone();
        spawn_watch(
            Watch {
                kind: Kind::Slice,
                api: Api::<EndpointSlice>::all(client.clone()),
                config: watcher::Config::default().labels(SERVICE_NAME_LABEL),
                summarize: Box::new(move |s| summary::summarize_slice(s, &slice_node)),
                wrap: Update::Slice,
            },
            &links,
        );
    } else {
        spawn_watch(
            Watch {
                kind: Kind::Backend,
                api: Api::<slim::SlimService>::all(client.clone()),
                config: watcher::Config::default(),
                summarize: Box::new(|s| summary::summarize_backend(&s.0)),
                wrap: Update::Backend,
            },
            &links,
        );
    }
    let pod_node = node.clone();
    spawn_watch(
        Watch {
            kind: Kind::Pod,
            api: Api::<slim::SlimPod>::all(client.clone()),
            config: watcher::Config::default().fields(&pod_selector),
            summarize: Box::new(move |p| summary::summarize_pod(&p.0, &pod_node)),
            wrap: Update::Pod,
        },
        &links,
    );
    tokio::spawn(
        source::check_reachability(client.clone(), REACHABILITY_INTERVAL, signal_tx)
            .instrument(tracing::info_span!("reachability")),
    );
    let source = Source::new(&node, config.endpoints_from, config.stale_after);
    tokio::spawn(
        source::run(
            source,
            signal_rx,
            world_tx,
            restart_tx,
            config.metrics.clone(),
        )
        .instrument(tracing::info_span!("source")),
    );
}

/// What every watch task is connected to.
struct WatchLinks {
    /// Where its updates and errors go.
    signals: mpsc::Sender<Signal>,
    /// Bumped by the source when the API server is back after an outage.
    restarts: tokio_watch::Receiver<u64>,
}

fn spawn_watch<K, S>(w: Watch<K, S>, links: &WatchLinks)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    S: Send + 'static,
{
    let span = tracing::info_span!("watch", kind = w.kind.as_str());
    let run = w.run(links.signals.clone(), links.restarts.clone());
    tokio::spawn(run.instrument(span));
}
