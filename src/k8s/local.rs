//! This node's pods and slices, kept grouped as they change, so that counting a service's local
//! endpoints looks only at its candidates: the pods carrying one label pair its selector requires
//! (still checked with the full selector), or the slices of its Service. An event costs the
//! labels of one pod or one slice, never a pass over a namespace.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::groups::{By, add_to, remove_from, take_from};
use super::summary::{PodSummary, SliceSummary};
use crate::engine::world::EndpointCounts;
use crate::plan::{labels_match, selector_matches};

/// One namespace's local pods.
#[derive(Debug, Clone, Default)]
struct NamespacePods {
    /// By name.
    pods: By<PodSummary>,
    /// Label key -> label value -> names of the pods carrying that pair.
    by_label: By<By<Vec<String>>>,
}

/// One namespace's slices with local endpoints.
#[derive(Debug, Clone, Default)]
struct NamespaceSlices {
    /// By slice name.
    slices: By<SliceSummary>,
    /// Service name -> names of its slices.
    by_service: By<Vec<String>>,
}

/// The node's pods and slices, grouped for lookups.
#[derive(Debug, Clone, Default)]
pub struct LocalEndpoints {
    pods: By<NamespacePods>,
    slices: By<NamespaceSlices>,
}

impl LocalEndpoints {
    /// The local pod `namespace/name`, if known.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&PodSummary> {
        self.pods.get(namespace)?.pods.get(name)
    }

    /// The slice `namespace/name`, if it has local endpoints.
    pub fn slice(&self, namespace: &str, name: &str) -> Option<&SliceSummary> {
        self.slices.get(namespace)?.slices.get(name)
    }

    /// True when no pod and no slice is kept.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty() && self.slices.is_empty()
    }

    /// Keeps a pod (replacing one of the same name), or forgets it when it is not on this node.
    pub fn apply_pod(&mut self, pod: PodSummary) {
        self.remove_pod(&pod.namespace, &pod.name);
        if !pod.is_local {
            return;
        }
        let ns = self.pods.entry(pod.namespace.clone()).or_default();
        for (k, v) in &pod.labels {
            let by_value = ns.by_label.entry(k.clone()).or_default();
            // Not there: `remove_pod` took out any pod of this name.
            add_to(by_value.entry(v.clone()).or_default(), pod.name.clone());
        }
        ns.pods.insert(pod.name.clone(), pod);
    }

    /// Forgets a pod.
    pub fn remove_pod(&mut self, namespace: &str, name: &str) {
        remove_from(&mut self.pods, namespace, |ns| {
            let old = ns.pods.remove(name);
            for (k, v) in old.iter().flat_map(|p| &p.labels) {
                remove_from(&mut ns.by_label, k, |by_value| {
                    remove_from(by_value, v, |names| take_from(names, name))
                });
            }
            ns.pods.is_empty()
        });
    }

    /// Replaces every pod.
    pub fn reset_pods(&mut self, pods: Vec<PodSummary>) {
        self.pods.clear();
        for pod in pods {
            self.apply_pod(pod);
        }
    }

    /// Keeps a slice (replacing one of the same name), or forgets it when it has no local
    /// endpoint: memory follows this node's endpoints only.
    pub fn apply_slice(&mut self, slice: SliceSummary) {
        self.remove_slice(&slice.namespace, &slice.name);
        if slice.total == 0 {
            return;
        }
        let ns = self.slices.entry(slice.namespace.clone()).or_default();
        if let Some(service) = &slice.service {
            let names = ns.by_service.entry(service.clone()).or_default();
            add_to(names, slice.name.clone());
        }
        ns.slices.insert(slice.name.clone(), slice);
    }

    /// Forgets a slice.
    pub fn remove_slice(&mut self, namespace: &str, name: &str) {
        remove_from(&mut self.slices, namespace, |ns| {
            let old = ns.slices.remove(name);
            if let Some(service) = old.as_ref().and_then(|s| s.service.as_ref()) {
                remove_from(&mut ns.by_service, service, |names| take_from(names, name));
            }
            ns.slices.is_empty()
        });
    }

    /// Replaces every slice.
    pub fn reset_slices(&mut self, slices: Vec<SliceSummary>) {
        self.slices.clear();
        for slice in slices {
            self.apply_slice(slice);
        }
    }

    /// Pods of `namespace` that may carry every label of `required`: the smallest group of one
    /// of its pairs, or every pod of the namespace when it requires none.
    fn candidates<'a>(
        &'a self,
        namespace: &str,
        required: Option<&'a BTreeMap<String, String>>,
    ) -> impl Iterator<Item = &'a PodSummary> + 'a {
        let ns = self.pods.get(namespace);
        let requires_none = required.is_none_or(BTreeMap::is_empty);
        let every = ns.filter(|_| requires_none).map(|ns| ns.pods.values());
        // A pair that no pod carries selects nothing.
        let smallest = required
            .into_iter()
            .flatten()
            .map(|(k, v)| ns?.by_label.get(k.as_str())?.get(v.as_str()))
            .min_by_key(|group| group.map_or(0, Vec::len))
            .flatten();
        let grouped = smallest
            .into_iter()
            .flatten()
            .filter_map(move |name| ns?.pods.get(name.as_str()));
        every.into_iter().flatten().chain(grouped)
    }

    /// Local pods of `namespace` selected by a core Service's selector.
    pub fn by_service_selector(
        &self,
        namespace: &str,
        selector: &BTreeMap<String, String>,
    ) -> (EndpointCounts, Vec<IpAddr>) {
        let pods = self.candidates(namespace, Some(selector));
        count(pods.filter(|p| labels_match(selector, &p.labels)))
    }

    /// Local pods of `namespace` selected by a label selector.
    pub fn by_pod_selector(
        &self,
        namespace: &str,
        selector: &LabelSelector,
    ) -> (EndpointCounts, Vec<IpAddr>) {
        let pods = self.candidates(namespace, selector.match_labels.as_ref());
        count(pods.filter(|p| selector_matches(selector, &p.labels)))
    }

    /// Local endpoints in the slices of the Service `namespace/service`.
    pub fn by_slices(&self, namespace: &str, service: &str) -> (EndpointCounts, Vec<IpAddr>) {
        let mut counts = EndpointCounts::default();
        let mut ips = Vec::new();
        let Some(ns) = self.slices.get(namespace) else {
            return (counts, ips);
        };
        let names = ns.by_service.get(service).into_iter().flatten();
        for s in names.filter_map(|name| ns.slices.get(name.as_str())) {
            counts.ready += s.ready;
            counts.total += s.total;
            ips.extend(s.ready_ips.iter().copied());
        }
        (counts, sorted(ips))
    }
}

