//! The status shell: the task that turns plans into [`Op`]s (through the pure [`Writer`]) and
//! the one task that applies them. Each node writes only its own AnycastAdvertisements, with
//! server-side apply under its own field manager, so no two agents contend for one object.
//!
//! An apply or delete that fails stays pending for its object and is retried with backoff; a
//! newer op for the same object replaces it, so only the latest state is ever written. Events
//! are best effort: one attempt, then a log line.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource as _};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::events::{Notice, Severity};
use super::metrics::{K8sMetrics, OpLabel};
use super::status::{Advertisement, Op, Writer};
use crate::crd::advertisement::{NODE_LABEL, SERVICE_LABEL};
use crate::crd::{AnycastAdvertisement, AnycastService};
use crate::engine::world::World;
use crate::plan::Plan;

/// How long one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Retry delays for a failed apply or delete.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// A failed status write, naming the object.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Server-side apply failed.
    #[error("failed to apply AnycastAdvertisement {namespace}/{name}")]
    Apply {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Delete failed.
    #[error("failed to delete AnycastAdvertisement {namespace}/{name}")]
    Delete {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The call took longer than allowed.
    #[error("timed out writing AnycastAdvertisement {namespace}/{name}")]
    Timeout {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
}

/// The field manager of `node`'s agent.
pub fn field_manager(node: &str) -> String {
    let mut m = format!("kube-anycast/{node}");
    m.truncate(128);
    m
}

/// A label value: at most 63 characters, starting and ending alphanumeric.
pub fn label_value(s: &str) -> String {
    let cut: String = s.chars().take(63).collect();
    cut.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// Lists this node's advertisements (retrying until the API server answers), then writes the
/// status of every new plan until the engine stops.
pub async fn run_status(
    client: Client,
    node: String,
    mut plan_rx: watch::Receiver<Arc<Plan>>,
    world_rx: watch::Receiver<Option<World>>,
    op_tx: mpsc::Sender<Op>,
) {
    let api = Api::<AnycastAdvertisement>::all(client);
    let params = ListParams::default().labels(&format!("{NODE_LABEL}={}", label_value(&node)));
    let mut delay = RETRY_MIN;
    let existing = loop {
        match api.list(&params).await {
            Ok(list) => break list.items,
            Err(e) => {
                tracing::warn!(error = %e, "failed to list this node's AnycastAdvertisements; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_MAX);
            }
        }
    };
    let mut writer = Writer::new(&node, existing);
    while plan_rx.changed().await.is_ok() {
        let plan = plan_rx.borrow_and_update().clone();
        let Some(world) = world_rx.borrow().clone() else {
            continue;
        };
        let ops = writer.update(&plan, &world, Timestamp::now());
        tracing::trace!(ops = ops.len(), "status ops");
        for op in ops {
            if op_tx.send(op).await.is_err() {
                return;
            }
        }
    }
}

/// Applies ops until the writer is gone and nothing is pending.
pub async fn run_applier(
    client: Client,
    node: String,
    mut op_rx: mpsc::Receiver<Op>,
    metrics: K8sMetrics,
) {
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "kube-anycast".into(),
            instance: Some(node.clone()),
        },
    );
    let manager = field_manager(&node);
    // Per object: the latest op, the next retry delay and when it is due.
    let mut pending: BTreeMap<(String, String), (Op, Duration, Instant)> = BTreeMap::new();
    loop {
        let retry_at = pending.values().map(|(_, _, due)| *due).min();
        tokio::select! {
            op = op_rx.recv() => match op {
                Some(op) => queue(&recorder, &metrics, &mut pending, op).await,
                None if pending.is_empty() => return,
                None => tokio::time::sleep(RETRY_MIN).await,
            },
            () = crate::timer::sleep_until(retry_at) => {}
        }
        // Take every op already queued before writing, so a burst collapses per object.
        while let Ok(op) = op_rx.try_recv() {
            queue(&recorder, &metrics, &mut pending, op).await;
        }
        let now = Instant::now();
        let due: Vec<_> = pending
            .iter()
            .filter(|(_, (_, _, at))| *at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let Some((op, delay, _)) = pending.remove(&key) else {
                continue;
            };
            let result = write(&client, &manager, &node, &op).await;
            let label = if matches!(op, Op::Delete { .. }) {
                OpLabel::delete
            } else {
                OpLabel::apply
            };
            metrics.count_write(label, result.is_ok());
            if let Err(e) = result {
                tracing::warn!(error = %e, source = %error_source(&e), retry_in = ?delay, "status write failed; retrying");
                let next = (delay * 2).min(RETRY_MAX);
                pending.insert(key, (op, next, Instant::now() + delay));
            }
        }
    }
}

/// Events go out at once; applies and deletes replace what is pending for their object.
async fn queue(
    recorder: &Recorder,
    metrics: &K8sMetrics,
    pending: &mut BTreeMap<(String, String), (Op, Duration, Instant)>,
    op: Op,
) {
    if let Op::Notify(n) = &op {
        metrics.count_write(OpLabel::event, notify(recorder, n).await);
    } else if let Some(obj) = op.object() {
        pending.insert(obj, (op, RETRY_MIN, Instant::now()));
    }
}

fn error_source(e: &StatusError) -> String {
    std::error::Error::source(e)
        .map(ToString::to_string)
        .unwrap_or_default()
}

async fn write(client: &Client, manager: &str, node: &str, op: &Op) -> Result<(), StatusError> {
    let (namespace, name) = op.object().unwrap_or_default();
    let api = Api::<AnycastAdvertisement>::namespaced(client.clone(), &namespace);
    let call = async {
        match op {
            Op::Apply(a) => {
                let params = PatchParams::apply(manager).force();
                api.patch(&a.name, &params, &Patch::Apply(&advertisement(a, node)))
                    .await
                    .map(drop)
                    .map_err(|source| StatusError::Apply {
                        namespace: namespace.clone(),
                        name: name.clone(),
                        source,
                    })
            }
            Op::Delete { .. } => match api.delete(&name, &DeleteParams::background()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(source) => Err(StatusError::Delete {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    source,
                }),
            },
            Op::Notify(_) => Ok(()),
        }
    };
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(StatusError::Timeout {
                namespace: namespace.clone(),
                name: name.clone(),
            })
        })
}

