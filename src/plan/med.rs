//! Per-node MED: the state's MED plus this node's offset.
//!
//! The offset comes from a Node annotation (by default `kube-anycast.io/med-offset`; each pool
//! may name another). Peers prefer the lowest MED, so the offset ranks nodes that are equally
//! healthy. A primary/backup layout:
//!
//! ```text
//! node-a: (no annotation)                      up: MED 100 + 0   = 100   degraded: 150
//! node-b: kube-anycast.io/med-offset: "1000"   up: MED 100 + 1000 = 1100  degraded: 1150
//! ```
//!
//! While node-a is up or degraded it wins; node-b takes the traffic only when node-a withdraws.
//! Pick the offset larger than the spread of state MEDs (here 150 - 100) so that a degraded
//! primary still beats a healthy backup; pick it smaller to prefer any healthy node over a
//! degraded primary.

use std::collections::BTreeMap;

/// Why a node's MED offset annotation was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node annotation {annotation}={value:?} is not an unsigned 32-bit integer")]
pub struct OffsetError {
    /// The annotation key.
    pub annotation: String,
    /// Its value.
    pub value: String,
}

/// The MED a node announces: `state_med + offset`, saturating at `u32::MAX` (the MED field is
/// 32 bits: a wrap-around would turn the least preferred node into the most preferred).
///
/// ```
/// use kube_anycast::plan::med::node_med;
/// assert_eq!(node_med(100, 0), 100); // primary
/// assert_eq!(node_med(100, 1000), 1100); // backup
/// assert_eq!(node_med(150, u32::MAX), u32::MAX); // saturates, never wraps
/// ```
pub fn node_med(state_med: u32, offset: u32) -> u32 {
    state_med.saturating_add(offset)
}

/// The node's offset from `annotation`: 0 when absent. Surrounding whitespace is ignored.
pub fn med_offset(
    annotations: &BTreeMap<String, String>,
    annotation: &str,
) -> Result<u32, OffsetError> {
    match annotations.get(annotation) {
        None => Ok(0),
        Some(value) => value.trim().parse().map_err(|_| OffsetError {
            annotation: annotation.to_owned(),
            value: value.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_from_annotations() {
        let key = "kube-anycast.io/med-offset";
        let ann = |v: &str| BTreeMap::from([(key.to_owned(), v.to_owned())]);
        assert_eq!(med_offset(&BTreeMap::new(), key), Ok(0));
        assert_eq!(med_offset(&ann("1000"), key), Ok(1000));
        assert_eq!(med_offset(&ann(" 7 "), key), Ok(7));
        for bad in ["-1", "x", "4294967296", "1e3", ""] {
            let err = med_offset(&ann(bad), key).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
    }
}
