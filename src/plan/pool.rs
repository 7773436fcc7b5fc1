//! Validated pools, label selectors, and which pool grants an address to a namespace.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::crd::pool::{AnycastPoolSpec, DrainMode};
use crate::exabgp::attrs::{Community, ExtendedCommunity, LargeCommunity, List};

use super::duration::parse_duration;
use super::policy::{AttributePolicy, parse_cidrs, validate_policy};
use super::validate::{Errors, InvalidSpec};

/// A validated AnycastPool.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidPool {
    /// The prefixes it grants, normalized (host bits cleared).
    pub cidrs: Vec<IpNet>,
    /// Namespaces allowed; `None` is every namespace.
    pub namespace_selector: Option<LabelSelector>,
    /// Node labels required.
    pub node_selector: BTreeMap<String, String>,
    /// Added to every announcement.
    pub communities: List<Community>,
    /// Added to every announcement.
    pub extended_communities: List<ExtendedCommunity>,
    /// Added to every announcement.
    pub large_communities: List<LargeCommunity>,
    /// Exec probes allowed.
    pub allow_exec: bool,
    /// Node annotation with the MED offset.
    pub med_offset_annotation: String,
    /// Drain behaviour.
    pub drain_mode: DrainMode,
    /// How long to announce with `GRACEFUL_SHUTDOWN` before withdrawing.
    pub drain_delay: Duration,
    /// What a tenant may set on routes from this pool (boxed: pools travel in every watch
    /// update, and most set no limits).
    pub policy: Box<AttributePolicy>,
}

/// Validates a pool spec, reporting every problem with the path of its field.
pub fn validate_pool(spec: &AnycastPoolSpec) -> Result<ValidPool, InvalidSpec> {
    let mut errors = Errors::default();
    let cidrs = parse_cidrs("spec.cidrs", &spec.cidrs, &mut errors);
    if spec.cidrs.is_empty() {
        errors.push("spec.cidrs", "at least one CIDR is required");
    }
    if let Some(sel) = &spec.namespace_selector
        && let Err(e) = check_selector(sel)
    {
        errors.push("spec.namespaceSelector", e);
    }
    let drain_delay = parse_duration(&spec.drain.delay).unwrap_or_else(|| {
        errors.push(
            "spec.drain.delay",
            format_args!("{:?} is not a duration such as 30s", spec.drain.delay),
        );
        Duration::ZERO
    });
    let (communities, extended_communities, large_communities) =
        errors.parse_communities(&spec.added);
    let policy = spec
        .allowed_attributes
        .as_ref()
        .map(|a| Box::new(validate_policy(a, &mut errors)))
        .unwrap_or_default();
    errors.finish(ValidPool {
        cidrs,
        namespace_selector: spec.namespace_selector.clone(),
        node_selector: spec.node_selector.clone(),
        communities,
        extended_communities,
        large_communities,
        allow_exec: spec.allow_exec,
        med_offset_annotation: spec.med_offset_annotation.clone(),
        drain_mode: spec.drain.mode,
        drain_delay,
        policy,
    })
}

impl ValidPool {
    /// The longest of its prefixes holding `ip`, if any.
    pub fn longest_match(&self, ip: IpAddr) -> Option<u8> {
        self.cidrs
            .iter()
            .filter(|net| net.contains(&ip))
            .map(IpNet::prefix_len)
            .max()
    }

    /// True when a namespace with these labels may use the pool.
    pub fn grants_namespace(&self, labels: &BTreeMap<String, String>) -> bool {
        self.namespace_selector
            .as_ref()
            .is_none_or(|sel| selector_matches(sel, labels))
    }
}

/// True when every `key: value` of `selector` is among `labels` (an empty selector matches all).
pub fn labels_match(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Kubernetes label-selector semantics: `matchLabels` and every `matchExpressions` entry must
/// hold. An operator it does not know matches nothing, so a typo never grants more.
pub fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = sel
        .match_labels
        .as_ref()
        .is_none_or(|m| labels_match(m, labels));
    let by_expressions = sel.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

fn check_selector(sel: &LabelSelector) -> Result<(), String> {
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let has_values = e.values.as_ref().is_some_and(|v| !v.is_empty());
        let ok = match e.operator.as_str() {
            "In" | "NotIn" => has_values,
            "Exists" | "DoesNotExist" => !has_values,
            _ => false,
        };
        if !ok {
            return Err(format!(
                "matchExpressions[{i}]: operator {:?} with {} values",
                e.operator,
                if has_values { "some" } else { "no" }
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_owned(),
            operator: op.to_owned(),
            values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
        }
    }

    #[test]
    fn selectors_follow_kubernetes_semantics() {
        let team_a = labels(&[("team", "a"), ("env", "prod")]);
        let cases: &[(LabelSelector, bool)] = &[
            (LabelSelector::default(), true),
            (
                LabelSelector {
                    match_labels: Some(labels(&[("team", "a")])),
                    ..Default::default()
                },
                true,
            ),
            (
                LabelSelector {
                    match_labels: Some(labels(&[("team", "b")])),
                    ..Default::default()
                },
                false,
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("env", "In", &["prod", "dev"])]),
                    ..Default::default()
                },
                true,
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("env", "NotIn", &["prod"])]),
                    ..Default::default()
                },
                false,
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("tier", "Exists", &[])]),
                    ..Default::default()
                },
                false,
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("tier", "DoesNotExist", &[])]),
                    ..Default::default()
                },
                true,
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("env", "Bogus", &["prod"])]),
                    ..Default::default()
                },
                false,
            ),
        ];
        for (sel, want) in cases {
            assert_eq!(selector_matches(sel, &team_a), *want, "{sel:?}");
        }
    }

    #[test]
    fn pool_errors_name_the_field() {
        let spec: AnycastPoolSpec = serde_json::from_value(serde_json::json!({
            "cidrs": ["192.0.2.0/24", "192.0.2.1/24", "nope"],
            "communities": ["65000:1", "x"],
            "drain": {"delay": "soon"},
        }))
        .unwrap();
        let err = validate_pool(&spec).unwrap_err().to_string();
        for part in [
            "spec.cidrs[1]: \"192.0.2.1/24\" has host bits set",
            "spec.cidrs[2]: \"nope\" is not a CIDR",
            "spec.communities[1]: invalid community \"x\"",
            "spec.drain.delay",
        ] {
            assert!(err.contains(part), "{part} not in {err}");
        }
    }
}
