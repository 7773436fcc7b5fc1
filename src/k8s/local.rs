//! Counting a service's local endpoints without comparing every service with every pod: the
//! node's pods and slices are grouped once per world build, by label pair and by Service, and
//! each service then looks only at its candidates (still checked with the full selector).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::summary::{PodSummary, SliceSummary};
use crate::engine::world::EndpointCounts;
use crate::plan::{labels_match, selector_matches};

/// Borrowed items grouped by a name; nested instead of tuple keys so lookups take any `&str`.
type Groups<'a, T> = HashMap<&'a str, T>;

/// The node's pods and slices, grouped for lookups.
pub struct LocalEndpoints<'a> {
    /// namespace -> pods
    pods_by_namespace: Groups<'a, Vec<&'a PodSummary>>,
    /// namespace -> label key -> label value -> pods
    pods_by_label: Groups<'a, Groups<'a, Groups<'a, Vec<&'a PodSummary>>>>,
    /// namespace -> Service name -> slices
    slices_by_service: Groups<'a, Groups<'a, Vec<&'a SliceSummary>>>,
}

impl<'a> LocalEndpoints<'a> {
    /// Groups the node's pods and slices.
    pub fn new(
        pods: impl IntoIterator<Item = &'a PodSummary>,
        slices: impl IntoIterator<Item = &'a SliceSummary>,
    ) -> Self {
        let mut grouped = LocalEndpoints {
            pods_by_namespace: HashMap::new(),
            pods_by_label: HashMap::new(),
            slices_by_service: HashMap::new(),
        };
        for p in pods {
            let ns = p.namespace.as_str();
            grouped.pods_by_namespace.entry(ns).or_default().push(p);
            let by_key = grouped.pods_by_label.entry(ns).or_default();
            for (k, v) in &p.labels {
                let by_value = by_key.entry(k.as_str()).or_default();
                by_value.entry(v.as_str()).or_default().push(p);
            }
        }
        for s in slices {
            if let Some(service) = &s.service {
                let by_service = grouped.slices_by_service.entry(&s.namespace).or_default();
                by_service.entry(service.as_str()).or_default().push(s);
            }
        }
        grouped
    }

    /// Pods of `namespace` that may carry every label of `required`: the shortest group of
    /// one of its pairs, or every pod of the namespace when it requires none.
    fn candidates(
        &self,
        namespace: &str,
        required: Option<&BTreeMap<String, String>>,
    ) -> &[&'a PodSummary] {
        let labels = self.pods_by_label.get(namespace);
        let by_pair = required.into_iter().flatten().map(|(k, v)| {
            labels
                .and_then(|by_key| by_key.get(k.as_str()))
                .and_then(|by_value| by_value.get(v.as_str()))
                .map_or(&[][..], Vec::as_slice)
        });
        by_pair.min_by_key(|group| group.len()).unwrap_or_else(|| {
            self.pods_by_namespace
                .get(namespace)
                .map_or(&[][..], Vec::as_slice)
        })
    }

    /// Local pods of `namespace` selected by a core Service's selector.
    pub fn by_service_selector(
        &self,
        namespace: &str,
        selector: &BTreeMap<String, String>,
    ) -> (EndpointCounts, Vec<IpAddr>) {
        let pods = self.candidates(namespace, Some(selector)).iter();
        count(pods.filter(|p| labels_match(selector, &p.labels)))
    }

    /// Local pods of `namespace` selected by a label selector.
    pub fn by_pod_selector(
        &self,
        namespace: &str,
        selector: &LabelSelector,
    ) -> (EndpointCounts, Vec<IpAddr>) {
        let pods = self
            .candidates(namespace, selector.match_labels.as_ref())
            .iter();
        count(pods.filter(|p| selector_matches(selector, &p.labels)))
    }

    /// Local endpoints in the slices of the Service `namespace/service`.
    pub fn by_slices(&self, namespace: &str, service: &str) -> (EndpointCounts, Vec<IpAddr>) {
        let mut counts = EndpointCounts::default();
        let mut ips = Vec::new();
        let slices = self
            .slices_by_service
            .get(namespace)
            .and_then(|by_service| by_service.get(service));
        for s in slices.into_iter().flatten() {
            counts.ready += s.ready;
            counts.total += s.total;
            ips.extend(s.ready_ips.iter().copied());
        }
        (counts, sorted(ips))
    }
}

fn count<'p, 'q: 'p>(
    pods: impl Iterator<Item = &'p &'q PodSummary>,
) -> (EndpointCounts, Vec<IpAddr>) {
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
        let refs: Vec<&PodSummary> = pods.iter().collect();
        count(refs.iter().filter(|p| p.namespace == ns && matches(p)))
    }

    proptest! {
        #[test]
        fn grouped_lookups_count_what_a_full_scan_counts(
            pods in pods(),
            selector in labels(),
            ns in prop::sample::select(vec!["ns1", "ns2", "ns3"]),
            exists in prop::option::of(prop::sample::select(vec!["app", "tier", "zone"])),
        ) {
            let local = LocalEndpoints::new(&pods, []);
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
        let local = LocalEndpoints::new([], &slices);
        let (counts, ips) = local.by_slices("ns1", "web");
        assert_eq!((counts.ready, counts.total), (3, 5));
        assert_eq!(ips.len(), 2); // 10.0.0.0 and 10.0.0.1, deduplicated across slices
        assert_eq!(local.by_slices("ns1", "db").0, EndpointCounts::default());
        assert_eq!(local.by_slices("ns3", "web").0, EndpointCounts::default());
    }
}
