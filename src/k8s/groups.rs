//! Small groups in nested maps, the shape of the index's lookups (namespace -> label key ->
//! label value -> pods, and the like). Nested maps instead of tuple keys, so that lookups take
//! any `&str` without allocating; B-trees and vectors rather than hash tables and sets, since a
//! node keeps thousands of groups, most of one item, where spare buckets would double the memory.

use std::collections::BTreeMap;

/// A map by name.
pub type By<T> = BTreeMap<String, T>;

/// Appends to a group. A new group gets room for one item, as most stay that size (a vector's
/// first push would make room for four); a growing one grows as usual.
pub fn add_to<T>(group: &mut Vec<T>, item: T) {
    if group.capacity() == 0 {
        group.reserve_exact(1);
    }
    group.push(item);
}

/// Takes `item` out of a group; true when the group is then empty.
pub fn take_from<T: PartialEq<Q>, Q: ?Sized>(group: &mut Vec<T>, item: &Q) -> bool {
    group.retain(|x| x != item);
    group.is_empty()
}

/// Lets `f` change the entry at `key` and removes the entry when `f` says it is empty; true
/// when `map` is then empty. Nested, it prunes every level a removal empties.
pub fn remove_from<T>(map: &mut By<T>, key: &str, f: impl FnOnce(&mut T) -> bool) -> bool {
    if let Some(entry) = map.get_mut(key)
        && f(entry)
    {
        map.remove(key);
    }
    map.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removals_prune_every_level_they_empty() {
        let mut map: By<By<Vec<String>>> = By::new();
        for (k, v) in [("a", "1"), ("a", "2"), ("b", "1")] {
            add_to(
                map.entry(k.into())
                    .or_default()
                    .entry(v.into())
                    .or_default(),
                "x".into(),
            );
        }
        assert_eq!(map["a"]["1"].capacity(), 1);
        let take = |map: &mut By<By<Vec<String>>>, k: &str, v: &str| {
            remove_from(map, k, |by_v| remove_from(by_v, v, |g| take_from(g, "x")))
        };
        assert!(!take(&mut map, "a", "1"));
        assert!(!map["a"].contains_key("1") && map["a"].contains_key("2"));
        assert!(!take(&mut map, "a", "2"));
        assert!(!map.contains_key("a"));
        assert!(!take(&mut map, "c", "1"), "absent keys change nothing");
        assert!(take(&mut map, "b", "1"));
        assert!(map.is_empty());
    }
}
