//! Which services a pod, slice or core Service event may change, kept current as services and
//! core Services change, so that an event finds them without a pass over its namespace.

use std::collections::BTreeMap;

use super::{EndpointSource, NsName};
use crate::k8s::groups::{By, add_to, remove_from, take_from};
use crate::plan::{ReadinessSource, ServiceKey};

/// Core Services' selectors by (namespace, name); `None`: no selector.
pub type Backends = BTreeMap<NsName, Option<BTreeMap<String, String>>>;

/// The selector of the core Service `namespace/name`; `None` when it is not there or has no
/// selector: then it selects no pod.
pub fn selector_of<'a>(
    backends: &'a Backends,
    namespace: &str,
    name: &str,
) -> Option<&'a BTreeMap<String, String>> {
    let backend = backends.get(&(namespace.to_owned(), name.to_owned()))?;
    backend.as_ref()
}

/// How a service's candidate pods are found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Anchor {
    /// A label pair its selector requires: a pod without it never matches.
    Pair(String, String),
    /// Its selector requires no pair: any pod of the namespace may match.
    Any,
    /// No pod counts (readiness from slices, or a core Service without a selector).
    NoPod,
}

/// What a service is registered under, to undo it.
#[derive(Debug, Clone)]
struct Registration {
    backend: Option<String>,
    anchor: Anchor,
}

/// The reverse of each service's readiness source.
#[derive(Debug, Clone, Default)]
pub struct Dependents {
    /// namespace -> core Service name -> services whose readiness names it.
    by_backend: By<By<Vec<ServiceKey>>>,
    /// namespace -> label key -> label value -> services anchored on that pair.
    by_pair: By<By<By<Vec<ServiceKey>>>>,
    /// namespace -> services whose selector requires no pair.
    any: By<Vec<ServiceKey>>,
    registered: BTreeMap<ServiceKey, Registration>,
}

impl Dependents {
    /// Registers a valid service's readiness (replacing what it had), or forgets the service
    /// with `None` (deleted or invalid).
    pub fn set(
        &mut self,
        key: &ServiceKey,
        readiness: Option<&ReadinessSource>,
        backends: &Backends,
        source: EndpointSource,
    ) {
        // After this, `key` is in no group: it is added below once.
        self.remove(key);
        let Some(readiness) = readiness else { return };
        let ns = &*key.namespace;
        let (backend, anchor) = match readiness {
            ReadinessSource::Service(name) => {
                let anchor = match selector_of(backends, ns, name) {
                    Some(selector) if source == EndpointSource::Pods => anchor_of(selector),
                    _ => Anchor::NoPod,
                };
                (Some(name.clone()), anchor)
            }
            ReadinessSource::Pods(selector) => {
                let none = BTreeMap::new();
                (
                    None,
                    anchor_of(selector.match_labels.as_ref().unwrap_or(&none)),
                )
            }
        };
        if let Some(name) = &backend {
            let by_name = self.by_backend.entry(ns.to_owned()).or_default();
            add_to(by_name.entry(name.clone()).or_default(), key.clone());
        }
        match &anchor {
            Anchor::Pair(k, v) => {
                let by_key = self.by_pair.entry(ns.to_owned()).or_default();
                let by_value = by_key.entry(k.clone()).or_default();
                add_to(by_value.entry(v.clone()).or_default(), key.clone());
            }
            Anchor::Any => {
                add_to(self.any.entry(ns.to_owned()).or_default(), key.clone());
            }
            Anchor::NoPod => {}
        }
        self.registered
            .insert(key.clone(), Registration { backend, anchor });
    }

    /// Forgets a service.
    pub fn remove(&mut self, key: &ServiceKey) {
        let Some(old) = self.registered.remove(key) else {
            return;
        };
        let ns = &*key.namespace;
        let remove_key = |keys: &mut Vec<ServiceKey>| take_from(keys, key);
        if let Some(name) = &old.backend {
            remove_from(&mut self.by_backend, ns, |by_name| {
                remove_from(by_name, name, remove_key)
            });
        }
        match &old.anchor {
            Anchor::Pair(k, v) => {
                remove_from(&mut self.by_pair, ns, |by_key| {
                    remove_from(by_key, k, |by_value| remove_from(by_value, v, remove_key))
                });
            }
            Anchor::Any => {
                remove_from(&mut self.any, ns, remove_key);
            }
            Anchor::NoPod => {}
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = Dependents::default();
    }

    /// The services whose readiness names the core Service `namespace/name`.
    pub fn of_backend<'a>(
        &'a self,
        namespace: &str,
        name: &str,
    ) -> impl Iterator<Item = &'a ServiceKey> + 'a {
        let by_name = self.by_backend.get(namespace);
        by_name.and_then(|b| b.get(name)).into_iter().flatten()
    }

    /// The services of `namespace` that a pod with these labels may count for: each still
    /// needs its full selector checked. Every service that matches is among them, since a
    /// matching pod carries every pair its selector requires, the anchor too.
    pub fn of_pod<'a>(
        &'a self,
        namespace: &str,
        labels: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = &'a ServiceKey> + 'a {
        let by_key = self.by_pair.get(namespace);
        let anchored = labels
            .iter()
            .filter_map(move |(k, v)| by_key?.get(k.as_str())?.get(v.as_str()));
        let any = self.any.get(namespace);
        anchored.chain(any).flatten()
    }
}

/// The anchor of a selector's required pairs: the first one.
fn anchor_of(required: &BTreeMap<String, String>) -> Anchor {
    match required.iter().next() {
        Some((k, v)) => Anchor::Pair(k.clone(), v.clone()),
        None => Anchor::Any,
    }
}