/// The object to apply: labels for service and node, owned by the AnycastService.
pub fn advertisement(a: &Advertisement, node: &str) -> AnycastAdvertisement {
    let mut obj = AnycastAdvertisement::new(&a.name, a.spec.clone());
    obj.metadata.namespace = Some(a.service.namespace.to_string());
    obj.metadata.labels = Some(
        [
            (SERVICE_LABEL.to_owned(), label_value(&a.service.name)),
            (NODE_LABEL.to_owned(), label_value(node)),
        ]
        .into(),
    );
    obj.metadata.owner_references = Some(vec![OwnerReference {
        api_version: AnycastService::api_version(&()).into_owned(),
        kind: AnycastService::kind(&()).into_owned(),
        name: a.service.name.to_string(),
        uid: a.owner_uid.clone(),
        controller: Some(true),
        block_owner_deletion: None,
    }]);
    obj
}

/// Publishes one Event; true when the API server took it.
async fn notify(recorder: &Recorder, n: &Notice) -> bool {
    let reference = ObjectReference {
        api_version: Some(AnycastService::api_version(&()).into_owned()),
        kind: Some(AnycastService::kind(&()).into_owned()),
        name: Some(n.service.name.to_string()),
        namespace: Some(n.service.namespace.to_string()),
        uid: Some(n.uid.clone()),
        ..ObjectReference::default()
    };
    let event = Event {
        type_: match n.severity {
            Severity::Normal => EventType::Normal,
            Severity::Warning => EventType::Warning,
        },
        reason: n.reason.to_owned(),
        note: Some(n.note.chars().take(1000).collect()),
        action: "Advertise".into(),
        secondary: None,
    };
    match tokio::time::timeout(CALL_TIMEOUT, recorder.publish(&event, &reference)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(service = %n.service, reason = n.reason, error = %e, "failed to publish an Event");
            false
        }
        Err(_) => {
            tracing::warn!(service = %n.service, reason = n.reason, "timed out publishing an Event");
            false
        }
    }
}
