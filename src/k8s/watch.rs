//! The generic loop that turns one kube-rs watcher into index updates. It holds no state but
//! the relist buffer: objects of a relist are summarized as they arrive and handed over as one
//! [`Change::Reset`] at `InitDone`, so a relist cut short by an error replaces nothing.

use std::fmt::Debug;

use futures::StreamExt;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};

use super::index::{Change, Kind, Update};

/// What a watch tells the source task.
#[expect(
    clippy::large_enum_variant,
    reason = "each signal is moved once through a channel; boxing would allocate per event"
)]
#[derive(Debug)]
pub enum Signal {
    /// An update for the index.
    Update(Update),
    /// The watch failed; it restarts with backoff and the index keeps its state.
    WatchError(Kind),
    /// The API server answered a reachability check.
    Reachable,
    /// A reachability check started at this time got no answer in time.
    Unreachable(tokio::time::Instant),
}

/// How one kind is watched: its summary and how to wrap a change of it.
pub struct Watch<K, S> {
    /// Which kind.
    pub kind: Kind,
    /// The API (all namespaces or cluster-scoped).
    pub api: Api<K>,
    /// Label and field selectors.
    pub config: watcher::Config,
    /// Object to summary (pure).
    pub summarize: Box<dyn Fn(&K) -> S + Send>,
    /// Summary change to index update.
    pub wrap: fn(Change<S>) -> Update,
}

impl<K, S> Watch<K, S>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    S: Send,
{
    /// Runs until the source task is gone. Errors restart the watch with kube-rs's default
    /// exponential backoff (800 ms up to 30 s, with jitter); none is fatal. When `restarts`
    /// changes (the API server is back after an outage) the watch starts again with a full list:
    /// a request made while the server was going down or coming up may hang silently (seen
    /// with etcd and kube-apiserver killed together), and nothing else would end it for minutes.
    pub async fn run(self, signal_tx: mpsc::Sender<Signal>, mut restarts: watch::Receiver<u64>) {
        let start = || {
            watcher(self.api.clone(), self.config.clone())
                .default_backoff()
                .boxed()
        };
        let mut stream = start();
        let mut relist: Vec<S> = Vec::new();
        loop {
            let event = tokio::select! {
                event = stream.next() => match event {
                    Some(event) => event,
                    None => return,
                },
                changed = restarts.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    tracing::info!(kind = self.kind.as_str(), "the API server is back after an outage: listing again");
                    stream = start();
                    relist.clear();
                    continue;
                }
            };
            let signal = match event {
                Ok(watcher::Event::Init) => {
                    relist.clear();
                    continue;
                }
                Ok(watcher::Event::InitApply(obj)) => {
                    relist.push((self.summarize)(&obj));
                    continue;
                }
                Ok(watcher::Event::InitDone) => {
                    let all = std::mem::take(&mut relist);
                    tracing::debug!(kind = self.kind.as_str(), objects = all.len(), "listed");
                    Signal::Update((self.wrap)(Change::Reset(all)))
                }
                Ok(watcher::Event::Apply(obj)) => {
                    tracing::trace!(kind = self.kind.as_str(), "watch event");
                    Signal::Update((self.wrap)(Change::Apply((self.summarize)(&obj))))
                }
                Ok(watcher::Event::Delete(obj)) => {
                    Signal::Update((self.wrap)(Change::Delete((self.summarize)(&obj))))
                }
                Err(e) => {
                    tracing::warn!(kind = self.kind.as_str(), error = %e, "watch failed; keeping the last state and retrying with backoff");
                    Signal::WatchError(self.kind)
                }
            };
            if signal_tx.send(signal).await.is_err() {
                return;
            }
        }
    }
}