fn count<'p>(pods: impl Iterator<Item = &'p PodSummary>) -> (EndpointCounts, Vec<IpAddr>) {
    let mut counts = EndpointCounts::default();
    let mut ips = Vec::new();
    for p in pods {
        counts.total += 1;
        if p.is_ready {
            counts.ready += 1;
            ips.extend(p.ip);
        }
    }
    (counts, sorted(ips))
}

fn sorted(mut ips: Vec<IpAddr>) -> Vec<IpAddr> {
    ips.sort_unstable();
    ips.dedup();
    ips
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use proptest::prelude::*;

    use super::*;

    fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
        prop::collection::btree_map(
            prop::sample::select(vec!["app", "tier", "zone"]).prop_map(str::to_owned),
            prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned),
            0..3,
        )
    }

    fn pods() -> impl Strategy<Value = Vec<PodSummary>> {
        let pod = (
            prop::sample::select(vec!["ns1", "ns2"]),
            labels(),
            any::<bool>(),
            any::<u8>(),
        );
        prop::collection::vec(pod, 0..12).prop_map(|pods| {
            pods.into_iter()
                .enumerate()
                .map(|(i, (ns, labels, is_ready, ip))| PodSummary {
                    namespace: ns.into(),
                    name: format!("p{i}"),
                    labels,
                    is_local: true,
                    is_ready,
                    ip: Some(IpAddr::from([10, 0, 0, ip])),
                })
                .collect()
        })
    }

    /// The definition: every pod of the namespace, checked one by one.
    fn scan(
        pods: &[PodSummary],
        ns: &str,
        matches: impl Fn(&PodSummary) -> bool,
    ) -> (EndpointCounts, Vec<IpAddr>) {
        count(pods.iter().filter(|p| p.namespace == ns && matches(p)))
    }

    proptest! {
        #[test]
        fn grouped_lookups_count_what_a_full_scan_counts(
            mut pods in pods(),
            edits in prop::collection::vec((0..12usize, prop::option::of(labels())), 0..8),
            selector in labels(),
            ns in prop::sample::select(vec!["ns1", "ns2", "ns3"]),
            exists in prop::option::of(prop::sample::select(vec!["app", "tier", "zone"])),
        ) {
            let mut local = LocalEndpoints::default();
            local.reset_pods(pods.clone());
            // Relabelled or deleted pods leave no trace in the groups.
            for (i, labels) in edits {
                let Some(pod) = pods.get_mut(i) else { continue };
                if let Some(labels) = labels {
                    pod.labels = labels;
                    local.apply_pod(pod.clone());
                } else {
                    local.remove_pod(&pod.namespace, &pod.name);
                    pod.is_local = false;
                }
            }
            pods.retain(|p| p.is_local);
            // A Service without a selector never gets here; an empty one selects everything.
            prop_assert_eq!(
                local.by_service_selector(ns, &selector),
                scan(&pods, ns, |p| labels_match(&selector, &p.labels))
            );
            let label_selector = LabelSelector {
                match_labels: Some(selector.clone()).filter(|m| !m.is_empty()),
                match_expressions: exists.map(|key| vec![LabelSelectorRequirement {
                    key: key.into(),
                    operator: "Exists".into(),
                    values: None,
                }]),
            };
            prop_assert_eq!(
                local.by_pod_selector(ns, &label_selector),
                scan(&pods, ns, |p| selector_matches(&label_selector, &p.labels))
            );
        }
    }

    #[test]
    fn slices_are_found_by_their_service() {
        let slice = |ns: &str, name: &str, service: Option<&str>, ready: u8| SliceSummary {
            namespace: ns.into(),
            name: name.into(),
            service: service.map(Into::into),
            ready: ready.into(),
            total: u32::from(ready) + 1,
            ready_ips: (0..ready).map(|i| IpAddr::from([10, 0, 0, i])).collect(),
        };
        let slices = [
            slice("ns1", "web-a", Some("web"), 2),
            slice("ns1", "web-b", Some("web"), 1),
            slice("ns2", "web-a", Some("web"), 3),
            slice("ns1", "orphan", None, 5),
        ];
        let mut local = LocalEndpoints::default();
        local.reset_slices(slices.to_vec());
        let (counts, ips) = local.by_slices("ns1", "web");
        assert_eq!((counts.ready, counts.total), (3, 5));
        assert_eq!(ips.len(), 2); // 10.0.0.0 and 10.0.0.1, deduplicated across slices
        assert_eq!(local.by_slices("ns1", "db").0, EndpointCounts::default());
        assert_eq!(local.by_slices("ns3", "web").0, EndpointCounts::default());
        // A slice relabelled to another Service, or deleted, leaves its old Service.
        let mut moved = slices[0].clone();
        moved.service = Some("db".into());
        local.apply_slice(moved);
        assert_eq!(local.by_slices("ns1", "web").0.total, 2);
        assert_eq!(local.by_slices("ns1", "db").0.total, 3);
        local.remove_slice("ns1", "web-b");
        assert_eq!(local.by_slices("ns1", "web").0, EndpointCounts::default());
        assert!(local.slice("ns1", "web-b").is_none());
    }
}
