//! The standalone source: AnycastService, AnycastPool, Namespace and (this) Node documents from
//! YAML files in a directory, reloaded when the directory changes.
//!
//! Without Kubernetes there are no endpoints to count: a service's probes alone decide its state,
//! and `spec.readiness` may be left out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::crd::{AnycastPoolSpec, AnycastServiceSpec};
use crate::engine::world::World;
use crate::plan::{FieldError, InvalidSpec, NodeInfo, ServiceKey, validate_pool, validate_service};

/// A file or document that could not be used. The other documents carry on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct LoadError {
    /// The file (and document number when there are several).
    pub file: String,
    /// What is wrong.
    pub message: String,
}

/// Reads every `*.yaml` / `*.yml` file of `dir` (sorted by name) into a world.
pub fn load(dir: &Path, node_name: &str) -> (World, Vec<LoadError>) {
    let mut errors = Vec::new();
    let mut docs = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            let file = dir.display().to_string();
            return (
                World {
                    node: node(node_name),
                    ..World::default()
                },
                vec![LoadError {
                    file,
                    message: e.to_string(),
                }],
            );
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    for path in files {
        let file = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => match serde_saphyr::from_multiple::<Value>(&text) {
                Ok(values) => {
                    let many = values.len() > 1;
                    for (i, v) in values.into_iter().enumerate() {
                        let name = if many {
                            format!("{file} (document {})", i + 1)
                        } else {
                            file.clone()
                        };
                        docs.push((name, v));
                    }
                }
                Err(e) => errors.push(LoadError {
                    file,
                    message: format!("not valid YAML: {e}"),
                }),
            },
            Err(e) => errors.push(LoadError {
                file,
                message: e.to_string(),
            }),
        }
    }
    let (world, more) = world_from_documents(docs, node_name);
    errors.extend(more);
    (world, errors)
}

fn node(name: &str) -> NodeInfo {
    NodeInfo {
        name: name.to_owned(),
        ..NodeInfo::default()
    }
}

/// Pure: builds the world from parsed documents, each named for error messages.
pub fn world_from_documents(
    docs: Vec<(String, Value)>,
    node_name: &str,
) -> (World, Vec<LoadError>) {
    let mut world = World {
        node: node(node_name),
        ..World::default()
    };
    let mut errors = Vec::new();
    for (file, mut doc) in docs {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let meta = doc.get("metadata").cloned().unwrap_or(Value::Null);
        let name = meta.get("name").and_then(Value::as_str).map(str::to_owned);
        let labels = string_map(meta.get("labels"));
        let err = |message: String| LoadError {
            file: file.clone(),
            message,
        };
        let Some(name) = name else {
            errors.push(err(format!("{kind} without metadata.name")));
            continue;
        };
        match kind.as_str() {
            "AnycastService" => {
                let namespace = meta.get("namespace").and_then(Value::as_str).unwrap_or("default").to_owned();
                let key = ServiceKey::new(namespace, name.as_str());
                default_readiness(&mut doc, &name);
                let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
                let valid = serde_json::from_value::<AnycastServiceSpec>(spec)
                    .map_err(|e| invalid(&file, &e))
                    .and_then(|s| validate_service(&s));
                if let Err(e) = &valid {
                    errors.push(err(format!("AnycastService {key}: {e}")));
                }
                Arc::make_mut(&mut world.services).insert(key, Arc::new(valid));
            }
            "AnycastPool" => {
                let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
                let valid = serde_json::from_value::<AnycastPoolSpec>(spec)
                    .map_err(|e| invalid(&file, &e))
                    .and_then(|s| validate_pool(&s));
                if let Err(e) = &valid {
                    errors.push(err(format!("AnycastPool {name}: {e}")));
                }
                Arc::make_mut(&mut world.pools).insert(name, valid);
            }
            "Namespace" => {
                Arc::make_mut(&mut world.namespaces).insert(name, labels);
            }
            "Node" => {
                world.node = NodeInfo {
                    name,
                    labels,
                    annotations: string_map(meta.get("annotations")),
                    unschedulable: doc.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false),
                    ..NodeInfo::default()
                };
            }
            other => errors.push(err(format!("unsupported kind {other:?} (expected AnycastService, AnycastPool, Namespace or Node)"))),
        }
    }
    (world, errors)
}

/// Standalone services need no readiness source; fill one in so the shared schema holds.
fn default_readiness(doc: &mut Value, name: &str) {
    if let Some(spec) = doc.get_mut("spec").and_then(Value::as_object_mut) {
        spec.entry("readiness")
            .or_insert_with(|| serde_json::json!({ "service": name }));
    }
}

fn invalid(file: &str, e: &serde_json::Error) -> InvalidSpec {
    InvalidSpec(vec![FieldError {
        field: "spec".into(),
        message: format!("{file}: {e}"),
    }])
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Loads `dir`, publishes the world, and reloads whenever the directory changes (a burst of
/// events within 200 ms is one reload). Errors are logged, naming the file and field.
pub async fn run(dir: PathBuf, node_name: String, world_tx: watch::Sender<Option<World>>) {
    let (event_tx, mut event_rx) = mpsc::channel::<()>(1);
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reading the files ourselves produces access events: only changes count.
        if event.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
            let _ = event_tx.try_send(());
        }
    });
    let _watcher = match watcher {
        Ok(mut w) => {
            use notify::Watcher;
            if let Err(e) = w.watch(&dir, notify::RecursiveMode::NonRecursive) {
                tracing::error!(dir = %dir.display(), error = %e, "failed to watch the services directory; changes need a restart");
            }
            Some(w)
        }
        Err(e) => {
            tracing::error!(error = %e, "failed to create a file watcher; changes need a restart");
            None
        }
    };
    loop {
        let (world, errors) = load(&dir, &node_name);
        for e in &errors {
            tracing::error!(file = %e.file, error = %e.message, "invalid input; other services carry on");
        }
        tracing::info!(services = world.services.len(), pools = world.pools.len(), dir = %dir.display(), "loaded");
        world_tx.send_if_modified(|w| {
            let changed = w.as_ref() != Some(&world);
            *w = Some(world);
            changed
        });
        if event_rx.recv().await.is_none() {
            // No watcher: keep the last world (and the agent running) rather than end the source,
            // which the engine would take for a shutdown.
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        while event_rx.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests;
